"""The reference target under concurrent clients: no lost update, no resurrection, atomic file.

And with `--faults race=1`, proof that the race fault really loses updates and brings
deleted objects back.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from typing import Any

from conftest import FilePoller, TargetProcess, http_json, http_request, run_together

THREADS = 50
RTSP = "rtsp://127.0.0.1:9/stream"


def camera(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "rtsp_url": RTSP, **fields}


def status_of(target: TargetProcess, method: str, path: str, body: Any = None) -> int:
    return http_json(method, target.url + path, body, timeout=15)[0]


def seed_cameras(target: TargetProcess, ids: list[str]) -> None:
    """Create cameras with these ids in one config import (not a racy mutation)."""
    config = {"cameras": {i: camera(f"seed-{i}", enabled=True, running=True) for i in ids}}
    status, _env, raw = http_json("POST", target.url + "/api/config/import", config)
    assert status == 200, raw


def api_state(target: TargetProcess) -> dict[str, Any]:
    status, _headers, raw = http_request("GET", target.url + "/api/config/export")
    assert status == 200
    return json.loads(raw)


def listed_ids(target: TargetProcess, path: str = "/api/cameras") -> set[str]:
    status, env, raw = http_json("GET", target.url + path)
    assert status == 200 and env is not None, raw
    return {obj["id"] for obj in env["data"] or []}


def assert_file_matches_api(target: TargetProcess) -> None:
    assert json.loads(target.data_file().read_bytes()) == api_state(target)


def test_concurrent_deletes_exactly_one_200_per_id(start_target) -> None:
    target = start_target()
    cam_ids = [f"cam_del{i}" for i in range(10)]
    seed_cameras(target, cam_ids)
    srv_ids = []
    for i in range(10):
        body = {"id": f"inf_del{i}", "name": f"s{i}", "url": "http://127.0.0.1:9/"}
        assert status_of(target, "POST", "/api/inference-servers", body) == 201
        srv_ids.append(f"inf_del{i}")
    paths = [f"/api/cameras/{i}" for i in cam_ids] + [f"/api/inference-servers/{i}" for i in srv_ids]

    def delete_all(worker: int) -> list[tuple[str, int]]:
        order = random.Random(worker).sample(paths, len(paths))
        return [(path, status_of(target, "DELETE", path)) for path in order]

    results = run_together(THREADS, delete_all)
    answers: dict[str, Counter[int]] = {path: Counter() for path in paths}
    for result in results:
        assert isinstance(result, list), result
        for path, status in result:
            answers[path][status] += 1
    for path, counts in answers.items():
        assert counts == Counter({200: 1, 404: THREADS - 1}), (path, counts)
    assert listed_ids(target) == set()
    assert listed_ids(target, "/api/inference-servers") == set()
    assert_file_matches_api(target)


def test_concurrent_puts_last_acknowledged_wins(start_target) -> None:
    target = start_target()
    seed_cameras(target, ["cam_put"])
    with FilePoller(target.data_file()) as poller:

        def put(worker: int) -> tuple[int, dict[str, Any] | None]:
            body = camera(f"name-{worker}", enabled=worker % 2 == 0)
            status, env, _raw = http_json("PUT", target.url + "/api/cameras/cam_put", body, timeout=15)
            return status, env

        results = run_together(THREADS, put)
    acknowledged = []
    for result in results:
        assert isinstance(result, tuple), result
        status, env = result
        assert status == 200 and env is not None
        acknowledged.append(env["data"])
    assert len({cam["name"] for cam in acknowledged}) == THREADS

    status, env, raw = http_json("GET", target.url + "/api/cameras/cam_put")
    assert status == 200 and env is not None, raw
    assert env["data"] in acknowledged
    assert_file_matches_api(target)
    assert json.loads(target.data_file().read_bytes())["cameras"] == {"cam_put": env["data"]}
    assert poller.reads > 0 and poller.torn == 0  # atomic writes: never a partial file


def test_concurrent_creates_are_all_kept(start_target) -> None:
    target = start_target()
    with FilePoller(target.data_file()) as poller:

        def create(worker: int) -> str:
            status, env, raw = http_json("POST", target.url + "/api/cameras", camera(f"c{worker}"), 15)
            assert status == 201 and env is not None, raw
            return env["data"]["id"]

        results = run_together(THREADS, create)
    assert all(isinstance(r, str) for r in results), results
    assert listed_ids(target) == set(results) and len(set(results)) == THREADS
    status, env, _raw = http_json("GET", target.url + "/api/status")
    assert status == 200 and env is not None and env["data"]["total_cameras"] == THREADS
    assert_file_matches_api(target)
    assert poller.reads > 0 and poller.torn == 0


def test_no_resurrection_when_puts_race_a_delete(start_target) -> None:
    target = start_target()
    ids = [f"cam_res{i}" for i in range(10)]
    seed_cameras(target, ids)

    def work(worker: int) -> tuple[str, str, int]:
        cam_id = ids[worker % len(ids)]
        if worker < len(ids):
            return cam_id, "DELETE", status_of(target, "DELETE", f"/api/cameras/{cam_id}")
        return cam_id, "PUT", status_of(target, "PUT", f"/api/cameras/{cam_id}", camera(f"w{worker}"))

    results = run_together(THREADS, work)
    for result in results:
        assert isinstance(result, tuple), result
        _cam_id, method, status = result
        assert status == 200 if method == "DELETE" else status in (200, 404), result
    for cam_id in ids:
        assert status_of(target, "GET", f"/api/cameras/{cam_id}") == 404, cam_id
    assert listed_ids(target) == set()
    assert json.loads(target.data_file().read_bytes())["cameras"] == {}


# --- the race fault really does what it claims --------------------------------------------------

ROUNDS = 4  # bounded retries: the race is probabilistic (it almost always shows in round 1)


def test_race_fault_loses_concurrent_creates(start_target) -> None:
    target = start_target("race=1", "--seed", "7")
    lost: set[str] = set()
    for round_no in range(ROUNDS):

        def create(worker: int, round_no: int = round_no) -> tuple[int, str]:
            body = camera(f"r{round_no}-{worker}", id=f"cam_r{round_no}_{worker}")
            return status_of(target, "POST", "/api/cameras", body), body["id"]

        results = run_together(THREADS, create)
        acknowledged = {cam_id for status, cam_id in results if status == 201}
        lost = acknowledged - listed_ids(target)
        if lost:
            break
    assert lost, "race=1 never lost an acknowledged create"


def test_race_fault_resurrects_deleted_objects(start_target) -> None:
    target = start_target("race=1", "--seed", "11")
    resurrected: list[str] = []
    for round_no in range(ROUNDS):
        ids = [f"cam_z{round_no}_{i}" for i in range(10)]
        seed_cameras(target, ids)

        def work(worker: int, ids: list[str] = ids) -> tuple[str, str, int]:
            cam_id = ids[worker % len(ids)]
            if worker < len(ids):
                return cam_id, "DELETE", status_of(target, "DELETE", f"/api/cameras/{cam_id}")
            body = camera(f"w{worker}")
            return cam_id, "PUT", status_of(target, "PUT", f"/api/cameras/{cam_id}", body)

        results = run_together(THREADS, work)
        deleted = {cam_id for cam_id, method, status in results if method == "DELETE" and status == 200}
        resurrected = [i for i in sorted(deleted) if status_of(target, "GET", f"/api/cameras/{i}") == 200]
        if resurrected:
            break
    assert resurrected, "race=1 never brought a deleted camera back"


def test_race_fault_allows_double_deletes(start_target) -> None:
    target = start_target("race=1", "--seed", "3")
    doubled: list[str] = []
    for round_no in range(ROUNDS):
        ids = [f"cam_d{round_no}_{i}" for i in range(5)]
        seed_cameras(target, ids)

        def delete(worker: int, ids: list[str] = ids) -> tuple[str, int]:
            cam_id = ids[worker % len(ids)]
            return cam_id, status_of(target, "DELETE", f"/api/cameras/{cam_id}")

        oks = Counter(cam_id for cam_id, status in run_together(THREADS, delete) if status == 200)
        doubled = [cam_id for cam_id, count in oks.items() if count > 1]
        if doubled:
            break
    assert doubled, "race=1 never answered 200 to two DELETEs of one id"
