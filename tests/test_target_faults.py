"""The target's --faults: each fault at rate 1 (seeded), observed over HTTP and in the Go log."""

from __future__ import annotations

import http.client
import json
import re
from typing import Any

import pytest
from conftest import FilePoller, TargetProcess, http_json, http_request, run_together

NIL_DEREF = "runtime error: invalid memory address or nil pointer dereference"
GO_PANIC = re.compile(
    r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d http: panic serving 127\.0\.0\.1:\d+: " + re.escape(NIL_DEREF) + r"\n"
    r"goroutine \d+ \[running\]:\n"
    r"net/http\.\(\*conn\)\.serve\.func1\(\)\n",
    re.MULTILINE,
)
DATA_RACE = re.compile(
    r"^==================\nWARNING: DATA RACE\nWrite at 0x[0-9a-f]+ by goroutine \d+:\n"
    r"(?:.*\n)*?Previous read at 0x[0-9a-f]+ by goroutine \d+:\n(?:.*\n)*?==================$",
    re.MULTILINE,
)
RTSP = "rtsp://127.0.0.1:9/stream"
#: Requests that every fault applies to (ping is exempt: it is the liveness probe).
PATHS = ("/api/cameras", "/api/status", "/api/inference-servers", "/api/alert-server")


def camera(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "rtsp_url": RTSP, **fields}


def assert_ping(target: TargetProcess) -> None:
    status, env, raw = http_json("GET", target.url + "/api/ping")
    assert status == 200 and env is not None and env["message"] == "pong", raw


def test_no_faults_by_default(start_target) -> None:
    target = start_target()
    for i in range(30):
        status, env, raw = http_json("POST", target.url + "/api/cameras", camera(f"c{i}"))
        assert status == 201 and env is not None, raw
        for path in PATHS:
            status, env, raw = http_json("GET", target.url + path)
            assert status == 200 and env is not None and env["success"] is True, raw
    log = target.log_text()
    assert "faults: none" in log
    assert "panic" not in log and "DATA RACE" not in log and "fatal error" not in log


def test_zero_rates_inject_nothing(start_target) -> None:
    target = start_target("nil-pointer=0,race=0,slow=0,bad-json=0,http=0,torn-file=0")
    for path in PATHS * 10:
        status, env, raw = http_json("GET", target.url + path)
        assert status == 200 and env is not None, raw


def test_nil_pointer_500_and_dropped_connection(start_target) -> None:
    target = start_target("nil-pointer=1", "--seed", "1")
    dropped = answered = 0
    for i in range(24):
        try:
            status, _headers, raw = http_request("GET", target.url + PATHS[i % len(PATHS)])
        except http.client.RemoteDisconnected:
            dropped += 1  # closed with no response at all, like Go's net/http after a panic
            continue
        answered += 1
        assert status == 500
        env = json.loads(raw)
        assert env["success"] is False and NIL_DEREF in raw.decode()
    assert dropped > 0 and answered > 0, (dropped, answered)
    # A mutation panics too, before changing anything.
    try:
        status, _headers, _raw = http_request("POST", target.url + "/api/cameras", camera("x"))
        assert status == 500
    except http.client.RemoteDisconnected:
        pass
    assert not target.data_file().exists()
    assert_ping(target)
    assert len(GO_PANIC.findall(target.log_text())) == 25


def test_race_fault_logs_data_race_and_fatal_map_writes(start_target) -> None:
    target = start_target("race=1", "--seed", "2")
    fatal = []
    for i in range(40):
        status, env, raw = http_json("POST", target.url + "/api/cameras", camera(f"c{i}"))
        assert status in (201, 500), raw
        if status == 500:
            assert env is not None and env["error"] == "fatal error: concurrent map writes", raw
            fatal.append(i)
    assert fatal, "no `fatal error: concurrent map writes` answer in 40 racy mutations"
    log = target.log_text()
    assert len(DATA_RACE.findall(log)) == 40
    assert "cam-stream/internal/api.(*Handler).CreateCamera()" in log
    assert log.count("fatal error: concurrent map writes\n\ngoroutine ") == len(fatal)
    # Reads are not racy mutations: no report for them.
    for path in PATHS:
        assert http_json("GET", target.url + path)[0] == 200
    assert len(DATA_RACE.findall(target.log_text())) == 40


def test_slow_fault_exceeds_the_client_timeout(start_target) -> None:
    target = start_target("slow=1", "--slow-seconds", "1.5")
    with pytest.raises(TimeoutError):
        http_request("GET", target.url + "/api/cameras", timeout=0.5)
    assert_ping(target)  # the server is not stuck, only that answer is late
    status, env, raw = http_json("GET", target.url + "/api/status", timeout=15)
    assert status == 200 and env is not None and env["success"] is True, raw


def test_bad_json_fault_is_200_with_invalid_json(start_target) -> None:
    target = start_target("bad-json=1", "--seed", "4")
    bodies = set()
    for path in (*PATHS, "/api/config/export") * 4:
        status, _headers, raw = http_request("GET", target.url + path)
        assert status == 200, path
        with pytest.raises(ValueError):
            json.loads(raw)
        bodies.add(b"empty" if not raw else b"truncated")
    assert bodies == {b"empty", b"truncated"}
    assert_ping(target)


def test_http_fault_is_5xx(start_target) -> None:
    target = start_target("http=1", "--seed", "5")
    seen = set()
    for i in range(30):
        status, headers, raw = http_request("POST", target.url + "/api/cameras", camera(f"c{i}"))
        assert 500 <= status <= 599, raw
        if headers.get_content_type() == "application/json":
            assert json.loads(raw)["success"] is False
        seen.add(status)
    assert len(seen) > 1, seen
    assert not target.data_file().exists()  # answered before the handler ran: nothing stored
    assert_ping(target)


def test_seed_makes_the_dice_reproducible(start_target) -> None:
    def statuses(target: TargetProcess) -> list[int]:
        return [http_request("GET", target.url + "/api/cameras")[0] for _ in range(20)]

    first = statuses(start_target("http=0.5", "--seed", "9"))
    second = statuses(start_target("http=0.5", "--seed", "9"))
    assert first == second
    assert 200 in first and any(s >= 500 for s in first)


def test_torn_file_fault_exposes_partial_files(start_target) -> None:
    target = start_target("torn-file=1", "--seed", "6")
    torn = 0
    for round_no in range(4):  # bounded: a reader almost always sees one in the first round
        with FilePoller(target.data_file()) as poller:

            def create(worker: int, round_no: int = round_no) -> int:
                body = camera(f"t{round_no}-{worker}")
                return http_json("POST", target.url + "/api/cameras", body, timeout=15)[0]

            assert set(run_together(30, create)) == {201}
        torn = poller.torn
        if torn:
            break
    assert torn > 0, "the reader never saw an empty or unparseable data file"


def test_the_issue_fault_mix_keeps_serving(start_target) -> None:
    spec = "nil-pointer=0.05,race=0.2,slow=0.02,bad-json=0.02,http=0.02,torn-file=1"
    target = start_target(spec, "--seed", "8", "--slow-seconds", "0.05")
    outcomes = []
    for i in range(50):
        try:
            status, _headers, _raw = http_request("POST", target.url + "/api/cameras", camera(f"m{i}"))
            outcomes.append(status)
        except http.client.RemoteDisconnected:
            outcomes.append(0)
    assert outcomes.count(201) > 25 and set(outcomes) <= {0, 200, 201, 500, 502, 503}
    assert_ping(target)
    assert f"faults: {spec}" in target.log_text()
