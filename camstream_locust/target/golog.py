"""The target's log: Go `log` package format (`2026/12/03 21:40:16 message`), one write per entry.

Each entry (a line, or a multi-line block such as a panic trace or a race report) goes to
the file descriptor in a single os.write, so concurrent entries never interleave inside
an entry and nothing waits in a buffer.
"""

from __future__ import annotations

import os
import time
from pathlib import Path


def go_log_prefix(when: float | None = None) -> str:
    """`YYYY/MM/DD HH:MM:SS ` in local time, like Go's log.LstdFlags."""
    return time.strftime("%Y/%m/%d %H:%M:%S ", time.localtime(when))


class GoLog:
    """Writes log entries to a file descriptor (stderr or an appended log file)."""

    def __init__(self, fd: int, *, owned: bool = False) -> None:
        self._fd = fd
        self._owned = owned

    @classmethod
    def open(cls, path: Path | None) -> GoLog:
        """Append to `path`, or write to stderr when None."""
        if path is None:
            return cls(2)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        return cls(fd, owned=True)

    def printf(self, message: str) -> None:
        """One log.Printf call: the timestamp prefix, then `message` (may span lines)."""
        self.raw(go_log_prefix() + message)

    def raw(self, text: str) -> None:
        """Write `text` as is (plus a final newline), e.g. a race-detector report."""
        if not text.endswith("\n"):
            text += "\n"
        data = text.encode("utf-8", "replace")
        while data:
            written = os.write(self._fd, data)
            data = data[written:]

    def close(self) -> None:
        if self._owned:
            os.close(self._fd)
