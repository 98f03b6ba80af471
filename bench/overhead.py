"""Overhead: the suite (all checks on) against a bare locustfile making the same requests.

    .venv/bin/python bench/overhead.py               # ~14 min: fast target at 20 and 200 users, reference
                                                     #   target at 20 users; 3 runs a side, medians
    .venv/bin/python bench/overhead.py --targets fast --users 20 --duration 30 --repeat 1   # quick look
    .venv/bin/python bench/overhead.py --suite-args=--no-history    # what the history checks cost

Same users, task weights, wait time (both take them from camstream_locust), same -u/-r/-t,
one side at a time on a fresh target (never both at once: they would share the 2 cores),
the order alternating between repeats.
For each run: requests/s and CPU seconds of the locust process per 1,000 requests over the
steady middle of the run (bench/probe.py: psutil user+system of that process, read at the
same instant as Locust's request count), the locust process's CPU share, and the target's
CPU share (to show whether the target was the limit). Then the ratios suite/bare.

Targets:
- ``fast``: Debian's nginx on loopback (bench/nginx/) answering the stateless routes with
  canned answers and proxying the stateful ones to bench/fast_target.py, an in-memory
  server; ``--no-nginx`` aims at the in-memory server directly (also what happens, with a
  line saying how to install it, when nginx is not installed). The suite runs with ``-H``
  (its history and answer checks on; no server log or data file to follow).
- ``reference``: the reference target. The suite runs with ``--embedded-target`` (every
  check on, the log and data file included), the bare locustfile against the same target
  started by this script with the same command line.

The bare side runs with ``--exit-code-on-error 0``: Locust counts a 404 on an object another
user just deleted as a failure there (the suite counts it as expected contention), which is
not an error of the run.

Goal (the issue's): suite CPU per request at most 1.1x the bare locustfile's. Also shown,
informative: suite requests/s against the bare locustfile's (meaningful only when the load
process, not the wait time or the target, is the limit: the 200-user fast-target run).
"""

from __future__ import annotations

import argparse
import contextlib
import shlex
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

CPU_GOAL = 1.10
RPS_GOAL = 0.90


def one_run(target: str, side: str, users: int, args: argparse.Namespace) -> dict[str, Any]:
    """Start a fresh target, run one side against it, and measure the steady window."""
    duration = args.duration
    locust_args = ["--headless", "-u", str(users), "-r", str(users), "-t", f"{duration}s", "--only-summary"]
    if side == "suite":
        locustfile = common.SUITE_LOCUSTFILE
        locust_args += shlex.split(args.suite_args)
    else:
        locustfile = common.BARE_LOCUSTFILE
        locust_args += ["--exit-code-on-error", "0"]
    servers: list[common.Server] = []
    holder: dict[str, Any] = {}

    def target_pids() -> list[int]:
        pids = [pid for s in servers for pid in s.pids()]
        proc = holder.get("proc")
        if proc is not None and side == "suite" and target == "reference":
            pids += common.children_pids(proc.pid)  # the embedded target: a child of the locust process
        return pids

    with contextlib.ExitStack() as stack:
        if target == "fast":
            url, servers = stack.enter_context(common.fast_front(use_nginx=not args.no_nginx))
            locust_args += ["-H", url]
        elif side == "suite":
            locust_args += ["--embedded-target"]
        else:
            server = common.start_reference_target()
            stack.callback(server.stop)
            servers.append(server)
            locust_args += ["-H", server.url]
        csv = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-csv-"))) / "run"
        with common.CpuSampler(target_pids) as sampler:
            run = common.run_locust(
                [*locust_args, "--csv", str(csv)],
                locustfile,
                timeout=duration + 120,
                on_start=lambda proc: holder.__setitem__("proc", proc),
            )
        latency = common.percentile_from_csv(csv)
    window = common.steady_window(run.probes, args.warmup, args.cooldown)
    target_cpu = sampler.between(window.t0, window.t1)
    return {
        "target": target,
        "side": side,
        "users": users,
        "window": window,
        "target_share": (target_cpu / window.seconds) if target_cpu is not None else float("nan"),
        "p50": latency.get("p50", float("nan")),
        "p95": latency.get("p95", float("nan")),
        "rc": run.returncode,
        "verdict": next((ln for ln in reversed(run.stdout.splitlines()) if ln.startswith("VERDICT:")), ""),
        "command": common.shell(run.argv),
        "stderr_tail": run.stderr[-800:] if run.returncode not in (0, 3) else "",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--targets", default="fast,reference", help="fast, reference or both (default: both)")
    parser.add_argument(
        "--users", default="20,200", help="user counts against the fast target (default: 20,200)"
    )
    parser.add_argument(
        "--ref-users", default="20", help="user counts against the reference target (default: 20)"
    )
    parser.add_argument("--duration", type=int, default=40, help="seconds per run (-t) (default: 40)")
    parser.add_argument("--warmup", type=float, default=10, help="seconds skipped at the start (default: 10)")
    parser.add_argument("--cooldown", type=float, default=3, help="seconds skipped at the end (default: 3)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per side and setting (default: 3)")
    parser.add_argument("--no-nginx", action="store_true", help="fast target without the nginx front")
    parser.add_argument(
        "--suite-args",
        default="",
        help="extra options for the suite side only, e.g. --suite-args=--no-history (default: none)",
    )
    args = parser.parse_args(argv)

    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = sorted(set(targets) - {"fast", "reference"})
    if unknown:
        parser.error(f"unknown target(s) {', '.join(unknown)} (known: fast, reference)")
    if args.duration <= args.warmup + args.cooldown + 2:
        parser.error("--duration must be longer than --warmup + --cooldown + 2 s")
    common.print_header("overhead: suite vs bare locustfile", nginx=not args.no_nginx)
    if "fast" in targets and not args.no_nginx and common.nginx_exe() is None:
        common.say(common.NGINX_HINT)
        common.say()
        args.no_nginx = True
    plan: list[tuple[str, int]] = []
    for target in targets:
        counts = args.users if target == "fast" else args.ref_users
        plan += [(target, int(u)) for u in counts.split(",") if u.strip()]
    label = {"fast": "fast" if args.no_nginx else "fast+nginx", "reference": "reference"}
    results: list[dict[str, Any]] = []
    for target, users in plan:
        for i in range(args.repeat):
            order = ("bare", "suite") if i % 2 == 0 else ("suite", "bare")
            for side in order:
                common.say(
                    f"-- {label[target]} target, {users} users, {side} (run {i + 1}/{args.repeat}) ..."
                )
                result = one_run(target, side, users, args)
                w = result["window"]
                common.say(
                    f"   {w.rps:.0f} req/s, {w.cpu_per_1000:.3f} CPU s/1000 req, locust {w.cpu_share:.0%} "
                    f"of a core, target {result['target_share']:.0%}, rc {result['rc']}"
                )
                common.say(f"   {result['command']}")
                if result["verdict"] and not result["verdict"].startswith("VERDICT: CLEAN"):
                    common.say(
                        f"   WARNING: {result['verdict']}: findings against a correct target (a bug in the "
                        "target or the suite); this run's figures include the suite's failure path"
                    )
                if result["stderr_tail"]:
                    common.say("   stderr: " + result["stderr_tail"].replace("\n", "\n   "))
                results.append(result)

    rows = []
    summary = []
    for target, users in plan:
        per_side: dict[str, list[dict[str, Any]]] = {"bare": [], "suite": []}
        for r in results:
            if r["target"] == target and r["users"] == users:
                per_side[r["side"]].append(r)
        agg = {}
        for side, runs in per_side.items():
            rps = common.median([r["window"].rps for r in runs])
            cpu = common.median([r["window"].cpu_per_1000 for r in runs])
            share = common.median([r["window"].cpu_share for r in runs])
            tshare = common.median([r["target_share"] for r in runs])
            fails = sum(r["window"].failures for r in runs)
            p50 = common.median([r["p50"] for r in runs])
            p95 = common.median([r["p95"] for r in runs])
            agg[side] = (rps, cpu)
            rows.append(
                [
                    label[target],
                    users,
                    side,
                    f"{rps:.0f}",
                    f"{cpu:.3f}",
                    f"{share:.0%}",
                    f"{tshare:.0%}",
                    f"{p50:.0f} / {p95:.0f}",
                    fails,
                ]
            )
        if agg["bare"][0] and agg["bare"][1]:
            rps_ratio = agg["suite"][0] / agg["bare"][0]
            cpu_ratio = agg["suite"][1] / agg["bare"][1]
            summary.append(
                [
                    label[target],
                    users,
                    f"{rps_ratio:.2f}",
                    "yes" if rps_ratio >= RPS_GOAL else "NO",
                    f"{cpu_ratio:.2f}",
                    "yes" if cpu_ratio <= CPU_GOAL else "NO",
                ]
            )
    common.say()
    common.say(
        f"steady window: from {args.warmup:g} s after start to {args.cooldown:g} s before the end of "
        f"-t {args.duration}s; medians of {args.repeat} run(s) per row"
    )
    common.say(
        common.table(
            [
                "target",
                "users",
                "side",
                "req/s",
                "CPU s / 1000 req",
                "locust CPU",
                "target CPU",
                "p50 / p95 ms",
                "failures",
            ],
            rows,
        )
    )
    common.say()
    common.say(
        common.table(
            [
                "target",
                "users",
                "req/s suite/bare",
                f">= {RPS_GOAL:.2f} (info)",
                "CPU/req suite/bare",
                f"<= {CPU_GOAL:.2f}",
            ],
            summary,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(common.run_main(main))
