"""``--embedded-target``: the reference target as a child process on a free loopback port."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import gevent

LISTENING = "camstream-target listening on "


class EmbeddedTargetError(Exception):
    """The embedded target could not start; the message says why in one line."""


@dataclass
class EmbeddedTarget:
    url: str
    data_dir: Path
    log_file: Path
    proc: subprocess.Popen[str]
    temporary: bool

    @property
    def data_file(self) -> Path:
        return self.data_dir / "_data" / "cameras.json"

    def stop(self, timeout: float = 5.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout``; removes a temporary data dir. Idempotent."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        if self.proc.stdout:
            self.proc.stdout.close()
        if self.temporary:
            shutil.rmtree(self.data_dir, ignore_errors=True)
        return self.proc.returncode


def start(faults: str = "", data_dir: str = "", timeout: float = 20.0) -> EmbeddedTarget:
    """Start ``python -m camstream_locust.target`` on 127.0.0.1 and wait for its listening line."""
    temporary = not data_dir
    directory = Path(tempfile.mkdtemp(prefix="camstream-target-")) if temporary else Path(data_dir)
    directory.mkdir(parents=True, exist_ok=True)
    log_file = directory / "target.log"
    argv = [sys.executable, "-m", "camstream_locust.target", "--host", "127.0.0.1", "--port", "0"]
    argv += ["--data-dir", str(directory), "--log-file", str(log_file)]
    if faults:
        argv += ["--faults", faults]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    target = EmbeddedTarget("", directory, log_file, proc, temporary)
    line = ""
    try:
        with gevent.Timeout(timeout):
            line = proc.stdout.readline() if proc.stdout else ""
    except gevent.Timeout:
        pass
    if not line.startswith(LISTENING):
        code = proc.poll()
        target.stop()
        why = f"exited with code {code}" if code is not None else f"did not listen within {timeout:.0f} s"
        raise EmbeddedTargetError(f"the embedded target {why} (see its message above)")
    target.url = line[len(LISTENING) :].strip()
    return target
