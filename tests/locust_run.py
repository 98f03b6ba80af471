"""Run the real `locust` command on the suite's locustfile and read what it printed."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCUSTFILE = ROOT / "locustfiles" / "camstream.py"
LOCUST = [sys.executable, "-m", "locust"]

LABELS = {
    "nil_pointer": "Nil Pointer Errors",
    "race_condition": "Race Condition Errors",
    "timeout": "Timeout Errors",
    "http_error": "HTTP Errors",
    "json_error": "JSON Errors",
    "connection": "Connection Errors",
    "other": "Other Errors",
}


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def final_block(self) -> str:
        start = self.stdout.rfind("FINAL CONCURRENCY TEST STATISTICS")
        assert start >= 0, f"no final block in output:\n{self.output[-3000:]}"
        end = self.stdout.find("VERDICT:", start)
        return self.stdout[start : self.stdout.find("\n", end)]

    def counts(self) -> dict[str, int]:
        """Per-category counts, total and failed requests of the final block."""
        block = self.final_block()
        out = {key: _number(block, label) for key, label in LABELS.items()}
        out["requests"] = _number(block, "Total Requests")
        out["failed"] = _number(block, "Failed Requests")
        return out


def _number(block: str, label: str) -> int:
    """A category line's failed requests (its total minus findings beyond requests)."""
    match = re.search(
        rf"^{re.escape(label)}:\s+(\d+)[^(\n]*(?:\((\d+) failed requests)?", block, re.MULTILINE
    )
    assert match, f"{label!r} missing in:\n{block}"
    return int(match.group(2) or match.group(1))


def total(block: str, label: str) -> int:
    """A category line's total: failed requests plus findings beyond requests."""
    match = re.search(rf"^{re.escape(label)}:\s+(\d+)", block, re.MULTILINE)
    assert match, f"{label!r} missing in:\n{block}"
    return int(match.group(1))


def locust_argv(*args: str) -> list[str]:
    return [*LOCUST, "-f", str(LOCUSTFILE), *args]


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1"}


def run_locust(*args: str, timeout: float = 120) -> Run:
    """Run locust to completion (bounded by ``timeout``) from the repository root."""
    proc = subprocess.run(
        locust_argv(*args),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env(),
        stdin=subprocess.DEVNULL,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


def run_locust_interrupted(*args: str, after_line: str, sig: int = signal.SIGINT, timeout: float = 90) -> Run:
    """Start locust, send ``sig`` once stdout shows ``after_line``, and collect the rest."""
    proc = subprocess.Popen(
        locust_argv(*args),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env(),
        stdin=subprocess.DEVNULL,
    )
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if after_line in line:
                proc.send_signal(sig)
                break
            if time.monotonic() > deadline:
                break
        out, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    return Run(proc.returncode, "".join(lines) + out, err)
