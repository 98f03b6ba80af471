"""Issue 3: distributed runs, with real processes on loopback against the reference target.

Master + 2 workers (and ``--processes 2``) against a target that panics on some requests:
the master's per-category totals are the sum of what the workers counted and agree with
Locust's own failure count; the final block shows those numbers; the exit code is the
master's; ids of different workers never collide while the same-camera scenario makes
them meet on the same hot ids; cleanup removes everything once. A worker killed mid-run,
a master killed mid-run and too few workers for ``--expect-workers`` end cleanly.

What each process counted comes from CAMSTREAM_DEBUG_COUNTS_DIR (listeners.py): every
load process writes its own cumulative counts when it quits, the master its merged totals.
Every wait is bounded; every process is stopped at teardown.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from distributed_helpers import (
    LocustProc,
    LocustProcs,
    data_file_ids,
    debug_counts,
    final_block,
    free_port,
    full,
    locust_json_stats,
    replay,
    summed,
    target_events,
)

FAULTS = "nil-pointer=0.05"
USERS = 6
#: Short runs with few objects (a pool of 10 per kind and process).
LOAD = ("-u", str(USERS), "-r", str(USERS), "-t", "8s", "--pool-size", "10", "--only-summary")
CLEANUP_LINE = re.compile(r"cleanup: deleted (\d+) object")
BLOCK_TITLE = "CONCURRENCY TEST STATISTICS"


@pytest.fixture
def procs(tmp_path: Path) -> Any:
    launched = LocustProcs(tmp_path, tmp_path / "counts")
    yield launched
    launched.close()


# --- the checks shared by the runs -----------------------------------------------------------------


def check_counts(master: LocustProc, counts_dir: Path, stats_file: Path, workers: int) -> dict[str, Any]:
    """Master totals == sum over workers == Locust's failures == the final block. Returns the records."""
    records = debug_counts(counts_dir)
    assert len(records["master"]) == 1, records
    assert len(records["worker"]) == workers, [w["pid"] for w in records["worker"]]
    m, ws = records["master"][0], records["worker"]
    totals = m["totals"]

    # Nothing was left unshipped on a worker, every worker contributed, and all ran the master's run.
    for w in ws:
        assert not any(w["unsent"][k] for k in ("categories", "by_name", "contention", "notes", "recent"))
        assert w["run_id"] == m["run_id"] != ""
    assert set(totals["sources"]) == {w["client_id"] for w in ws}

    # Per category: the master's merged totals are the sum of what the workers counted.
    master_categories = full(totals["categories"])
    worker_categories = full(summed(ws, "sent", "categories"))
    assert master_categories == worker_categories
    assert master_categories["nil_pointer"] > 0
    for key in ("by_name", "contention", "notes"):
        assert Counter(totals[key]) == summed(ws, "sent", key), key

    # Locust's own statistics of the same requests: every failure has exactly one category.
    stats = locust_json_stats(stats_file)
    locust_requests = sum(s["requests"] for s in stats.values())
    locust_failures = sum(s["failures"] for s in stats.values())
    assert sum(master_categories.values()) == locust_failures == m["locust"]["failures"] > 0
    assert locust_requests == m["locust"]["requests"]
    # ... and per request name, against what each worker counted on its own.
    assert Counter(totals["by_name"]) == Counter(
        {k: s["failures"] for k, s in stats.items() if s["failures"]}
    )
    assert summed(ws, "requests", "failures_by_name") == Counter(totals["by_name"])
    assert sum(w["requests"]["totals"]["requests"] for w in ws) == locust_requests
    assert sum(w["requests"]["totals"].get("failures", 0) for w in ws) == locust_failures

    # The final block shows those numbers; the verdict and exit code are the master's.
    block = final_block(master.stdout())
    shown = {c: master_categories[c] + totals["extra_categories"].get(c, 0) for c in master_categories}
    assert block["requests"] == locust_requests
    assert block["failures"] == locust_failures
    assert block["categories"] == shown
    assert block["errors"] == sum(shown.values())
    assert m["exit_code"] == 3
    assert block["verdict"] == f"VERDICT: FAIL - {shown['nil_pointer']} nil_pointer findings (exit code 3)"
    for category, n in master_categories.items():  # shown with pytest -s
        if n:
            parts = " + ".join(str(full(w["sent"]["categories"])[category]) for w in ws)
            print(f"master {category} {n} = workers {parts}")
    print(f"Locust failures {locust_failures} = sum of categories; requests {locust_requests}")
    # The 5-second block is printed by the master (merged totals), never by a worker.
    assert master.stdout().count(BLOCK_TITLE) >= 2  # at least one 5-s block, plus the final one
    return records


def check_worker_outputs(workers: list[LocustProc]) -> None:
    for w in workers:
        out = w.output()
        assert BLOCK_TITLE not in out and "VERDICT" not in out, w.name
        assert not CLEANUP_LINE.search(out), f"{w.name} cleaned up"


def check_cleanup(
    target: Any, run_id: str, master: LocustProc, records: dict[str, Any] | None, leftovers: bool = True
) -> int:
    """Nothing of the run is left, and it was deleted once. Returns how many objects cleanup deleted.

    `leftovers`: the load leaves objects for the cleanup (the pool scenarios always do; the
    same-camera scenario may happen to end with its few hot cameras deleted).
    """
    prefix = f"lc-{run_id}-"
    assert [i for i in data_file_ids(target.data_file()) if i.startswith(prefix)] == []
    cleaned = [int(n) for n in CLEANUP_LINE.findall(master.stderr())]
    assert len(cleaned) == 1, cleaned  # one cleanup, on the master
    events = target_events(target.log_text(), prefix)
    alive, double = replay(events)
    assert double == [], f"deleted while already gone: {double[:5]}"
    assert alive == set()
    assert cleaned[0] >= 1 or not leftovers
    if records is not None:  # every delete the server logged: the users' (seen by them) + cleanup's
        logged = sum(1 for _kind, _id, event in events if event == "deleted")
        by_users = sum(
            n
            for w in records["worker"]
            for k, n in w["requests"].get("ok_by_id", {}).items()
            if k[:7] == "DELETE "
        )
        # Deletes cut off when the users stopped were done but never seen: at most one per user.
        assert by_users + cleaned[0] <= logged <= by_users + cleaned[0] + USERS
    return cleaned[0]


def created_tags(target: Any, run_id: str) -> tuple[set[str], list[str]]:
    """The process tags in the ids the run created, and the created ids without one."""
    prefix = f"lc-{run_id}-"
    pattern = re.compile(rf"^{re.escape(prefix)}([0-9a-f]+)-(?:cam|inf)-\d+$")
    tags, untagged = set(), []
    for _kind, obj_id, event in target_events(target.log_text(), prefix):
        if event == "created":
            found = pattern.match(obj_id)
            if found:
                tags.add(found.group(1))
            else:
                untagged.append(obj_id)
    return tags, untagged


# --- the runs ---------------------------------------------------------------------------------------


def test_master_and_two_workers_add_up(start_target: Any, procs: LocustProcs, tmp_path: Path) -> None:
    target = start_target(FAULTS)
    port = free_port()
    master = procs.master("master", port, target.url, *LOAD, "--json-file", str(tmp_path / "stats"))
    workers = [procs.worker(f"worker{i}", port) for i in (1, 2)]

    assert master.wait() == 3, master.stderr()[-3000:]
    assert [w.wait(30) for w in workers] == [0, 0]
    records = check_counts(master, procs.debug_dir, tmp_path / "stats.json", workers=2)
    check_worker_outputs(workers)
    run_id = records["master"][0]["run_id"]
    check_cleanup(target, run_id, master, records)

    # Ids created on different workers never collide: each carries its process's own tag.
    tags, untagged = created_tags(target, run_id)
    worker_tags = {w["process_tag"] for w in records["worker"]}
    assert len(worker_tags) == 2
    assert tags == worker_tags
    assert untagged == []


def test_processes_two_adds_up_the_same(start_target: Any, procs: LocustProcs, tmp_path: Path) -> None:
    target = start_target(FAULTS)
    port = free_port()
    master = procs.start(
        "master",
        "--processes",
        "2",
        "--headless",
        "--master-bind-host",
        "127.0.0.1",
        "--master-bind-port",
        str(port),
        "--master-host",
        "127.0.0.1",
        "--master-port",
        str(port),
        "-H",
        target.url,
        *LOAD,
        "--json-file",
        str(tmp_path / "stats"),
    )
    assert master.wait() == 3, master.stderr()[-3000:]
    records = check_counts(master, procs.debug_dir, tmp_path / "stats.json", workers=2)
    assert {w["pid"] for w in records["worker"]}.isdisjoint({master.pid})
    run_id = records["master"][0]["run_id"]
    check_cleanup(target, run_id, master, records)
    tags, untagged = created_tags(target, run_id)
    assert tags == {w["process_tag"] for w in records["worker"]} and len(tags) == 2
    assert untagged == []


def test_same_camera_workers_meet_on_the_hot_ids(
    start_target: Any, procs: LocustProcs, tmp_path: Path
) -> None:
    target = start_target(FAULTS)
    port = free_port()
    summary = tmp_path / "summary.json"
    args = (*LOAD, "--scenario", "same-camera", "--json-file", str(tmp_path / "stats"))
    master = procs.master("master", port, target.url, *args, "--camstream-json", str(summary))
    workers = [procs.worker(f"worker{i}", port) for i in (1, 2)]

    assert master.wait() == 3, master.stderr()[-3000:]
    assert [w.wait(30) for w in workers] == [0, 0]
    records = check_counts(master, procs.debug_dir, tmp_path / "stats.json", workers=2)
    check_worker_outputs(workers)
    run_id = records["master"][0]["run_id"]
    prefix = f"lc-{run_id}-"

    # The hot ids are deterministic, the same on every worker, and owned by the run.
    hot = records["worker"][0]["hot_cameras"]
    assert hot and all(h.startswith(f"{prefix}hot-cam-") for h in hot)
    assert all(w["hot_cameras"] == hot for w in records["worker"])
    # Both workers operated (answered 200) on every one of them.
    for w in records["worker"]:
        touched = {key.split(" ", 1)[1] for key in w["requests"].get("ok_by_id", {})}
        assert set(hot) <= touched, (w["client_id"], sorted(touched))
    events = target_events(target.log_text(), prefix)
    assert {obj_id for _k, obj_id, event in events if event == "updated"} == set(hot)
    assert {obj_id for _k, obj_id, event in events if event == "created"} <= set(hot)
    check_cleanup(target, run_id, master, records, leftovers=False)
    # The master checked the hot ids with both workers' operations: nothing wrong (the panics
    # are unknown outcomes, never a violation), and no worker checked them on its own.
    history = json.loads(summary.read_text())["history"]
    assert history["checked"] == len(hot) and history["violating"] == 0, history
    assert history["operations"] > 100 and history["undecided"] == 0, history


def test_processes_two_same_camera_races_are_found_on_the_master(
    start_target: Any, procs: LocustProcs, tmp_path: Path
) -> None:
    target = start_target("race=0.3")
    summary = tmp_path / "summary.json"
    master = procs.start(
        "master",
        "--processes",
        "2",
        "--headless",
        "-H",
        target.url,
        *LOAD,
        "--scenario",
        "same-camera",
        "--camstream-json",
        str(summary),
    )
    assert master.wait() == 3, master.stderr()[-3000:]
    history = json.loads(summary.read_text())["history"]
    assert history["checked"] == 3 and history["violating"] > 0, history
    assert all("-hot-cam-" in example["object"] for example in history["examples"]), history["examples"]


def test_worker_killed_mid_run(start_target: Any, procs: LocustProcs, tmp_path: Path) -> None:
    target = start_target(FAULTS)
    port = free_port()
    load = ("-u", str(USERS), "-r", str(USERS), "-t", "14s", "--pool-size", "10", "--only-summary")
    master = procs.master("master", port, target.url, *load, "--json-file", str(tmp_path / "stats"))
    survivor, victim = procs.worker("worker1", port), procs.worker("worker2", port)
    master.wait_for("All users spawned")
    # Once the victim has sent a report or two (every 3 s), kill it without warning.
    master.wait_for(BLOCK_TITLE, timeout=30)  # the first 5-s block: 5 s into the run
    victim.kill()

    assert master.wait() == 3, master.stderr()[-3000:]  # the run went on and ended by itself
    assert survivor.wait(30) == 0
    err = master.stderr()
    assert "failed to send heartbeat, setting state to missing" in err
    assert "--run-time limit reached" in err and "The last worker went missing" not in err

    records = debug_counts(procs.debug_dir)
    assert len(records["worker"]) == 1  # the victim never wrote its counts
    m, kept = records["master"][0], records["worker"][0]
    lost = sorted(set(m["workers_seen"]) - {kept["client_id"]})
    assert len(lost) == 1
    block = final_block(master.stdout())
    assert any(lost[0] in note and "lost" in note for note in block["notes"]), block["notes"]
    assert all(kept["client_id"] not in note for note in block["notes"])

    # What reached the master is consistent: the victim's reports carried its findings and its
    # Locust stats together, so categories still add up to Locust's failures.
    stats = locust_json_stats(tmp_path / "stats.json")
    categories = full(m["totals"]["categories"])
    assert sum(categories.values()) == sum(s["failures"] for s in stats.values()) == block["failures"]
    assert block["categories"] == categories
    survivor_categories = full(kept["sent"]["categories"])
    assert all(categories[c] >= survivor_categories[c] for c in categories)
    assert m["locust"]["requests"] > kept["requests"]["totals"]["requests"]  # the victim's reports count
    assert block["verdict"].endswith("(exit code 3)")
    # Cleanup by the run's prefix also removed what the victim created.
    check_cleanup(target, m["run_id"], master, None)


def test_a_lost_worker_never_makes_a_false_history_finding(
    start_target: Any, procs: LocustProcs, tmp_path: Path
) -> None:
    """A worker killed mid-run took its last operations on the shared ids with it: checking
    those ids without them could only invent violations, so they are not checked (and said so)."""
    target = start_target()  # a correct server: any finding would be false
    port = free_port()
    summary = tmp_path / "summary.json"
    load = ("-u", str(USERS), "-r", str(USERS), "-t", "12s", "--only-summary", "--scenario", "same-camera")
    master = procs.master("master", port, target.url, *load, "--camstream-json", str(summary))
    survivor, victim = procs.worker("worker1", port), procs.worker("worker2", port)
    master.wait_for(BLOCK_TITLE, timeout=30)
    victim.kill()
    assert master.wait() == 0, master.stdout()[-3000:]
    assert survivor.wait(30) == 0
    result = json.loads(summary.read_text())
    assert result["history"]["violating"] == 0, result["history"]["examples"]
    assert any("shared same-camera ids were not checked" in n for n in result["suite_notes"]), result


def test_worker_exits_when_its_master_is_killed(start_target: Any, procs: LocustProcs) -> None:
    target = start_target()
    port = free_port()
    master = procs.master("master", port, target.url, "-u", "2", "-r", "2", "-t", "120s", workers=1)
    worker = procs.worker("worker", port)
    master.wait_for("All users spawned")
    master.kill()
    # Locust alone would wait 60 s; the suite's watchdog (CAMSTREAM_MASTER_TIMEOUT, 10 s) less.
    assert worker.wait(45) == 0
    assert "Didn't get heartbeat from master in over 10.0s" in worker.stderr()


def test_expect_workers_not_met_exits_non_zero(start_target: Any, procs: LocustProcs) -> None:
    target = start_target()
    port = free_port()
    master = procs.start(
        "master",
        "--master",
        "--headless",
        "--master-bind-host",
        "127.0.0.1",
        "--master-bind-port",
        str(port),
        "--expect-workers",
        "2",
        "--expect-workers-max-wait",
        "5",
        "-H",
        target.url,
        "-u",
        "2",
        "-r",
        "2",
        "-t",
        "5s",
    )
    worker = procs.worker("worker", port)
    rc = master.wait(60)
    assert rc == 1
    assert "Gave up waiting for workers to connect" in master.stderr()
    assert "VERDICT" not in master.stdout()  # no run took place, so no verdict
    assert worker.wait(30) == 0  # the master told it to quit
    assert "created" not in target.log_text()  # no load was sent
