"""Unit tests of the pure pieces: payloads, pools, answer validation, findings, reports."""

import json
import random

import pytest

from camstream_locust import api, payloads, reporting
from camstream_locust.findings import Findings
from camstream_locust.pools import IdPool

# --- payloads ----------------------------------------------------------------------------------


def test_generated_urls_are_loopback_and_ids_carry_the_run_prefix() -> None:
    maker = payloads.Payloads("abc123", 9, random.Random(1))
    prefix = payloads.run_prefix("r1")
    for n in range(200):
        cam = maker.camera(f"{prefix}cam-{n}", [f"{prefix}inf-1", f"{prefix}inf-2"])
        server = maker.server(f"{prefix}inf-{n}")
        assert payloads.is_loopback_url(cam["rtsp_url"]), cam
        assert payloads.is_loopback_url(server["url"]), server
        assert ":9/" in cam["rtsp_url"] and ":9/" in server["url"]
        for binding in cam.get("inference_server_bindings", ()):
            assert binding["server_id"].startswith(prefix)
            assert 0 < binding["threshold"] < binding["max_threshold"]


def test_every_write_is_distinguishable() -> None:
    maker = payloads.Payloads("t", 9, random.Random(2))
    names = {maker.camera("x")["name"] for _ in range(500)}
    assert len(names) == 500


def test_is_loopback_url_rejects_other_hosts() -> None:
    assert not payloads.is_loopback_url("rtsp://10.0.0.5:554/live")
    assert not payloads.is_loopback_url("http://example.com/x")
    assert payloads.is_loopback_url("rtsp://127.0.0.1:9/live/main")


def test_pick_closed_port_skips_a_listening_port() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        busy = sock.getsockname()[1]
        assert not payloads.is_loopback_port_closed(busy)
        assert payloads.pick_closed_port([busy, 9]) == 9


def test_run_and_process_ids_are_fresh() -> None:
    assert len({payloads.new_run_id() for _ in range(50)}) == 50
    assert len({payloads.new_process_tag() for _ in range(50)}) == 50


# --- pools -------------------------------------------------------------------------------------


def test_pool_mints_at_most_size_ids_then_reuses_owned_ones() -> None:
    pool = IdPool("p-", 5, random.Random(3))
    ids = [pool.id_for_create() for _ in range(50)]
    assert len(set(ids)) == 5
    assert all(pool.owns(i) and i.startswith("p-") for i in ids)


def test_pool_live_set_add_take_discard() -> None:
    pool = IdPool("p-", 10, random.Random(4))
    for _ in range(10):
        pool.add(pool.id_for_create())
    assert len(pool) == 10
    taken = {pool.take() for _ in range(4)}
    assert len(taken) == 4 and len(pool) == 6
    assert not taken & set(pool.live())
    pool.discard(pool.live()[0])
    pool.discard("not-mine")
    assert len(pool) == 5
    assert pool.pick() in pool.live()
    assert set(pool.sample(3)) <= set(pool.live())


def test_empty_pool_offers_nothing() -> None:
    pool = IdPool("p-", 3)
    assert pool.pick() is None and pool.take() is None and pool.sample(2) == []


# --- answer validation ---------------------------------------------------------------------------

CAMERA = {"id": "c1", "name": "Lobby", "rtsp_url": "rtsp://127.0.0.1:9/x", "enabled": True, "running": True}


def test_envelope_accepts_null_list_and_trailing_bytes() -> None:
    body = api.ok_envelope(b'{"success":true,"message":"ok","data":null}\ntrailing')
    assert api.listing(body, api.camera) == []


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "bad JSON: empty body"),
        (b'{"success":true,"mess', "bad JSON"),
        (b"[1,2]", "bad envelope"),
        (b'{"message":"x"}', "bad envelope: 'success'"),
        (b'{"success":"yes","message":"x"}', "bad envelope: 'success'"),
        (b'{"success":false,"message":"x"}', "success is false"),
    ],
)
def test_bad_answers_are_rejected_with_a_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(api.Invalid, match=reason):
        api.ok_envelope(raw)


def test_camera_shape_and_kept_fields() -> None:
    api.camera_kept(api.camera(dict(CAMERA)), CAMERA)
    with pytest.raises(api.Invalid, match="name"):
        api.camera_kept(dict(CAMERA, name="Other"), CAMERA)
    with pytest.raises(api.Invalid, match="enabled"):
        api.camera(dict(CAMERA, enabled="true"))
    sent = dict(
        CAMERA, inference_server_bindings=[{"server_id": "s1", "threshold": 0.5, "max_threshold": 0.8}]
    )
    with pytest.raises(api.Invalid, match="bindings"):
        api.camera_kept(dict(CAMERA), sent)


def test_status_counts_must_add_up() -> None:
    data = {
        "manager_running": True,
        "total_cameras": 3,
        "enabled_cameras": 2,
        "disabled_cameras": 1,
        "running_cameras": 2,
        "persistent_storage": True,
        "data_file": "x",
    }
    assert api.status({"data": data})["total_cameras"] == 3
    with pytest.raises(api.Invalid, match="total_cameras"):
        api.status({"data": dict(data, disabled_cameras=5)})


def test_store_shape() -> None:
    api.store({"cameras": {"c1": CAMERA}, "inference_servers": {}, "alert_server": {}})
    with pytest.raises(api.Invalid, match="holds id"):
        api.store({"cameras": {"c2": CAMERA}})
    with pytest.raises(api.Invalid, match="bad store"):
        api.store([])


def test_failure_text_carries_status_and_server_message() -> None:
    text = api.failure_text(
        500, "POST /api/cameras", b'{"success":false,"message":"boom","error":"nil pointer"}'
    )
    assert text == "HTTP 500 POST /api/cameras: boom nil pointer"
    assert api.failure_text(502, "GET /x", b"502 Bad Gateway\n") == "HTTP 502 GET /x: 502 Bad Gateway"


# --- findings and reports ------------------------------------------------------------------------


def test_findings_merge_is_the_only_way_totals_grow() -> None:
    worker_a, worker_b, totals = Findings(), Findings(), Findings()
    worker_a.record_failure("nil_pointer", "GET /api/cameras", "boom", when=1.0)
    worker_a.record_contention("PUT not found")
    worker_b.record_failure("connection", "PUT /api/cameras/[id]", "closed", when=2.0, possible_panic=True)
    for delta in (worker_a.drain(), worker_b.drain(), worker_a.drain()):
        totals.merge(json.loads(json.dumps(delta)))  # what travels is JSON-safe
    assert totals.count("nil_pointer") == 1 and totals.count("connection") == 1
    assert totals.contention["PUT not found"] == 1 and totals.notes["possible_panic"] == 1
    assert [e.message for e in totals.recent] == ["boom", "closed"]
    assert worker_a.is_empty()


def test_stats_block_keeps_the_original_labels() -> None:
    findings = Findings()
    findings.record_failure("nil_pointer", "POST /api/cameras", "HTTP 500 ... nil pointer dereference")
    block = reporting.stats_block(reporting.Totals(100, 4), findings)
    for label in (
        "CONCURRENCY TEST STATISTICS",
        "Total Requests:        100",
        "Successful Requests:   96",
        "Failed Requests:       4",
        "Success Rate:          96.00%",
        "ERROR ANALYSIS",
        "Nil Pointer Errors:",
        "Race Condition Errors:",
        "Timeout Errors:",
        "HTTP Errors:",
        "JSON Errors:",
        "Connection Errors:",
        "RECENT ERRORS",
    ):
        assert label in block
    assert "nil_pointer: HTTP 500" in block


def test_verdict_exit_codes() -> None:
    findings = Findings()
    assert reporting.verdict(findings, {"nil_pointer"}).exit_code == 0
    findings.record_failure("http_error", "GET /x", "HTTP 502")
    assert reporting.verdict(findings, {"nil_pointer"}).exit_code == 0
    assert reporting.verdict(findings, {"http_error"}).exit_code == 3
    findings.record_failure("race_condition", "GET /x", "concurrent map writes")
    result = reporting.verdict(findings, {"nil_pointer", "race_condition"})
    assert result.exit_code == 3 and result.failing == {"race_condition": 1}
    assert reporting.verdict(Findings(), set(), not_run="unreachable").exit_code == 2
    assert reporting.verdict(Findings(), set(), suite_errors=2).exit_code == 1
    # A run where no request succeeded never exercised the server: not "clean".
    all_failed = reporting.Totals(requests=40, failures=40)
    result = reporting.verdict(Findings(), {"nil_pointer"}, totals=all_failed)
    assert result.exit_code == 2 and "none of the 40 requests succeeded" in result.line
    assert reporting.verdict(Findings(), {"nil_pointer"}, totals=reporting.Totals(40, 39)).exit_code == 0
    assert reporting.verdict(Findings(), {"nil_pointer"}, totals=reporting.Totals(0, 0)).exit_code == 0
    assert reporting.verdict(findings, {"race_condition"}, totals=all_failed).exit_code == 3  # findings first


BAD_OBJECTS = [
    ("camera", {"enabled": 1}, "enabled"),  # an int is not a bool
    ("camera", {"id": True}, "id"),
    ("camera", {"name": None}, "name"),
    ("camera", {"rtsp_url": 5}, "rtsp_url"),
    ("camera", {"inference_server_bindings": {}}, "not a list"),
    ("camera", {"inference_server_bindings": [{"server_id": 1}]}, "server_id"),
    ("server", {"enabled": "yes"}, "enabled"),
    ("server", {"model_type": None}, "model_type"),
    ("server", {"description": 3}, "description"),
]


@pytest.mark.parametrize(("kind", "change", "reason"), BAD_OBJECTS)
def test_validators_reject_what_the_contract_forbids(kind: str, change: dict, reason: str) -> None:
    """The validators' fast path (exact JSON types) never accepts what the detailed path refuses."""
    good = {
        "camera": {
            "id": "c",
            "name": "n",
            "rtsp_url": "rtsp://127.0.0.1:9/",
            "enabled": True,
            "running": False,
        },
        "server": {
            "id": "s",
            "name": "n",
            "url": "http://127.0.0.1:9/",
            "model_type": "yolo",
            "enabled": True,
        },
    }[kind]
    validate = api.camera if kind == "camera" else api.server
    assert validate(dict(good)) == good
    with pytest.raises(api.Invalid, match=reason):
        validate({**good, **change})
    with pytest.raises(api.Invalid, match="not an object"):
        validate([good])
