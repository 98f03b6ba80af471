"""Unit tests of the linearizability checker (camstream_locust.checker): pure, no network.

Histories are written by hand with explicit invoke/complete times (seconds, any origin), or
simulated: a correct atomic register must never be reported, a buggy one must be caught.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from camstream_locust import checker
from camstream_locust.checker import (
    DOUBLE_DELETE,
    LOST_CREATE,
    LOST_UPDATE,
    PHANTOM_IN_LIST,
    RESURRECTION,
    STALE_READ,
    STATUS_OK,
    STATUS_UNDECIDED,
    STATUS_VIOLATION,
    VIOLATION_NAMES,
    Report,
    Result,
    check_all,
    check_object,
    render,
)
from camstream_locust.classify import RACE_CONDITION
from camstream_locust.findings import Findings
from camstream_locust.history import (
    ABSENT,
    CREATE,
    DELETE,
    FAILED,
    GET,
    LIST,
    NOT_FOUND,
    OK,
    UNKNOWN,
    UPDATE,
    History,
    Op,
)

ID = "cam-1"
#: Horizon of UNKNOWN effects in the simulations: above the longest simulated request.
SIM_HORIZON = 0.05


def op(
    kind: str,
    invoke: float,
    complete: float | None,
    outcome: str | None = OK,
    value: Any = None,
    observed: Any = None,
    obj_id: str = ID,
) -> Op:
    return Op(obj_id, kind, value, invoke, complete, outcome, observed)


def create(invoke: float, complete: float | None, value: Any, outcome: str | None = OK) -> Op:
    return op(CREATE, invoke, complete, outcome, value=value)


def update(invoke: float, complete: float | None, value: Any, outcome: str | None = OK) -> Op:
    return op(UPDATE, invoke, complete, outcome, value=value)


def delete(invoke: float, complete: float | None, outcome: str | None = OK) -> Op:
    return op(DELETE, invoke, complete, outcome)


def get(invoke: float, complete: float | None, observed: Any = None, outcome: str | None = None) -> Op:
    """A get that read ``observed`` (None: answered 404 unless ``outcome`` says otherwise)."""
    if outcome is None:
        outcome = OK if observed is not None else NOT_FOUND
    return op(GET, invoke, complete, outcome, observed=observed)


def listed(invoke: float, complete: float, observed: Any = None) -> Op:
    """A list that showed the object with ``observed`` (None: did not show it)."""
    return op(LIST, invoke, complete, OK if observed is not None else NOT_FOUND, observed=observed)


def check(ops: Sequence[Op], **kwargs: Any) -> Result:
    kwargs.setdefault("budget_s", 5.0)
    return check_object(list(ops), **kwargs)


def assert_ok(ops: Sequence[Op], **kwargs: Any) -> Result:
    result = check(ops, **kwargs)
    assert result.status == STATUS_OK, result.violation
    assert result.violation is None
    return result


def assert_violation(
    ops: Sequence[Op], name: str, witness: Op, minimal: Sequence[Op] | None = None
) -> Result:
    """The check fails with ``name`` at ``witness``; the minimal history is a small subset of ``ops``
    that contains the witness (exactly ``minimal`` when given)."""
    result = check(ops)
    assert result.status == STATUS_VIOLATION
    violation = result.violation
    assert violation is not None
    assert violation.name == name, str(violation)
    assert violation.witness is witness, str(violation)
    ids = {id(o) for o in violation.minimal_history}
    assert ids <= {id(o) for o in ops}
    assert id(witness) in ids
    assert len(violation.minimal_history) <= 3, str(violation)
    if minimal is not None:
        assert ids == {id(o) for o in minimal}, str(violation)
    # The minimal history is, on its own, not linearizable from the check's initial states.
    assert check(violation.minimal_history).status == STATUS_VIOLATION
    assert violation.obj_id == ID
    assert name in str(violation) and violation.to_dict()["name"] == name
    return result


# --- linearizable histories are accepted ---------------------------------------------------------


def test_sequential_create_get_update_get_delete_get_is_ok() -> None:
    result = assert_ok(
        [
            create(0, 1, "a"),
            get(2, 3, "a"),
            update(4, 5, "b"),
            get(6, 7, "b"),
            listed(7.5, 7.8, "b"),
            delete(8, 9),
            get(10, 11),
            listed(12, 13),
        ]
    )
    assert result.end_states == frozenset({ABSENT})
    assert result.exact and result.ops_checked == 8


def test_empty_history_keeps_its_initial_states() -> None:
    assert check([]).end_states == frozenset({ABSENT})
    assert check([], initial={"a"}).end_states == frozenset({"a"})


def test_object_reads_absent_before_its_first_create() -> None:
    assert_ok([get(0, 1), update(2, 3, "x", NOT_FOUND), delete(4, 5, NOT_FOUND), create(6, 7, "a")])


def test_concurrent_writes_a_read_may_see_either_value() -> None:
    writes = [create(0, 1, "a"), update(2, 5, "b"), update(3, 6, "c")]
    assert check(writes).end_states == frozenset({"b", "c"})
    for seen in ("b", "c"):
        result = assert_ok([*writes, get(7, 8, seen), get(9, 10, seen)])
        assert result.end_states == frozenset({seen})
    # A read overlapping both writes may even see the old value.
    assert_ok([*writes, get(2.5, 5.5, "a"), get(4, 7, "c"), get(8, 9, "b")])


def test_reads_cannot_flip_back_after_concurrent_writes_completed() -> None:
    writes = [create(0, 1, "a"), update(2, 5, "b"), update(3, 6, "c")]
    result = check([*writes, get(7, 8, "b"), get(9, 10, "c")])
    assert result.status == STATUS_VIOLATION


def test_two_concurrent_deletes_one_ok_one_404() -> None:
    result = assert_ok([create(0, 1, "a"), delete(2, 5), delete(3, 4, NOT_FOUND), get(6, 7)])
    assert result.end_states == frozenset({ABSENT})


def test_two_concurrent_deletes_both_ok_is_a_double_delete() -> None:
    first, second = delete(2, 5), delete(3, 4)
    result = check([create(0, 1, "a"), first, second])
    assert result.status == STATUS_VIOLATION
    assert result.violation is not None and result.violation.name == DOUBLE_DELETE


def test_create_after_delete() -> None:
    result = assert_ok(
        [
            create(0, 1, "a"),
            delete(2, 3),
            get(4, 5),
            create(6, 7, "b"),
            get(8, 9, "b"),
            delete(10, 11),
            create(12, 13, "a"),
            listed(14, 15, "a"),
        ]
    )
    assert result.end_states == frozenset({"a"})


def test_create_is_an_upsert() -> None:
    assert_ok([create(0, 1, "a"), create(2, 3, "b"), get(4, 5, "b")])


def test_list_observations_present_and_absent() -> None:
    assert_ok(
        [
            listed(0, 1),
            create(2, 3, "a"),
            listed(4, 5, "a"),
            listed(4.5, 9, "a"),  # overlaps the delete: may have run before it
            delete(6, 7),
            listed(8, 9),
            listed(10, 11),
        ]
    )


def test_update_answered_404_reads_absent() -> None:
    assert_ok([create(0, 1, "a"), delete(2, 3), update(4, 5, "b", NOT_FOUND), get(6, 7)])


def test_get_ok_without_a_digest_only_says_present() -> None:
    assert_ok([create(0, 1, "a"), get(2, 3, None, OK), update(4, 5, "b"), get(6, 7, None, OK)])
    result = check([create(0, 1, "a"), delete(2, 3), get(4, 5, None, OK)])
    assert result.status == STATUS_VIOLATION


def test_write_without_a_digest_matches_any_read() -> None:
    assert_ok([create(0, 1, None), get(2, 3, "whatever"), update(4, 5, None), listed(6, 7, "other")])


def test_initial_states_are_honoured() -> None:
    assert_ok([get(0, 1, "a"), update(2, 3, "b")], initial={"a"})
    assert check([get(0, 1, "a")], initial={"b"}).status == STATUS_VIOLATION
    assert_ok([get(0, 1)], initial={ABSENT, "a"})


def test_touching_intervals_are_concurrent() -> None:
    # The get began at the very instant the delete answered: it may come first.
    assert_ok([create(0, 1, "a"), delete(2, 3), get(3, 4, "a")])


# --- each kind of violation is found, named, and explained with a small history -------------------


def test_resurrection_get_after_delete() -> None:
    c, d, g = create(0, 1, "a"), delete(2, 3), get(4, 5, "a")
    # The create that wrote what the get read stays in: it shows where the value came from.
    result = assert_violation([c, d, g], RESURRECTION, g, [c, d, g])
    assert result.end_states  # checking can resume from it
    assert "delete" in result.violation.explanation  # type: ignore[union-attr]


def test_resurrection_among_noise_keeps_the_minimal_history_small() -> None:
    d, g = delete(10, 11), get(14, 15, "c")
    ops = [
        create(0, 1, "a"),
        get(1.5, 1.8, "a"),
        update(2, 3, "b"),
        get(3.5, 4, "b"),
        update(5, 6, "c"),
        get(6.5, 7, "c"),
        listed(7.2, 7.4, "c"),
        get(8, 9, "c"),
        d,
        get(12, 13),
        g,
        get(16, 17, "c"),
    ]
    result = assert_violation(ops, RESURRECTION, g)
    assert len(result.violation.minimal_history) == 2  # type: ignore[union-attr]


def test_resurrection_of_an_object_never_created() -> None:
    g = get(0, 1, "a")
    result = assert_violation([g], RESURRECTION, g, [g])
    assert result.violation is not None and not result.violation.self_contained
    d = delete(0, 1)
    assert_violation([d], RESURRECTION, d, [d])


def test_resurrection_by_an_update_answered_ok() -> None:
    u = update(4, 5, "b")
    assert_violation([create(0, 1, "a"), delete(2, 3), u], RESURRECTION, u)


def test_phantom_in_list_after_a_completed_delete() -> None:
    c, d, seen = create(0, 1, "a"), delete(2, 3), listed(4, 5, "a")
    assert_violation([c, d, seen], PHANTOM_IN_LIST, seen, [c, d, seen])


def test_lost_create_get_404_after_create_ok() -> None:
    c, g = create(0, 1, "a"), get(2, 3)
    result = assert_violation([c, g], LOST_CREATE, g, [c, g])
    assert "create" in result.violation.explanation  # type: ignore[union-attr]


def test_lost_create_seen_by_a_list_or_an_update_404() -> None:
    c, seen = create(0, 1, "a"), listed(2, 3)
    assert_violation([c, seen], LOST_CREATE, seen, [c, seen])
    c, u = create(0, 1, "a"), update(2, 3, "b", NOT_FOUND)
    assert_violation([c, u], LOST_CREATE, u, [c, u])


def test_double_delete_sequential() -> None:
    first, second = delete(2, 3), delete(4, 5)
    assert_violation([create(0, 1, "a"), first, second], DOUBLE_DELETE, second, [first, second])


def test_stale_read_when_a_later_read_sees_the_new_value() -> None:
    c, u, old = create(0, 1, "a"), update(2, 3, "b"), get(4, 5, "a")
    ops = [c, u, old, get(6, 7, "b")]
    assert_violation(ops, STALE_READ, old, [c, u, old])


def test_lost_update_when_no_later_read_sees_the_new_value() -> None:
    c, u, old = create(0, 1, "a"), update(2, 3, "b"), get(4, 5, "a")
    ops = [c, u, old, get(6, 7, "a")]
    assert_violation(ops, LOST_UPDATE, old, [c, u, old])
    c, u, old = create(0, 1, "a"), update(2, 3, "b"), get(4, 5, "a")
    assert_violation([c, u, old], LOST_UPDATE, old, [c, u, old])


def test_lost_update_read_of_a_value_nobody_wrote() -> None:
    c, g = create(0, 1, "a"), get(2, 3, "zzz")
    result = check([c, g])
    assert result.status == STATUS_VIOLATION
    assert result.violation is not None and result.violation.name == LOST_UPDATE
    assert result.violation.witness is g


def test_violation_is_rendered_with_the_witness_marked() -> None:
    d, g = delete(2, 3), get(4, 5, "a")
    violation = check([create(0, 1, "a"), d, g]).violation
    assert violation is not None
    lines = violation.lines()
    assert lines == [
        "t=+0.000..+1.000 create 'a' -> ok",
        "t=+2.000..+3.000 delete -> ok",
        "t=+4.000..+5.000 get -> ok 'a'   <- impossible here",
    ]
    assert violation.to_dict()["history"] == lines and violation.to_dict()["object"] == ID
    assert render([]) == []
    assert render([op(GET, 1, None, None)]) == ["t=+0.000..? get -> no answer"]


def test_only_the_first_violation_of_a_history_is_reported() -> None:
    g1, g2 = get(4, 5, "a"), get(8, 9)
    result = check([create(0, 1, "a"), delete(2, 3), g1, create(6, 7, "b"), g2])
    assert result.violation is not None and result.violation.witness is g1


# --- unknown and failed outcomes ---------------------------------------------------------------


@pytest.mark.parametrize("outcome", [UNKNOWN, None])
def test_unknown_create_then_seen_or_not(outcome: str | None) -> None:
    complete = 1.0 if outcome is not None else None
    seen = assert_ok([create(0, complete, "a", outcome), get(2, 3, "a"), get(4, 5, "a")])
    assert seen.end_states == frozenset({"a"})
    assert_ok([create(0, complete, "a", outcome), get(2, 3), get(4, 5)])
    assert check([create(0, complete, "a", outcome)]).end_states == frozenset({ABSENT, "a"})


def test_unknown_create_may_take_effect_after_its_answer_within_the_horizon() -> None:
    ops = [create(0, 1, "a", UNKNOWN), get(2, 3), get(4, 5, "a")]
    assert_ok(ops, horizon_s=10.0)
    late = check(ops, horizon_s=1.5)  # the effect cannot come after 1.5 s: the 404 at 2 s rules it out
    assert late.status == STATUS_VIOLATION
    assert late.violation is not None and late.violation.name == RESURRECTION


def test_unknown_delete_then_read_present_or_absent() -> None:
    for read in (get(4, 5, "a"), get(4, 5), listed(4, 5, "a"), listed(4, 5)):
        assert_ok([create(0, 1, "a"), delete(2, 3, UNKNOWN), read])
    # but not present again once a read saw it gone
    result = check([create(0, 1, "a"), delete(2, 3, UNKNOWN), get(4, 5), get(6, 7, "a")])
    assert result.status == STATUS_VIOLATION


def test_unknown_update_whose_value_is_read_later() -> None:
    assert_ok([create(0, 1, "a"), update(2, 3, "b", UNKNOWN), get(4, 5, "b")])
    assert_ok([create(0, 1, "a"), update(2, 3, "b", UNKNOWN), get(4, 5, "a")])
    # an unknown update of an absent object does nothing
    result = check([update(0, 1, "b", UNKNOWN), get(2, 3, "b")])
    assert result.status == STATUS_VIOLATION


def test_unknown_reads_are_ignored() -> None:
    assert_ok(
        [
            create(0, 1, "a"),
            get(2, 3, "garbage", UNKNOWN),
            op(GET, 4, None, None, observed="x"),
            get(6, 7, "a"),
        ]
    )


def test_failed_ops_are_ignored() -> None:
    assert_ok([create(0, 1, "a", FAILED), get(2, 3)])
    assert_ok([create(0, 1, "a"), update(2, 3, "b", FAILED), get(4, 5, "a")])
    assert_ok([create(0, 1, "a"), delete(2, 3, FAILED), get(4, 5, "a")])
    assert_ok([create(0, 1, "a"), get(2, 3, "nonsense", FAILED), get(4, 5, "a")])


def test_create_answered_404_did_nothing() -> None:
    assert_ok([create(0, 1, "a", NOT_FOUND), get(2, 3)])


def test_relaxed_ops_are_checked_as_unknown() -> None:
    c, d = create(0, 1, "a"), delete(2, 3)
    ops = [c, d, get(4, 5, "a")]
    assert check(ops).status == STATUS_VIOLATION
    assert_ok(ops, relaxed=frozenset({d}))


# --- time budget ---------------------------------------------------------------------------------


def test_tiny_budget_is_undecided_never_a_violation() -> None:
    ops = simulate(7, clients=50, n=2000, unknown=0.05)
    result = check_object(ops, budget_s=1e-6, horizon_s=SIM_HORIZON)
    assert result.status == STATUS_UNDECIDED
    assert result.violation is None and not result.exact
    assert result.end_states  # checking could go on from there
    assert result.ops_checked > 0


def test_tiny_budget_on_every_object_of_a_history() -> None:
    history = History(cap_per_object=100_000, horizon_s=SIM_HORIZON)
    for k in range(3):
        ops = simulate(k, clients=30, n=600, unknown=0.05, obj_id=f"cam-{k}")
        history.merge({"ops": [o.to_list() for o in ops]})
    report = check_all(history, budget_s_per_object=1e-6)
    assert report.checked == 3 and report.undecided == 3 and report.violating == 0
    assert report.undecided_objects == ["cam-0", "cam-1", "cam-2"]
    spent = check_all(history, total_budget_s=0.0)
    assert spent.undecided == 3 and spent.violating == 0


# --- simulated registers ------------------------------------------------------------------------


def simulate(
    seed: int,
    *,
    clients: int = 4,
    n: int = 60,
    unknown: float = 0.1,
    failed: float = 0.03,
    values: int | None = None,
    bug: str | None = None,
    obj_id: str = ID,
    mix: tuple[int, int, int, int, int] = (15, 30, 12, 30, 13),
) -> list[Op]:
    """The history of ``n`` requests by ``clients`` concurrent clients on one register.

    Each request (up to 10 ms, a list up to 30 ms) takes effect at a random instant inside
    [invoke, complete]; an UNKNOWN one
    (timeout, 5xx: its answer is lost) half the time, possibly up to ``SIM_HORIZON`` after its
    invoke; some are never answered at all; FAILED ones have no effect. ``bug``:
    ``"lost_delete"``: a delete answers ok but sometimes does nothing; ``"stale"``: some reads
    are served from a snapshot up to 20 ms old. ``mix``: weights of create, update, delete,
    get and list.
    """
    rng = random.Random(seed)
    free_at = [rng.uniform(0.0, 0.01) for _ in range(clients)]
    planned: list[dict[str, Any]] = []
    for k in range(n):
        c = rng.randrange(clients)
        kind = rng.choices((CREATE, UPDATE, DELETE, GET, LIST), mix)[0]
        invoke = free_at[c] + rng.uniform(0.0, 0.003)
        complete = invoke + rng.uniform(0.0002, 0.03 if kind == LIST else 0.01)  # lists are slow
        free_at[c] = complete
        roll = rng.random()
        fate = "unknown" if roll < unknown else "failed" if roll < unknown + failed else "answered"
        if fate == "unknown" and rng.random() < 0.3:
            instant = rng.uniform(invoke, invoke + SIM_HORIZON)  # still running after the timeout
        else:
            instant = rng.uniform(invoke, complete)
        value = f"v{rng.randrange(values)}" if values else f"v{k}"
        planned.append(
            {"k": k, "at": instant, "invoke": invoke, "complete": complete, "op": kind, "fate": fate}
            | {"value": value if kind in (CREATE, UPDATE) else None}
        )
    state: Any = ABSENT
    past: list[tuple[float, Any]] = [(0.0, ABSENT)]
    for p in sorted(planned, key=lambda p: p["at"]):
        kind, fate = p["op"], p["fate"]
        effective = fate == "answered" or (fate == "unknown" and rng.random() < 0.5)
        outcome, observed = OK, None
        if kind == CREATE:
            if effective:
                state = p["value"]
        elif kind in (UPDATE, DELETE):
            outcome = OK if state is not ABSENT else NOT_FOUND
            lost = bug == "lost_delete" and kind == DELETE and rng.random() < 0.5
            if effective and state is not ABSENT and not lost:
                state = p["value"] if kind == UPDATE else ABSENT
        else:
            seen = state
            if bug == "stale" and rng.random() < 0.3:
                before = p["at"] - rng.uniform(0.0, 0.02)
                seen = next(s for t, s in reversed(past) if t <= before) if before >= 0 else ABSENT
            outcome, observed = (OK, seen) if seen is not ABSENT else (NOT_FOUND, None)
        past.append((p["at"], state))
        if fate == "unknown":
            outcome, observed = UNKNOWN, ("garbage" if kind in (GET, LIST) else None)
        elif fate == "failed":
            outcome, observed = FAILED, None
        p["outcome"], p["observed"] = outcome, observed
    ops = []
    for p in planned:
        o = Op(obj_id, p["op"], p["value"], p["invoke"], p["complete"], p["outcome"], p["observed"])
        if o.outcome == UNKNOWN and rng.random() < 0.2:
            o.complete, o.outcome = None, None  # never answered
        ops.append(o)
    return ops


class Clock:
    """A fake clock for History: reads ``t``."""

    def __init__(self, t: float = 0.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def replay(
    ops: Sequence[Op],
    history: History | Callable[[int], History],
    clock: Clock,
    after: Callable[[float], None] | None = None,
) -> None:
    """Record ``ops`` as a live run would: invoke/complete at their times (on the fake ``clock``
    of the history), lists recorded when they answer. ``history``: one, or the one recording
    op i; ``after(t)`` runs after each event."""
    pick = history if callable(history) else (lambda _i: history)
    events: list[tuple[float, int, int]] = []
    for i, o in enumerate(ops):
        if o.op != LIST:
            events.append((o.invoke, 1, i))
        if o.complete is not None:
            events.append((o.complete, 0, i))
    events.sort()
    entries: dict[int, Op] = {}
    for when, is_invoke, i in events:
        clock.t = when
        o = ops[i]
        recorder = pick(i)
        if is_invoke:
            entries[i] = recorder.invoke(o.obj_id, o.op, o.value)
        elif o.op == LIST:
            if o.outcome in (OK, NOT_FOUND):
                seen = {o.obj_id: o.observed} if o.outcome == OK else {}
                recorder.record_list(o.invoke, o.complete or when, seen, [o.obj_id])
        elif o.outcome is not None:
            recorder.complete(entries[i], o.outcome, o.observed)
        if after is not None:
            after(when)


def _shape(seed: int) -> dict[str, Any]:
    rng = random.Random(seed * 7919 + 1)
    return {
        "clients": rng.choice((1, 2, 3, 5, 8)),
        "n": rng.choice((12, 30, 60)),
        "unknown": rng.choice((0.0, 0.1, 0.3)),
        "values": rng.choice((None, None, 3)),
    }


def test_correct_register_is_never_reported() -> None:
    statuses: Counter[str] = Counter()
    for seed in range(300):
        ops = simulate(seed, **_shape(seed))
        result = check_object(ops, budget_s=5.0, horizon_s=SIM_HORIZON)
        assert result.status != STATUS_VIOLATION, (seed, str(result.violation))
        statuses[result.status] += 1
    assert statuses[STATUS_OK] >= 290, statuses


def test_correct_register_is_never_reported_when_chunks_are_probed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past MAX_EXACT_CONFIGS a chunk is checked for one order and its end states probed."""
    monkeypatch.setattr(checker, "MAX_EXACT_CONFIGS", 3)
    probed = 0
    real_possible_last = checker._possible_last

    def possible_last(*args: Any) -> Any:
        nonlocal probed
        probed += 1
        return real_possible_last(*args)

    monkeypatch.setattr(checker, "_possible_last", possible_last)
    for seed in range(100):
        rng = random.Random(seed)
        shape = {
            "clients": rng.choice((5, 8)),
            "unknown": rng.choice((0.1, 0.3)),
            "values": rng.choice((None, 3)),
        }
        monkeypatch.setattr(checker, "MAX_PROBE_CONFIGS", 3 if seed % 2 else 200)
        ops = simulate(seed, n=80, **shape)
        result = check_object(ops, budget_s=5.0, horizon_s=SIM_HORIZON)
        assert result.status != STATUS_VIOLATION, (seed, str(result.violation))
    assert probed >= 50  # the probe path was taken


def test_correct_register_recorded_live_with_small_segments_is_never_reported() -> None:
    """Segments cut every few ops, lists recorded when they answer (after the cut, at times)."""
    segments = 0
    for seed in range(200):
        clock = Clock()
        history = History(cap_per_object=8 + seed % 9, clock=clock, horizon_s=SIM_HORIZON)
        replay(simulate(seed, **_shape(seed)), history, clock)
        clock.t += 1.0
        report = check_all(history, 5.0)
        assert report.violating == 0, (seed, report.summary())
        segments += history.stats()["segments"]
    assert segments > 200


def _shipped_run(seed: int) -> tuple[History, list[History]]:
    """A hot id written through 3 worker processes that ``drain`` its ops every 5 ms into a
    master that ``merge``s and segments them (settle_s: a request, 30 ms, and a drain interval)."""
    rng = random.Random(seed)
    ops = simulate(seed, **_shape(seed))
    for o in ops:  # every request ends, by a 10 ms timeout at worst (none is cut by a stop)
        if o.complete is None:
            o.complete, o.outcome = o.invoke + 0.01, UNKNOWN
    clock = Clock()
    workers = [History(cap_per_object=8, clock=clock, horizon_s=SIM_HORIZON, shipped={ID}) for _ in range(3)]
    master = History(cap_per_object=8 + seed % 9, clock=clock, horizon_s=SIM_HORIZON, settle_s=0.04)
    owner = [rng.randrange(len(workers)) for _ in ops]
    last_drain = 0.0

    def drain(now: float) -> None:
        nonlocal last_drain
        if now >= last_drain + 0.005:
            last_drain = now
            for worker in workers:
                master.merge(json.loads(json.dumps(worker.drain())))

    replay(ops, lambda i: workers[owner[i]], clock, drain)
    for worker in workers:
        master.merge(worker.drain(final=True))
    clock.t += 1.0
    return master, workers


def test_correct_register_shipped_from_workers_to_a_master_is_never_reported() -> None:
    segments = 0
    for seed in range(100):
        master, workers = _shipped_run(seed)
        segments += master.stats()["segments"]
        report = check_all(master, 5.0)
        assert report.violating == 0, (seed, report.summary())
        assert master.stats()["late_ops"] == 0
        assert sum(w.stats()["segments"] for w in workers) == 0
        assert all(len(w) == 0 for w in workers)
    assert segments > 100  # the master did cut segments


def test_correct_register_with_many_clients_is_ok() -> None:
    for seed in range(3):
        ops = simulate(seed, clients=20, n=300, unknown=0.02)
        result = check_object(ops, budget_s=10.0, horizon_s=SIM_HORIZON)
        assert result.status == STATUS_OK, str(result.violation)


@pytest.mark.parametrize(
    ("bug", "mix", "expected"),
    [
        ("lost_delete", (15, 30, 12, 30, 13), {RESURRECTION, DOUBLE_DELETE}),
        ("stale", (3, 50, 0, 35, 12), {STALE_READ, LOST_UPDATE}),  # mostly updates: stale values
    ],
)
def test_buggy_register_is_caught_for_most_seeds(
    bug: str, mix: tuple[int, int, int, int, int], expected: set[str]
) -> None:
    found: Counter[str] = Counter()
    seeds = 100
    for seed in range(seeds):
        ops = simulate(seed, clients=3, n=150, unknown=0.02, bug=bug, mix=mix)
        result = check_object(ops, budget_s=5.0, horizon_s=SIM_HORIZON)
        if result.status == STATUS_VIOLATION:
            violation = result.violation
            assert violation is not None
            assert violation.name in VIOLATION_NAMES
            assert violation.witness in violation.minimal_history
            assert {id(o) for o in violation.minimal_history} <= {id(o) for o in ops}
            found[violation.name] += 1
    assert sum(found.values()) >= 0.8 * seeds, found
    # Named after what the witness saw: mostly the names this bug should produce.
    assert sum(found[name] for name in expected) >= 0.5 * seeds, found


# --- reports -------------------------------------------------------------------------------------


def _history_with(*groups: list[Op]) -> History:
    history = History(cap_per_object=1000)
    for group in groups:
        history.merge({"ops": [o.to_list() for o in group]})
    return history


def _violating(obj_id: str) -> list[Op]:
    return [
        op(CREATE, 0, 1, value="a", obj_id=obj_id),
        op(DELETE, 2, 3, obj_id=obj_id),
        op(GET, 4, 5, observed="a", obj_id=obj_id),
    ]


def test_check_all_counts_objects_and_violations() -> None:
    good = [op(CREATE, 0, 1, value="a", obj_id="good"), op(GET, 2, 3, observed="a", obj_id="good")]
    history = _history_with(good, _violating("bad"))
    before = [o.to_list() for o in history.ops("bad")]
    report = check_all(history)
    assert (report.checked, report.ok, report.violating, report.undecided) == (2, 1, 1, 0)
    assert report.operations == 5
    assert report.violations == Counter({RESURRECTION: 1})
    assert report.examples[0]["object"] == "bad" and report.examples[0]["name"] == RESURRECTION
    assert [o.to_list() for o in history.ops("bad")] == before  # never mutates
    lines = report.summary()
    assert lines[0].startswith("linearizability: 2 objects, 5 operations: 1 ok, 1 with violations")
    assert "resurrection 1" in lines[0]
    assert any("<- impossible here" in line for line in lines)


def test_report_merge_adds_counts_and_caps_examples() -> None:
    a = check_all(_history_with(*(_violating(f"a{i}") for i in range(3))), max_examples=4)
    b = check_all(_history_with(*(_violating(f"b{i}") for i in range(3))), max_examples=4)
    assert a.total_violations() == 3 and len(a.examples) == 3
    a.merge(b)
    assert a.checked == 6 and a.violating == 6 and a.operations == 18
    assert a.violations == Counter({RESURRECTION: 6})
    assert len(a.examples) == 4  # capped
    assert [e["object"] for e in a.examples] == ["a0", "a1", "a2", "b0"]
    c = Report(max_examples=4)
    c.merge(b.to_dict())  # as shipped between processes
    assert c.to_dict() == b.to_dict()
    assert sum(c.violations.values()) == 3


def test_report_merge_caps_undecided_objects() -> None:
    a = Report(max_examples=2, undecided=2, checked=2, undecided_objects=["x", "y"])
    a.merge({"undecided": 1, "checked": 1, "undecided_objects": ["z"]})
    assert a.undecided == 3 and a.checked == 3 and a.undecided_objects == ["x", "y"]


def test_report_records_into_findings_as_race_conditions() -> None:
    report = check_all(_history_with(_violating("c1"), _violating("c2")))
    report.violations[DOUBLE_DELETE] += 2  # as merged from another process, without an example
    report.undecided, report.undecided_objects = 1, ["c9"]
    findings = Findings()
    report.record_into(findings)
    assert findings.extra(RACE_CONDITION) == 4
    assert findings.count(RACE_CONDITION) == 4
    assert findings.notes["history_resurrection"] == 2
    assert findings.notes["history_double_delete"] == 2
    assert findings.notes["history_undecided"] == 1
    assert "c1" in findings.examples["history_resurrection"]
    assert findings.examples["history_double_delete"] == DOUBLE_DELETE
    assert "c9" in findings.examples["history_undecided"]
    assert not any(findings.notes[f"history_{name}"] for name in (LOST_CREATE, STALE_READ))
    assert set(VIOLATION_NAMES) >= {RESURRECTION, DOUBLE_DELETE}


def test_clean_report_records_nothing() -> None:
    findings = Findings()
    check_all(_history_with([create(0, 1, "a")])).record_into(findings)
    assert findings.is_empty()


# --- regressions --------------------------------------------------------------------------------


def test_reads_begun_at_the_same_instant_do_not_crash_the_explanation() -> None:
    """Two reads with equal invoke times, one absent, one present: sorting them compared None to str."""
    g = get(4, 5, "a")
    result = check([create(0, 1, "a"), delete(2, 3), g, get(4, 6)])
    assert result.status == STATUS_VIOLATION
    assert result.violation is not None and result.violation.witness is g
    assert result.end_states >= {"a", ABSENT}


def test_resume_states_after_a_violation_include_what_the_server_showed() -> None:
    """A violation at the end of a stretch must not leave it with no state (or only an impossible one):
    the next segment would then be reported too."""
    result = check([create(0, 1, "a"), delete(2, 3), get(4, 5, "a"), get(6, 7, "a")])
    assert result.status == STATUS_VIOLATION
    assert "a" in result.end_states
    after = check([update(8, 9, "b"), get(10, 11, "b")], initial=result.end_states)
    assert after.status == STATUS_OK


def _digestless_then_a_big_chunk() -> list[Op]:
    ops = [create(0, 1, None), listed(2, 20, "z")]
    for i in range(8):
        ops.append(create(2 + i * 0.1, 30, f"u{i}", UNKNOWN))
        ops.append(get(2 + i * 0.1, 25, f"u{i}" if i % 2 else "z"))
    return ops


@pytest.mark.parametrize("tail", [[], [get(40, 41, "u7")]])
def test_write_without_a_digest_in_a_probed_chunk(monkeypatch: pytest.MonkeyPatch, tail: list[Op]) -> None:
    """A state of unknown value (written without a digest) starts a chunk too big for the exact search."""
    ops = [*_digestless_then_a_big_chunk(), *tail]
    assert_ok(ops)
    monkeypatch.setattr(checker, "MAX_EXACT_CONFIGS", 1)
    assert_ok(ops)


def test_state_of_unknown_value_survives_a_probed_chunk_nobody_changed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ops = [create(0, 1, None), listed(2, 20, "z")]
    for i in range(8):
        ops.append(create(2 + i * 0.1, 30, f"u{i}", UNKNOWN))
        ops.append(get(2 + i * 0.1, 25, "z"))
    ops.append(get(40, 41, "z"))  # none of the unknown creates took effect
    assert_ok(ops)
    monkeypatch.setattr(checker, "MAX_EXACT_CONFIGS", 1)
    assert_ok(ops)


def test_check_all_skips_ids_checked_elsewhere() -> None:
    history = History()
    ops = [create(0, 1, "a"), delete(2, 3), get(4, 5, "a"), op(CREATE, 0, 1, value="b", obj_id="other")]
    history.merge({"ops": [o.to_list() for o in ops]})
    assert (check_all(history).checked, check_all(history).violating) == (2, 1)
    report = check_all(history, skip={ID})
    assert (report.checked, report.violating, report.ok) == (1, 0, 1)
