"""Unit tests of the per-object histories (camstream_locust.history): pure, with a fake clock."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from camstream_locust.checker import RESURRECTION, STATUS_OK, check_all, check_object
from camstream_locust.history import (
    ABSENT,
    CREATE,
    DELETE,
    FAILED,
    GET,
    INITIAL,
    LIST,
    NOT_FOUND,
    OK,
    UNKNOWN,
    UPDATE,
    History,
    Op,
    camera_digest,
    digest,
    server_digest,
)
from tests.test_checker import Clock


def run(
    history: History,
    clock: Clock,
    obj_id: str,
    kind: str,
    value: Any = None,
    outcome: str = OK,
    observed: Any = None,
    took: float = 1.0,
) -> Op:
    """One request: invoke now, answer ``took`` seconds later, then a pause of half a second."""
    entry = history.invoke(obj_id, kind, value)
    clock.t += took
    history.complete(entry, outcome, observed)
    clock.t += 0.5
    return entry


class Register:
    """A correct server, one request at a time: each request takes effect when it is answered."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.state: dict[str, Any] = {}

    def request(self, history: History, clock: Clock, obj_id: str, kind: str, value: Any = None) -> Op:
        current = self.state.get(obj_id, ABSENT)
        timed_out = self.rng.random() < 0.05
        applied = not timed_out or self.rng.random() < 0.5
        observed = None
        if kind == CREATE:
            outcome = OK
            if applied:
                self.state[obj_id] = value
        elif kind in (UPDATE, DELETE):
            outcome = OK if current is not ABSENT else NOT_FOUND
            if applied and current is not ABSENT:
                self.state[obj_id] = value if kind == UPDATE else ABSENT
        else:
            outcome, observed = (OK, current) if current is not ABSENT else (NOT_FOUND, None)
        if timed_out:
            outcome, observed = UNKNOWN, None
        return run(history, clock, obj_id, kind, value, outcome, observed)


def drive(register: Register, history: History, clock: Clock, ids: list[str], n: int) -> int:
    """``n`` random requests on ``ids``; returns the most ops the history held at once."""
    rng = register.rng
    peak = 0
    for i in range(n):
        obj_id = rng.choice(ids)
        kind = rng.choices((CREATE, UPDATE, DELETE, GET), (2, 4, 1, 5))[0]
        register.request(history, clock, obj_id, kind, f"v{i}" if kind in (CREATE, UPDATE) else None)
        if rng.random() < 0.2:
            start = clock.t
            clock.t += 0.3
            seen = {k: v for k, v in register.state.items() if v is not ABSENT}
            history.record_list(start, clock.t, seen, ids)
            clock.t += 0.2
        peak = max(peak, len(history))
    return peak


# --- recording ---------------------------------------------------------------------------------


def test_invoke_and_complete_record_one_op_on_the_clock() -> None:
    clock = Clock(10.0)
    history = History(cap_per_object=8, clock=clock)
    entry = history.invoke("cam-1", UPDATE, "d1")
    assert (entry.obj_id, entry.op, entry.value, entry.invoke) == ("cam-1", UPDATE, "d1", 10.0)
    assert entry.complete is None and entry.outcome is None
    assert history.log("cam-1").pending_writes == 1  # type: ignore[union-attr]
    clock.t = 12.0
    history.complete(entry, NOT_FOUND)
    history.complete(entry, OK)  # a second answer is ignored
    assert (entry.complete, entry.outcome) == (12.0, NOT_FOUND)
    assert history.log("cam-1").pending_writes == 0  # type: ignore[union-attr]
    read = history.invoke("cam-1", GET)
    history.complete(read, OK, "d1")
    assert read.observed == "d1"
    assert history.ids() == ["cam-1"] and len(history) == 2
    assert history.ops("cam-1") == [entry, read] and history.ops("other") == []
    assert history.log("other") is None
    assert history.stats()["objects"] == 1 and history.stats()["ops_held"] == 2


def test_ops_are_returned_by_invoke_time() -> None:
    history = History(cap_per_object=64)
    history.record_list(5.0, 6.0, {"a": "x"}, ["a"])
    history.record_list(1.0, 2.0, {"a": "y"}, ["a"])
    assert [o.invoke for o in history.ops("a")] == [1.0, 5.0]


def test_cap_must_leave_room_for_segments() -> None:
    with pytest.raises(ValueError):
        History(cap_per_object=4)


def test_op_end_is_its_answer_or_the_horizon() -> None:
    assert Op("a", GET, None, 1.0, 2.0, OK).end(30.0) == 2.0
    assert Op("a", UPDATE, "v", 1.0, 2.0, FAILED).end(30.0) == 2.0
    assert Op("a", UPDATE, "v", 1.0, 2.0, UNKNOWN).end(30.0) == 31.0
    assert Op("a", UPDATE, "v", 1.0, 40.0, UNKNOWN).end(30.0) == 40.0
    assert Op("a", UPDATE, "v", 1.0).end(30.0) == 31.0  # never answered


# --- bounded memory --------------------------------------------------------------------------------


def test_memory_stays_bounded_and_an_early_violation_is_still_found() -> None:
    clock = Clock()
    cap = 16
    history = History(cap_per_object=cap, clock=clock, horizon_s=2.0)
    created = run(history, clock, "cam-0", CREATE, "a")
    deleted = run(history, clock, "cam-0", DELETE)
    resurrected = run(history, clock, "cam-0", GET, observed="a")  # the delete was not done
    register = Register(random.Random(5))
    register.state["cam-0"] = "a"  # ... the server still has it
    ids = ["cam-0", "cam-1", "cam-2"]
    peak = drive(register, history, clock, ids, 3000)
    assert peak <= len(ids) * (cap + cap // 2), peak
    stats = history.stats()
    assert stats["segments"] > 100
    assert stats["ops_held"] == len(history) <= len(ids) * cap
    assert stats["segment_ops"] + stats["ops_held"] >= 3000

    log = history.log("cam-0")
    assert log is not None and log.segments > 0
    assert dict(log.violation_counts) == {RESURRECTION: 1}  # once: not again in later segments
    violation = log.violations[0]
    assert violation.witness is resurrected
    assert violation.minimal_history == [created, deleted, resurrected]

    clock.t += 10.0
    report = check_all(history)
    assert report.violations == {RESURRECTION: 1}
    assert (report.checked, report.violating, report.ok) == (3, 1, 2)
    assert report.examples[0]["object"] == "cam-0"
    assert report.operations == stats["segment_ops"] + sum(
        1 for i in ids for o in history.ops(i) if o.outcome != FAILED
    )


def test_a_violation_at_the_end_of_a_segment_is_counted_once() -> None:
    """After a violation, the next segment resumes from what the server showed, not from an
    impossible (or no) state: the rest of a consistent run is not reported again and again."""
    clock = Clock()
    history = History(cap_per_object=16, clock=clock)
    run(history, clock, "cam-1", CREATE, "a")
    for i in range(4):
        run(history, clock, "cam-1", UPDATE, f"w{i}")
        run(history, clock, "cam-1", GET, observed=f"w{i}")
    run(history, clock, "cam-1", DELETE)  # answered ok, but not done:
    run(history, clock, "cam-1", GET, observed="w3")
    run(history, clock, "cam-1", GET, observed="w3")
    for i in range(200):
        run(history, clock, "cam-1", UPDATE, f"v{i}")
        run(history, clock, "cam-1", GET, observed=f"v{i}")
    log = history.log("cam-1")
    assert log is not None and log.segments > 10
    report = check_all(history)
    assert report.violations == {RESURRECTION: 1}, report.summary()


def test_segments_without_a_quiet_point_carry_open_ops() -> None:
    """A steady stream of overlapping requests: cuts are made anyway, the open ops carried."""
    clock = Clock()
    history = History(cap_per_object=16, clock=clock, horizon_s=5.0)
    first = history.invoke("cam-1", CREATE, "v0")
    clock.t += 0.5
    previous = first
    relaxed_seen = False
    for i in range(1, 400):
        entry = history.invoke("cam-1", UPDATE, f"v{i}")  # begins before the previous one answers
        clock.t += 0.5
        history.complete(previous, OK)
        previous = entry
        log = history.log("cam-1")
        assert log is not None
        relaxed_seen = relaxed_seen or bool(log.relaxed)
        assert len(log.ops) <= 32
    history.complete(previous, OK)
    read = history.invoke("cam-1", GET)
    clock.t += 1.0
    history.complete(read, OK, "v399")
    assert relaxed_seen
    log = history.log("cam-1")
    assert log is not None and log.segments > 10
    report = check_all(history)
    assert report.violating == 0 and report.ok == 1, report.summary()


def test_undecided_segments_are_reported() -> None:
    clock = Clock()
    history = History(cap_per_object=16, clock=clock, segment_budget_s=0.0)
    drive(Register(random.Random(1)), history, clock, ["cam-1"], 300)
    log = history.log("cam-1")
    assert log is not None and log.undecided_segments == log.segments > 0
    assert log.starts  # something to resume from
    report = check_all(history)
    assert report.violating == 0 and report.undecided == 1 and report.undecided_objects == ["cam-1"]


def test_list_answered_after_a_segment_cut_is_not_checked_against_it() -> None:
    """A list sent before a cut and answered after it may have been served before a write of the
    dropped segment took effect: it cannot be checked against the states carried past the cut."""
    clock = Clock()
    history = History(cap_per_object=16, clock=clock)
    run(history, clock, "cam-1", CREATE, "a")
    list_sent = clock.t  # a slow list starts: served now, it sees "a"
    clock.t += 0.1
    run(history, clock, "cam-1", DELETE)
    for _ in range(14):
        run(history, clock, "cam-1", GET, outcome=NOT_FOUND)
    log = history.log("cam-1")
    assert log is not None and log.segments == 1 and log.starts == frozenset({ABSENT})
    history.record_list(list_sent, clock.t, {"cam-1": "a"}, ["cam-1"])  # ... and answers now
    report = check_all(history)
    assert report.violating == 0 and report.ok == 1, report.summary()
    assert history.stats()["late_ops"] == 1
    assert all(o.op != LIST for o in history.ops("cam-1"))
    # A list sent after the cut is recorded as usual.
    history.record_list(clock.t, clock.t + 0.1, {}, ["cam-1"])
    assert history.ops("cam-1")[-1].op == LIST


# --- lists ---------------------------------------------------------------------------------------


def test_record_list_observes_every_owned_object() -> None:
    history = History(cap_per_object=64)
    history.record_list(1.0, 2.0, {"a": "da", "stranger": "ds"}, ["a", "b"])
    assert history.ids() == ["a"]  # "b" never seen and not listed: nothing to record
    (seen,) = history.ops("a")
    assert (seen.op, seen.outcome, seen.observed, seen.invoke, seen.complete) == (LIST, OK, "da", 1.0, 2.0)
    history.record_list(3.0, 4.0, {}, ["a", "b"])
    assert [(o.outcome, o.observed) for o in history.ops("a")] == [(OK, "da"), (NOT_FOUND, None)]


def test_record_list_coalesces_repeated_identical_observations() -> None:
    clock = Clock()
    history = History(cap_per_object=64, clock=clock)
    run(history, clock, "a", CREATE, "d1")
    for _ in range(5):
        history.record_list(clock.t, clock.t + 0.1, {"a": "d1"}, ["a"])
        clock.t += 1.0
    assert len(history.ops("a")) == 2 and history.coalesced == 4
    # A write completed since the last stored list: the next one is stored.
    run(history, clock, "a", UPDATE, "d1")
    history.record_list(clock.t, clock.t + 0.1, {"a": "d1"}, ["a"])
    assert len(history.ops("a")) == 4
    clock.t += 1.0
    # A write in flight: not coalesced either.
    pending = history.invoke("a", DELETE)
    clock.t += 1.0
    history.record_list(clock.t, clock.t + 0.1, {"a": "d1"}, ["a"])
    assert len(history.ops("a")) == 6
    history.complete(pending, OK)
    clock.t += 1.0
    # Absent now: a different observation is stored, a repeat of it is not.
    history.record_list(clock.t, clock.t + 0.1, {}, ["a"])
    clock.t += 1.0
    history.record_list(clock.t, clock.t + 0.1, {}, ["a"])
    assert len(history.ops("a")) == 7 and history.coalesced == 5
    assert history.stats()["coalesced_list_observations"] == 5
    assert check_object(history.ops("a")).status == STATUS_OK


def test_record_list_does_not_coalesce_after_an_unknown_write_that_may_still_act() -> None:
    clock = Clock()
    history = History(cap_per_object=64, clock=clock, horizon_s=30.0)
    run(history, clock, "a", CREATE, "d1")
    history.record_list(clock.t, clock.t + 0.1, {"a": "d1"}, ["a"])
    clock.t += 1.0
    run(history, clock, "a", DELETE, outcome=UNKNOWN)
    history.record_list(clock.t, clock.t + 0.1, {"a": "d1"}, ["a"])
    assert history.coalesced == 0


# --- shipping between processes ------------------------------------------------------------------


def _ship(data: dict[str, Any]) -> dict[str, Any]:
    """As between processes: through JSON."""
    return json.loads(json.dumps(data))


def test_drain_ships_completed_ops_of_shipped_ids_and_merge_reproduces_the_check() -> None:
    clock = Clock()
    worker = History(cap_per_object=8, clock=clock, shipped={"hot"})
    master = History(cap_per_object=1000, clock=clock)
    run(worker, clock, "hot", CREATE, "a")
    run(worker, clock, "own", CREATE, "b")
    run(worker, clock, "hot", DELETE)
    open_read = worker.invoke("hot", GET)
    clock.t += 0.5
    worker.record_list(clock.t - 0.2, clock.t, {"own": "b"}, ["hot", "own"])

    data = _ship(worker.drain())
    assert {row[0] for row in data["ops"]} == {"hot"}
    assert [row[1] for row in data["ops"]] == [CREATE, DELETE, LIST]
    assert worker.ops("hot") == [open_read]  # still in flight: kept for the next drain
    assert len(worker.ops("own")) == 2  # not shipped: kept and checked here
    master.merge(data)

    clock.t += 1.0
    worker.complete(open_read, OK, "a")  # the deleted object is read: a resurrection
    for _ in range(20):
        run(worker, clock, "hot", GET, observed="a")
    assert worker.log("hot").segments == 0  # type: ignore[union-attr]  # checked where ops meet
    master.merge(_ship(worker.drain()))
    assert worker.ops("hot") == [] and len(master.ops("hot")) == 24

    all_ops = master.ops("hot")
    alone = check_object(all_ops)
    report = check_all(master)
    assert alone.status == "violation" and alone.violation is not None
    assert report.violations == {alone.violation.name: 1}
    assert report.examples[0]["history"] == alone.violation.lines()
    assert [o.to_list() for o in all_ops[:2]] == [
        ["hot", CREATE, "a", 0.0, 1.0, OK, None],
        ["hot", DELETE, None, 3.0, 4.0, OK, None],
    ]


def test_final_drain_ships_ops_still_in_flight() -> None:
    clock = Clock()
    worker = History(cap_per_object=8, clock=clock, shipped={"hot"})
    entry = worker.invoke("hot", UPDATE, "x")
    assert worker.drain() == {"ops": []}
    data = _ship(worker.drain(final=True))
    assert data["ops"] == [["hot", UPDATE, "x", 0.0, None, None, None]]
    assert worker.ops("hot") == []
    master = History(cap_per_object=8, clock=clock)
    master.merge(data)
    (merged,) = master.ops("hot")
    assert merged is not entry and merged.to_list() == entry.to_list()
    assert check_object(master.ops("hot")).end_states == INITIAL  # an update of nothing does nothing


def test_merge_of_another_history_object() -> None:
    clock = Clock()
    a = History(cap_per_object=64, clock=clock)
    b = History(cap_per_object=64, clock=clock)
    run(a, clock, "x", CREATE, "1")
    run(b, clock, "x", GET, observed="1")
    run(b, clock, "y", CREATE, "2")
    a.merge(b)
    assert [o.op for o in a.ops("x")] == [CREATE, GET] and a.ids() == ["x", "y"]
    assert check_all(a).ok == 2


def test_ops_merged_after_their_time_was_checked() -> None:
    """Ops merged after the segment of their time was cut (the master's settle_s was too short):
    a read is dropped, a write is checked as unknown; both are counted in late_ops."""
    clock = Clock(100.0)
    master = History(cap_per_object=8, clock=clock)
    ops = [Op("x", CREATE, "a", 0.0, 1.0, OK), Op("x", UPDATE, "b", 2.0, 3.0, OK)]
    ops += [Op("x", GET, None, 4.0 + i, 4.5 + i, OK, "b") for i in range(11)]
    master.merge({"ops": [o.to_list() for o in ops]})
    log = master.log("x")
    assert log is not None and log.segments == 1 and log.starts == frozenset({"b"})
    late_read = Op("x", GET, None, 2.5, 3.5, OK, "a")  # served before the update: fine then
    late_write = Op("x", UPDATE, "b", 2.1, 2.9, OK)
    master.merge(_ship({"ops": [late_read.to_list(), late_write.to_list()]}))
    report = check_all(master)
    assert report.violating == 0 and report.ok == 1, report.summary()
    assert master.stats()["late_ops"] == 2
    held = master.ops("x")
    assert 2.5 not in [o.invoke for o in held]
    (relaxed,) = log.relaxed
    assert relaxed.invoke == 2.1 and relaxed in held


def test_to_dict_from_dict_round_trip() -> None:
    clock = Clock()
    history = History(cap_per_object=64, clock=clock, horizon_s=7.0)
    register = Register(random.Random(3))
    drive(register, history, clock, ["a", "b"], 40)
    run(history, clock, "c", CREATE, ("tuple", "state"))  # states may be tuples: JSON makes lists
    run(history, clock, "c", GET, observed=("tuple", "state"))
    history.invoke("c", DELETE)  # in flight
    data = _ship(history.to_dict())
    copy = History.from_dict(data, cap_per_object=64, horizon_s=7.0)
    assert copy.ids() == history.ids()
    for obj_id in history.ids():
        assert _ship({"ops": [o.to_list() for o in copy.ops(obj_id)]}) == _ship(
            {"ops": [o.to_list() for o in history.ops(obj_id)]}
        )
    assert copy.ops("c")[0].value == ("tuple", "state")  # hashable again
    assert check_all(copy).to_dict() == check_all(history).to_dict()
    assert check_all(copy).ok == 3
    only = history.to_dict(["c", "missing"])
    assert {row[0] for row in only["ops"]} == {"c"} and len(only["ops"]) == 3


# --- digests ---------------------------------------------------------------------------------------


def test_camera_digest_is_deterministic_and_readable() -> None:
    one = camera_digest("Lobby", "rtsp://127.0.0.1:9/live/main")
    assert one == camera_digest("Lobby", "rtsp://127.0.0.1:9/live/main")
    head, _, crc = one.partition("#")
    assert head == "Lobby" and len(crc) == 8 and int(crc, 16) >= 0
    long_name = "N" * 100
    assert camera_digest(long_name, "u").split("#")[0] == "N" * 40
    assert camera_digest(None, None) == camera_digest("", "")
    assert camera_digest("x", None) == camera_digest("x", "")


def test_camera_digest_differs_when_a_field_differs() -> None:
    base = camera_digest("Lobby", "rtsp://127.0.0.1:9/a")
    assert camera_digest("Lobby2", "rtsp://127.0.0.1:9/a") != base
    assert camera_digest("Lobby", "rtsp://127.0.0.1:9/b") != base
    assert camera_digest("Lobby", "") != base
    # the name beyond the readable part still counts
    assert camera_digest("N" * 50 + "x", "u") != camera_digest("N" * 50 + "y", "u")
    # fields do not run into each other
    assert camera_digest("ab", "c") != camera_digest("a", "bc")


def test_server_digest_differs_when_any_field_differs() -> None:
    fields = ("Detector", "http://127.0.0.1:9/infer", "yolo", "front door")
    base = server_digest(*fields)
    assert base == server_digest(*fields) and base.startswith("Detector#")
    for i in range(4):
        changed = list(fields)
        changed[i] = changed[i] + "!"
        assert server_digest(*changed) != base, i
    assert server_digest("a", "b", None, None) == server_digest("a", "b", "", "")
    assert server_digest("a", "b", "c", "") != server_digest("a", "b", "", "c")


def test_generic_digest() -> None:
    assert digest(("a", 1, None)) == digest(("a", 1, ""))
    assert digest(("a", 1)) != digest(("a", 2))
    assert digest(()) == digest(())
    assert digest(("a", "b")) == camera_digest("a", "b")
