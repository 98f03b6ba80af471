"""The server's own log in real runs: panics and race reports become findings (issue 5)."""

from __future__ import annotations

import json
import random
import subprocess
import time
from pathlib import Path

from camstream_locust.target import faults
from tests.locust_run import ROOT, Run, env, locust_argv

QUICK = ("--headless", "-u", "10", "-r", "10", "--only-summary")


def _run(*args: str, timeout: float = 120) -> Run:
    proc = subprocess.run(
        locust_argv(*args), cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env()
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


def test_embedded_target_log_panics_and_races_are_findings_with_signatures(tmp_path: Path) -> None:
    out = tmp_path / "summary.json"
    run = _run(
        *QUICK,
        "-t",
        "6s",
        "--embedded-target",
        "--target-dir",
        str(tmp_path / "t"),
        "--keep-data",
        "--target-faults",
        "nil-pointer=0.05,race=0.2",
        "--server-log",
        str(tmp_path / "t" / "target.log"),
        "--camstream-json",
        str(out),
    )
    assert run.returncode == 3, run.output[-3000:]
    summary = json.loads(out.read_text())
    rows = summary["server_log"]["signatures"]
    log = (tmp_path / "t" / "target.log").read_text()
    by_category: dict[str, int] = {}
    for row in rows:
        by_category[row["category"]] = by_category.get(row["category"], 0) + row["count"]
    # Every report the target wrote was read once, with the right category.
    assert by_category.get("nil_pointer", 0) == log.count("http: panic serving")
    assert by_category.get("race_condition", 0) == log.count("WARNING: DATA RACE") + log.count("fatal error:")
    assert by_category["nil_pointer"] > 0 and by_category["race_condition"] > 0
    # Deduplicated: a handful of signatures (one per handler and site), not one per report.
    assert len(rows) < sum(by_category.values())
    assert all(" @ cam-stream/internal/" in row["signature"] for row in rows)
    # Beyond-request findings are in the category totals and the verdict.
    details = {d["category"]: d for d in summary["category_details"]}
    assert details["race_condition"]["extra"] >= by_category["race_condition"]
    assert "server log data_race" in summary["notes"]
    # Connections dropped without an answer are linked to the logged panics.
    dropped = summary["notes"].get("possible_panic", 0)
    assert summary["server_log"].get("dropped_connections_linked", 0) == dropped
    assert "beyond requests" in run.final_block()


def test_a_log_rotated_mid_run_is_still_followed_and_a_server_answering_200_still_fails(
    tmp_path: Path, start_target
) -> None:
    """A clean target (every answer 200), a log with race reports written and rotated by the test."""
    target = start_target()
    log = tmp_path / "server.log"
    log.write_text("2026/12/04 10:00:00 [INFO] old line before the run\n")
    proc = subprocess.Popen(
        locust_argv(*QUICK, "-t", "10s", "-H", target.url, "--server-log", str(log), "--stats-interval", "1"),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env(),
    )
    try:
        rng = random.Random(5)
        time.sleep(3)  # the follower has started at the end of the file
        with log.open("a") as f:
            f.write(
                "2026/12/04 10:00:01 [INFO] camera created\n" + faults.race_report(rng, "UpdateCamera") + "\n"
            )
        time.sleep(1.5)
        log.rename(tmp_path / "server.log.1")
        with log.open("w") as f:
            f.write(faults.race_report(rng, "DeleteCamera") + "\n2026/12/04 10:00:02 [INFO] after\n")
            f.write(faults.fatal_map_writes(rng, "CreateCamera") + "\n")
        out, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    run = Run(proc.returncode, out, err)
    assert run.returncode == 3, run.output[-3000:]
    block = run.final_block()
    assert "server log data_race 2" in block and "server log go_fatal 1" in block
    assert "Failed Requests:       0" in block  # every answer was fine: only the log tells


def test_a_log_command_that_exits_at_once_is_reported_and_the_run_goes_on(start_target) -> None:
    target = start_target()
    run = _run(*QUICK, "-t", "4s", "-H", target.url, "--server-log-cmd", "false")
    assert run.returncode == 0, run.output[-3000:]
    assert "--server-log-cmd 'false'" in run.output and "exited with code 1" in run.output
    assert run.counts()["requests"] > 20
    assert "Traceback" not in run.output


def test_a_missing_log_command_is_reported_not_fatal(start_target) -> None:
    target = start_target()
    run = _run(*QUICK, "-t", "3s", "-H", target.url, "--server-log-cmd", "no-such-command-here --follow")
    assert run.returncode == 0, run.output[-3000:]
    assert "failed to start" in run.output
