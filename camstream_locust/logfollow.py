"""Follow a server's log as gevent greenlets: a file like `tail -F`, or a command's output.

``follow_file`` and ``follow_command`` run until their stop event is set (or the greenlet
is killed) and never raise on I/O errors or failing commands: they report them through
``on_error(message)``, one line each. ``LogSource`` owns one of them, a ``serverlog.LogParser``
and the greenlets, and hands finished reports to a callback.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import stat
import time
from collections.abc import Callable
from typing import Any, Protocol

import gevent
import gevent.event
from gevent import subprocess

from camstream_locust.serverlog import LogParser, Report

#: A line longer than this is delivered in pieces of this size.
MAX_LINE_BYTES = 1024 * 1024
CHUNK_BYTES = 64 * 1024
#: Bytes read on stop before giving up on a file that keeps growing.
STOP_DRAIN_BYTES = 16 * 1024 * 1024
#: Seconds to wait for a command after SIGTERM, then after SIGKILL.
KILL_TIMEOUT = 2.0
#: Characters that, outside quotes, make follow_command run the string with /bin/sh -c.
SHELL_CHARS = frozenset("|&;<>()$`*?~\n")

LineCallback = Callable[[str], None]
ErrorCallback = Callable[[str], None]


class StopEvent(Protocol):
    def is_set(self) -> bool: ...
    def wait(self, timeout: float | None = None) -> Any: ...


def _call(callback: Callable[..., Any] | None, *args: Any, on_error: ErrorCallback | None = None) -> None:
    """Call a user callback; a failure is reported through on_error (or ignored), never raised."""
    if callback is None:
        return
    try:
        callback(*args)
    except Exception as exc:
        if on_error is not None and on_error is not callback:
            with contextlib.suppress(Exception):
                on_error(f"{getattr(callback, '__name__', 'callback')} failed: {type(exc).__name__}: {exc}")


def _decode(raw: bytes) -> str:
    line = raw.decode("utf-8", "replace")
    return line[:-1] if line.endswith("\r") else line


class _FileFollower:
    """The state of one follow_file call."""

    def __init__(
        self,
        path: str,
        on_line: LineCallback,
        on_error: ErrorCallback | None,
        on_reset: Callable[[str], None] | None,
    ) -> None:
        self.path = path
        self.on_line = on_line
        self.on_error = on_error
        self.on_reset = on_reset
        self.fd: int | None = None
        self.ident: tuple[int, int] = (0, 0)
        self.pos = 0
        self.buffer = b""
        self.last_error: str | None = None
        self.missing_reported = False

    def error(self, message: str) -> None:
        """Report `message` once (until a different one, or a success, comes)."""
        if message != self.last_error:
            self.last_error = message
            _call(self.on_error, message)

    def deliver(self, line: str) -> None:
        _call(self.on_line, line, on_error=self.on_error)

    def open(self, at_end: bool) -> bool:
        try:
            fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except FileNotFoundError:
            self.error(f"log file {self.path} does not exist (yet); waiting for it")
            return False
        except OSError as exc:
            self.error(f"cannot open log file {self.path}: {exc.strerror or exc}")
            return False
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                os.close(fd)
                self.error(f"log file {self.path} is not a regular file (follow it with a command instead)")
                return False
            self.pos = os.lseek(fd, 0, os.SEEK_END) if at_end else 0
        except OSError as exc:
            os.close(fd)
            self.error(f"cannot read log file {self.path}: {exc.strerror or exc}")
            return False
        self.fd, self.ident = fd, (info.st_dev, info.st_ino)
        self.last_error, self.missing_reported = None, False
        return True

    def close(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = None

    def read(self, limit: int | None = None) -> int:
        """Read to EOF (at most `limit` bytes), delivering complete lines; bytes read."""
        total = 0
        while self.fd is not None and (limit is None or total < limit):
            try:
                chunk = os.read(self.fd, CHUNK_BYTES)
            except OSError as exc:
                self.error(f"cannot read log file {self.path}: {exc.strerror or exc}")
                return total
            if not chunk:
                break
            total += len(chunk)
            self.pos += len(chunk)
            *lines, self.buffer = (self.buffer + chunk).split(b"\n")
            for raw in lines:
                self.deliver(_decode(raw))
            while len(self.buffer) > MAX_LINE_BYTES:
                piece, self.buffer = self.buffer[:MAX_LINE_BYTES], self.buffer[MAX_LINE_BYTES:]
                self.deliver(_decode(piece))
            gevent.sleep(0)  # let other greenlets run while a big file is read
        return total

    def flush_partial(self) -> None:
        if self.buffer:
            line, self.buffer = self.buffer, b""
            self.deliver(_decode(line))

    def check(self) -> None:
        """After reading to EOF: switch to a replaced file, or start over on a truncated one."""
        assert self.fd is not None
        try:
            info = os.stat(self.path)
        except FileNotFoundError:
            if not self.missing_reported:
                self.missing_reported = True
                self.error(f"log file {self.path} was removed; waiting for it to reappear")
            return
        except OSError as exc:
            self.error(f"cannot stat log file {self.path}: {exc.strerror or exc}")
            return
        if (info.st_dev, info.st_ino) != self.ident:  # rotated: finish the old file, open the new one
            self.read()
            self.flush_partial()
            self.close()
            _call(self.on_reset, "rotated", on_error=self.on_error)
            self.open(at_end=False)
            return
        try:
            size = os.fstat(self.fd).st_size
        except OSError as exc:
            self.error(f"cannot stat log file {self.path}: {exc.strerror or exc}")
            return
        if size < self.pos:  # truncated (e.g. copytruncate): start over
            self.flush_partial()
            try:
                self.pos = os.lseek(self.fd, 0, os.SEEK_SET)
            except OSError as exc:
                self.error(f"cannot seek log file {self.path}: {exc.strerror or exc}")
                self.close()
            _call(self.on_reset, "truncated", on_error=self.on_error)


def follow_file(
    path: str | os.PathLike[str],
    on_line: LineCallback,
    *,
    from_start: bool = False,
    poll: float = 0.2,
    stop_event: StopEvent | None = None,
    on_error: ErrorCallback | None = None,
    on_reset: Callable[[str], None] | None = None,
    on_idle: Callable[[], None] | None = None,
) -> None:
    """Deliver each complete line of `path` to on_line until stop_event is set (a greenlet's body).

    Like `tail -F`: starts at the end of an existing file unless `from_start` (a file that
    appears later is read from its start); waits for a missing file; on truncation starts
    over at 0 and on rotation (another file at `path`) reads the old file to its end, then
    the new one from its start, calling on_reset("truncated" | "rotated") in between.
    Bytes are decoded as UTF-8 with replacement; a partial last line waits for its newline
    and is delivered on stop (or when its file is rotated away). I/O errors and waits (no
    file yet, file removed) go to on_error, once per distinct message; on_idle is called
    after each poll that found nothing new.
    `stop_event` is a gevent.event.Event (or alike); None: until the greenlet is killed.
    """
    stop = stop_event if stop_event is not None else gevent.event.Event()
    follower = _FileFollower(os.fspath(path), on_line, on_error, on_reset)
    at_end = not from_start
    try:
        while not stop.is_set():
            if follower.fd is None:
                follower.open(at_end)
                at_end = False  # a file that appears later is new: read it whole
            got = follower.read() if follower.fd is not None else 0
            if follower.fd is not None:
                follower.check()
            if not got:
                _call(on_idle, on_error=on_error)
                stop.wait(poll)
        follower.read(STOP_DRAIN_BYTES)
        follower.flush_partial()
    finally:
        follower.close()


def needs_shell(cmd: str) -> bool:
    """Whether `cmd` uses shell syntax: SHELL_CHARS outside quotes, or `$`/backquote inside double quotes."""
    quote = ""
    escaped = False
    for char in cmd:
        if escaped:
            escaped = False
        elif char == "\\" and quote != "'":
            escaped = True
        elif quote:
            if char == quote:
                quote = ""
            elif quote == '"' and char in "$`":
                return True
        elif char in "'\"":
            quote = char
        elif char in SHELL_CHARS:
            return True
    return False


def command_args(cmd: str) -> list[str]:
    """The argv for `cmd`: shlex.split, or /bin/sh -c `cmd` when it needs a shell (see needs_shell).

    Raises ValueError for unbalanced quotes.
    """
    return ["/bin/sh", "-c", cmd] if needs_shell(cmd) else shlex.split(cmd)


def _terminate(proc: subprocess.Popen, timeout: float) -> None:
    """SIGTERM the command's process group, SIGKILL it after `timeout` seconds; bounded."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)  # its own session (start_new_session): the command and its children
        except ProcessLookupError:
            return
        except OSError:
            with contextlib.suppress(OSError):
                proc.send_signal(sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=timeout)


def follow_command(
    cmd: str,
    on_line: LineCallback,
    on_error: ErrorCallback | None = None,
    on_exit: Callable[[int | None], None] | None = None,
    *,
    stop_event: StopEvent | None = None,
    kill_timeout: float = KILL_TIMEOUT,
) -> int | None:
    """Run `cmd` (e.g. `docker logs -f cam`) and deliver its stdout+stderr lines (a greenlet's body).

    The string is split with shlex and run directly, or with /bin/sh -c if it uses shell
    syntax (pipes, redirections, `$`, globs, `~`: see needs_shell). A command that cannot
    start is reported through on_error and on_exit(None); one that exits by itself through
    on_exit(code) and, unless the code is 0, on_error. Setting stop_event (or killing the
    greenlet) terminates the command: SIGTERM to its process group, SIGKILL after
    kill_timeout seconds. Returns the exit code, or None if it did not start.
    """
    stop = stop_event if stop_event is not None else gevent.event.Event()
    try:
        args = command_args(cmd)
        if not args:
            raise ValueError("empty command")
        proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except Exception as exc:  # OSError (no such file, permission), ValueError (shlex: no closing quote)
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
        _call(on_error, f"log command {cmd!r} failed to start: {reason}")
        _call(on_exit, None, on_error=on_error)
        return None

    def stopper() -> None:
        stop.wait()
        _terminate(proc, kill_timeout)

    watcher = gevent.spawn(stopper)
    try:
        assert proc.stdout is not None
        while True:
            try:
                raw = proc.stdout.readline(MAX_LINE_BYTES)
            except OSError as exc:
                _call(on_error, f"cannot read from log command {cmd!r}: {exc.strerror or exc}")
                break
            if not raw:
                break
            _call(on_line, _decode(raw[:-1] if raw.endswith(b"\n") else raw), on_error=on_error)
        code = proc.wait()
    finally:
        watcher.kill()
        _terminate(proc, kill_timeout)
        if proc.stdout is not None:
            with contextlib.suppress(OSError):
                proc.stdout.close()
    if not stop.is_set() and code != 0:
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        _call(on_error, f"log command {cmd!r} {how}")
    _call(on_exit, code, on_error=on_error)
    return code


class LogSource:
    """A followed log (a file or a command) parsed into Reports for `on_report`.

    start() spawns the follower greenlet; stop() stops it and flushes the parser, so a
    report in progress is still delivered (marked truncated if it looks cut). A report that
    looks complete is delivered after `idle_flush` seconds without new lines (None: only at
    the next line or stop). Callbacks run in the follower's greenlets; their exceptions go
    to on_error.
    """

    def __init__(
        self,
        on_report: Callable[[Report], None],
        *,
        path: str | os.PathLike[str] | None = None,
        command: str | None = None,
        from_start: bool = False,
        poll: float = 0.2,
        on_error: ErrorCallback | None = None,
        on_exit: Callable[[int | None], None] | None = None,
        parser: LogParser | None = None,
        idle_flush: float | None = 2.0,
    ) -> None:
        if (path is None) == (command is None):
            raise ValueError("give exactly one of path and command")
        self.path = os.fspath(path) if path is not None else None
        self.command = command
        self.from_start = from_start
        self.poll = poll
        self.idle_flush = idle_flush
        self.parser = parser or LogParser()
        self._on_report = on_report
        self._on_error = on_error
        self._on_exit = on_exit
        self._stop = gevent.event.Event()
        self._greenlets: list[gevent.Greenlet] = []
        self._last_line = time.monotonic()
        #: Lines read, reports delivered, the last error message.
        self.lines = 0
        self.reports = 0
        self.last_error: str | None = None

    @property
    def running(self) -> bool:
        return bool(self._greenlets) and not self._greenlets[0].dead

    def start(self) -> None:
        """Start following (once)."""
        if self._greenlets:
            return
        self._greenlets.append(gevent.spawn(self._run))
        if self.idle_flush is not None:
            self._greenlets.append(gevent.spawn(self._idle))

    def stop(self, timeout: float = 5.0) -> None:
        """Stop following (bounded: kills the greenlets after `timeout`), then flush the parser."""
        self._stop.set()
        if self._greenlets:
            gevent.joinall(self._greenlets[:1], timeout=timeout)
            gevent.killall(self._greenlets, timeout=timeout)
        self._emit(self.parser.flush())

    def _run(self) -> None:
        try:
            if self.path is not None:
                follow_file(
                    self.path,
                    self._line,
                    from_start=self.from_start,
                    poll=self.poll,
                    stop_event=self._stop,
                    on_error=self._error,
                    on_reset=self._reset,
                )
            else:
                assert self.command is not None
                follow_command(self.command, self._line, self._error, self._exit, stop_event=self._stop)
        finally:
            self._emit(self.parser.flush())

    def _idle(self) -> None:
        assert self.idle_flush is not None
        while not self._stop.wait(max(self.idle_flush / 2, 0.01)):
            if self.parser.pending and time.monotonic() - self._last_line >= self.idle_flush:
                self._emit(self.parser.flush_complete())

    def _line(self, line: str) -> None:
        self.lines += 1
        self._last_line = time.monotonic()
        self._emit(self.parser.feed(line))

    def _reset(self, _reason: str) -> None:
        self._emit(self.parser.flush())

    def _emit(self, reports: list[Report]) -> None:
        for report in reports:
            self.reports += 1
            _call(self._on_report, report, on_error=self._error)

    def _error(self, message: str) -> None:
        self.last_error = message
        _call(self._on_error, message)

    def _exit(self, code: int | None) -> None:
        _call(self._on_exit, code, on_error=self._error)
