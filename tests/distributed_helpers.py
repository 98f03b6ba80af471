"""Helpers of test_distributed.py: Locust processes on loopback, their outputs and debug counts.

No locust import here (the processes are subprocesses). Every process started through
``LocustProcs`` is stopped when its owner closes it, also when a test fails.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from tests.locust_run import LABELS  # the categories and their labels in the blocks

REPO = Path(__file__).resolve().parent.parent
LOCUSTFILE = str(REPO / "locustfiles" / "camstream.py")
DEBUG_COUNTS_ENV = "CAMSTREAM_DEBUG_COUNTS_DIR"

CATEGORIES = tuple(LABELS)

#: Upper bounds (seconds) of the waits below.
PROCESS_EXIT_TIMEOUT = 90.0
STOP_TIMEOUT = 10.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LocustProc:
    """One `locust` subprocess, its stdout and stderr in files."""

    name: str
    proc: subprocess.Popen
    stdout_file: Path
    stderr_file: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stdout(self) -> str:
        return self.stdout_file.read_text(encoding="utf-8", errors="replace")

    def stderr(self) -> str:
        return self.stderr_file.read_text(encoding="utf-8", errors="replace")

    def output(self) -> str:
        return self.stdout() + self.stderr()

    def wait(self, timeout: float = PROCESS_EXIT_TIMEOUT) -> int:
        """The exit code; fails the test (after a SIGKILL) when it does not exit in time."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f"{self.name} did not exit within {timeout:.0f} s\n--- stderr tail:\n{self.stderr()[-3000:]}"
            ) from None

    def wait_for(self, text: str, timeout: float = 60.0) -> None:
        """Until `text` appears in the process's output (bounded); fails if it exits first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        if text in self.output():
            return
        raise AssertionError(f"{self.name}: no {text!r} in its output\n{self.stderr()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL this process only (not --processes children: see LocustProcs.close)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(STOP_TIMEOUT)

    def stop(self) -> None:
        """SIGTERM, bounded wait, then SIGKILL. Idempotent."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.kill()


def locust_env(debug_dir: Path | None, extra: dict[str, str] | None = None) -> dict[str, str]:
    """This environment without LOCUST_*/CAMSTREAM_* settings, plus the debug counts dir."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOCUST_", "CAMSTREAM_"))}
    env["PYTHONUNBUFFERED"] = "1"
    if debug_dir is not None:
        env[DEBUG_COUNTS_ENV] = str(debug_dir)
    env.update(extra or {})
    return env


@dataclass
class LocustProcs:
    """Starts `locust` processes under `workdir` and stops all of them on close()."""

    workdir: Path
    debug_dir: Path
    started: list[LocustProc] = field(default_factory=list)

    def start(self, name: str, *args: str, env: dict[str, str] | None = None) -> LocustProc:
        out, err = self.workdir / f"{name}.out", self.workdir / f"{name}.err"
        with open(out, "wb") as stdout, open(err, "wb") as stderr:
            proc = subprocess.Popen(
                [sys.executable, "-m", "locust", "-f", LOCUSTFILE, *args],
                cwd=REPO,
                env=locust_env(self.debug_dir, env),
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
            )
        started = LocustProc(name, proc, out, err)
        self.started.append(started)
        return started

    def master(self, name: str, port: int, host: str, *args: str, workers: int = 2, **kw: Any) -> LocustProc:
        return self.start(
            name,
            "--master",
            "--headless",
            "--master-bind-host",
            "127.0.0.1",
            "--master-bind-port",
            str(port),
            "--expect-workers",
            str(workers),
            "--expect-workers-max-wait",
            "60",
            "-H",
            host,
            *args,
            **kw,
        )

    def worker(self, name: str, port: int, *args: str, **kw: Any) -> LocustProc:
        return self.start(
            name, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port), *args, **kw
        )

    def close(self) -> None:
        for p in reversed(self.started):
            try:  # forked --processes workers: stopped by their parent, else killed below
                children = psutil.Process(p.pid).children(recursive=True)
            except psutil.Error:
                children = []
            p.stop()
            _gone, alive = psutil.wait_procs(children, timeout=STOP_TIMEOUT)
            for child in alive:
                child.kill()  # psutil checks that it is still the same process
            psutil.wait_procs(alive, timeout=STOP_TIMEOUT)


# --- reading what the processes wrote ------------------------------------------------------------


def debug_counts(directory: Path) -> dict[str, list[dict[str, Any]]]:
    """The files the processes wrote with CAMSTREAM_DEBUG_COUNTS_DIR, by role."""
    by_role: dict[str, list[dict[str, Any]]] = {"master": [], "worker": [], "local": []}
    for path in sorted(directory.glob("*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        by_role[record["role"]].append(record)
    return by_role


def locust_json_stats(path: Path) -> dict[str, dict[str, int]]:
    """Locust's own --json-file: "METHOD name" -> {"requests": n, "failures": n}."""
    entries = json.loads(path.read_text(encoding="utf-8"))
    return {
        f"{e['method']} {e['name']}": {"requests": e["num_requests"], "failures": e["num_failures"]}
        for e in entries
    }


def final_block(stdout: str) -> dict[str, Any]:
    """The numbers of the FINAL CONCURRENCY TEST STATISTICS block, its notes and verdict line."""
    assert stdout.count("FINAL CONCURRENCY TEST STATISTICS") == 1, "expected exactly one final block"
    text = stdout.split("FINAL CONCURRENCY TEST STATISTICS", 1)[1]
    verdict = re.search(r"^VERDICT: .*$", text, re.M)
    assert verdict, "no VERDICT line after the final block"
    text = text[: verdict.end()]

    def number(label: str) -> int:
        found = re.search(rf"^{re.escape(label)}:\s+(\d+)", text, re.M)
        assert found, f"no {label!r} line in the final block"
        return int(found.group(1))

    return {
        "requests": number("Total Requests"),
        "failures": number("Failed Requests"),
        "errors": number("Total Errors"),
        "categories": {category: number(label) for category, label in LABELS.items()},
        "notes": re.findall(r"^NOTE: (.*)$", text, re.M),
        "verdict": verdict.group(0),
    }


def summed(records: Iterable[dict[str, Any]], *keys: str) -> Counter[str]:
    """The sum over records of the counter at record[keys[0]][keys[1]]..."""
    total: Counter[str] = Counter()
    for record in records:
        value: Any = record
        for key in keys:
            value = (value or {}).get(key) or {}
        total.update(value)
    return total


def full(counter: Counter[str] | dict[str, int]) -> dict[str, int]:
    """Every category, zero included (to compare counters with absent keys)."""
    return {category: int(counter.get(category, 0)) for category in CATEGORIES}


_EVENT = re.compile(r"\[INFO\] (camera|inference server) (\S+) (created|updated|deleted)$", re.M)


def target_events(log_text: str, prefix: str) -> list[tuple[str, str, str]]:
    """The target's log as (kind, id, event) for the ids starting with `prefix`, in order."""
    return [m.groups() for m in _EVENT.finditer(log_text) if m.group(2).startswith(prefix)]


def replay(events: list[tuple[str, str, str]]) -> tuple[set[tuple[str, str]], list[tuple[str, str]]]:
    """(objects alive after the log's creates and deletes, deletes of objects not alive then)."""
    alive: set[tuple[str, str]] = set()
    double: list[tuple[str, str]] = []
    for kind, obj_id, event in events:
        key = (kind, obj_id)
        if event == "created":
            alive.add(key)
        elif event == "deleted":
            if key not in alive:
                double.append(key)
            alive.discard(key)
    return alive, double


def data_file_ids(path: Path) -> list[str]:
    """Every camera and inference server id in the target's data file."""
    data = json.loads(path.read_text(encoding="utf-8"))
    ids = []
    for table in ("cameras", "inference_servers"):
        for key, obj in (data.get(table) or {}).items():
            ids.append(key)
            if isinstance(obj, dict) and obj.get("id") and obj["id"] != key:
                ids.append(obj["id"])
    return ids
