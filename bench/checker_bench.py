"""Micro-benchmark of history recording and of the linearizability checker (prints figures).

    .venv/bin/python bench/checker_bench.py        (~1 min; CPU only, no network)

Recording is compared with a bare loop doing the same dict/list work without a History, so
the figure is the extra cost per request; the checker is timed on simulated histories of a
correct atomic register (clients x ops, with a share of UNKNOWN outcomes).
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path
from typing import Any

from camstream_locust.checker import check_all, check_object
from camstream_locust.history import (
    ABSENT,
    CREATE,
    DELETE,
    FAILED,
    GET,
    LIST,
    NOT_FOUND,
    OK,
    UNKNOWN,
    UPDATE,
    History,
    Op,
    camera_digest,
)


def simulate(
    seed: int, clients: int, ops: int, unknown: float = 0.02, obj_id: str = "cam-1", t0: float = 0.0
) -> list[Op]:
    """A history of one object behind a correct atomic register, ``clients`` running concurrently."""
    rng = random.Random(seed)
    planned: list[tuple[float, float, float, str, Any, bool]] = []
    clock = [t0 + rng.uniform(0, 0.01) for _ in range(clients)]
    for k in range(ops):
        c = rng.randrange(clients)
        invoke = clock[c] + rng.uniform(0.0, 0.004)
        point = invoke + rng.expovariate(1 / 0.002)
        complete = point + rng.expovariate(1 / 0.002)
        clock[c] = complete
        kind = rng.choices((CREATE, UPDATE, DELETE, GET, LIST), (15, 30, 8, 30, 17))[0]
        planned.append((point, invoke, complete, kind, f"v{seed}-{k}", rng.random() < unknown))
    planned.sort()
    state: Any = ABSENT
    history: list[Op] = []
    for _point, invoke, complete, kind, value, lost in planned:
        applied = not lost or rng.random() < 0.5
        if kind == CREATE:
            outcome, observed = OK, None
            if applied:
                state = value
        elif kind in (UPDATE, DELETE):
            outcome = OK if state is not ABSENT else NOT_FOUND
            observed = None
            if applied and state is not ABSENT:
                state = value if kind == UPDATE else ABSENT
        else:
            outcome, observed = (OK, state) if state is not ABSENT else (NOT_FOUND, None)
        if lost:
            outcome = UNKNOWN
        sent = value if kind in (CREATE, UPDATE) else None
        history.append(Op(obj_id, kind, sent, invoke, complete, outcome, observed))
    history.sort(key=lambda op: op.invoke)
    return history


def bench_recording(n: int = 200_000) -> None:
    names = [f"Lobby {i}" for i in range(64)]
    url = "rtsp://127.0.0.1:9/live/main/cam"
    start = time.process_time()
    sink: list[Any] = []
    for i in range(n):
        sink.append((names[i & 63], url))
    bare = time.process_time() - start

    history = History(cap_per_object=2000)
    ids = [f"cam-{i}" for i in range(50)]
    start = time.process_time()
    for i in range(n):
        obj_id = ids[i % 50]
        kind = (CREATE, UPDATE, GET, DELETE)[i & 3]
        value = camera_digest(names[i & 63], url) if kind in (CREATE, UPDATE) else None
        entry = history.invoke(obj_id, kind, value)
        history.complete(entry, OK, value if kind == GET else None)
    recorded = time.process_time() - start
    per_op = (recorded - bare) / n * 1e6
    stats = history.stats()
    print(f"recording: {per_op:.2f} us per op (digest + invoke + complete, segment checks included)")
    print(f"  segments checked {stats['segments']}, ops held {stats['ops_held']} for 50 objects")

    # Lists on the History's own clock (after every recorded op): what a run does.
    lists = n // 50
    for label, changing in (
        ("unchanged objects", False),
        ("every object changed (its 50 new digests included)", True),
    ):
        history = History(clock=time.monotonic)
        seen = {obj_id: camera_digest("x", url) for obj_id in ids}
        start = time.process_time()
        for i in range(lists):
            if changing:
                seen = {obj_id: camera_digest(f"x{i}", url) for obj_id in ids}
            invoked = history.clock()
            history.record_list(invoked, history.clock(), seen, ids)
        elapsed = time.process_time() - start
        print(
            f"record_list over 50 owned ids, {label}: {elapsed / lists * 1e6:.1f} us per list "
            f"({history.coalesced} of {lists * 50} observations coalesced)"
        )


def bench_checker() -> None:
    for clients, ops, unknown in (
        (1, 300, 0.0),
        (5, 300, 0.02),
        (20, 300, 0.02),
        (50, 300, 0.02),
        (50, 2000, 0.0),
    ):
        times, statuses = [], set()
        for seed in range(5):
            history = simulate(seed, clients, ops, unknown)
            start = time.process_time()
            result = check_object(history, budget_s=5.0)
            times.append(time.process_time() - start)
            statuses.add(result.status)
        print(
            f"check_object: {clients:2d} clients, {ops} ops, {unknown:.0%} unknown: "
            f"median {sorted(times)[2] * 1e3:.1f} ms, max {max(times) * 1e3:.1f} ms CPU, "
            f"status {sorted(statuses)}"
        )


def bench_long_run() -> None:
    history = History(cap_per_object=2000)
    base = simulate(7, 20, 20_000, 0.01)
    start = time.process_time()
    for op in base:  # replay as if recorded live
        history._log(op.obj_id).ops.append(op)
        log = history.log(op.obj_id)
        assert log is not None
        if len(log.ops) >= log.limit:
            history._segment(log)
    report = check_all(history)
    elapsed = time.process_time() - start
    print(
        f"20,000 ops on one object, cap 2000: {elapsed:.2f} s in segments + final check, "
        f"{report.operations} checked, {report.ok} ok, {report.undecided} undecided, "
        f"{report.total_violations()} violations"
    )


if __name__ == "__main__":
    assert FAILED and LIST  # (imported for readers; the simulation uses them)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import common

    common.print_header("history recording and linearizability checker (CPU only)")
    bench_recording()
    bench_checker()
    bench_long_run()
