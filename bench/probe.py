"""Bench-only Locust plugin: one line a second with this process's request count and CPU time.

Loaded next to the locustfile under test (``locust -f locustfiles/camstream.py,bench/probe.py``
or ``-f bench/bare_locustfile.py,bench/probe.py``), it defines no User and changes nothing;
it only prints, to stderr, every ``CAMSTREAM_PROBE_INTERVAL`` seconds (default 1)::

    BENCHPROBE {"t": <epoch s>, "n": <requests>, "f": <failures>, "cpu": <user+system s>, "rss": <bytes>}

Request count and CPU time are read at the same instant in the same process, so the bench
scripts get CPU seconds per request over any window without clock alignment errors. The CPU
time is ``psutil.Process().cpu_times()`` user + system of the load-generating process only
(not its children, e.g. an embedded target). Its own cost is one short line a second.
"""

from __future__ import annotations

import json
import os
import sys
import time

import gevent
import psutil
from locust import events
from locust.runners import WorkerRunner

PREFIX = "BENCHPROBE "
_greenlet = None


def _sample(environment, proc: psutil.Process) -> str:
    total = environment.stats.total
    cpu = proc.cpu_times()
    record = {
        "t": round(time.time(), 4),
        "n": total.num_requests,
        "f": total.num_failures,
        "cpu": round(cpu.user + cpu.system, 4),
        "rss": proc.memory_info().rss,
    }
    return PREFIX + json.dumps(record)


def _loop(environment, interval: float) -> None:
    proc = psutil.Process()
    while True:
        print(_sample(environment, proc), file=sys.stderr, flush=True)
        gevent.sleep(interval)


@events.test_start.add_listener
def _on_test_start(environment, **_kw) -> None:
    global _greenlet
    if isinstance(environment.runner, WorkerRunner):
        return
    interval = float(os.environ.get("CAMSTREAM_PROBE_INTERVAL", "1") or 1)
    if _greenlet is None or _greenlet.dead:
        _greenlet = gevent.spawn(_loop, environment, interval)


@events.test_stopping.add_listener
def _on_test_stopping(environment, **_kw) -> None:
    global _greenlet
    if _greenlet is not None:
        print(_sample(environment, psutil.Process()), file=sys.stderr, flush=True)
        _greenlet.kill(block=False)
        _greenlet = None
