"""No false positives: the history check on a correct server, run after run (prints figures).

    .venv/bin/python bench/false_positives.py                      # 5 runs x 20 s, same-camera, 20 users
    .venv/bin/python bench/false_positives.py --runs 3 --duration 10 --scenario mixed

Each run is the suite with ``--embedded-target`` (the clean reference target: no fault) and
every check on. A correct server must give zero history violations, zero undecided objects,
zero torn data-file reads and exit code 0 in every run; the table shows what each run found.
The contention scenario (same-camera: every user on the same three cameras) is the hardest
case for the checker: thousands of overlapping operations per object.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--duration", type=int, default=20, help="seconds per run")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--scenario", default="same-camera")
    args = parser.parse_args()
    common.print_header("false positives: the history check against the clean reference target")
    rows = []
    failed = 0
    with tempfile.TemporaryDirectory(prefix="camstream-fp-") as tmp:
        for k in range(1, args.runs + 1):
            out = Path(tmp) / f"run{k}.json"
            locust_args = [
                "--headless",
                "--embedded-target",
                "--scenario",
                args.scenario,
                "-u",
                str(args.users),
                "-r",
                str(args.users),
                "-t",
                f"{args.duration}s",
                "--only-summary",
                "--camstream-json",
                str(out),
            ]
            run = common.run_locust(
                locust_args, common.SUITE_LOCUSTFILE, probe=False, timeout=args.duration + 120
            )
            common.say_run(run, expected=(0,))
            summary = common.read_json(out) or {}
            history = summary.get("history") or {}
            data_file = summary.get("data_file") or {}
            violations = sum((history.get("violations") or {}).values())
            clean = (
                run.returncode == 0
                and violations == 0
                and not history.get("undecided")
                and not data_file.get("torn")
            )
            failed += not clean
            rows.append(
                [
                    k,
                    (summary.get("totals") or {}).get("requests", "?"),
                    history.get("checked", "?"),
                    history.get("operations", "?"),
                    violations,
                    history.get("undecided", "?"),
                    data_file.get("torn", "?"),
                    run.returncode,
                    "ok" if clean else "FALSE POSITIVE",
                ]
            )
    common.say()
    headers = ["run", "requests", "objects", "operations", "violations", "undecided", "torn", "exit", ""]
    common.say(common.table(headers, rows))
    common.say(
        f"\n{args.runs - failed} of {args.runs} runs clean ({args.scenario}, {args.users} users, "
        f"{args.duration} s each)"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
