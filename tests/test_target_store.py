"""Unit tests of the target's pure parts: model decoding, store changes and Store, faults, log."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

import pytest

from camstream_locust.target import faults, model, store
from camstream_locust.target.golog import GoLog, go_log_prefix
from camstream_locust.target.store import CAMERAS, SERVERS, Store, StoreFileError

NOW = "2026-01-02T03:04:05.000006Z"


def cam(obj_id: str, name: str = "n", **extra: Any) -> dict[str, Any]:
    fields = model.decode_camera({"name": name, "rtsp_url": "rtsp://127.0.0.1:9/", **extra})
    return model.make_camera(
        fields, obj_id=obj_id, enabled=True, running=True, created_at=NOW, updated_at=NOW
    )


# --- model -----------------------------------------------------------------------------------


def test_parse_json_takes_the_first_value() -> None:
    assert model.parse_json(b' \n{"a": 1} {"b": 2} garbage') == {"a": 1}
    assert model.parse_json(b"[1, 2]") == [1, 2]


@pytest.mark.parametrize(
    "raw", [b"", b"  \n", b"{", b"\xff", b"NaN", b'{"x": Infinity}', b"-Infinity", b"[" * 50_000]
)
def test_parse_json_rejects(raw: bytes) -> None:
    with pytest.raises(model.FieldError):
        model.parse_json(raw)


def test_lone_surrogates_become_replacement_characters() -> None:
    value = model.parse_json(b'{"k\\udc00": ["\\ud800", {"n": "a\\ud83d\\ude00b\\udfff"}], "ok": "\\u00e9"}')
    assert value == {"k\ufffd": ["\ufffd", {"n": "a😀b\ufffd"}], "ok": "é"}
    json.dumps(value, ensure_ascii=False).encode("utf-8")  # encodable now
    assert model.replace_lone_surrogates("x\ud800") == "x\ufffd"
    assert model.replace_lone_surrogates(5) == 5


def test_loads_is_strict_about_trailing_data() -> None:
    assert model.loads('{"a": 1}\n') == {"a": 1}
    with pytest.raises(ValueError):
        model.loads('{"a": 1} x')
    with pytest.raises(ValueError, match="max depth"):
        model.loads("[" * 50_000 + "]" * 50_000)


def test_decode_camera_fields_and_zero_values() -> None:
    assert model.decode_camera({"name": "a", "unknown": [1], "enabled": None}) == {
        "id": "",
        "name": "a",
        "rtsp_url": "",
        "inference_server_bindings": [],
        "enabled": False,
        "running": False,
    }
    bindings = [{"server_id": "s", "threshold": 1, "max_threshold": 0.5, "extra": True}]
    decoded = model.decode_camera({"inference_server_bindings": bindings})
    assert decoded["inference_server_bindings"] == [{"server_id": "s", "threshold": 1, "max_threshold": 0.5}]


@pytest.mark.parametrize(
    ("value", "where"),
    [
        ({"name": 5}, "Camera.name of type string"),
        ({"enabled": 1}, "Camera.enabled of type bool"),
        ({"inference_server_bindings": "x"}, "inference_server_bindings"),
        ({"inference_server_bindings": [1]}, "inference_server_bindings"),
        ({"inference_server_bindings": [{"threshold": True}]}, "threshold of type float64"),
        ({"inference_server_bindings": [{"threshold": 10**400}]}, "threshold of type float64"),
        ({"inference_server_bindings": [{"max_threshold": float("inf")}]}, "max_threshold"),
        ([], "Go value of type camera.Camera"),
    ],
)
def test_decode_camera_type_errors(value: object, where: str) -> None:
    with pytest.raises(model.FieldError, match=re.escape(where)):
        model.decode_camera(value)


def test_decode_server_and_alert() -> None:
    server = model.decode_server({"name": "s", "url": "u", "model_type": ""})
    assert server["model_type"] == "other" and server["description"] == ""
    with pytest.raises(model.FieldError):
        model.decode_server({"description": 1})
    assert model.decode_alert({"url": "u", "enabled": True, "x": 1}) == {"url": "u", "enabled": True}
    with pytest.raises(model.FieldError):
        model.decode_alert("x")


def test_make_objects_field_order_and_omissions() -> None:
    camera = cam("cam_1")
    assert list(camera) == ["id", "name", "rtsp_url", "enabled", "running", "created_at", "updated_at"]
    with_bindings = cam("cam_2", inference_server_bindings=[{"server_id": "s"}])
    assert list(with_bindings)[3] == "inference_server_bindings"
    fields = model.decode_server({"name": "s", "url": "u", "model_type": "yolo"})
    server = model.make_server(fields, obj_id="i", enabled=True, created_at=NOW, updated_at=NOW)
    assert "description" not in server and server["model_type"] == "yolo"
    assert model.new_camera_id().startswith("cam_")
    assert model.new_server_id("yolo").startswith("inf_yolo_")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", model.now_rfc3339())


def test_decode_store() -> None:
    assert model.decode_store({}, now=NOW) == model.empty_store()
    decoded = model.decode_store(
        {
            "cameras": {"k": {"id": "other", "name": "c", "created_at": "2020-01-01T00:00:00Z"}},
            "inference_servers": None,
            "alert_server": {"url": "a", "enabled": True},
        },
        now=NOW,
    )
    camera = decoded["cameras"]["k"]
    assert camera["id"] == "k"  # the key wins
    assert camera["created_at"] == "2020-01-01T00:00:00Z" and camera["updated_at"] == NOW
    assert decoded["inference_servers"] == {}
    assert decoded["alert_server"] == {"url": "a", "enabled": True, "updated_at": model.GO_ZERO_TIME}
    for bad in ([], {"cameras": []}, {"cameras": {"k": 1}}, {"alert_server": []}):
        with pytest.raises(model.FieldError):
            model.decode_store(bad, now=NOW)


# --- store changes ---------------------------------------------------------------------------


def data_with(*cameras: dict[str, Any]) -> dict[str, Any]:
    data = model.empty_store()
    data[CAMERAS] = {c["id"]: c for c in cameras}
    return data


def test_put_replace_delete() -> None:
    data = data_with()
    a = cam("a")
    assert store.put(CAMERAS, a).apply(data) is a and data[CAMERAS] == {"a": a}
    newer = dict(cam("a", "renamed"), created_at="later")
    replaced = store.replace(CAMERAS, newer).apply(data)
    assert replaced is not None and replaced["name"] == "renamed" and replaced["created_at"] == NOW
    assert store.replace(CAMERAS, cam("missing")).apply(data) is None
    assert store.delete(CAMERAS, "a").apply(data) is True
    assert store.delete(CAMERAS, "a").apply(data) is False


def test_delete_server_unbinds_every_camera() -> None:
    both = cam("both", inference_server_bindings=[{"server_id": "x"}, {"server_id": "y"}])
    only = cam("only", inference_server_bindings=[{"server_id": "x"}])
    none = cam("none")
    data = data_with(both, only, none)
    data[SERVERS] = {"x": {"id": "x"}}
    assert store.delete_server("x").apply(data) is True
    assert [b["server_id"] for b in data[CAMERAS]["both"]["inference_server_bindings"]] == ["y"]
    assert "inference_server_bindings" not in data[CAMERAS]["only"]
    assert list(data[CAMERAS]["only"]) == [k for k in only if k != "inference_server_bindings"]
    assert data[CAMERAS]["none"] is none
    assert both["inference_server_bindings"][0]["server_id"] == "x"  # not modified in place
    assert store.delete_server("x").apply(data) is False


def test_set_alert_and_replace_all() -> None:
    data = data_with(cam("a"))
    alert = {"url": "u", "enabled": True, "updated_at": NOW}
    assert store.set_alert(alert).apply(data) is alert and data[store.ALERT] is alert
    new = data_with(cam("b"))
    assert store.replace_all(new).apply(data) is True
    assert data == new


# --- Store -----------------------------------------------------------------------------------


def test_store_persists_each_change_atomically(tmp_path: Path) -> None:
    db = Store.load(tmp_path / "_data" / "cameras.json")
    assert db.list(CAMERAS) == [] and not db.data_file.exists()
    a = cam("a")
    db.apply(store.put(CAMERAS, a))
    assert db.data_file.read_bytes() == db.export_bytes() == store.serialize(data_with(a))
    assert db.get(CAMERAS, "a") == a
    assert db.counts() == {
        "total_cameras": 1,
        "enabled_cameras": 1,
        "disabled_cameras": 0,
        "running_cameras": 1,
    }
    assert [p.name for p in db.data_file.parent.iterdir()] == ["cameras.json"]  # no temp file left

    before = db.data_file.stat().st_mtime_ns
    assert db.apply(store.delete(CAMERAS, "missing")) is False  # no change: no write
    assert db.data_file.stat().st_mtime_ns == before

    again = Store.load(db.data_file)
    assert again.export_bytes() == db.export_bytes()


def test_failed_write_leaves_the_store_unchanged(tmp_path: Path) -> None:
    db = Store(tmp_path / "gone" / "cameras.json")  # its directory does not exist
    with pytest.raises(OSError):
        db.apply(store.put(CAMERAS, cam("a")))
    assert db.list(CAMERAS) == [] and db.get(CAMERAS, "a") is None


def test_race_pause_loses_updates_and_resurrects(tmp_path: Path) -> None:
    db = Store(tmp_path / "cameras.json", data_with(cam("x")))

    def concurrent(change: store.Change[Any]) -> None:
        db.apply(race_pause=lambda: db.apply(change), change=store.put(CAMERAS, cam("y")))

    concurrent(store.put(CAMERAS, cam("z")))  # z is created during y's pause: lost
    assert {c["id"] for c in db.list(CAMERAS)} == {"x", "y"}
    concurrent(store.delete(CAMERAS, "x"))  # x is deleted during the pause: resurrected
    assert db.get(CAMERAS, "x") is not None
    assert json.loads(db.data_file.read_bytes()) == json.loads(db.export_bytes())


def test_torn_write_replaces_the_atomic_write(tmp_path: Path) -> None:
    db = Store(tmp_path / "cameras.json")
    calls: list[tuple[Path, bytes]] = []
    db.apply(store.put(CAMERAS, cam("a")), torn_write=lambda path, payload: calls.append((path, payload)))
    assert calls == [(db.data_file, db.export_bytes())]
    assert not db.data_file.exists()  # only the torn writer wrote (here: nothing)


def test_load_file_errors(tmp_path: Path) -> None:
    path = tmp_path / "cameras.json"
    assert store.load_file(path, now=NOW) == model.empty_store()
    for raw in (b"", b"{", b"\xff", b"[]", b'{"cameras": {"c": {"name": 1}}}', b"{} x"):
        path.write_bytes(raw)
        with pytest.raises(StoreFileError, match=re.escape(str(path))):
            store.load_file(path, now=NOW)
    path.unlink()
    path.mkdir()
    with pytest.raises(StoreFileError):
        store.load_file(path, now=NOW)


def test_load_rejects_an_unusable_directory(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(OSError):
        Store.load(tmp_path / "file" / "_data" / "cameras.json")
    store.check_writable(tmp_path)
    assert list(tmp_path.iterdir()) == [tmp_path / "file"]


def test_write_atomic(tmp_path: Path) -> None:
    path = tmp_path / "f.json"
    store.write_atomic(path, b"one")
    store.write_atomic(path, b"two")
    assert path.read_bytes() == b"two" and list(tmp_path.iterdir()) == [path]


# --- faults ----------------------------------------------------------------------------------


def test_parse_fault_spec() -> None:
    assert faults.parse_fault_spec("") == {} and faults.parse_fault_spec(None) == {}
    assert faults.parse_fault_spec(" race = 0.5 , torn-file=1") == {"race": 0.5, "torn-file": 1.0}
    spec = "nil-pointer=0.05,race=0.2,slow=0.02,bad-json=0.02,http=0.02,torn-file=1"
    assert set(faults.parse_fault_spec(spec)) == set(faults.FAULT_NAMES)
    for bad in ("race", "x=1", "race=1.5", "race=-1", "race=inf", "race=a", "race=1,race=1", ","):
        with pytest.raises(faults.FaultSpecError):
            faults.parse_fault_spec(bad)


def test_fault_dice() -> None:
    dice = faults.FaultDice({"race": 1.0, "http": 0.0, "slow": 1.0}, random.Random(0))
    assert dice.roll("race") and not dice.roll("http") and not dice.roll("nil-pointer")
    assert dice.response_fault() == "slow"
    both = faults.FaultDice({"nil-pointer": 1.0, "http": 1.0}, random.Random(0))
    assert both.response_fault() == "nil-pointer"  # rolled in order, at most one
    assert faults.FaultDice({}, random.Random(0)).response_fault() is None


def test_go_texts() -> None:
    rng = random.Random(1)
    trace = faults.panic_trace(rng, "GetCamera", "127.0.0.1:5000", faults.NIL_DEREF)
    assert trace.startswith(f"http: panic serving 127.0.0.1:5000: {faults.NIL_DEREF}\ngoroutine ")
    assert "[running]:" in trace and "(*Handler).GetCamera(" in trace and "cameras.go:97" in trace
    report = faults.race_report(rng, "DeleteCamera")
    lines = report.splitlines()
    assert lines[:2] == ["==================", "WARNING: DATA RACE"] and lines[-1] == "=================="
    assert "RemoveCamera()" in report and "Previous read at" in report
    fatal = faults.fatal_map_writes(rng, "UpdateInferenceServer")
    assert fatal.startswith("fatal error: concurrent map writes\n\ngoroutine ") and "UpdateServer(" in fatal


def test_corrupt_json_is_never_valid() -> None:
    rng = random.Random(2)
    body = json.dumps({"success": True, "data": [1, 2, 3]}).encode()
    for _ in range(20):
        with pytest.raises(ValueError):
            json.loads(faults.corrupt_json(rng, body))


def test_torn_writer_truncates_then_writes_pieces(tmp_path: Path) -> None:
    path = tmp_path / "f.json"
    path.write_bytes(b"old content")
    payload = b'{"cameras": {}, "padding": "' + b"x" * 100 + b'"}'
    seen: list[bytes] = []
    faults.torn_writer(random.Random(3), lambda _s: seen.append(path.read_bytes()))(path, payload)
    assert path.read_bytes() == payload
    assert seen[0] == b"" and len(seen) in (3, 4)  # a reader can see it empty, then partial
    assert all(payload.startswith(s) and s != payload for s in seen)


# --- log -------------------------------------------------------------------------------------


def test_go_log(tmp_path: Path) -> None:
    path = tmp_path / "log"
    log = GoLog.open(path)
    log.printf("[INFO] one")
    log.raw("block\nline")
    log.close()
    again = GoLog.open(path)
    again.printf("two\n")  # appends
    again.close()
    lines = path.read_text().splitlines()
    assert re.fullmatch(r"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[INFO\] one", lines[0])
    assert lines[1:3] == ["block", "line"] and lines[3].endswith(" two") and len(lines) == 4
    assert re.fullmatch(r"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d ", go_log_prefix(0))
