"""serverlog: reports parsed out of realistic server logs, signatures, and their aggregation."""

# ruff: noqa: E501  (the samples are log lines verbatim)

from __future__ import annotations

import json
import random
import traceback
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from camstream_locust import serverlog
from camstream_locust.classify import NIL_POINTER, RACE_CONDITION
from camstream_locust.serverlog import (
    DATA_RACE,
    EXAMPLE_LIMIT,
    GO_FATAL,
    GO_PANIC,
    JAVA_EXCEPTION,
    PANIC,
    PANIC_TIMES_LIMIT,
    PYTHON_EXCEPTION,
    LogParser,
    Report,
    ServerLogFindings,
    go_func_name,
    is_own_go_frame,
    link_drops,
    normalize_message,
    parse_lines,
    strip_prefix,
)
from camstream_locust.target import faults
from camstream_locust.target.golog import GoLog, go_log_prefix

T0 = datetime(2026, 12, 3, 21, 40, 16).timestamp()  # Go log prefixes are local time
READ_TIME = 1_000_000.0

NOISE = [
    "2026/12/03 21:40:15 [INFO] camstream listening on :8080",
    "2026/12/03 21:40:15 [INFO] panic mode: off, recover middleware: on",
    "2026/12/03 21:40:15 [WARN] Error budget at 40%",
    "2026/12/03 21:40:15 [INFO] camera 3 created",
    "plain line without prefix",
    "",
]

# --- samples ----------------------------------------------------------------------------------

NIL_GET = """\
2026/12/03 21:40:16 http: panic serving 10.0.0.7:51234: runtime error: invalid memory address or nil pointer dereference
goroutine 2741 [running]:
net/http.(*conn).serve.func1()
\t/usr/local/go/src/net/http/server.go:1903 +0xbe
panic({0x8f4a20?, 0xd2c1b0?})
\t/usr/local/go/src/runtime/panic.go:770 +0x132
cam-stream/internal/camera.(*Manager).Get(0x0, {0xc0001a2b40, 0x24})
\t/app/internal/camera/manager.go:96 +0x3a
cam-stream/internal/api.(*Handler).GetCamera(0xc000132000, {0xa1b2c0, 0xc0002a4000}, 0xc000318000)
\t/app/internal/api/cameras.go:97 +0x1c5
net/http.HandlerFunc.ServeHTTP(0xc000130040?, {0xa1b2c0?, 0xc0002a4000?}, 0xc000318000?)
\t/usr/local/go/src/net/http/server.go:2166 +0x29
github.com/gorilla/mux.(*Router).ServeHTTP(0xc0000f8000, {0xa1b2c0, 0xc0002a4000}, 0xc000318000)
\t/go/pkg/mod/github.com/gorilla/mux@v1.8.1/mux.go:212 +0x1e2
net/http.serverHandler.ServeHTTP({0xc0001b6000?}, {0xa1b2c0?, 0xc0002a4000?}, 0x6?)
\t/usr/local/go/src/net/http/server.go:3137 +0x8e
net/http.(*conn).serve(0xc0001c4000, {0xa1c3e8, 0xc0001b2120})
\t/usr/local/go/src/net/http/server.go:2039 +0x5e8
created by net/http.(*Server).Serve in goroutine 1
\t/usr/local/go/src/net/http/server.go:3285 +0x4b4"""

#: The same bug again: other goroutine, client port, addresses, arguments and offsets.
NIL_GET_AGAIN = (
    NIL_GET.replace("2741", "90210")
    .replace("10.0.0.7:51234", "10.0.0.9:40002")
    .replace("0xc0001a2b40", "0xc000777700")
    .replace("0xc000318000", "0xc0009a0000")
    .replace("+0x1c5", "+0x1d1")
    .replace("21:40:16", "21:40:18")
)
NIL_UPDATE = (
    NIL_GET.replace("(*Manager).Get(", "(*Manager).Update(")
    .replace("manager.go:96", "manager.go:211")
    .replace("GetCamera", "UpdateCamera")
    .replace("cameras.go:97", "cameras.go:142")
)

INDEX_MAIN = """\
panic: runtime error: index out of range [5] with length 3

goroutine 1 [running]:
main.pickStream(...)
\t/app/cmd/server/main.go:41
main.main()
\t/app/cmd/server/main.go:64 +0x1d"""

SLICE_WORKER = """\
2026/12/03 21:40:16 panic: runtime error: slice bounds out of range [:7] with capacity 4

goroutine 33 [running]:
cam-stream/internal/stream.(*Buffer).Frame(0xc00011e0f0, 0x7)
\t/app/internal/stream/buffer.go:58 +0x1b4
cam-stream/internal/stream.(*Reader).loop(0xc0000a4120)
\t/app/internal/stream/reader.go:102 +0x9c
created by cam-stream/internal/stream.NewReader in goroutine 1
\t/app/internal/stream/reader.go:41 +0x12e"""

SEND_CLOSED = """\
panic: send on closed channel

goroutine 58 [running]:
cam-stream/internal/alert.(*Notifier).Notify(...)
\t/app/internal/alert/notifier.go:77
cam-stream/internal/api.(*Handler).UpdateAlertServer(0xc000132000, {0xa1b2c0, 0xc0002a4380}, 0xc000318240)
\t/app/internal/api/alert.go:44 +0x2f1
net/http.HandlerFunc.ServeHTTP(...)
\t/usr/local/go/src/net/http/server.go:2166 +0x29
net/http.(*conn).serve(0xc0001c4120, {0xa1c3e8, 0xc0001b2120})
\t/usr/local/go/src/net/http/server.go:2039 +0x5e8
created by net/http.(*Server).Serve in goroutine 1
\t/usr/local/go/src/net/http/server.go:3285 +0x4b4"""

CLOSE_CLOSED = """\
panic: close of closed channel

goroutine 12 [running]:
cam-stream/internal/stream.(*Reader).Stop(...)
\t/app/internal/stream/reader.go:130
cam-stream/internal/camera.(*Manager).RemoveCamera(0xc0000b6000, {0xc0001a2b40, 0x24})
\t/app/internal/camera/manager.go:247 +0x1f0
created by cam-stream/internal/camera.(*Manager).reaper in goroutine 1
\t/app/internal/camera/manager.go:60 +0x88"""

NIL_RECOVERED = """\
panic: runtime error: invalid memory address or nil pointer dereference [recovered]
\tpanic: runtime error: invalid memory address or nil pointer dereference
[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x6b5b7a]

goroutine 7 [running]:
testing.tRunner.func1.2({0x6f2e40, 0x9a1c20})
\t/usr/local/go/src/testing/testing.go:1631 +0x24a
panic({0x6f2e40?, 0x9a1c20?})
\t/usr/local/go/src/runtime/panic.go:785 +0x132
cam-stream/internal/inference.(*Registry).Ping(0x0)
\t/app/internal/inference/registry.go:140 +0x1a
cam-stream/internal/inference.TestPing(0xc000007ba0)
\t/app/internal/inference/registry_test.go:22 +0x25
testing.tRunner(0xc000007ba0, 0x7307c8)
\t/usr/local/go/src/testing/testing.go:1690 +0xf4
created by testing.(*T).Run in goroutine 1
\t/usr/local/go/src/testing/testing.go:1743 +0x390"""

MAP_WRITES = """\
fatal error: concurrent map writes

goroutine 812 [running]:
cam-stream/internal/camera.(*Manager).AddCamera(0xc0000b6000, 0xc0003be000)
\t/app/internal/camera/manager.go:158 +0x2e4
cam-stream/internal/api.(*Handler).CreateCamera(0xc000132000, {0xa1b2c0, 0xc0002a4540}, 0xc000318480)
\t/app/internal/api/cameras.go:61 +0x3c4
net/http.HandlerFunc.ServeHTTP(0xc000130080?, {0xa1b2c0?, 0xc0002a4540?}, 0xc000318480?)
\t/usr/local/go/src/net/http/server.go:2166 +0x29
created by net/http.(*Server).Serve in goroutine 1
\t/usr/local/go/src/net/http/server.go:3285 +0x4b4

goroutine 1 [IO wait]:
internal/poll.runtime_pollWait(0x7f3a2c1e0e28, 0x72)
\t/usr/local/go/src/runtime/netpoll.go:351 +0x85
main.main()
\t/app/cmd/server/main.go:64 +0x6c4"""

MAP_READ_WRITE = """\
fatal error: concurrent map read and map write

goroutine 95 [running]:
cam-stream/internal/inference.(*Registry).GetServer(...)
\t/app/internal/inference/registry.go:52
cam-stream/internal/api.(*Handler).GetInferenceServer(0xc000132000, {0xa1b2c0, 0xc0002a4700}, 0xc0003186c0)
\t/app/internal/api/inference_servers.go:93 +0x8a
created by net/http.(*Server).Serve in goroutine 1
\t/usr/local/go/src/net/http/server.go:3285 +0x4b4"""

MAP_ITERATION = """\
fatal error: concurrent map iteration and map write

goroutine 120 [running]:
cam-stream/internal/config.Export(0xc0000b6000)
\t/app/internal/config/export.go:30 +0x10f
created by cam-stream/internal/config.StartAutosave in goroutine 1
\t/app/internal/config/autosave.go:18 +0x5c"""

_CREATED_AT = """\
  net/http.(*Server).Serve()
      /usr/local/go/src/net/http/server.go:3360 +0x8ec
  main.main()
      /app/cmd/server/main.go:64 +0x6c4"""

RACE_UPDATE = f"""\
==================
WARNING: DATA RACE
Write at 0x00c0001a4030 by goroutine 27:
  runtime.mapassign_faststr()
      /usr/local/go/src/internal/runtime/maps/runtime_faststr.go:263 +0x0
  cam-stream/internal/camera.(*Manager).UpdateCamera()
      /app/internal/camera/manager.go:211 +0x2e4
  cam-stream/internal/api.(*Handler).UpdateCamera()
      /app/internal/api/cameras.go:142 +0x3c4
  net/http.HandlerFunc.ServeHTTP()
      /usr/local/go/src/net/http/server.go:2166 +0x47

Previous read at 0x00c0001a4030 by goroutine 31:
  runtime.mapaccess2_faststr()
      /usr/local/go/src/internal/runtime/maps/runtime_faststr.go:117 +0x0
  cam-stream/internal/camera.(*Manager).GetCamera()
      /app/internal/camera/manager.go:96 +0x7d
  cam-stream/internal/api.(*Handler).GetCamera()
      /app/internal/api/cameras.go:97 +0x64

Goroutine 27 (running) created at:
{_CREATED_AT}

Goroutine 31 (finished) created at:
{_CREATED_AT}
=================="""

#: Only goroutine ids, the address and offsets differ.
RACE_UPDATE_AGAIN = (
    RACE_UPDATE.replace("goroutine 27", "goroutine 4410")
    .replace("Goroutine 27", "Goroutine 4410")
    .replace("goroutine 31", "goroutine 4398")
    .replace("Goroutine 31", "Goroutine 4398")
    .replace("0x00c0001a4030", "0x00c000ff0128")
    .replace("+0x2e4", "+0x2f0")
)

#: The same pair of accesses, detected from the other side.
RACE_UPDATE_SWAPPED = """\
==================
WARNING: DATA RACE
Read at 0x00c000218040 by goroutine 8:
  runtime.mapaccess2_faststr()
      /usr/local/go/src/internal/runtime/maps/runtime_faststr.go:117 +0x0
  cam-stream/internal/camera.(*Manager).GetCamera()
      /app/internal/camera/manager.go:96 +0x7d
  cam-stream/internal/api.(*Handler).GetCamera()
      /app/internal/api/cameras.go:97 +0x64

Previous write at 0x00c000218040 by goroutine 6:
  runtime.mapassign_faststr()
      /usr/local/go/src/internal/runtime/maps/runtime_faststr.go:263 +0x0
  cam-stream/internal/camera.(*Manager).UpdateCamera()
      /app/internal/camera/manager.go:211 +0x2e4
  cam-stream/internal/api.(*Handler).UpdateCamera()
      /app/internal/api/cameras.go:142 +0x3c4
=================="""

#: Another race: the write is in RemoveCamera, the previous write on the main goroutine.
RACE_DELETE = """\
==================
WARNING: DATA RACE
Write at 0x00c0001b8060 by goroutine 44:
  cam-stream/internal/camera.(*Manager).RemoveCamera()
      /app/internal/camera/manager.go:247 +0x1f0
  cam-stream/internal/api.(*Handler).DeleteCamera()
      /app/internal/api/cameras.go:188 +0x2a8

Previous write at 0x00c0001b8060 by main goroutine:
  cam-stream/internal/camera.(*Manager).load()
      /app/internal/camera/manager.go:70 +0x55
  main.main()
      /app/cmd/server/main.go:52 +0x3b0

Location is global 'cameras' of size 8 at 0x000000d1e2c0 (server+0xd1e2c0)
=================="""

JAVA_NPE = """\
Exception in thread "http-nio-8080-exec-3" java.lang.NullPointerException: Cannot invoke "com.acme.cam.Camera.getUrl()" because "camera" is null
\tat com.acme.cam.StreamService.open(StreamService.java:88)
\tat com.acme.cam.CameraController.get(CameraController.java:41)
\tat java.base/jdk.internal.reflect.DirectMethodHandleAccessor.invoke(DirectMethodHandleAccessor.java:103)
\tat org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:885)
\t... 38 more"""

JAVA_CME = """\
2026-12-03 21:40:17.123 ERROR 1 --- [nio-8080-exec-7] o.a.c.c.C.[.[.[/].[dispatcherServlet]    : Servlet.service() for servlet [dispatcherServlet] threw exception [Request processing failed: java.util.ConcurrentModificationException] with root cause

java.util.ConcurrentModificationException: null
\tat java.base/java.util.HashMap$HashIterator.nextNode(HashMap.java:1605)
\tat java.base/java.util.HashMap$KeyIterator.next(HashMap.java:1628)
\tat com.acme.cam.CameraRegistry.snapshot(CameraRegistry.java:57)
\tat com.acme.cam.CameraController.list(CameraController.java:29)
Caused by: java.lang.IllegalStateException: registry closed
\tat com.acme.cam.CameraRegistry.check(CameraRegistry.java:90)
\t... 12 more"""

PY_NONE = """\
2026/12/03 21:40:16 [ERROR] PUT /api/cameras/7: Traceback (most recent call last):
  File "/usr/local/lib/python3.11/site-packages/flask/app.py", line 880, in full_dispatch_request
    rv = self.dispatch_request()
         ^^^^^^^^^^^^^^^^^^^^^^^
  File "/srv/camstream/api.py", line 51, in update_camera
    return jsonify(store.update(obj_id, body))
                   ^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "/srv/camstream/store.py", line 88, in update
    camera.name = fields["name"]
    ^^^^^^^^^^^
AttributeError: 'NoneType' object has no attribute 'name'"""

PY_DICT = """\
Traceback (most recent call last):
  File "/srv/camstream/worker.py", line 30, in run
    self.snapshot()
  File "/srv/camstream/worker.py", line 22, in snapshot
    for key in self.cameras:
RuntimeError: dictionary changed size during iteration"""

PY_CHAINED = """\
Traceback (most recent call last):
  File "/srv/camstream/store.py", line 40, in load
    return json.loads(raw)
  File "/usr/lib/python3.11/json/__init__.py", line 346, in loads
    return _default_decoder.decode(s)
json.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/srv/camstream/api.py", line 20, in list_cameras
    data = store.load()
  File "/srv/camstream/store.py", line 42, in load
    raise StoreError("bad data file") from None
camstream.store.StoreError: bad data file"""

PY_SINGLE = (
    "2026/12/03 21:40:16 [ERROR] snapshot failed: RuntimeError: dictionary changed size during iteration"
)


@dataclass(frozen=True)
class Expect:
    kind: str
    category: str
    message: str
    frames: tuple[str, ...]
    time: float | None = T0  # None: the time of reading


def api(handler: str, file: str, line: int) -> str:
    return f"cam-stream/internal/api.(*Handler).{handler} ({file}:{line})"


def manager(method: str, line: int) -> str:
    return f"cam-stream/internal/camera.(*Manager).{method} (manager.go:{line})"


NIL_MESSAGE = "panic: runtime error: invalid memory address or nil pointer dereference"
CASES: dict[str, tuple[str, Expect]] = {
    "nil deref in GetCamera": (
        NIL_GET,
        Expect(GO_PANIC, NIL_POINTER, NIL_MESSAGE, (manager("Get", 96), api("GetCamera", "cameras.go", 97))),
    ),
    "nil deref in UpdateCamera": (
        NIL_UPDATE,
        Expect(
            GO_PANIC,
            NIL_POINTER,
            NIL_MESSAGE,
            (manager("Update", 211), api("UpdateCamera", "cameras.go", 142)),
        ),
    ),
    "index out of range in main": (
        INDEX_MAIN,
        Expect(
            GO_PANIC,
            PANIC,
            "panic: runtime error: index out of range [5] with length 3",
            ("main.pickStream (main.go:41)", "main.main (main.go:64)"),
            None,
        ),
    ),
    "slice bounds in a worker": (
        SLICE_WORKER,
        Expect(
            GO_PANIC,
            PANIC,
            "panic: runtime error: slice bounds out of range [:7] with capacity 4",
            (
                "cam-stream/internal/stream.(*Buffer).Frame (buffer.go:58)",
                "cam-stream/internal/stream.(*Reader).loop (reader.go:102)",
            ),
        ),
    ),
    "send on closed channel": (
        SEND_CLOSED,
        Expect(
            GO_PANIC,
            PANIC,
            "panic: send on closed channel",
            (
                "cam-stream/internal/alert.(*Notifier).Notify (notifier.go:77)",
                api("UpdateAlertServer", "alert.go", 44),
            ),
            None,
        ),
    ),
    "close of closed channel": (
        CLOSE_CLOSED,
        Expect(
            GO_PANIC,
            PANIC,
            "panic: close of closed channel",
            ("cam-stream/internal/stream.(*Reader).Stop (reader.go:130)", manager("RemoveCamera", 247)),
            None,
        ),
    ),
    "recovered and re-panicked nil deref": (
        NIL_RECOVERED,
        Expect(
            GO_PANIC,
            NIL_POINTER,
            NIL_MESSAGE,
            (
                "cam-stream/internal/inference.(*Registry).Ping (registry.go:140)",
                "cam-stream/internal/inference.TestPing (registry_test.go:22)",
            ),
            None,
        ),
    ),
    "concurrent map writes": (
        MAP_WRITES,
        Expect(
            GO_FATAL,
            RACE_CONDITION,
            "fatal error: concurrent map writes",
            (manager("AddCamera", 158), api("CreateCamera", "cameras.go", 61)),
            None,
        ),
    ),
    "concurrent map read and map write": (
        MAP_READ_WRITE,
        Expect(
            GO_FATAL,
            RACE_CONDITION,
            "fatal error: concurrent map read and map write",
            (
                "cam-stream/internal/inference.(*Registry).GetServer (registry.go:52)",
                api("GetInferenceServer", "inference_servers.go", 93),
            ),
            None,
        ),
    ),
    "concurrent map iteration and map write": (
        MAP_ITERATION,
        Expect(
            GO_FATAL,
            RACE_CONDITION,
            "fatal error: concurrent map iteration and map write",
            ("cam-stream/internal/config.Export (export.go:30)",),
            None,
        ),
    ),
    "data race in UpdateCamera": (
        RACE_UPDATE,
        Expect(
            DATA_RACE,
            RACE_CONDITION,
            "DATA RACE: Write at 0x00c0001a4030 by goroutine 27 / Previous read at 0x00c0001a4030 by goroutine 31",
            (
                manager("UpdateCamera", 211),
                api("UpdateCamera", "cameras.go", 142),
                manager("GetCamera", 96),
                api("GetCamera", "cameras.go", 97),
            ),
            None,
        ),
    ),
    "data race in DeleteCamera": (
        RACE_DELETE,
        Expect(
            DATA_RACE,
            RACE_CONDITION,
            "DATA RACE: Write at 0x00c0001b8060 by goroutine 44 / Previous write at 0x00c0001b8060 by main goroutine",
            (
                manager("RemoveCamera", 247),
                api("DeleteCamera", "cameras.go", 188),
                manager("load", 70),
                "main.main (main.go:52)",
            ),
            None,
        ),
    ),
    "java NullPointerException": (
        JAVA_NPE,
        Expect(
            JAVA_EXCEPTION,
            NIL_POINTER,
            'java.lang.NullPointerException: Cannot invoke "com.acme.cam.Camera.getUrl()" because "camera" is null',
            (
                "com.acme.cam.StreamService.open (StreamService.java:88)",
                "com.acme.cam.CameraController.get (CameraController.java:41)",
            ),
            None,
        ),
    ),
    "java ConcurrentModificationException (Spring)": (
        JAVA_CME,
        Expect(
            JAVA_EXCEPTION,
            RACE_CONDITION,
            "java.util.ConcurrentModificationException: null",
            (
                "com.acme.cam.CameraRegistry.snapshot (CameraRegistry.java:57)",
                "com.acme.cam.CameraController.list (CameraController.java:29)",
            ),
            datetime(2026, 12, 3, 21, 40, 17, 123000).timestamp(),
        ),
    ),
    "python NoneType attribute": (
        PY_NONE,
        Expect(
            PYTHON_EXCEPTION,
            NIL_POINTER,
            "AttributeError: 'NoneType' object has no attribute 'name'",
            ("update (store.py:88)", "update_camera (api.py:51)"),
        ),
    ),
    "python dictionary changed size": (
        PY_DICT,
        Expect(
            PYTHON_EXCEPTION,
            RACE_CONDITION,
            "RuntimeError: dictionary changed size during iteration",
            ("snapshot (worker.py:22)", "run (worker.py:30)"),
            None,
        ),
    ),
    "python chained traceback": (
        PY_CHAINED,
        Expect(
            PYTHON_EXCEPTION,
            PANIC,
            "camstream.store.StoreError: bad data file",
            ("load (store.py:42)", "list_cameras (api.py:20)"),
            None,
        ),
    ),
    "python single line": (
        PY_SINGLE,
        Expect(
            PYTHON_EXCEPTION,
            RACE_CONDITION,
            "[ERROR] snapshot failed: RuntimeError: dictionary changed size during iteration",
            (),
        ),
    ),
}


def parser() -> LogParser:
    return LogParser(clock=lambda: READ_TIME)


def parse(text: str) -> list[Report]:
    return parse_lines(text.split("\n"), parser())


@pytest.mark.parametrize("name", list(CASES))
def test_parser_table(name: str) -> None:
    sample, expect = CASES[name]
    reports = parse("\n".join([*NOISE, sample, *NOISE]))
    assert len(reports) == 1, [r.message for r in reports]
    report = reports[0]
    assert (report.kind, report.category, report.message) == (expect.kind, expect.category, expect.message)
    assert report.frames == expect.frames
    assert report.time == (READ_TIME if expect.time is None else expect.time)
    assert not report.truncated
    assert report.text == sample  # the whole report, none of the noise
    if report.frames and report.kind != DATA_RACE:
        assert " < ".join(report.frames) in report.signature


def test_all_samples_interleaved_with_noise_in_one_log() -> None:
    lines: list[str] = []
    for sample, _expect in CASES.values():
        lines += [*NOISE[:4], *sample.split("\n")]
    reports = parse("\n".join(lines))
    assert [(r.kind, r.message) for r in reports] == [(e.kind, e.message) for _s, e in CASES.values()]
    assert not any(r.truncated for r in reports)


def test_back_to_back_reports_without_noise() -> None:
    reports = parse(
        "\n".join([RACE_UPDATE, RACE_DELETE, NIL_GET, MAP_WRITES, PY_DICT, JAVA_NPE, SEND_CLOSED])
    )
    assert [r.kind for r in reports] == [
        DATA_RACE,
        DATA_RACE,
        GO_PANIC,
        GO_FATAL,
        PYTHON_EXCEPTION,
        JAVA_EXCEPTION,
        GO_PANIC,
    ]
    assert not any(r.truncated for r in reports)


# --- signatures -------------------------------------------------------------------------------


def signature(text: str) -> str:
    (report,) = parse(text)
    return report.signature


def test_only_ids_addresses_and_offsets_differ_same_signature() -> None:
    assert signature(NIL_GET) == signature(NIL_GET_AGAIN)
    assert signature(RACE_UPDATE) == signature(RACE_UPDATE_AGAIN)


def test_race_signature_does_not_depend_on_which_side_was_detected_first() -> None:
    assert signature(RACE_UPDATE_SWAPPED) == signature(RACE_UPDATE)


def test_different_own_frames_different_signature() -> None:
    assert signature(NIL_GET) != signature(NIL_UPDATE)
    assert signature(RACE_UPDATE) != signature(RACE_DELETE)
    other_line = NIL_GET.replace("cameras.go:97", "cameras.go:99")
    assert signature(NIL_GET) != signature(other_line)


def test_same_frames_other_error_other_signature() -> None:
    index = NIL_GET.replace(
        "runtime error: invalid memory address or nil pointer dereference",
        "runtime error: index out of range [4] with length 2",
    )
    assert signature(index) != signature(NIL_GET)
    assert signature(index) == signature(index.replace("[4] with length 2", "[9] with length 9"))


def test_no_own_frame_falls_back_to_the_error_line() -> None:
    text = """\
panic: sync: negative WaitGroup counter

goroutine 9 [running]:
sync.(*WaitGroup).Add(0xc0000b4010?, 0x0?)
\t/usr/local/go/src/sync/waitgroup.go:64 +0xde
created by net/http.(*Server).Serve in goroutine 1
\t/usr/local/go/src/net/http/server.go:3285 +0x4b4"""
    (report,) = parse(text)
    assert report.frames == ()
    assert report.signature == "go_panic: panic: sync: negative WaitGroup counter"


@pytest.mark.parametrize(
    ("func", "path", "own"),
    [
        ("runtime.gopanic", "/usr/local/go/src/runtime/panic.go", False),
        ("internal/runtime/maps.fatal", "", False),
        ("net/http.(*conn).serve", "", False),
        ("sync.(*Mutex).Lock", "", False),
        ("syscall.Syscall", "", False),
        ("reflect.Value.Call", "", False),
        ("testing.tRunner", "", False),
        ("encoding/json.(*decodeState).object", "", False),
        ("panic", "", False),
        ("cam-stream/internal/api.(*Handler).GetCamera", "/app/internal/api/cameras.go", True),
        ("main.main", "/app/cmd/server/main.go", True),
        ("github.com/acme/cam/api.(*H).Get", "/src/api/h.go", True),
        (
            "github.com/gorilla/mux.(*Router).ServeHTTP",
            "/go/pkg/mod/github.com/gorilla/mux@v1.8.1/mux.go",
            False,
        ),
        ("example.com/thing.F", "/usr/local/go/src/vendor/x.go", False),
    ],
)
def test_own_go_frames(func: str, path: str, own: bool) -> None:
    assert is_own_go_frame(func, path) is own


def test_own_prefixes_override_the_heuristic() -> None:
    (report,) = parse_lines(NIL_GET.split("\n"), LogParser(own_prefixes=("cam-stream/internal/api.",)))
    assert report.frames == (api("GetCamera", "cameras.go", 97),)


def test_go_func_name_and_message_normalisation() -> None:
    assert go_func_name("cam-stream/internal/api.(*Handler).Get(0xc0001, {0xa1, 0xc2}, 0xc3)") == (
        "cam-stream/internal/api.(*Handler).Get"
    )
    assert go_func_name("main.pickStream(...)") == "main.pickStream"
    assert normalize_message("index out of range [3] with length 3") == normalize_message(
        "index out of range [12] with length 10"
    )
    assert normalize_message("camera 3f2a9c1e-77aa-4b1c-9d2e-0123456789ab not found at 0xc000123450") == (
        normalize_message("camera 00000000-aaaa-4bbb-8ccc-ffffffffffff not found at 0xc000999990")
    )
    assert normalize_message("send on closed channel") == "send on closed channel"


# --- timestamps and prefixes ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "text", "when", "go_prefixed"),
    [
        ("2026/12/03 21:40:16 msg", "msg", T0, True),
        ("2026/12/03 21:40:16.250000 main.go:12: msg", "msg", T0 + 0.25, True),
        (
            "2026-12-03T21:40:16.123456789Z 2026/12/03 22:00:00 msg",
            "msg",
            datetime(2026, 12, 3, 21, 40, 16, 123456, UTC).timestamp(),
            True,
        ),
        ("cam-1  | 2026/12/03 21:40:16 msg", "msg", T0, True),
        ("cam-1  | \t/app/main.go:12 +0x1d", "\t/app/main.go:12 +0x1d", None, False),
        (
            "2026-12-03T21:40:16.5Z stderr F panic: boom",
            "panic: boom",
            datetime(2026, 12, 3, 21, 40, 16, 500000, UTC).timestamp(),
            False,
        ),
        (
            "2026-12-03T21:40:16+01:00 fatal error: x",
            "fatal error: x",
            datetime(2026, 12, 3, 20, 40, 16, tzinfo=UTC).timestamp(),
            False,
        ),
        ("2026-12-03T21:40:16+0000 host cam-stream[812]: fatal error: x", "fatal error: x", None, False),
        ("Dec  3 21:40:16 host cam-stream[812]: panic: boom", "panic: boom", T0, False),
        ("fatal error: concurrent map writes", "fatal error: concurrent map writes", None, False),
        ("\tpanic: nested", "\tpanic: nested", None, False),
    ],
)
def test_strip_prefix(line: str, text: str, when: float | None, go_prefixed: bool) -> None:
    got_text, got_when, got_go = strip_prefix(line, now=T0 + 86400 * 5)
    assert (got_text, got_go) == (text, go_prefixed)
    if when is not None:
        assert got_when == pytest.approx(when)
    elif "+0000" in line:
        assert got_when == pytest.approx(datetime(2026, 12, 3, 21, 40, 16, tzinfo=UTC).timestamp())
    else:
        assert got_when is None


def test_panic_trace_in_docker_compose_output() -> None:
    lines = ["cam-1  | " + line for line in NIL_GET.split("\n")]
    (report,) = parse("\n".join([*NOISE, *lines, "cam-1  | 2026/12/03 21:40:20 [INFO] next"]))
    assert report.frames == CASES["nil deref in GetCamera"][1].frames
    assert report.time == T0 and not report.truncated


def test_utc_option_reads_go_prefixes_as_utc() -> None:
    (report,) = parse_lines(NIL_GET.split("\n"), LogParser(utc=True))
    assert report.time == datetime(2026, 12, 3, 21, 40, 16, tzinfo=UTC).timestamp()


# --- cut reports ------------------------------------------------------------------------------


def test_trace_cut_at_eof_is_flushed_truncated() -> None:
    lines = NIL_GET.split("\n")[:8]  # up to the Manager.Get frame's file line
    p = parser()
    assert [r for line in lines for r in p.feed(line)] == []
    assert p.pending
    (report,) = p.flush()
    assert report.truncated and report.kind == GO_PANIC and report.category == NIL_POINTER
    assert report.frames == (manager("Get", 96),)
    assert not p.pending and p.flush() == []


def test_trace_cut_by_rotation_then_rest_of_it_is_ignored() -> None:
    lines = NIL_GET.split("\n")
    p = parser()
    for line in lines[:5]:
        assert p.feed(line) == []
    (report,) = p.flush()  # what LogSource does when the follower sees rotation
    assert report.truncated
    assert [r for line in lines[5:] for r in p.feed(line)] == []
    assert p.flush() == []


def test_complete_trace_at_eof_is_not_truncated() -> None:
    p = parser()
    for line in NIL_GET.split("\n"):
        assert p.feed(line) == []
    assert p.flush_complete()[0].truncated is False
    assert not p.pending


def test_flush_complete_keeps_an_incomplete_report_pending() -> None:
    p = parser()
    for line in NIL_GET.split("\n")[:9]:
        p.feed(line)
    assert p.flush_complete() == []
    assert p.pending


def test_header_without_stack_is_truncated() -> None:
    reports = parse("panic: boom\n2026/12/03 21:40:16 [INFO] next")
    assert [(r.message, r.truncated) for r in reports] == [("panic: boom", True)]


def test_race_cut_by_a_panic() -> None:
    cut = "\n".join(RACE_UPDATE.split("\n")[:12])
    reports = parse(cut + "\n" + NIL_GET)
    assert [(r.kind, r.truncated) for r in reports] == [(DATA_RACE, True), (GO_PANIC, False)]
    assert reports[0].frames == (manager("UpdateCamera", 211), api("UpdateCamera", "cameras.go", 142))


def test_race_cut_by_the_next_race() -> None:
    cut = "\n".join(RACE_UPDATE.split("\n")[:12])
    reports = parse(cut + "\n" + RACE_DELETE)
    assert [(r.kind, r.truncated) for r in reports] == [(DATA_RACE, True), (DATA_RACE, False)]
    assert reports[0].text == cut.rstrip()
    assert reports[1].text == RACE_DELETE
    assert reports[1].signature == signature(RACE_DELETE)


def test_race_ignores_interleaved_log_lines() -> None:
    lines = RACE_UPDATE.split("\n")
    noisy = [*lines[:6], "2026/12/03 21:40:16 [INFO] camera 3 updated", *lines[6:]]
    (report,) = parse("\n".join(noisy))
    assert not report.truncated and report.text == RACE_UPDATE
    assert report.signature == signature(RACE_UPDATE)


def test_race_block_without_closing_line_is_bounded() -> None:
    lines = [*RACE_UPDATE.split("\n")[:-1], *["  filler()"] * (serverlog.RACE_LINE_LIMIT + 10)]
    reports = parse("\n".join(lines))
    assert [(r.kind, r.truncated) for r in reports] == [(DATA_RACE, True)]


def test_python_traceback_cut_by_a_log_line() -> None:
    lines = [*PY_NONE.split("\n")[:-1], "2026/12/03 21:40:17 [INFO] next"]
    (report,) = parse("\n".join(lines))
    assert report.truncated and report.kind == PYTHON_EXCEPTION
    assert report.frames == ("update (store.py:88)", "update_camera (api.py:51)")


def test_ordinary_lines_take_the_fast_path() -> None:
    p = parser()
    lines = [f"2026/12/03 21:40:16 [INFO] camera {i} created from 10.0.0.{i % 255}" for i in range(5000)]
    lines += ["2026/12/03 21:40:16 [INFO] panic mode: off", "Error budget ok", "a = b | c"]
    assert [r for line in lines for r in p.feed(line)] == []
    assert not p.pending and p.flush() == []


def test_long_report_text_is_capped() -> None:
    frames = [f"main.f{i}(...)\n\t/app/cmd/server/f.go:{i}" for i in range(serverlog.TEXT_LINE_LIMIT)]
    text = (
        "panic: deep\n\ngoroutine 1 [running]:\n" + "\n".join(frames) + "\nmain.main()\n\t/app/main.go:9 +0x1"
    )
    (report,) = parse(text)
    assert not report.truncated
    assert report.text.count("\n") <= serverlog.TEXT_LINE_LIMIT + 1
    assert report.text.endswith("more lines)")
    assert report.frames == ("main.f0 (f.go:0)", "main.f1 (f.go:1)", "main.f2 (f.go:2)")


# --- what the reference target writes --------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3, 17])
def test_target_panic_traces(seed: int) -> None:
    rng = random.Random(seed)
    text = go_log_prefix(T0) + faults.panic_trace(rng, "GetCamera", "127.0.0.1:5555", faults.NIL_DEREF)
    (report,) = parse(text)
    assert (report.kind, report.category, report.truncated, report.time) == (GO_PANIC, NIL_POINTER, False, T0)
    assert report.frames == (api("GetCamera", "cameras.go", 97),)
    index = faults.panic_trace(rng, "ListCameras", "127.0.0.1:5556", faults.INDEX_OUT_OF_RANGE)
    (report,) = parse(index)
    assert (report.category, report.frames) == (PANIC, (api("ListCameras", "cameras.go", 27),))
    assert report.message == "panic: " + faults.INDEX_OUT_OF_RANGE


def test_target_signatures_per_handler() -> None:
    def sig(generate, handler: str, seed: int) -> str:
        (report,) = parse(generate(random.Random(seed), handler))
        assert not report.truncated
        return report.signature

    def panic_trace(rng: random.Random, handler: str) -> str:
        return faults.panic_trace(rng, handler, f"127.0.0.1:{rng.randrange(1024, 65535)}", faults.NIL_DEREF)

    for generate in (panic_trace, faults.race_report, faults.fatal_map_writes):
        for handler in ("UpdateCamera", "DeleteInferenceServer"):
            assert len({sig(generate, handler, seed) for seed in range(6)}) == 1
        assert sig(generate, "UpdateCamera", 1) != sig(generate, "DeleteInferenceServer", 1)


@pytest.mark.parametrize("handler", sorted(faults.MAP_WRITE_SITES))
def test_target_race_reports_and_fatal_errors(handler: str) -> None:
    package, receiver, method, file, line = faults.MAP_WRITE_SITES[handler]
    read_receiver, read_method, read_file, read_line = faults.MAP_READ_SITES[package]
    api_file, api_line = faults.HANDLER_SITES[handler]
    write = f"cam-stream/internal/{package}.(*{receiver}).{method} ({file}:{line})"
    read = f"cam-stream/internal/{package}.(*{read_receiver}).{read_method} ({read_file}:{read_line})"
    rng = random.Random(handler)
    (race,) = parse(faults.race_report(rng, handler))
    assert (race.kind, race.category, race.truncated) == (DATA_RACE, RACE_CONDITION, False)
    assert race.frames == (write, api(handler, api_file, api_line), read)
    (fatal,) = parse(faults.fatal_map_writes(rng, handler))
    assert (fatal.kind, fatal.category, fatal.truncated) == (GO_FATAL, RACE_CONDITION, False)
    assert fatal.message == "fatal error: concurrent map writes"
    assert fatal.frames == (write, api(handler, api_file, api_line))


def test_target_log_file_as_the_target_writes_it(tmp_path: Path) -> None:
    """GoLog entries (printf with its prefix, raw race blocks) in a real file, read back."""
    path = tmp_path / "target.log"
    log = GoLog.open(path)
    rng = random.Random(5)
    expected: list[str] = []
    for i in range(30):
        log.printf(f"[INFO] camera {i} created")
        roll = i % 5
        if roll == 1:
            log.printf(faults.panic_trace(rng, "GetCamera", f"127.0.0.1:{40000 + i}", faults.NIL_DEREF))
            expected.append(GO_PANIC)
        elif roll == 2:
            log.raw(faults.race_report(rng, "UpdateCamera"))
            expected.append(DATA_RACE)
        elif roll == 3:
            log.raw(faults.fatal_map_writes(rng, "CreateCamera"))
            expected.append(GO_FATAL)
        elif roll == 4:
            try:
                None.name  # type: ignore[attr-defined]  # noqa: B018
            except AttributeError as exc:
                log.printf(f"[ERROR] GET /api/cameras: {''.join(traceback.format_exception(exc))}")
            expected.append(PYTHON_EXCEPTION)
    log.close()
    reports = parse_lines(path.read_text(encoding="utf-8").splitlines(), parser())
    assert [r.kind for r in reports] == expected
    assert not any(r.truncated for r in reports)
    findings = ServerLogFindings()
    for report in reports:
        findings.add(report)
    assert len(findings.findings) == 4  # one signature per kind: the same handler each time
    assert findings.total(NIL_POINTER) == 6 + 6  # the Go nil derefs and the Python NoneType ones
    assert findings.total(RACE_CONDITION) == 12
    python = next(f for f in findings.findings.values() if f.kind == PYTHON_EXCEPTION)
    (frame,) = python.frames
    assert frame.startswith("test_target_log_file_as_the_target_writes_it (test_serverlog.py:")


# --- aggregation ------------------------------------------------------------------------------


def report(signature: str = "sig-a", when: float = 100.0, kind: str = GO_PANIC, **changes) -> Report:
    base = Report(
        kind=kind,
        category=NIL_POINTER,
        message="panic: boom",
        signature=signature,
        frames=("main.f (f.go:1)",),
        text=f"panic: boom at {when}",
        time=when,
    )
    return replace(base, **changes)


def test_findings_dedupe_by_signature() -> None:
    findings = ServerLogFindings()
    for when in (10.0, 5.0, 20.0):
        findings.add(report("sig-a", when))
    findings.add(report("sig-b", 7.0, kind=DATA_RACE, category=RACE_CONDITION))
    rows = findings.by_signature()
    assert [(r["signature"], r["count"], r["first_seen"], r["last_seen"]) for r in rows] == [
        ("sig-a", 3, 5.0, 20.0),
        ("sig-b", 1, 7.0, 7.0),
    ]
    assert rows[0]["example"] == "panic: boom at 10.0"  # the first one kept
    assert findings.total() == 4
    assert findings.by_category() == {NIL_POINTER: 3, RACE_CONDITION: 1, PANIC: 0}
    assert list(findings.panic_times) == [10.0, 5.0, 20.0]  # races drop no connection


def test_findings_to_dict_is_json_and_merges() -> None:
    one, two = ServerLogFindings(), ServerLogFindings()
    one.add(report("sig-a", 10.0, truncated=True))
    one.add(report("sig-b", 11.0))
    two.add(report("sig-a", 3.0))
    two.add(report("sig-a", 30.0))
    total = ServerLogFindings()
    for part in (one, two):
        total.merge(json.loads(json.dumps(part.to_dict())))
    rows = {r["signature"]: r for r in total.by_signature()}
    assert (rows["sig-a"]["count"], rows["sig-a"]["truncated"]) == (3, 1)
    assert (rows["sig-a"]["first_seen"], rows["sig-a"]["last_seen"]) == (3.0, 30.0)
    assert rows["sig-a"]["example"] == "panic: boom at 3.0"  # a complete example replaces a truncated one
    assert rows["sig-a"]["example_truncated"] is False
    assert rows["sig-b"]["count"] == 1
    assert sorted(total.panic_times) == [3.0, 10.0, 11.0, 30.0]
    again = ServerLogFindings()
    again.merge(total.to_dict())
    again.merge(total.to_dict())
    assert again.total() == 2 * total.total()


def test_drain_ships_a_delta() -> None:
    findings = ServerLogFindings()
    findings.add(report())
    delta = findings.drain()
    assert findings.total() == 0 and not findings.panic_times
    assert delta["findings"][0]["count"] == 1 and delta["panic_times"] == [100.0]


def test_example_is_capped() -> None:
    findings = ServerLogFindings()
    (row,) = [findings.add(report(text="x" * (EXAMPLE_LIMIT * 3)))]
    assert EXAMPLE_LIMIT < len(row.example) <= EXAMPLE_LIMIT + 20


def test_signature_count_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(serverlog, "SIGNATURE_LIMIT", 3)
    findings = ServerLogFindings()
    for i in range(6):
        findings.add(report(f"sig-{i}"))
    assert len(findings.findings) == 4
    assert findings.findings[f"{NIL_POINTER}: (other signatures)"].count == 3
    assert findings.total() == 6


def test_panic_times_are_bounded_and_queryable() -> None:
    findings = ServerLogFindings()
    for i in range(PANIC_TIMES_LIMIT + 5):
        findings.add(report(when=float(i), kind=GO_FATAL if i % 2 else GO_PANIC))
    assert len(findings.panic_times) == PANIC_TIMES_LIMIT
    assert findings.panics_between(0.0, 4.0) == 0  # the oldest were dropped
    assert findings.panics_between(100.0, 102.0) == 3
    assert findings.linked_drops([101.0, 1e9], window=2.0) == 1


@pytest.mark.parametrize(
    ("drops", "panics", "window", "linked"),
    [
        ([], [1.0], 2.0, 0),
        ([1.0], [], 2.0, 0),
        ([100.0, 103.5, 110.0], [101.9, 104.0], 2.0, 2),
        ([100.0], [102.0], 2.0, 1),  # the window is inclusive
        ([100.0], [102.01], 2.0, 0),
        ([100.0], [97.5], 2.0, 0),
        ([100.0, 100.5, 101.0], [100.2], 2.0, 3),  # a fatal error drops every connection
        ([100.0], [150.0, 99.0, 10.0], 1.0, 1),  # panic times need not be sorted
    ],
)
def test_link_drops(drops: list[float], panics: list[float], window: float, linked: int) -> None:
    assert link_drops(drops, panics, window) == linked


@pytest.mark.parametrize(
    ("kind", "message", "category"),
    [
        (GO_PANIC, "panic: runtime error: invalid memory address or nil pointer dereference", NIL_POINTER),
        (GO_PANIC, "panic: assignment to entry in nil map", NIL_POINTER),
        (GO_PANIC, "panic: interface conversion: interface {} is nil, not string", NIL_POINTER),
        (GO_PANIC, "panic: runtime error: index out of range [3] with length 3", PANIC),
        (GO_PANIC, "panic: send on closed channel", PANIC),
        (GO_FATAL, "fatal error: concurrent map writes", RACE_CONDITION),
        (GO_FATAL, "fatal error: all goroutines are asleep - deadlock!", PANIC),
        (DATA_RACE, "DATA RACE", RACE_CONDITION),
        (JAVA_EXCEPTION, "java.lang.IllegalStateException: closed", PANIC),
        (PYTHON_EXCEPTION, "RuntimeError: deque mutated during iteration", RACE_CONDITION),
        (PYTHON_EXCEPTION, "KeyError: 'id'", PANIC),
    ],
)
def test_category_of(kind: str, message: str, category: str) -> None:
    assert serverlog.category_of(kind, message) == category
