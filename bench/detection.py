"""Time to detection: seconds from the start of load to the suite's first finding of the right category.

    .venv/bin/python bench/detection.py     # 6 faults x 3 runs at 1 %, 20 users: ~2 min (+cap per miss)
    .venv/bin/python bench/detection.py --faults race,torn-file --runs 1 --cap 60   # quick look

For each fault kind of the reference target, one at a time, at ``--rate`` (default 0.01, a
probability per request), the suite runs at ``--users`` (20) against its embedded target::

    locust -f locustfiles/camstream.py,bench/probe.py --headless -u 20 -r 20 -t CAPs --only-summary
        --embedded-target --target-faults KIND=RATE --stats-interval 1 --fail-on none
        --camstream-json TMP/summary.json

and is stopped (SIGINT, the suite's normal Ctrl-C path) as soon as a statistics block shows
the fault's category, or after ``--cap`` seconds (then the run counts as not detected).

The right category per fault (only one fault is on, so nothing else produces it):

    nil-pointer -> nil_pointer      race -> race_condition     slow -> timeout
    bad-json    -> json_error       http -> http_error
    torn-file   -> race_condition, and only the torn data-file reads (request name "data file")

What is measured, and its resolution: the earliest entry of the right category among the
JSON summary's ``recent_errors`` (epoch ``time``, recorded by the suite the moment it made
the finding: when the failed request completed, when the server-log follower parsed the
report, when the data-file sampler read the torn file), minus the run's ``started_at``
(Locust's statistics start, i.e. the start of the test; millisecond precision). So the
figure's resolution is the suite's own (milliseconds), not the 1-s block interval. The ring
keeps the last 50 errors; because the run is stopped at the first block showing the
category, it holds the first one unless more than 50 errors came in that second: then (and
when the summary is missing) the time of that block, 1-s resolution, is used instead,
marked ``~`` in the table. A time measured on a block is always an upper bound.

The figure per fault is the median of ``--runs`` (3) runs; a run without a finding within
``--cap`` counts as longer than the cap (``>CAP``). The ``slow`` fault can only be seen
after the client's ``--request-timeout`` (5 s by default, the suite's): it sleeps 10 s.
"""

from __future__ import annotations

import argparse
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

#: fault -> (category, request name a finding must have, or None for any)
FAULTS: dict[str, tuple[str, str | None]] = {
    "nil-pointer": ("nil_pointer", None),
    "race": ("race_condition", None),
    "slow": ("timeout", None),
    "bad-json": ("json_error", None),
    "http": ("http_error", None),
    "torn-file": ("race_condition", "data file"),
}
#: category -> its label in the suite's statistics block (camstream_locust/reporting.py).
LABELS = {
    "nil_pointer": "Nil Pointer Errors",
    "race_condition": "Race Condition Errors",
    "timeout": "Timeout Errors",
    "http_error": "HTTP Errors",
    "json_error": "JSON Errors",
    "connection": "Connection Errors",
    "other": "Other Errors",
}
TORN_NOTE = "torn data-file read"
RECENT_LIMIT = 50  # camstream_locust.findings.RECENT_LIMIT
_COUNT = re.compile(r"^(?P<label>[A-Za-z ]+):\s+(?P<n>\d+)")


@dataclass
class Detection:
    fault: str
    run: int
    seconds: float | None  # None: not detected within the cap
    approximate: bool  # from a block (1-s resolution), not from the recorded finding
    requests: int | None  # Locust's total requests in the block that showed the finding
    example: str
    returncode: int
    command: str


def block_shows(fault: str, line: str) -> bool:
    """Does this line of a statistics block show a finding of the fault's category?"""
    category, name = FAULTS[fault]
    if name == "data file":  # torn-file: the torn reads, listed under "Beyond Requests"
        return line.startswith("Beyond Requests:") and TORN_NOTE in line
    match = _COUNT.match(line)
    return bool(match and match["label"] == LABELS[category] and int(match["n"]) > 0)


def first_recorded(fault: str, summary: dict[str, Any]) -> tuple[float | None, str, bool]:
    """(epoch of the earliest matching recent error, its text, whether the ring was full)."""
    category, name = FAULTS[fault]
    recent = summary.get("recent_errors") or []
    hits = [e for e in recent if e.get("category") == category and (name is None or e.get("name") == name)]
    if not hits:
        return None, "", len(recent) >= RECENT_LIMIT
    first = min(hits, key=lambda e: e["time"])
    text = f"{first.get('name', '')}: {first.get('message', '')}"
    return float(first["time"]), text, len(recent) >= RECENT_LIMIT


def one_run(fault: str, index: int, args: argparse.Namespace) -> Detection:
    tmp = Path(tempfile.mkdtemp(prefix="bench-detect-"))
    summary_path = tmp / "summary.json"
    locust_args = ["--headless", "-u", str(args.users), "-r", str(args.users), "-t", f"{args.cap}s"]
    locust_args += ["--only-summary", "--embedded-target", "--target-faults", f"{fault}={args.rate:g}"]
    locust_args += ["--stats-interval", f"{args.stats_interval:g}", "--fail-on", "none"]
    locust_args += ["--camstream-json", str(summary_path)]
    seen: dict[str, Any] = {}

    def watch(line: str, proc: subprocess.Popen[str]) -> None:
        line = line.strip()
        if line.startswith("Total Requests:"):
            seen["requests"] = int(line.split(":", 1)[1])
        elif "at" not in seen and block_shows(fault, line):
            seen["at"] = time.time()
            seen["block_requests"] = seen.get("requests")
            proc.send_signal(signal.SIGINT)  # the suite's Ctrl-C path: final block, JSON summary

    try:
        run = common.run_locust(locust_args, common.SUITE_LOCUSTFILE, timeout=args.cap + 120, on_stdout=watch)
        summary = common.read_json(summary_path) or {}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    started = common.parse_iso((summary.get("run") or {}).get("started_at"))
    if started is None and run.probes:
        started = run.probes[0]["t"]  # bench/probe.py's first line, at test start
    recorded, example, ring_full = first_recorded(fault, summary)
    seconds: float | None = None
    approximate = False
    if started is not None:
        if recorded is not None:
            seconds = recorded - started
        if "at" in seen and (recorded is None or ring_full):
            block = seen["at"] - started
            if seconds is None or block < seconds:
                seconds, approximate = block, True
    if seconds is not None and seconds > args.cap + 1:
        seconds = None  # found only at quiesce (after the cap): not detected during the load
    return Detection(
        fault,
        index,
        seconds,
        approximate,
        seen.get("block_requests"),
        example,
        run.returncode,
        common.shell(run.argv),
    )


def fmt(seconds: float | None, cap: float, approximate: bool = False) -> str:
    if seconds is None:
        return f">{cap:g}"
    return f"{'~' if approximate else ''}{seconds:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--faults", default=",".join(FAULTS), help="comma list (default: all six)")
    parser.add_argument("--rate", type=float, default=0.01, help="fault probability (default: 0.01)")
    parser.add_argument("--users", type=int, default=20, help="users (default: 20)")
    parser.add_argument("--runs", type=int, default=3, help="runs per fault; the median is reported (3)")
    parser.add_argument("--cap", type=int, default=120, help="seconds before a run gives up (default: 120)")
    parser.add_argument(
        "--stats-interval", type=float, default=1.0, help="the suite's block interval, s (default: 1)"
    )
    args = parser.parse_args(argv)
    faults = [f.strip() for f in args.faults.split(",") if f.strip()]
    unknown = [f for f in faults if f not in FAULTS]
    if unknown:
        parser.error(f"unknown fault(s) {', '.join(unknown)} (known: {', '.join(FAULTS)})")
    if not 0 < args.rate <= 1 or args.runs < 1 or args.cap < 5:
        parser.error("need 0 < --rate <= 1, --runs >= 1, --cap >= 5")

    common.print_header("time to detection")
    results: dict[str, list[Detection]] = {}
    for fault in faults:
        for i in range(1, args.runs + 1):
            common.say(f"-- {fault}={args.rate:g}, {args.users} users, run {i}/{args.runs} ...")
            d = one_run(fault, i, args)
            results.setdefault(fault, []).append(d)
            where = f" after {d.requests} requests" if d.requests is not None else ""
            common.say(
                f"   first {FAULTS[fault][0]} finding at {fmt(d.seconds, args.cap, d.approximate)} s{where}"
            )
            if d.example:
                common.say(f"   {d.example[:160]}")
            common.say(f"   command: {d.command}")
            if d.returncode not in (0, 3):
                common.say(f"   exit code {d.returncode} (expected 0 with --fail-on none)")

    rows = []
    for fault in faults:
        runs = results[fault]
        values = [d.seconds if d.seconds is not None else float("inf") for d in runs]
        med = common.median(values)
        category, name = FAULTS[fault]
        rows.append(
            [
                fault,
                category + (" (torn reads)" if name == "data file" else ""),
                " ".join(fmt(d.seconds, args.cap, d.approximate) for d in runs),
                fmt(None if med == float("inf") else med, args.cap),
                " ".join(str(d.requests) if d.requests is not None else "-" for d in runs),
            ]
        )
    common.say()
    common.say(
        f"seconds from the start of load to the first finding; rate {args.rate:g}, {args.users} users, "
        f"median of {args.runs} run(s), cap {args.cap} s (~: from the 1-s block, an upper bound)"
    )
    common.say(common.table(["fault", "category", "runs (s)", "median s", "requests at the block"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(common.run_main(main))
