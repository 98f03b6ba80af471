"""Races that never print an error, end to end: history violations, data-file integrity, imports.

Real locust runs against the real reference target; the verdicts are read from the JSON summary.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from camstream_locust import datafile
from tests.conftest import http_json, http_request
from tests.locust_run import run_locust

QUICK = ("--headless", "-u", "20", "-r", "20", "--only-summary")
MARK = "<- impossible here"


def _summary(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def test_race_fault_gives_violations_each_with_a_minimal_history(tmp_path: Path) -> None:
    out = tmp_path / "summary.json"
    run = run_locust(
        *QUICK, "-t", "15s", "--embedded-target", "--target-faults", "race=0.2", "--camstream-json", str(out)
    )
    assert run.returncode == 3, run.output[-3000:]
    history = _summary(out)["history"]
    assert history["checked"] > 0 and history["violating"] > 0, history
    # Lost writes and resurrected objects, the two ways an unsynchronized read-modify-write shows.
    assert {"lost_update", "lost_create"} & set(history["violations"]), history["violations"]
    assert {"resurrection", "phantom_in_list"} & set(history["violations"]) or history["violations"].get(
        "lost_update", 0
    ) > 1, history["violations"]
    for example in history["examples"]:
        lines = example["history"]
        assert 1 <= len(lines) <= 12, example
        assert sum(MARK in line for line in lines) == 1, example
        assert example["explanation"] and example["object"].startswith("lc-")
    # Counted as race_condition findings, named, and shown in the final block.
    summary = _summary(out)
    assert summary["categories"]["race_condition"] >= history["violating"]
    assert any(key.startswith("history_") for key in summary["notes"])
    assert "linearizability:" in run.stdout and "with violations" in run.stdout


def test_clean_contention_run_has_no_violation(tmp_path: Path) -> None:
    out = tmp_path / "summary.json"
    run = run_locust(
        *QUICK, "-t", "12s", "--embedded-target", "--scenario", "same-camera", "--camstream-json", str(out)
    )
    assert run.returncode == 0, run.output[-3000:]
    history = _summary(out)["history"]
    assert history["checked"] == 3, history  # the three shared hot cameras
    assert history["operations"] > 1000, history
    assert history["violations"] == {} and history["violating"] == 0, history["examples"]
    assert history["undecided"] == 0, history


def test_torn_file_fault_is_seen_in_the_data_file(tmp_path: Path) -> None:
    out = tmp_path / "summary.json"
    run = run_locust(
        *QUICK,
        "-t",
        "8s",
        "--embedded-target",
        "--target-faults",
        "torn-file=1",
        "--scenario",
        "concurrent-writes",
        "--no-history",  # the data-file checks stand alone
        "--camstream-json",
        str(out),
    )
    assert run.returncode == 3, run.output[-3000:]
    summary = _summary(out)
    assert summary["history"] == {"off": "--no-history"}
    assert any("--no-history" in note for note in summary["suite_notes"])
    section = summary["data_file"]
    assert section["samples"] > 10, section
    torn_or_different = (
        section["torn"] + len(section.get("final_differences") or []) + bool(section.get("final"))
    )
    assert torn_or_different > 0, section
    assert summary["categories"]["race_condition"] > 0
    assert "torn data-file read" in summary["notes"] or "data file differs from the API" in summary["notes"]


def _client_view(url: str) -> dict[str, Any]:
    status, _headers, raw = http_request("GET", url + "/api/config/export")
    assert status == 200
    return datafile.client_view(json.loads(raw))


def test_allow_import_restores_the_state_from_before_the_run(start_target, tmp_path: Path) -> None:
    target = start_target()
    # Objects that are not the run's: they must come back exactly as they were.
    for k in range(3):
        status, _body, _raw = http_json(
            "POST",
            target.url + "/api/inference-servers",
            {
                "id": f"user-inf-{k}",
                "name": f"user server {k}",
                "url": "http://127.0.0.1:9/",
                "model_type": "yolo",
            },
        )
        assert status == 201
        status, _body, _raw = http_json(
            "POST",
            target.url + "/api/cameras",
            {"id": f"user-cam-{k}", "name": f"user camera {k}", "rtsp_url": "rtsp://127.0.0.1:9/live"},
        )
        assert status == 201
    before = _client_view(target.url)
    out = tmp_path / "summary.json"
    run = run_locust(
        *QUICK,
        "-t",
        "8s",
        "-H",
        target.url,
        "--scenario",
        "config-conflict",
        "--allow-import",
        "--camstream-json",
        str(out),
    )
    assert run.returncode == 0, run.output[-3000:]
    summary = _summary(out)
    assert "POST     /api/config/import" in run.output, run.output[-3000:]  # Locust's own table
    assert summary["history"] == {"off": "--allow-import"}
    assert any("per-object history checks are off" in note for note in summary["suite_notes"])
    assert _client_view(target.url) == before
