"""The suite end to end: real locust against the real reference target, a few seconds each."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.locust_run import ROOT, run_locust, run_locust_interrupted

QUICK = ("--headless", "-u", "10", "-r", "10", "--only-summary")


def _stored_ids(target_dir: Path) -> list[str]:
    data = json.loads((target_dir / "_data" / "cameras.json").read_text())
    return [*data["cameras"], *data["inference_servers"]]


def test_clean_target_gives_a_clean_verdict_blocks_on_schedule_and_no_data_left(tmp_path: Path) -> None:
    run = run_locust(
        *QUICK, "-t", "7s", "--embedded-target", "--target-dir", str(tmp_path), "--stats-interval", "2"
    )
    assert run.returncode == 0, run.output[-3000:]
    counts = run.counts()
    assert counts["requests"] > 100
    assert counts["nil_pointer"] == counts["race_condition"] == 0
    assert counts["failed"] == 0
    # The periodic block (every 2 s here) came before the final one.
    assert run.stdout.count("\nCONCURRENCY TEST STATISTICS") >= 2
    assert "VERDICT: CLEAN" in run.stdout
    assert "Traceback" not in run.output
    # Everything this run created was deleted at the end.
    assert not [i for i in _stored_ids(tmp_path) if i.startswith("lc-")]


def test_keep_data_leaves_the_runs_objects(tmp_path: Path) -> None:
    run = run_locust(*QUICK, "-t", "4s", "--embedded-target", "--target-dir", str(tmp_path), "--keep-data")
    assert run.returncode == 0, run.output[-3000:]
    left = _stored_ids(tmp_path)
    assert left and all(i.startswith("lc-") for i in left)
    assert "--keep-data" in run.stdout


FAULTS = [
    # fault spec, extra options, category that must be counted, expected exit code
    ("nil-pointer=0.1", (), "nil_pointer", 3),
    ("race=0.5", (), "race_condition", 3),
    ("slow=0.05", ("--request-timeout", "1"), "timeout", 0),
    ("bad-json=0.05", (), "json_error", 0),
    ("http=0.05", (), "http_error", 0),
    ("http=0.05", ("--fail-on", "http_error"), "http_error", 3),
]


@pytest.mark.parametrize(
    ("faults", "extra", "category", "exit_code"), FAULTS, ids=[f"{f[0]}{f[1]}" for f in FAULTS]
)
def test_each_fault_mode_is_counted_in_its_category(
    tmp_path: Path, faults: str, extra: tuple[str, ...], category: str, exit_code: int
) -> None:
    run = run_locust(*QUICK, "-t", "6s", "--embedded-target", "--target-faults", faults, *extra)
    assert run.returncode == exit_code, run.output[-3000:]
    counts = run.counts()
    assert counts[category] > 0, run.final_block()
    # Every failed request is in exactly one category.
    assert (
        sum(
            counts[c]
            for c in (
                "nil_pointer",
                "race_condition",
                "timeout",
                "http_error",
                "json_error",
                "connection",
                "other",
            )
        )
        == counts["failed"]
    )
    if exit_code == 3:
        assert "VERDICT: FAIL" in run.stdout
    assert "Traceback" not in run.output


#: Handlers the end of a run calls itself (final reads, data file and export vs API, cleanup):
#: their panics are not all the load's, so the exact count below leaves them out.
QUIESCE_HANDLERS = {"ListCameras", "ListInferenceServers", "ExportConfig"}
QUIESCE_REQUESTS = {"GET /api/cameras", "GET /api/inference-servers", "GET /api/config/export"}


def _panicking_handlers(log: str) -> list[str]:
    """The Go handler named in each "http: panic serving" trace of the target's log."""
    handlers = []
    for block in log.split("http: panic serving")[1:]:
        match = re.search(r"\(\*Handler\)\.(\w+)\(", block)
        handlers.append(match.group(1) if match else "?")
    return handlers


def test_dropped_connections_are_connection_errors_and_possible_panics(tmp_path: Path) -> None:
    out = tmp_path / "summary.json"
    run = run_locust(
        *QUICK,
        "-t",
        "6s",
        "--embedded-target",
        "--target-faults",
        "nil-pointer=0.2",
        "--target-dir",
        str(tmp_path),
        "--keep-data",  # no cleanup requests
        "--camstream-json",
        str(out),
    )
    counts = run.counts()
    assert counts["connection"] > 0 and counts["nil_pointer"] > 0
    assert counts["connection"] + counts["nil_pointer"] == counts["failed"]
    # Every panic the target logged reached the suite once (no request was silently resent),
    # but for at most one request per user cut off when the users stopped.
    panics = [
        h for h in _panicking_handlers((tmp_path / "target.log").read_text()) if h not in QUIESCE_HANDLERS
    ]
    summary = json.loads(out.read_text())
    failed = sum(n for name, n in summary["failures_by_name"].items() if name not in QUIESCE_REQUESTS)
    assert panics and "?" not in panics
    assert 0 <= len(panics) - failed <= 10, (len(panics), failed)
    assert "Possible Panics:" in run.final_block()
    assert "possible server panic" in summary["examples"]["possible_panic"]
    assert run.returncode == 3


def test_sigint_mid_run_prints_the_final_block_and_keeps_the_exit_code() -> None:
    run = run_locust_interrupted(
        *QUICK,
        "-t",
        "60s",
        "--stats-interval",
        "1",
        "--embedded-target",
        "--target-faults",
        "nil-pointer=0.1",
        after_line="CONCURRENCY TEST STATISTICS",
    )
    assert "FINAL CONCURRENCY TEST STATISTICS" in run.stdout, run.output[-3000:]
    assert run.counts()["nil_pointer"] > 0
    assert run.returncode == 3


def test_sigterm_on_a_clean_run_exits_zero() -> None:
    run = run_locust_interrupted(
        *QUICK,
        "-t",
        "60s",
        "--stats-interval",
        "1",
        "--embedded-target",
        after_line="CONCURRENCY TEST STATISTICS",
        sig=signal.SIGTERM,
    )
    assert "VERDICT: CLEAN" in run.stdout, run.output[-3000:]
    assert run.returncode == 0


def test_unreachable_host_gives_one_clear_line_and_exit_2() -> None:
    from tests.conftest import free_port

    run = run_locust(*QUICK, "-t", "5s", "-H", f"http://127.0.0.1:{free_port()}")
    assert run.returncode == 2
    lines = [line for line in run.stderr.splitlines() if line.startswith("camstream:")]
    assert (
        len(lines) == 1
        and "cannot reach the cam-stream server" in lines[0]
        and "connection refused" in lines[0]
    )
    assert "Traceback" not in run.output
    assert "Total Requests" not in run.stdout  # not thousands of failures: no load at all


def test_a_server_that_is_not_cam_stream_is_refused(start_target) -> None:
    target = start_target()
    run = run_locust(*QUICK, "-t", "5s", "-H", target.url + "/nothing-here")
    assert run.returncode == 2
    assert "does not look like a cam-stream server" in run.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--pool-size", "0"), "--pool-size"),
        (("--request-timeout", "soon"), "--request-timeout"),
        (("--fail-on", "nil_pointer,races"), "unknown categories"),
        (("--scenario", "everything"), "--scenario"),
        (("--embedded-target", "--target-faults", "explode=1"), "unknown fault"),
        (("--camstream-json", "pyproject.toml/summary.json"), "is not a directory"),
        (("--camstream-junit", "tests"), "argument --camstream-junit: tests is a directory"),
    ],
)
def test_bad_options_give_a_clear_error_and_no_traceback(args: tuple[str, ...], message: str) -> None:
    run = run_locust(*QUICK, "-t", "2s", *args, timeout=60)
    assert run.returncode == 2
    assert message in run.stderr and "Traceback" not in run.output


def test_every_scenario_runs_clean(tmp_path: Path) -> None:
    for scenario in ("high-frequency-reads", "concurrent-writes", "config-conflict", "same-camera"):
        run = run_locust(*QUICK, "-t", "3s", "--embedded-target", "--scenario", scenario)
        assert run.returncode == 0, (scenario, run.output[-2000:])
        assert run.counts()["requests"] > 20, scenario


def test_readme_defaults_come_from_pyproject() -> None:
    text = (ROOT / "pyproject.toml").read_text()
    assert "users = 20" in text and 'run-time = "60s"' in text


def test_every_readme_option_is_listed_by_python_m_camstream_locust() -> None:
    """Locust's --help does not load a locustfile; ``python -m camstream_locust`` lists ours."""
    listed = subprocess.run(
        [sys.executable, "-m", "camstream_locust"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert listed.returncode == 0, listed.stderr
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("## Options") : readme.index("## Benchmarks")]
    documented = set(re.findall(r"^\| `(--[a-z-]+)", table, re.MULTILINE))
    assert len(documented) >= 18
    assert documented <= set(re.findall(r"--[a-z-]+", listed.stdout)), documented
    for option in documented:  # every one with its environment variable
        assert option in listed.stdout
    assert listed.stdout.count("CAMSTREAM_") >= len(documented)
