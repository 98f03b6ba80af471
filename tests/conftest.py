"""Shared test fixtures: the reference target as a real subprocess, and small HTTP helpers.

No locust import here: the target tests must stay free of it (and a module that does import
locust has to import it before requests/ssl).
"""

from __future__ import annotations

import http.client
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

#: The line the target prints on stdout once it is listening.
LISTENING_PREFIX = "camstream-target listening on "
#: Upper bounds (seconds) for a target to start listening and to exit after SIGTERM.
START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0

JsonBody = dict[str, Any] | list[Any] | str | bytes | None


@dataclass
class TargetProcess:
    """A running `python -m camstream_locust.target` subprocess."""

    url: str
    port: int
    data_dir: Path
    log_file: Path
    proc: subprocess.Popen

    def data_file(self) -> Path:
        """Where the target persists its store."""
        return self.data_dir / "_data" / "cameras.json"

    def stderr_file(self) -> Path:
        """The file the target's stderr is redirected to."""
        return self.log_file.with_name(self.log_file.name + ".stderr")

    def log_text(self) -> str:
        """The target's Go-format log so far ("" before anything was written)."""
        return self.log_file.read_text(encoding="utf-8", errors="replace") if self.log_file.exists() else ""

    def stop(self) -> int:
        """SIGTERM, wait (bounded; SIGKILL if needed) and return the exit code. Idempotent."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_TIMEOUT)
        if self.proc.stdout is not None and not self.proc.stdout.closed:
            self.proc.stdout.close()
        return self.proc.returncode


def target_command(*args: str) -> list[str]:
    """The command line running the target with `args`."""
    return [sys.executable, "-m", "camstream_locust.target", *args]


def _read_line(proc: subprocess.Popen, deadline: float) -> str:
    """The first stdout line of `proc`, or "" if it exits or the deadline passes first."""
    assert proc.stdout is not None
    buf = b""
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while b"\n" not in buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not sel.select(remaining):
                break
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                break
            buf += chunk
    return buf.decode("utf-8", "replace").partition("\n")[0] if b"\n" in buf else ""


def launch_target(
    workdir: Path, name: str, faults: str = "", *extra_args: str, data_dir: Path | None = None
) -> TargetProcess:
    """Start a target on 127.0.0.1, port 0, and wait (bounded) for its listening line.

    Files go under `workdir`: `<name>.log` (the --log-file), `<name>.log.stderr`, and the
    data directory `<name>-data` unless `data_dir` is given.
    """
    data_dir = data_dir if data_dir is not None else workdir / f"{name}-data"
    log_file = workdir / f"{name}.log"
    args = ["--port", "0", "--data-dir", str(data_dir), "--log-file", str(log_file)]
    if faults:
        args += ["--faults", faults]
    stderr_path = log_file.with_name(log_file.name + ".stderr")
    with open(stderr_path, "wb") as stderr:
        proc = subprocess.Popen(
            target_command(*args, *extra_args),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            cwd=workdir,
        )
    target = TargetProcess(url="", port=0, data_dir=data_dir, log_file=log_file, proc=proc)
    line = _read_line(proc, time.monotonic() + START_TIMEOUT)
    if not line.startswith(LISTENING_PREFIX):
        target.stop()
        stderr_text = stderr_path.read_text(errors="replace")
        raise RuntimeError(f"target did not start: stdout {line!r}, stderr {stderr_text!r}")
    target.url = line[len(LISTENING_PREFIX) :].strip()
    target.port = urllib.parse.urlsplit(target.url).port or 0
    return target


@pytest.fixture
def start_target(tmp_path: Path) -> Iterator[Callable[..., TargetProcess]]:
    """start_target(faults="", *extra_args, data_dir=None) -> a running TargetProcess.

    Every target started is stopped at teardown.
    """
    started: list[TargetProcess] = []

    def start(faults: str = "", *extra_args: str, data_dir: Path | None = None) -> TargetProcess:
        target = launch_target(tmp_path, f"target{len(started)}", faults, *extra_args, data_dir=data_dir)
        started.append(target)
        return target

    yield start
    for target in started:
        target.stop()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_request(
    method: str,
    url: str,
    body: JsonBody = None,
    timeout: float = 5,
    headers: dict[str, str] | None = None,
) -> tuple[int, http.client.HTTPMessage, bytes]:
    """One request on a fresh connection: (status, headers, raw body).

    A dict/list body is sent as JSON, str/bytes as is. Connection errors propagate
    (e.g. http.client.RemoteDisconnected, TimeoutError).
    """
    parts = urllib.parse.urlsplit(url)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    if isinstance(body, dict | list):
        payload: bytes | None = json.dumps(body).encode()
    elif isinstance(body, str):
        payload = body.encode()
    else:
        payload = body
    all_headers = {"Content-Type": "application/json"} if payload is not None else {}
    all_headers.update(headers or {})
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=timeout)
    try:
        conn.request(method, path, body=payload, headers=all_headers)
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


def http_json(
    method: str, url: str, body: JsonBody = None, timeout: float = 5
) -> tuple[int, dict[str, Any] | None, bytes]:
    """One request: (status, the body as a JSON object or None if it is not one, raw body)."""
    status, _headers, raw = http_request(method, url, body, timeout)
    try:
        value = json.loads(raw)
    except ValueError:
        return status, None, raw
    return status, value if isinstance(value, dict) else None, raw


def run_together(count: int, work: Callable[[int], Any], timeout: float = 30) -> list[Any]:
    """Run work(0..count-1) in `count` threads released at once; their results or exceptions."""
    barrier = threading.Barrier(count, timeout=timeout)
    results: list[Any] = [None] * count

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = work(index)
        except Exception as exc:
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in threads), "worker threads did not finish in time"
    return results


class FilePoller:
    """A thread reading a file in a loop (bounded in count and time), recording what it saw.

    `reads` counts reads of an existing file, `torn` the ones that were empty or not JSON.
    """

    def __init__(self, path: Path, max_reads: int = 200_000, max_seconds: float = 20) -> None:
        self.path = path
        self.max_reads = max_reads
        self.max_seconds = max_seconds
        self.reads = 0
        self.torn = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        for _ in range(self.max_reads):
            if self._stop.is_set() or time.monotonic() > deadline:
                return
            try:
                raw = self.path.read_bytes()
            except FileNotFoundError:
                continue
            self.reads += 1
            try:
                json.loads(raw)
            except ValueError:
                self.torn += 1
            time.sleep(0.0001)  # let the other threads of this process run

    def __enter__(self) -> FilePoller:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(self.max_seconds)
