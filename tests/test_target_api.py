"""The reference target's HTTP API, route by route, over real HTTP (shared/camstream-api.md)."""

from __future__ import annotations

import http.client
import json
import shutil
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from conftest import TargetProcess, http_json, http_request, launch_target

RTSP = "rtsp://127.0.0.1:9/stream"  # loopback, closed port: the server may dial it
INFER_URL = "http://127.0.0.1:9/infer"


def camera_body(name: str = "cam", **fields: Any) -> dict[str, Any]:
    return {"name": name, "rtsp_url": RTSP, **fields}


def server_body(name: str = "srv", **fields: Any) -> dict[str, Any]:
    return {"name": name, "url": INFER_URL, **fields}


def is_rfc3339(text: object) -> bool:
    if not isinstance(text, str) or "T" not in text:
        return False
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).tzinfo is not None
    except ValueError:
        return False


def ok(target: TargetProcess, method: str, path: str, body: Any = None, status: int = 200) -> Any:
    """Call the API, assert a success envelope with `status`, return its data (None if absent)."""
    got, env, raw = http_json(method, target.url + path, body)
    assert got == status, raw
    assert env is not None and env["success"] is True and isinstance(env["message"], str), raw
    return env.get("data")


def fails(target: TargetProcess, method: str, path: str, body: Any, status: int) -> dict[str, Any]:
    """Call the API, assert a failure envelope with `status`, return the envelope."""
    got, env, raw = http_json(method, target.url + path, body)
    assert got == status, raw
    assert env is not None and env["success"] is False and isinstance(env["message"], str), raw
    return env


def api_state(target: TargetProcess) -> dict[str, Any]:
    """The store as the API exports it."""
    status, _headers, raw = http_request("GET", target.url + "/api/config/export")
    assert status == 200
    return json.loads(raw)


@pytest.fixture(scope="module")
def shared_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TargetProcess]:
    """One target for the module (starting one per test would dominate the run time)."""
    target = launch_target(tmp_path_factory.mktemp("api"), "api")
    yield target
    assert target.stop() == 0


@pytest.fixture
def target(shared_target: TargetProcess) -> TargetProcess:
    """The shared target, emptied through the API (an import of `{}` replaces everything)."""
    status, _env, raw = http_json("POST", shared_target.url + "/api/config/import", {})
    assert status == 200, raw
    return shared_target


# --- health, status, envelope ----------------------------------------------------------------


def test_ping(target: TargetProcess) -> None:
    status, headers, raw = http_request("GET", target.url + "/api/ping")
    assert status == 200
    assert headers.get_content_type() == "application/json"
    env = json.loads(raw)
    assert env["success"] is True and env["message"] == "pong"
    assert is_rfc3339(env["data"]["timestamp"])


def test_empty_lists_are_null(target: TargetProcess) -> None:
    for path in ("/api/cameras", "/api/inference-servers"):
        status, env, raw = http_json("GET", target.url + path)
        assert status == 200 and env is not None
        assert "data" in env and env["data"] is None, raw


def test_status_counts(target: TargetProcess) -> None:
    data = ok(target, "GET", "/api/status")
    assert data["manager_running"] is True and data["persistent_storage"] is True
    assert (data["total_cameras"], data["enabled_cameras"], data["running_cameras"]) == (0, 0, 0)
    assert data["data_file"].endswith("_data/cameras.json")
    ids = [ok(target, "POST", "/api/cameras", camera_body(f"c{i}"), 201)["id"] for i in range(3)]
    ok(target, "PUT", f"/api/cameras/{ids[0]}", camera_body("off", enabled=False, running=False))
    ok(target, "PUT", f"/api/cameras/{ids[1]}", camera_body("idle", enabled=True, running=False))
    data = ok(target, "GET", "/api/status")
    assert data["total_cameras"] == 3
    assert (data["enabled_cameras"], data["disabled_cameras"], data["running_cameras"]) == (2, 1, 1)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/"),
        ("GET", "/api/nope"),
        ("GET", "/api/cameras/a/b"),
        ("PATCH", "/api/cameras"),
        ("DELETE", "/api/cameras"),
        ("POST", "/api/ping"),
        ("POST", "/api/cameras/x"),
        ("DELETE", "/api/alert-server"),
        ("POST", "/api/config/export"),
        ("GET", "/api/config/import"),
    ],
)
def test_wrong_method_or_unknown_path_is_plain_404(target: TargetProcess, method: str, path: str) -> None:
    status, headers, raw = http_request(method, target.url + path)
    assert status == 404
    assert headers.get_content_type() == "text/plain"
    assert raw == b"404 page not found\n"


# --- cameras ---------------------------------------------------------------------------------


def test_camera_crud(target: TargetProcess) -> None:
    bindings = [{"server_id": "inf_x", "threshold": 0.5, "max_threshold": 0.9}]
    created = ok(
        target, "POST", "/api/cameras", camera_body("front", inference_server_bindings=bindings), 201
    )
    cam_id = created["id"]
    assert cam_id.startswith("cam_") and len(cam_id) > 4
    assert created["name"] == "front" and created["rtsp_url"] == RTSP
    assert created["inference_server_bindings"] == bindings
    assert is_rfc3339(created["created_at"]) and is_rfc3339(created["updated_at"])

    assert ok(target, "GET", f"/api/cameras/{cam_id}") == created
    assert ok(target, "GET", "/api/cameras") == [created]

    assert ok(target, "DELETE", f"/api/cameras/{cam_id}") is None
    env = fails(target, "GET", f"/api/cameras/{cam_id}", None, 404)
    assert "error" not in env
    fails(target, "DELETE", f"/api/cameras/{cam_id}", None, 404)
    assert ok(target, "GET", "/api/cameras") is None


def test_camera_post_forces_enabled_running_and_sets_timestamps(target: TargetProcess) -> None:
    body = camera_body(
        "x", enabled=False, running=False, created_at="2000-01-01T00:00:00Z", updated_at="bogus"
    )
    created = ok(target, "POST", "/api/cameras", body, 201)
    assert created["enabled"] is True and created["running"] is True
    assert created["created_at"] != "2000-01-01T00:00:00Z" and is_rfc3339(created["updated_at"])
    assert "inference_server_bindings" not in created  # omitted when empty


def test_camera_post_existing_id_is_an_upsert(target: TargetProcess) -> None:
    first = ok(target, "POST", "/api/cameras", camera_body("one", id="cam_fixed"), 201)
    assert first["id"] == "cam_fixed"
    second = ok(target, "POST", "/api/cameras", camera_body("two", id="cam_fixed"), 201)
    assert second["id"] == "cam_fixed" and second["name"] == "two"
    assert ok(target, "GET", "/api/cameras") == [second]


def test_camera_put_replaces_whole_object(target: TargetProcess) -> None:
    bindings = [{"server_id": "inf_a", "threshold": 0.1, "max_threshold": 1}]
    created = ok(target, "POST", "/api/cameras", camera_body("a", inference_server_bindings=bindings), 201)
    cam_id = created["id"]
    updated = ok(target, "PUT", f"/api/cameras/{cam_id}", {"id": "cam_other", "name": "renamed"})
    assert updated["id"] == cam_id  # the path wins
    assert updated["name"] == "renamed"
    assert updated["rtsp_url"] == ""  # left out: empty
    assert "inference_server_bindings" not in updated
    assert updated["enabled"] is False and updated["running"] is False
    assert updated["created_at"] == created["created_at"]
    assert is_rfc3339(updated["updated_at"])
    assert ok(target, "GET", f"/api/cameras/{cam_id}") == updated
    fails(target, "GET", "/api/cameras/cam_other", None, 404)


def test_camera_put_absent_is_404_before_the_body(target: TargetProcess) -> None:
    env = fails(target, "PUT", "/api/cameras/cam_missing", camera_body(), 404)
    assert "error" not in env
    fails(target, "PUT", "/api/cameras/cam_missing", b"{not json", 404)
    assert ok(target, "GET", "/api/cameras") is None  # PUT does not create


def test_camera_missing_required_fields(target: TargetProcess) -> None:
    for body in ({"rtsp_url": RTSP}, {"name": "n"}, {"name": "", "rtsp_url": RTSP}, {}):
        env = fails(target, "POST", "/api/cameras", body, 400)
        assert "error" not in env
    assert ok(target, "GET", "/api/cameras") is None


@pytest.mark.parametrize(
    "body",
    [
        {"name": 5, "rtsp_url": RTSP},
        {"name": "n", "rtsp_url": ["x"]},
        {"name": "n", "rtsp_url": RTSP, "enabled": "yes"},
        {"name": "n", "rtsp_url": RTSP, "inference_server_bindings": {"server_id": "s"}},
        {"name": "n", "rtsp_url": RTSP, "inference_server_bindings": [{"threshold": "high"}]},
        {"name": "n", "rtsp_url": RTSP, "inference_server_bindings": [{"threshold": True}]},
        {"name": "n", "rtsp_url": RTSP, "inference_server_bindings": [{"threshold": 10**400}]},
        ["name", "n"],
        "a string",
    ],
)
def test_camera_wrong_types_are_400_with_error(target: TargetProcess, body: Any) -> None:
    env = fails(target, "POST", "/api/cameras", body, 400)
    assert env["error"]
    assert ok(target, "GET", "/api/cameras") is None


@pytest.mark.parametrize(
    "raw",
    [b"", b"{", b'{"name": "n",}', b"nul", b"\xff\xfe{}", b'{"name": NaN}', b"[" * 100_000],
    ids=["empty", "truncated", "trailing-comma", "bad-literal", "not-utf8", "nan", "deep-nesting"],
)
def test_invalid_json_is_400_with_error(target: TargetProcess, raw: bytes) -> None:
    for method, path in (
        ("POST", "/api/cameras"),
        ("POST", "/api/inference-servers"),
        ("PUT", "/api/alert-server"),
        ("POST", "/api/config/import"),
    ):
        env = fails(target, method, path, raw, 400)
        assert env["error"], (method, path)
    cam = ok(target, "POST", "/api/cameras", camera_body(), 201)
    fails(target, "PUT", f"/api/cameras/{cam['id']}", raw, 400)
    assert ok(target, "GET", f"/api/cameras/{cam['id']}") == cam


def test_unknown_fields_and_trailing_bytes_are_ignored(target: TargetProcess) -> None:
    raw = json.dumps(camera_body("t", colour="red")).encode() + b' {"junk": ['
    created = ok(target, "POST", "/api/cameras", raw, 201)
    assert created["name"] == "t" and "colour" not in created


def exactly(size: int, name: str = "big") -> bytes:
    """A valid camera body of exactly `size` bytes (padded with trailing spaces)."""
    raw = json.dumps(camera_body(name)).encode()
    return raw + b" " * (size - len(raw))


def post_chunked(target: TargetProcess, raw: bytes) -> tuple[int, dict[str, Any]]:
    """POST a camera body with Transfer-Encoding: chunked (no Content-Length)."""
    conn = http.client.HTTPConnection("127.0.0.1", target.port, timeout=10)
    try:
        pieces = (raw[i : i + 65536] for i in range(0, len(raw), 65536))
        conn.request("POST", "/api/cameras", body=pieces, encode_chunked=True)
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def test_body_over_1_mib_is_413(target: TargetProcess) -> None:
    big = json.dumps(camera_body("x" * (1 << 20))).encode()
    env = fails(target, "POST", "/api/cameras", big, 413)
    assert env["error"]
    fails(target, "POST", "/api/cameras", exactly((1 << 20) + 1), 413)
    assert ok(target, "GET", "/api/cameras") is None
    assert ok(target, "POST", "/api/cameras", exactly(1 << 20, "at-limit"), 201)["name"] == "at-limit"


def test_chunked_bodies(target: TargetProcess) -> None:
    status, env = post_chunked(target, exactly(1 << 20, "chunked"))
    assert status == 201 and env["data"]["name"] == "chunked"
    status, env = post_chunked(target, exactly((1 << 20) + 1))
    assert status == 413 and env["success"] is False and env["error"]
    status, env = post_chunked(target, json.dumps(camera_body("x" * (3 << 20))).encode())
    assert status == 413
    assert [c["name"] for c in ok(target, "GET", "/api/cameras")] == ["chunked"]


def test_connection_is_reusable_after_errors(target: TargetProcess) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", target.port, timeout=10)
    try:
        for body, status in ((exactly((1 << 20) + 5), 413), (b"{", 400), (exactly(100, "k"), 201)):
            conn.request("POST", "/api/cameras", body=body)
            response = conn.getresponse()
            assert response.status == status
            response.read()
        conn.request("GET", "/api/cameras")
        response = conn.getresponse()
        assert response.status == 200 and json.loads(response.read())["data"][0]["name"] == "k"
    finally:
        conn.close()


def test_unicode_and_lone_surrogates(target: TargetProcess) -> None:
    created = ok(target, "POST", "/api/cameras", camera_body("caméra 😀 东"), 201)
    assert created["name"] == "caméra 😀 东"
    # A lone surrogate escape must not poison the store (it becomes U+FFFD, as in Go).
    raw = b'{"name": "bad \\ud800 name", "rtsp_url": "rtsp://127.0.0.1:9/\\udfff"}'
    odd = ok(target, "POST", "/api/cameras", raw, 201)
    assert odd["name"] == "bad \ufffd name"
    listed = ok(target, "GET", "/api/cameras")
    assert {c["id"] for c in listed} == {created["id"], odd["id"]}
    ok(target, "POST", "/api/cameras", camera_body("after"), 201)
    assert json.loads(target.data_file().read_bytes()) == api_state(target)


# --- inference servers -----------------------------------------------------------------------


def test_server_crud_and_defaults(target: TargetProcess) -> None:
    created = ok(target, "POST", "/api/inference-servers", server_body("det", enabled=False), 201)
    srv_id = created["id"]
    assert srv_id.startswith("inf_other_")
    assert created["model_type"] == "other" and "description" not in created
    assert created["enabled"] is True and is_rfc3339(created["created_at"])
    yolo = ok(
        target, "POST", "/api/inference-servers", server_body("y", model_type="yolo", description="d"), 201
    )
    assert yolo["id"].startswith("inf_yolo_") and yolo["description"] == "d"
    listed = ok(target, "GET", "/api/inference-servers")
    assert sorted(listed, key=lambda s: s["id"]) == sorted([created, yolo], key=lambda s: s["id"])

    updated = ok(target, "PUT", f"/api/inference-servers/{srv_id}", {"name": "n2", "model_type": "ocr"})
    assert updated["id"] == srv_id and updated["name"] == "n2" and updated["url"] == ""
    assert updated["model_type"] == "ocr" and updated["enabled"] is False
    assert updated["created_at"] == created["created_at"]
    assert ok(target, "GET", f"/api/inference-servers/{srv_id}") == updated

    fails(target, "PUT", "/api/inference-servers/inf_missing", b"{bad", 404)
    fails(target, "PUT", f"/api/inference-servers/{srv_id}", b"{bad", 400)
    fails(target, "PUT", f"/api/inference-servers/{srv_id}", {"url": 3}, 400)
    assert ok(target, "DELETE", f"/api/inference-servers/{srv_id}") is None
    fails(target, "GET", f"/api/inference-servers/{srv_id}", None, 404)
    fails(target, "DELETE", f"/api/inference-servers/{srv_id}", None, 404)


def test_server_missing_required_fields(target: TargetProcess) -> None:
    for body in ({"url": INFER_URL}, {"name": "n"}, {"name": "n", "url": ""}):
        env = fails(target, "POST", "/api/inference-servers", body, 400)
        assert "error" not in env
    fails(target, "POST", "/api/inference-servers", {"name": "n", "url": INFER_URL, "model_type": 1}, 400)
    assert ok(target, "GET", "/api/inference-servers") is None


def test_server_upsert(target: TargetProcess) -> None:
    ok(target, "POST", "/api/inference-servers", server_body("a", id="inf_fixed"), 201)
    second = ok(target, "POST", "/api/inference-servers", server_body("b", id="inf_fixed"), 201)
    assert ok(target, "GET", "/api/inference-servers") == [second]


def test_deleting_a_server_removes_its_bindings_everywhere(target: TargetProcess) -> None:
    keep = ok(target, "POST", "/api/inference-servers", server_body("keep"), 201)["id"]
    gone = ok(target, "POST", "/api/inference-servers", server_body("gone"), 201)["id"]

    def binding(server_id: str) -> dict[str, Any]:
        return {"server_id": server_id, "threshold": 0.3, "max_threshold": 0.8}

    both = ok(
        target,
        "POST",
        "/api/cameras",
        camera_body("both", inference_server_bindings=[binding(gone), binding(keep)]),
        201,
    )
    only = ok(
        target, "POST", "/api/cameras", camera_body("only", inference_server_bindings=[binding(gone)]), 201
    )
    other = ok(
        target, "POST", "/api/cameras", camera_body("other", inference_server_bindings=[binding(keep)]), 201
    )
    ok(target, "DELETE", f"/api/inference-servers/{gone}")

    assert ok(target, "GET", f"/api/cameras/{both['id']}")["inference_server_bindings"] == [binding(keep)]
    assert "inference_server_bindings" not in ok(target, "GET", f"/api/cameras/{only['id']}")
    assert ok(target, "GET", f"/api/cameras/{other['id']}") == other
    saved = json.loads(target.data_file().read_bytes())
    assert gone not in saved["inference_servers"]
    assert all(
        b["server_id"] != gone
        for cam in saved["cameras"].values()
        for b in cam.get("inference_server_bindings", [])
    )


# --- alert server and configuration ----------------------------------------------------------


def test_alert_server_get_put(target: TargetProcess) -> None:
    initial = ok(target, "GET", "/api/alert-server")
    assert initial == {"url": "", "enabled": False, "updated_at": "0001-01-01T00:00:00Z"}
    put = ok(target, "PUT", "/api/alert-server", {"url": "http://127.0.0.1:9/alert", "enabled": True})
    assert put["url"] == "http://127.0.0.1:9/alert" and put["enabled"] is True
    assert is_rfc3339(put["updated_at"]) and put["updated_at"] != initial["updated_at"]
    assert ok(target, "GET", "/api/alert-server") == put
    fails(target, "PUT", "/api/alert-server", {"enabled": "yes"}, 400)
    assert ok(target, "GET", "/api/alert-server") == put


def test_export_is_the_raw_data_file(target: TargetProcess) -> None:
    cam = ok(target, "POST", "/api/cameras", camera_body("e"), 201)
    srv = ok(target, "POST", "/api/inference-servers", server_body("s"), 201)
    status, headers, raw = http_request("GET", target.url + "/api/config/export")
    assert status == 200
    assert headers["Content-Disposition"].startswith("attachment; filename=")
    assert headers["Content-Disposition"].endswith(".json")
    exported = json.loads(raw)
    assert set(exported) == {"cameras", "inference_servers", "alert_server"}  # no envelope
    assert exported["cameras"] == {cam["id"]: cam}
    assert exported["inference_servers"] == {srv["id"]: srv}
    assert raw == target.data_file().read_bytes()
    assert b'\n  "cameras": {' in raw  # pretty-printed


def test_import_replaces_everything(target: TargetProcess) -> None:
    old = ok(target, "POST", "/api/cameras", camera_body("old"), 201)
    ok(target, "POST", "/api/inference-servers", server_body("old"), 201)
    config = {
        "cameras": {
            "cam_a": {"id": "cam_a", "name": "A", "rtsp_url": RTSP, "enabled": False, "running": False},
            "cam_b": {"name": "B", "rtsp_url": RTSP, "enabled": True, "running": True},
        },
        "inference_servers": {"inf_s": {"name": "S", "url": INFER_URL, "model_type": "yolo"}},
        "alert_server": {"url": "http://127.0.0.1:9/a", "enabled": True},
    }
    data = ok(target, "POST", "/api/config/import", config)
    assert data == {"cameras_count": 2, "inference_servers_count": 1}

    cams = {c["id"]: c for c in ok(target, "GET", "/api/cameras")}
    assert set(cams) == {"cam_a", "cam_b"} and old["id"] not in cams
    assert cams["cam_a"]["name"] == "A" and cams["cam_a"]["enabled"] is False
    assert cams["cam_b"]["id"] == "cam_b"  # the map key is the id
    assert is_rfc3339(cams["cam_b"]["created_at"])  # missing timestamps are set
    servers = ok(target, "GET", "/api/inference-servers")
    assert [s["id"] for s in servers] == ["inf_s"] and servers[0]["model_type"] == "yolo"
    alert = ok(target, "GET", "/api/alert-server")
    assert alert["url"] == "http://127.0.0.1:9/a" and alert["enabled"] is True
    status = ok(target, "GET", "/api/status")
    assert (status["total_cameras"], status["enabled_cameras"]) == (2, 1)
    assert json.loads(target.data_file().read_bytes()) == api_state(target)

    # An export imports back to the same state.
    before = api_state(target)
    ok(target, "POST", "/api/config/import", before)
    assert api_state(target) == before

    # Importing an empty object empties the store.
    assert ok(target, "POST", "/api/config/import", {}) == {"cameras_count": 0, "inference_servers_count": 0}
    assert ok(target, "GET", "/api/cameras") is None


@pytest.mark.parametrize(
    "config",
    [
        [],
        {"cameras": []},
        {"cameras": {"c": {"name": 1}}},
        {"inference_servers": {"s": "x"}},
        {"alert_server": {"enabled": "no"}},
    ],
)
def test_invalid_import_is_400_and_changes_nothing(target: TargetProcess, config: Any) -> None:
    cam = ok(target, "POST", "/api/cameras", camera_body("kept"), 201)
    env = fails(target, "POST", "/api/config/import", config, 400)
    assert env["error"]
    assert ok(target, "GET", "/api/cameras") == [cam]


# --- persistence -----------------------------------------------------------------------------


def test_every_mutation_is_persisted(target: TargetProcess) -> None:
    def saved() -> dict[str, Any]:
        return json.loads(target.data_file().read_bytes())

    cam = ok(target, "POST", "/api/cameras", camera_body("p"), 201)
    assert saved()["cameras"] == {cam["id"]: cam}
    put = ok(target, "PUT", f"/api/cameras/{cam['id']}", camera_body("q"))
    assert saved()["cameras"] == {cam["id"]: put}
    srv = ok(target, "POST", "/api/inference-servers", server_body(), 201)
    assert saved()["inference_servers"] == {srv["id"]: srv}
    alert = ok(target, "PUT", "/api/alert-server", {"url": "u", "enabled": True})
    assert saved()["alert_server"] == alert
    ok(target, "DELETE", f"/api/cameras/{cam['id']}")
    assert saved()["cameras"] == {}
    assert saved() == api_state(target)
    # No temporary files are left behind.
    assert [p.name for p in target.data_file().parent.iterdir()] == ["cameras.json"]


def test_failed_write_is_500_and_changes_nothing(target: TargetProcess) -> None:
    kept = ok(target, "POST", "/api/cameras", camera_body("kept"), 201)
    data_dir = target.data_file().parent
    shutil.rmtree(data_dir)  # the next atomic write cannot create its temporary file
    try:
        env = fails(target, "POST", "/api/cameras", camera_body("lost"), 500)
        assert env["error"]
        fails(target, "DELETE", f"/api/cameras/{kept['id']}", None, 500)
        assert ok(target, "GET", "/api/cameras") == [kept]  # memory stays equal to the last file
    finally:
        data_dir.mkdir()
    ok(target, "POST", "/api/cameras", camera_body("after"), 201)
    assert json.loads(target.data_file().read_bytes()) == api_state(target)
    assert {c["name"] for c in ok(target, "GET", "/api/cameras")} == {"kept", "after"}
