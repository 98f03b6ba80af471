"""logfollow: following real files and commands in gevent greenlets (bounded waits only)."""

from __future__ import annotations

import contextlib
import os
import random
import shlex
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import gevent
import gevent.event
import pytest
from conftest import http_json

from camstream_locust.logfollow import LogSource, command_args, follow_command, follow_file, needs_shell
from camstream_locust.serverlog import DATA_RACE, GO_PANIC, Report, ServerLogFindings
from camstream_locust.target import faults
from camstream_locust.target.golog import go_log_prefix

WAIT = 10.0  # upper bound of every wait; a passing test waits far less
POLL = 0.02


def wait_until(predicate: Callable[[], bool], timeout: float = WAIT) -> bool:
    """Let the greenlets run until predicate() holds (True) or `timeout` passes (False)."""
    with gevent.Timeout(timeout, False):
        while not predicate():
            gevent.sleep(POLL / 2)
        return True
    return predicate()


class Recorder:
    """The callbacks of one follower, and what they received."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.errors: list[str] = []
        self.resets: list[str] = []
        self.exits: list[int | None] = []
        self.idles = 0

    def on_line(self, line: str) -> None:
        self.lines.append(line)

    def on_error(self, message: str) -> None:
        self.errors.append(message)

    def on_reset(self, reason: str) -> None:
        self.resets.append(reason)

    def on_exit(self, code: int | None) -> None:
        self.exits.append(code)

    def on_idle(self) -> None:
        self.idles += 1

    def idle_rounds(self, rounds: int = 3) -> bool:
        """Wait until the follower has polled `rounds` more times and found nothing new."""
        target = self.idles + rounds
        return wait_until(lambda: self.idles >= target)


@pytest.fixture
def follow(tmp_path: Path) -> Iterator[Callable[..., tuple[Recorder, gevent.event.Event, gevent.Greenlet]]]:
    """follow(path, **kwargs) -> (recorder, stop event, greenlet) of a running follow_file."""
    running: list[tuple[gevent.event.Event, gevent.Greenlet]] = []

    def start(path: Path, **kwargs: object) -> tuple[Recorder, gevent.event.Event, gevent.Greenlet]:
        rec, stop = Recorder(), gevent.event.Event()
        greenlet = gevent.spawn(
            follow_file,
            path,
            rec.on_line,
            poll=POLL,
            stop_event=stop,
            on_error=rec.on_error,
            on_reset=rec.on_reset,
            on_idle=rec.on_idle,
            **kwargs,
        )
        running.append((stop, greenlet))
        assert rec.idle_rounds(1), "the follower never polled"
        return rec, stop, greenlet

    yield start
    for stop, greenlet in running:
        stop.set()
        greenlet.join(WAIT)
        greenlet.kill()


def append(path: Path, data: str | bytes) -> None:
    with open(path, "ab") as f:
        f.write(data.encode() if isinstance(data, str) else data)


def stop_and_join(stop: gevent.event.Event, greenlet: gevent.Greenlet) -> None:
    stop.set()
    greenlet.join(WAIT)
    assert greenlet.dead, "the follower did not stop"
    assert greenlet.exception is None


# --- follow_file ------------------------------------------------------------------------------


def test_starts_at_the_end_and_delivers_appended_lines(tmp_path: Path, follow) -> None:
    path = tmp_path / "server.log"
    path.write_text("old 1\nold 2\n")
    rec, stop, greenlet = follow(path)
    append(path, "new 1\nnew 2\n")
    assert wait_until(lambda: len(rec.lines) >= 2)
    append(path, "new 3\n")
    assert wait_until(lambda: len(rec.lines) >= 3)
    stop_and_join(stop, greenlet)
    assert rec.lines == ["new 1", "new 2", "new 3"]
    assert rec.errors == [] and rec.resets == []


def test_from_start_reads_existing_content(tmp_path: Path, follow) -> None:
    path = tmp_path / "server.log"
    path.write_text("old 1\nold 2\n")
    rec, stop, greenlet = follow(path, from_start=True)
    assert wait_until(lambda: len(rec.lines) >= 2)
    stop_and_join(stop, greenlet)
    assert rec.lines == ["old 1", "old 2"]


def test_partial_line_waits_for_its_newline_and_is_delivered_on_stop(tmp_path: Path, follow) -> None:
    path = tmp_path / "server.log"
    path.write_bytes(b"")
    rec, stop, greenlet = follow(path)
    append(path, "first half ")
    assert rec.idle_rounds(3)
    assert rec.lines == []
    append(path, "second half\r\nlast, unfinished")
    assert wait_until(lambda: len(rec.lines) >= 1)
    assert rec.idle_rounds(3)
    assert rec.lines == ["first half second half"]
    stop_and_join(stop, greenlet)
    assert rec.lines == ["first half second half", "last, unfinished"]


def test_invalid_utf8_is_replaced(tmp_path: Path, follow) -> None:
    path = tmp_path / "server.log"
    path.write_bytes(b"")
    rec, stop, greenlet = follow(path)
    append(path, b"caf\xc3\xa9 \xff\xfe end\n")
    assert wait_until(lambda: len(rec.lines) >= 1)
    stop_and_join(stop, greenlet)
    assert rec.lines == ["café \ufffd\ufffd end"]


def test_truncation_starts_over(tmp_path: Path, follow) -> None:
    path = tmp_path / "server.log"
    path.write_bytes(b"")
    rec, stop, greenlet = follow(path)
    append(path, "a\nb\nc\n")
    assert wait_until(lambda: len(rec.lines) >= 3)
    path.write_bytes(b"")  # truncate, as logrotate's copytruncate does
    assert wait_until(lambda: rec.resets == ["truncated"])
    append(path, "d\n")
    assert wait_until(lambda: len(rec.lines) >= 4)
    stop_and_join(stop, greenlet)
    assert rec.lines == ["a", "b", "c", "d"]
    assert rec.errors == []


def test_rotation_finishes_the_old_file_then_reads_the_new_one(tmp_path: Path, follow) -> None:
    path = tmp_path / "server.log"
    path.write_text("before\n")
    rec, stop, greenlet = follow(path)
    append(path, "a\nb\n")
    assert wait_until(lambda: len(rec.lines) >= 2)
    # Written to the old file right before the rename, then the new file fills up at once:
    # the follower has seen neither yet.
    append(path, "c\nunfinished")
    path.rename(tmp_path / "server.log.1")
    path.write_text("d\ne\n")
    assert wait_until(lambda: len(rec.lines) >= 5)
    append(path, "f\n")
    assert wait_until(lambda: len(rec.lines) >= 6)
    assert rec.idle_rounds(3)
    stop_and_join(stop, greenlet)
    assert rec.lines == ["a", "b", "c", "unfinished", "d", "e", "f"]
    assert rec.resets == ["rotated"]


def test_rotation_with_a_gap_before_the_new_file(tmp_path: Path, follow) -> None:
    path = tmp_path / "server.log"
    path.write_bytes(b"")
    rec, stop, greenlet = follow(path)
    append(path, "a\n")
    assert wait_until(lambda: rec.lines == ["a"])
    path.rename(tmp_path / "server.log.1")
    append(tmp_path / "server.log.1", "b\n")  # the server still writes to the old file
    assert wait_until(lambda: rec.lines == ["a", "b"])
    assert wait_until(lambda: len(rec.errors) == 1)
    path.write_text("c\n")
    assert wait_until(lambda: rec.lines == ["a", "b", "c"])
    stop_and_join(stop, greenlet)
    assert rec.resets == ["rotated"]
    assert "removed" in rec.errors[0] and "\n" not in rec.errors[0]


def test_waits_for_a_missing_file_then_reads_it_whole(tmp_path: Path, follow) -> None:
    path = tmp_path / "later.log"
    rec, stop, greenlet = follow(path)
    assert rec.idle_rounds(3)
    path.write_text("x\ny\n")
    assert wait_until(lambda: len(rec.lines) >= 2)
    stop_and_join(stop, greenlet)
    assert rec.lines == ["x", "y"]
    assert len(rec.errors) == 1 and "does not exist" in rec.errors[0]  # reported once, not per poll


def test_io_errors_are_reported_not_raised(tmp_path: Path, follow) -> None:
    path = tmp_path / "a-directory"
    path.mkdir()
    rec, stop, greenlet = follow(path)
    assert rec.idle_rounds(3)
    assert greenlet.exception is None and not greenlet.dead
    stop_and_join(stop, greenlet)
    assert len(rec.errors) == 1 and str(path) in rec.errors[0] and "\n" not in rec.errors[0]


def test_a_failing_callback_is_reported_and_following_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "server.log"
    path.write_text("boom\nok\n")
    seen: list[str] = []
    errors: list[str] = []

    def on_line(line: str) -> None:
        if line == "boom":
            raise ValueError("bad line")
        seen.append(line)

    stop = gevent.event.Event()
    greenlet = gevent.spawn(
        follow_file, path, on_line, from_start=True, poll=POLL, stop_event=stop, on_error=errors.append
    )
    assert wait_until(lambda: seen == ["ok"])
    stop_and_join(stop, greenlet)
    assert errors == ["on_line failed: ValueError: bad line"]


# --- follow_command ---------------------------------------------------------------------------


def run_command(cmd: str, stop: gevent.event.Event | None = None) -> tuple[Recorder, int | None]:
    rec = Recorder()
    greenlet = gevent.spawn(follow_command, cmd, rec.on_line, rec.on_error, rec.on_exit, stop_event=stop)
    greenlet.join(WAIT)
    assert greenlet.dead, f"{cmd!r} did not finish"
    assert greenlet.exception is None
    return rec, greenlet.value


def python(code: str) -> str:
    return f"{shlex.quote(sys.executable)} -c {shlex.quote(code)}"


def test_command_that_exits_at_once() -> None:
    rec, code = run_command("false")
    assert code == 1 and rec.exits == [1]
    assert rec.errors == ["log command 'false' exited with code 1"]


def test_missing_binary() -> None:
    rec, code = run_command("no-such-binary-for-camstream --follow")
    assert code is None and rec.exits == [None]
    (message,) = rec.errors
    assert message.startswith("log command 'no-such-binary-for-camstream --follow' failed to start: ")
    assert "No such file" in message and "\n" not in message


def test_unparseable_command() -> None:
    rec, code = run_command("tail -F 'unbalanced")
    assert code is None and rec.exits == [None]
    assert "failed to start" in rec.errors[0]


def test_command_lines_from_stdout_and_stderr() -> None:
    code = (
        "import sys; print('out 1'); print('out 2', flush=True);"
        " print('err 1', file=sys.stderr, flush=True); sys.stdout.write('tail')"
    )
    rec, exit_code = run_command(python(code))
    assert exit_code == 0 and rec.exits == [0] and rec.errors == []
    assert rec.lines == ["out 1", "out 2", "err 1", "tail"]


def test_command_with_shell_syntax() -> None:
    rec, code = run_command("printf 'a\\nb\\n' | tr ab xy")
    assert code == 0
    assert rec.lines == ["x", "y"]


def test_command_args() -> None:
    assert command_args("docker logs -f --since 1m cam") == ["docker", "logs", "-f", "--since", "1m", "cam"]
    assert command_args("ssh host 'tail -F /var/log/cam.log'") == ["ssh", "host", "tail -F /var/log/cam.log"]
    assert command_args("journalctl -f | grep cam") == ["/bin/sh", "-c", "journalctl -f | grep cam"]
    assert command_args("tail -F ~/cam.log")[:2] == ["/bin/sh", "-c"]
    assert command_args("python -c 'print(1); print(2)'") == ["python", "-c", "print(1); print(2)"]
    assert needs_shell('echo "$HOME"') and needs_shell("a && b") and needs_shell("a > f")
    assert not needs_shell("grep 'a|b' f") and not needs_shell('echo "a;b"') and not needs_shell("a \\| b")


def test_stopping_a_running_command() -> None:
    stop = gevent.event.Event()
    rec = Recorder()
    code = "import time; print('ready', flush=True); time.sleep(60)"
    greenlet = gevent.spawn(
        follow_command, python(code), rec.on_line, rec.on_error, rec.on_exit, stop_event=stop
    )
    assert wait_until(lambda: rec.lines == ["ready"])
    stop.set()
    greenlet.join(WAIT)
    assert greenlet.dead and greenlet.exception is None
    assert rec.exits and rec.exits[0] is not None and rec.exits[0] < 0  # terminated by our signal
    assert rec.errors == []  # a stop is not an error


def test_command_that_ignores_sigterm_is_killed() -> None:
    stop = gevent.event.Event()
    rec = Recorder()
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
        " print('ready', flush=True); time.sleep(60)"
    )
    greenlet = gevent.spawn(
        follow_command,
        python(code),
        rec.on_line,
        rec.on_error,
        rec.on_exit,
        stop_event=stop,
        kill_timeout=0.3,
    )
    assert wait_until(lambda: rec.lines == ["ready"])
    stop.set()
    greenlet.join(WAIT)
    assert greenlet.dead and rec.exits == [-9]


def test_killing_the_greenlet_terminates_the_command() -> None:
    rec = Recorder()
    code = "import os, time; print(os.getpid(), flush=True); time.sleep(60)"
    greenlet = gevent.spawn(follow_command, python(code), rec.on_line, rec.on_error, rec.on_exit)
    assert wait_until(lambda: len(rec.lines) == 1)
    pid = int(rec.lines[0])
    greenlet.kill(timeout=WAIT)
    assert greenlet.dead

    def gone() -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False

    assert wait_until(gone)


# --- LogSource --------------------------------------------------------------------------------


def panic_text(seed: int, handler: str = "GetCamera") -> str:
    rng = random.Random(seed)
    return go_log_prefix() + faults.panic_trace(rng, handler, "127.0.0.1:5555", faults.NIL_DEREF) + "\n"


def test_log_source_file_reports_and_flush_on_stop(tmp_path: Path) -> None:
    path = tmp_path / "server.log"
    path.write_text(panic_text(1))  # already there: skipped
    reports: list[Report] = []
    source = LogSource(reports.append, path=path, poll=POLL, idle_flush=None)
    source.start()
    assert wait_until(lambda: source.running)
    gevent.sleep(POLL * 3)
    text = go_log_prefix() + "[INFO] hello\n" + panic_text(2) + go_log_prefix() + "[INFO] next\n"
    append(path, text)
    assert wait_until(lambda: len(reports) == 1)
    race = faults.race_report(random.Random(3), "UpdateCamera").split("\n")[:8]
    append(path, "\n".join(race) + "\n")  # a race report cut short by the stop
    assert wait_until(lambda: source.lines >= text.count("\n") + len(race))
    source.stop()
    assert not source.running
    assert [(r.kind, r.truncated) for r in reports] == [(GO_PANIC, False), (DATA_RACE, True)]
    assert source.reports == 2


def test_log_source_flushes_on_rotation(tmp_path: Path) -> None:
    path = tmp_path / "server.log"
    path.write_bytes(b"")
    reports: list[Report] = []
    source = LogSource(reports.append, path=path, poll=POLL, idle_flush=None)
    source.start()
    gevent.sleep(POLL * 3)
    append(path, "\n".join(panic_text(4).split("\n")[:6]) + "\n")
    assert wait_until(lambda: source.lines >= 6)
    path.rename(tmp_path / "server.log.1")
    path.write_text(panic_text(5, "ListCameras") + go_log_prefix() + "[INFO] next\n")
    assert wait_until(lambda: len(reports) == 2)
    source.stop()
    assert [r.truncated for r in reports] == [True, False]
    assert "ListCameras" in reports[1].signature


def test_log_source_idle_flush_delivers_a_complete_report(tmp_path: Path) -> None:
    path = tmp_path / "server.log"
    path.write_bytes(b"")
    reports: list[Report] = []
    source = LogSource(reports.append, path=path, poll=POLL, idle_flush=0.1)
    source.start()
    gevent.sleep(POLL * 3)
    append(path, panic_text(6))  # nothing follows it
    assert wait_until(lambda: len(reports) == 1)
    assert not reports[0].truncated
    source.stop()
    assert len(reports) == 1


def test_log_source_command(tmp_path: Path) -> None:
    sample = tmp_path / "sample.log"
    sample.write_text(faults.race_report(random.Random(7), "DeleteCamera") + "\n" + panic_text(8))
    reports: list[Report] = []
    exits: list[int | None] = []
    errors: list[str] = []
    source = LogSource(
        reports.append,
        command=f"cat {shlex.quote(str(sample))}",
        on_exit=exits.append,
        on_error=errors.append,
        idle_flush=None,
    )
    source.start()
    assert wait_until(lambda: exits == [0])
    assert wait_until(lambda: not source.running)
    source.stop()
    assert [r.kind for r in reports] == [DATA_RACE, GO_PANIC]  # the last one flushed when cat ended
    assert not any(r.truncated for r in reports)
    assert errors == []


def test_log_source_failing_command_is_not_fatal() -> None:
    errors: list[str] = []
    source = LogSource(lambda r: None, command="no-such-binary-for-camstream", on_error=errors.append)
    source.start()
    assert wait_until(lambda: not source.running)
    source.stop()
    assert len(errors) == 1 and "failed to start" in errors[0]
    assert source.last_error == errors[0]


def test_log_source_needs_one_source() -> None:
    with pytest.raises(ValueError):
        LogSource(lambda r: None)
    with pytest.raises(ValueError):
        LogSource(lambda r: None, path="x", command="y")


# --- end to end: the reference target's own log -----------------------------------------------


def test_reading_the_reference_targets_log(start_target) -> None:
    target = start_target("nil-pointer=0.5,race=1", "--seed", "3")
    findings = ServerLogFindings()
    source = LogSource(findings.add, path=target.log_file, from_start=True, poll=POLL, idle_flush=0.1)
    source.start()
    for i in range(12):
        with contextlib.suppress(OSError):  # a panicking handler may drop the connection
            http_json("POST", target.url + "/api/cameras", {"name": f"cam {i}", "rtsp_url": "rtsp://h/s"})
    text = target.log_text()
    panics, races = text.count("http: panic serving "), text.count("WARNING: DATA RACE")
    fatals = text.count("fatal error: ")
    assert panics and races
    assert wait_until(lambda: findings.total() == panics + races + fatals)
    source.stop()
    kinds = {row["kind"]: row["count"] for row in findings.by_signature() if row["kind"] != "go_fatal"}
    assert kinds == {GO_PANIC: panics, DATA_RACE: races}
    assert len(findings.findings) == (3 if fatals else 2)  # one handler: one signature per kind
    assert len(findings.panic_times) == panics + fatals
    assert not any(row["truncated"] for row in findings.by_signature())
