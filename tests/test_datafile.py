"""Data-file integrity checks (pure) and the sampler against a real file."""

import json
from pathlib import Path

import gevent

from camstream_locust import datafile

CAM = {"id": "c1", "name": "Lobby", "rtsp_url": "rtsp://127.0.0.1:9/x", "enabled": True, "running": True}
SRV = {"id": "s1", "name": "yolo", "url": "http://127.0.0.1:9/v1", "model_type": "yolo", "enabled": True}
STORE = {
    "cameras": {"c1": CAM},
    "inference_servers": {"s1": SRV},
    "alert_server": {"url": "", "enabled": False},
}


def test_whole_store_is_not_torn() -> None:
    assert datafile.torn_reason(json.dumps(STORE, indent=2).encode()) is None


def test_torn_files_are_recognised() -> None:
    whole = json.dumps(STORE, indent=2).encode()
    assert datafile.torn_reason(b"") == "empty file"
    assert "not one JSON document" in datafile.torn_reason(whole[: len(whole) // 2])
    # Two writers interleaved: the tail of one write after the whole of another.
    assert "not one JSON document" in datafile.torn_reason(whole + whole[-40:])
    assert "bad store" in datafile.torn_reason(b'{"cameras": []}')
    assert "missing" in datafile.torn_reason(b'{"alert_server": {}}')
    assert "not UTF-8" in datafile.torn_reason(b'{"cameras": {"\xff": 1}}')


def test_differences_by_id_and_client_fields() -> None:
    api_state = {"cameras": {"c1": CAM, "c2": dict(CAM, id="c2")}, "inference_servers": {"s1": SRV}}
    file_state = {
        "cameras": {"c1": dict(CAM, name="Old name", updated_at="x")},
        "inference_servers": {"s1": SRV, "s9": dict(SRV, id="s9")},
    }
    diffs = datafile.differences(file_state, api_state)
    assert "cameras c2: in the API, missing from the file" in diffs
    assert "inference_servers s9: in the file, gone from the API" in diffs
    assert any(d.startswith("cameras c1: file holds ('Old name'") for d in diffs)
    assert len(diffs) == 3
    # Server-set fields (timestamps, running) do not count.
    assert datafile.differences({"cameras": {"c1": dict(CAM, running=False)}}, {"cameras": {"c1": CAM}}) == []


def test_differences_are_capped() -> None:
    many = {"cameras": {f"c{i}": dict(CAM, id=f"c{i}") for i in range(20)}}
    diffs = datafile.differences({}, many, limit=5)
    assert len(diffs) == 6 and diffs[-1] == "... and 15 more"


def test_sampler_counts_torn_reads_of_a_real_file(tmp_path: Path) -> None:
    path = tmp_path / "cameras.json"
    path.write_text(json.dumps(STORE))
    seen: list[str] = []
    sampler = datafile.DataFileSampler(datafile.reader(str(path)), seen.append, interval=0.01)
    sampler.sample()
    path.write_text('{"cameras": {"c1": {"id"')
    sampler.sample()
    path.write_text("")
    sampler.sample()
    assert sampler.samples == 3 and sampler.torn == 2
    assert "torn data-file read" in seen[0] and "empty file" in seen[1]
    sampler.start()
    gevent.sleep(0.05)
    sampler.stop()
    assert sampler.samples > 3


def test_missing_file_is_unreadable_not_torn(tmp_path: Path) -> None:
    sampler = datafile.DataFileSampler(datafile.reader(str(tmp_path / "nope.json")), lambda m: None)
    sampler.sample()
    assert sampler.torn == 0 and "does not exist" in sampler.unreadable
