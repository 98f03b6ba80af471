"""Reference target throughput: requests/s of the reference target at 20 and 100 users, default mix.

    .venv/bin/python bench/throughput.py                     # 20 and 100 users, 60 s each: ~2.5 min
    .venv/bin/python bench/throughput.py --users 20,50,100,200 --duration 30
    .venv/bin/python bench/throughput.py --load bare         # a lighter load generator

It tells when the target, not the suite, limits a demo. Each setting is one run of the
demo's own command (``--load suite``, the default)::

    locust -f locustfiles/camstream.py,bench/probe.py --headless -u U -r U -t 60s --only-summary
        --embedded-target --csv TMP/run

or, with ``--load bare``, of bench/bare_locustfile.py (the same requests without the suite's
checks) against the same target started by this script with the same command line, to see
what the target does when the load generator costs less.

Measured over the steady middle of each run (``--warmup`` s after the start to ``--cooldown``
s before the end): requests/s and failures (bench/probe.py, in the locust process), CPU of
the locust process and of the target (psutil, user + system; 100 % = one core), and Locust's
median / 95th percentile response times for the whole run. The reference target is one
gevent process: it cannot use more than one core, and it also waits on its data file.

"of think-bound" is requests/s against what the users' think time alone allows (users /
0.05 s, the mean of the suite's ``wait_time = between(0, 0.1)``). "limit" reads the figures:
``target (CPU)`` when the target uses 90 % of a core or more, ``load process (CPU)`` when the
locust process does, ``machine (CPU)`` when both together use 90 % of the cores; else
``think time`` when the rate is 90 % of the think-bound or more (add users for more), else
the busier of the two, ``(response time)``: its answers are slow enough to bound the rate.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

BUSY = 0.90
#: Mean of the suite's (and the bare locustfile's) wait_time, between(0, 0.1) s (camstream_locust/users.py).
MEAN_WAIT = 0.05


def limit(target_share: float, locust_share: float, think_share: float) -> str:
    cores = os.cpu_count() or 1
    if target_share >= BUSY:
        return "target (CPU)"
    if locust_share >= BUSY:
        return "load process (CPU)"
    if target_share + locust_share >= BUSY * cores:
        return "machine (CPU)"
    if think_share >= BUSY:
        return "think time"
    return ("target" if target_share >= locust_share else "load process") + " (response time)"


def one_run(users: int, args: argparse.Namespace) -> dict[str, Any]:
    locust_args = ["--headless", "-u", str(users), "-r", str(users), "-t", f"{args.duration}s"]
    locust_args += ["--only-summary"]
    holder: dict[str, Any] = {}
    servers: list[common.Server] = []

    def target_pids() -> list[int]:
        pids = [pid for s in servers for pid in s.pids()]
        proc = holder.get("proc")
        if proc is not None and args.load == "suite":
            pids += common.children_pids(proc.pid)  # the embedded target
        return pids

    with contextlib.ExitStack() as stack:
        if args.load == "suite":
            locustfile = common.SUITE_LOCUSTFILE
            locust_args += ["--embedded-target", "--scenario", args.scenario]
            env = None
        else:
            locustfile = common.BARE_LOCUSTFILE
            server = common.start_reference_target(max_seconds=args.duration + 300)
            stack.callback(server.stop)
            servers.append(server)
            locust_args += ["-H", server.url, "--exit-code-on-error", "0"]
            env = {"BARE_SCENARIO": args.scenario}  # bench/bare_locustfile.py's scenario weights
        csv = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-csv-"))) / "run"
        with common.CpuSampler(target_pids) as sampler:
            run = common.run_locust(
                [*locust_args, "--csv", str(csv)],
                locustfile,
                timeout=args.duration + 180,
                on_start=lambda proc: holder.__setitem__("proc", proc),
                env=env,
            )
        latency = common.percentile_from_csv(csv)
    common.say_run(run)
    window = common.steady_window(run.probes, args.warmup, args.cooldown)
    target_cpu = sampler.between(window.t0, window.t1)
    return {
        "users": users,
        "window": window,
        "target_share": (target_cpu / window.seconds) if target_cpu is not None else float("nan"),
        "p50": latency.get("p50", float("nan")),
        "p95": latency.get("p95", float("nan")),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--users", default="20,100", help="user counts (default: 20,100)")
    parser.add_argument("--duration", type=int, default=60, help="seconds per run (-t) (default: 60)")
    parser.add_argument("--warmup", type=float, default=15, help="seconds skipped at the start (default: 15)")
    parser.add_argument("--cooldown", type=float, default=3, help="seconds skipped at the end (default: 3)")
    parser.add_argument("--scenario", default="mixed", help="task mix (default: mixed, the default mix)")
    parser.add_argument(
        "--load", choices=("suite", "bare"), default="suite", help="load generator (default: suite)"
    )
    args = parser.parse_args(argv)
    counts = [int(u) for u in args.users.split(",") if u.strip()]
    if not counts or min(counts) < 1:
        parser.error("--users: a comma list of positive numbers")
    if args.duration <= args.warmup + args.cooldown + 2:
        parser.error("--duration must be longer than --warmup + --cooldown + 2 s")
    common.print_header("reference target throughput")

    rows = []
    for users in counts:
        common.say(f"-- {users} users, {args.scenario} mix, load: {args.load} ...")
        r = one_run(users, args)
        w = r["window"]
        think = w.rps / (users / MEAN_WAIT)
        common.say(
            f"   {w.rps:.0f} req/s, target {r['target_share']:.0%} of a core, locust {w.cpu_share:.0%}"
        )
        rows.append(
            [
                users,
                f"{w.rps:.0f}",
                f"{think:.0%}",
                f"{r['target_share']:.0%}",
                f"{w.cpu_share:.0%}",
                f"{r['p50']:.0f} / {r['p95']:.0f}",
                w.failures,
                limit(r["target_share"], w.cpu_share, think),
            ]
        )
    common.say()
    common.say(
        f"reference target, {args.scenario} mix, load generator: {args.load}; steady window from "
        f"{args.warmup:g} s after the start to {args.cooldown:g} s before the end of -t {args.duration}s; "
        f"{os.cpu_count()} cores"
    )
    common.say(
        common.table(
            [
                "users",
                "req/s",
                "of think-bound",
                "target CPU",
                "locust CPU",
                "p50 / p95 ms",
                "failures",
                "limit",
            ],
            rows,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(common.run_main(main))
