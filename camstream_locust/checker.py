"""Per-object linearizability check of operation histories (pure; Wing-Gong-Lowe as in Porcupine).

The model, per object: its state is ABSENT or the digest of its client fields.

- create is an upsert: it always succeeds and the object is then present with its fields;
- update succeeds only if the object is present (else 404) and sets the fields;
- delete succeeds only if the object is present (else 404) and removes it;
- get and list observe presence and the fields.

A history is correct (linearizable) when every operation can be given one instant between
its invoke and its answer, such that answering the operations one by one in that order,
against a single copy of the object, gives exactly the answers the server gave. Operations
with an UNKNOWN outcome (timeout, dropped connection, 5xx, never answered) may or may not
have taken effect; if they did, it was between their invoke and ``horizon_s`` after it
(default 30 s). FAILED operations (a definite 4xx other than 404) had no effect and are
dropped, and so are reads with an UNKNOWN outcome. Each object is checked on its own.

How: the history is split at quiet points (no operation in flight across them) into
chunks; each chunk is searched depth-first over linearization orders with a cache of
(set of linearized ops as a bitset, state), as Porcupine does, giving the set of states the
object may be in at its end, which starts the next chunk. A legal read is always linearized
at once (this never loses a solution and removes most of the branching). A chunk with more
than ``MAX_EXACT_CONFIGS`` reachable configurations is only checked for the existence of
one order, and its end states over-approximated (never a false violation). When the time
budget runs out the result is "undecided", never a guess.

When a history is not linearizable, the checker finds the *witness*: the answer at which
the history first became impossible (the history cut at that instant is not linearizable,
cut just before it, it is). It then shrinks the history to a small sub-history that still
breaks exactly at the witness (delta debugging, within the budget), and names it from what
the witness saw and what the object had to be at that moment:

- lost_create: the object was reported absent (a get or update or delete answered 404, or a
  list did not show it) although a create (or update) had answered ok and no delete could
  have removed it since;
- resurrection: the object was seen present (a get read it, an update answered ok) although
  it must have been absent: a delete had answered ok and nothing could have re-created it,
  or it had never been created; a delete answering ok on an object that was never created
  is a resurrection too;
- phantom_in_list: the same as a resurrection, seen by a list;
- double_delete: a delete answered ok although another delete had already answered ok
  and no create could have run in between;
- stale_read: a read returned an older value although a newer write had answered ok before
  the read began, and a later read did return the newer value (the write was not lost; this
  read was served from old data);
- lost_update: the same, but no later read ever saw the newer value (it was lost), or the
  read returned a value that no write could explain.
"""

from __future__ import annotations

import time
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

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
    UNKNOWN_HORIZON_S,
    UPDATE,
    History,
    ObjectLog,
    Op,
    State,
)

STATUS_OK, STATUS_VIOLATION, STATUS_UNDECIDED = "ok", "violation", "undecided"

RESURRECTION = "resurrection"
LOST_CREATE = "lost_create"
LOST_UPDATE = "lost_update"
DOUBLE_DELETE = "double_delete"
STALE_READ = "stale_read"
PHANTOM_IN_LIST = "phantom_in_list"
VIOLATION_NAMES = (RESURRECTION, LOST_CREATE, LOST_UPDATE, DOUBLE_DELETE, STALE_READ, PHANTOM_IN_LIST)

#: Past this many (linearized set, state) configurations, a chunk's end states are found by probes.
MAX_EXACT_CONFIGS = 5000
#: A probe (is this end state possible?) past this many configurations keeps its state: inexact.
MAX_PROBE_CONFIGS = 2_000
#: Examples of violations a Report keeps (every violation is counted).
MAX_EXAMPLES = 20
#: Findings notes are named "history_<violation name>" (and "history_undecided").
NOTE_PREFIX = "history_"

# Step kinds: definite writes, writes of unknown outcome, reads.
_C, _U, _D, _CU, _UU, _DU, _RV, _RA, _RP = range(9)
_READS_FROM = _RV
_INF = float("inf")


class _AnyValue:
    """The state after a write recorded without a digest: present, fields unknown (matches any read)."""

    def __repr__(self) -> str:
        return "<present>"


ANY_VALUE = _AnyValue()
#: A present state with a value no write of the history wrote (used to isolate violations).
_OTHER = _AnyValue()
_NOTHING, _MIXED = object(), object()
#: Inside one chunk's search: present with a value no read of the chunk sees.
_UNREAD = _AnyValue()


class _OutOfTime(Exception):
    pass


class _TooBig(Exception):
    pass


# --- results --------------------------------------------------------------------------------------


@dataclass(slots=True)
class Violation:
    name: str  # one of VIOLATION_NAMES
    obj_id: str
    explanation: str
    #: A small sub-history, itself not linearizable from the initial states of the check.
    minimal_history: list[Op]
    #: The operation whose answer made the history impossible.
    witness: Op
    #: True when the minimal history fails whatever state the object starts in; False when it
    #: needs the initial states (e.g. an object read before it was ever created).
    self_contained: bool = True

    def lines(self) -> list[str]:
        return render(self.minimal_history, marked=self.witness)

    def to_dict(self) -> dict[str, Any]:
        return {
            "object": self.obj_id,
            "name": self.name,
            "explanation": self.explanation,
            "history": self.lines(),
        }

    def __str__(self) -> str:
        return "\n".join(
            [f"{self.name} on {self.obj_id}: {self.explanation}", *("  " + x for x in self.lines())]
        )


@dataclass(slots=True)
class Result:
    status: str  # STATUS_OK / STATUS_VIOLATION / STATUS_UNDECIDED
    #: States the object may be in after the history (over-approximated after a violation or
    #: when undecided, so that checking can resume from them).
    end_states: frozenset[State]
    violation: Violation | None = None
    ops_checked: int = 0
    elapsed_s: float = 0.0
    #: False when some chunk's end states had to be over-approximated (see MAX_EXACT_CONFIGS).
    exact: bool = True


# --- preparing a history ------------------------------------------------------------------------

_Ent = tuple  # (invoke, end, kind, value, op)


def _prepare(
    ops: Iterable[Op],
    horizon_s: float,
    relaxed: Collection[Op] = (),
    cut: float | None = None,
    inclusive: bool = True,
) -> list[_Ent]:
    """Steps of the model, sorted by invoke. With ``cut``: the history as known at that instant
    (ops answered after it are in flight: UNKNOWN writes, dropped reads; later ones left out)."""
    ents: list[_Ent] = []
    for op in ops:
        outcome = op.outcome
        if outcome == FAILED:
            continue
        inv = op.invoke
        ret = op.end(horizon_s)
        unknown = outcome is None or outcome == UNKNOWN or (bool(relaxed) and op in relaxed)
        if cut is not None:
            if inv > cut or (not inclusive and inv >= cut):
                continue
            if ret > cut or (not inclusive and ret >= cut):
                unknown = True
        name = op.op
        value = op.value
        if name in (GET, LIST):
            if unknown:
                continue
            if outcome == OK:
                value = op.observed
                kind = _RP if value is None else _RV
            else:
                kind, value = _RA, ABSENT
        elif name == CREATE:
            if unknown:
                kind = _CU
            elif outcome == OK:
                kind = _C
            else:
                continue  # a create answered 404 cannot have done anything
        elif name == UPDATE:
            kind = _UU if unknown else _U if outcome == OK else _RA
        elif name == DELETE:
            kind = _DU if unknown else _D if outcome == OK else _RA
        else:
            raise ValueError(f"unknown operation {name!r}")
        if kind == _RA:
            value = ABSENT  # an update or delete answered 404 reads "absent"
        elif kind in (_C, _U, _CU, _UU) and value is None:
            value = ANY_VALUE
        ents.append((inv, ret, kind, value, op))
    ents.sort(key=itemgetter(0))
    return ents


def _split(ents: Sequence[_Ent]) -> list[tuple[int, int]]:
    """Index ranges of the chunks between quiet points (no op in flight across a boundary)."""
    chunks: list[tuple[int, int]] = []
    start, run_max = 0, -_INF
    for i, ent in enumerate(ents):
        if i and run_max < ent[0]:
            chunks.append((start, i))
            start = i
        if ent[1] > run_max:
            run_max = ent[1]
    if ents:
        chunks.append((start, len(ents)))
    return chunks


def _apply(kind: int, value: State, state: State) -> tuple[State, ...]:
    """States after one step from ``state`` (empty: the step is impossible there)."""
    if kind == _RV:
        return (state,) if state == value or state is ANY_VALUE else ()
    if kind == _RA:
        return (state,) if state is None else ()
    if kind == _RP:
        return (state,) if state is not None else ()
    if kind == _C:
        return (value,)
    if kind == _U:
        return (value,) if state is not None else ()
    if kind == _D:
        return (None,) if state is not None else ()
    if kind == _CU:
        return (value, state)
    if kind == _UU:
        return (value, state) if state is not None else (None,)
    return (None, state)  # _DU


def _possible_last(ents: Sequence[_Ent], starts: Iterable[State]) -> frozenset[State]:
    """A sound over-approximation of the states after ``ents`` (when they can be linearized).

    A write can be the last one only if no definite write began after it ended, and every read
    that began after it ended saw what it wrote; a start state only if nothing definite was
    written and every read saw it.
    """
    latest = max((e[0] for e in ents if e[2] in (_C, _U, _D)), default=None)
    # By invoke only: reads begun at the same instant must not be compared by value (None vs str).
    reads = sorted(((e[0], e[3]) for e in ents if e[2] in (_RV, _RA)), key=itemgetter(0))
    # suffix[i]: what every read from i on saw, if they all saw the same; _MIXED otherwise.
    suffix: list[Any] = [_NOTHING] * (len(reads) + 1)
    for i in range(len(reads) - 1, -1, -1):
        after = suffix[i + 1]
        suffix[i] = reads[i][1] if after is _NOTHING or after == reads[i][1] else _MIXED
    read_invs = [inv for inv, _value in reads]
    out: set[State] = set()
    if latest is None:
        out.update(s for s in starts if suffix[0] is _NOTHING or suffix[0] == s or s is ANY_VALUE)
    for _inv, ret, kind, value, _op in ents:
        if kind >= _RV or (latest is not None and ret < latest):
            continue
        made = ABSENT if kind in (_D, _DU) else value
        later = suffix[bisect_right(read_invs, ret)]
        if later is _NOTHING or later == made or made is ANY_VALUE:
            out.add(made)
    return frozenset(out)


def _resume_states(ents: Sequence[_Ent], starts: Iterable[State]) -> frozenset[State]:
    """States to carry on from after ``ents`` when they were found not linearizable, or not decided.

    ``_possible_last`` is sound only for a linearizable stretch: after a violation it can be
    empty, or miss the state the server really reached, and every later segment of the object
    would then be reported too (a cascade of violations that did not happen). So add what the
    end of the stretch showed: the state left by each write that may have been the last one,
    and the state seen by each read that may have come after the last definite write began.
    """
    starts = frozenset(starts)
    out = set(_possible_last(ents, starts))
    latest = max((e[0] for e in ents if e[2] in (_C, _U, _D)), default=None)
    if latest is None:
        out.update(starts)
    for _inv, ret, kind, value, _op in ents:
        if latest is not None and ret < latest:
            continue
        if kind in (_D, _DU, _RA):
            out.add(ABSENT)
        elif kind == _RP:
            out.add(ANY_VALUE)
        else:
            out.add(value)
    return frozenset(out) or frozenset({ABSENT, ANY_VALUE})


# --- the search ------------------------------------------------------------------------------------


def _search(
    ents: Sequence[_Ent], starts: Iterable[State], deadline: float, want_all: bool, max_configs: int = 0
) -> set[State]:
    """End states of the linearizations of one chunk from ``starts`` (all of them, or the first).

    Depth-first over configurations (linearized ops as a bitset, state), each visited once.
    Reductions that never lose a solution:

    - a legal read is linearized at once, alone;
    - when only the existence of an order is asked (``want_all`` false): values that no read of
      the chunk sees are one state, "present, unread" (only presence matters for them); an ok
      update from that state onto one is a no-op, linearized at once too; and an UNKNOWN
      update of such a value is never needed, so it is left out;
    - a write may not leave a state that an unlinearized read still has to see when no write
      able to bring that state back is left.
    """
    n = len(ents)
    invs = [e[0] for e in ents]
    rets = [e[1] for e in ents]
    kinds = [e[2] for e in ents]
    vals = [e[3] for e in ents]
    seen_values = {v for k, v in zip(kinds, vals, strict=True) if k == _RV}
    starts = set(starts)
    # The reductions on unread values keep feasibility exact, not the end states: first-success only.
    # A start state of unknown value (a write recorded without a digest) matches any read: exact too.
    exact_values = want_all or _RP in kinds or ANY_VALUE in vals or ANY_VALUE in starts
    if not exact_values:
        # An UNKNOWN update of a value nobody reads is never needed: leave it out.
        keep = [i for i in range(n) if kinds[i] != _UU or vals[i] in seen_values]
        if len(keep) < n:
            invs, rets, kinds, vals = ([col[i] for i in keep] for col in (invs, rets, kinds, vals))
        vals = [
            v if k >= _RV or k in (_D, _DU) or v in seen_values else _UNREAD
            for k, v in zip(kinds, vals, strict=True)
        ]
        starts = {s if s is ABSENT or s in seen_values else _UNREAD for s in starts}
    readers: dict[State, int] = {}
    writers: dict[State, int] = {}
    for i, (kind, value) in enumerate(zip(kinds, vals, strict=True)):
        bit = 1 << i
        if kind in (_RV, _RA):
            readers[value] = readers.get(value, 0) | bit
        elif kind < _RV:
            made = ABSENT if kind in (_D, _DU) else value
            writers[made] = writers.get(made, 0) | bit
    if exact_values:
        readers = {}
    ends = _search_configs(invs, rets, kinds, vals, starts, readers, writers, deadline, want_all, max_configs)
    return ends


def _search_configs(
    invs: list[float],
    rets: list[float],
    kinds: list[int],
    vals: list[State],
    starts: Iterable[State],
    readers: dict[State, int],
    writers: dict[State, int],
    deadline: float,
    want_all: bool,
    max_configs: int,
) -> set[State]:
    n = len(invs)
    if not n:
        return set(starts)
    full = (1 << n) - 1
    ends: set[State] = set()
    seen: set[tuple[int, State]] = set()
    stack: list[tuple[int, State]] = []
    for s in starts:
        config = (0, s)
        seen.add(config)
        stack.append(config)
    steps = 0
    any_value = ANY_VALUE
    unread = _UNREAD
    while stack:
        mask, state = stack.pop()
        steps += 1
        if not steps & 127:
            if time.monotonic() > deadline:
                raise _OutOfTime
            if max_configs and len(seen) > max_configs:
                raise _TooBig
        free = full ^ mask
        min_ret = _INF
        children: list[tuple[int, State]] = []
        waiting = readers.get(state, 0)  # reads still to see the current state
        uses = None
        while free:
            low = free & -free
            i = low.bit_length() - 1
            if invs[i] > min_ret:
                break  # this op, and every later one, began after an unlinearized op ended
            free ^= low
            if rets[i] < min_ret:
                min_ret = rets[i]
            kind = kinds[i]
            m = mask | low
            if kind >= _READS_FROM:
                if (
                    (state is None)
                    if kind == _RA
                    else (state is not None)
                    if kind == _RP
                    else (state == vals[i] or state is any_value)
                ):
                    children = [(m, state)]  # a legal read: linearize it now, nothing else
                    break
                continue
            if kind == _U and state is unread and vals[i] is unread:
                children = [(m, state)]  # an ok update of an unread value onto one: the same
                break
            if kind in (_C, _CU):
                after: State = vals[i]
            elif kind in (_U, _UU):
                if state is None:
                    if kind == _UU:
                        children.append((m, state))
                    continue
                after = vals[i]
            else:  # _D, _DU
                if state is None and kind == _D:
                    continue
                after = None
            if after != state and waiting & ~m and not writers.get(state, 0) & ~m:
                pass  # leaving a state some read must still see, with no way back
            elif kind < _CU or after == state or want_all or m == full:
                children.append((m, after))
            else:
                if uses is None:
                    uses = _uses(mask, full, invs, rets, kinds, vals)
                if uses(after):
                    children.append((m, after))
            if kind >= _CU and after != state:
                children.append((m, state))  # an UNKNOWN write that did nothing
        for config in reversed(children):
            if config[0] == full:
                ends.add(config[1])
                if not want_all:
                    return ends
            elif config not in seen:
                seen.add(config)
                stack.append(config)
    return ends


def _uses(
    mask: int, full: int, invs: list[float], rets: list[float], kinds: list[int], vals: list[State]
) -> Callable[[State], bool]:
    """Whether an UNKNOWN write taking effect now, giving a state, can matter.

    Only if an op that could come right after it (its definite predecessors linearized, the
    unknown ones skipped) depends on that state; else the write can as well be skipped (its
    effect would be overwritten unseen). Only when the end state does not matter.
    """
    free = full ^ mask
    min_ret = _INF
    values: set[State] = set()
    absent = present = anything = False
    while free:
        low = free & -free
        i = low.bit_length() - 1
        if invs[i] > min_ret:
            break
        free ^= low
        kind = kinds[i]
        if kind < _CU:
            if rets[i] < min_ret:
                min_ret = rets[i]
            if kind in (_U, _D):
                present = True
        elif kind == _UU:
            anything = True
        elif kind == _RV:
            values.add(vals[i])
            if rets[i] < min_ret:
                min_ret = rets[i]
        elif kind >= _RV:
            absent = absent or kind == _RA
            present = present or kind == _RP
            if rets[i] < min_ret:
                min_ret = rets[i]

    def uses(state: State) -> bool:
        if anything:
            return True
        if state is None:
            return absent
        return present or state in values or (state is ANY_VALUE and bool(values))

    return uses


def _chunk_ends(chunk: Sequence[_Ent], starts: frozenset[State], deadline: float) -> tuple[set[State], bool]:
    """(end states, exact) of one chunk; empty when it cannot be linearized from ``starts``.

    Small chunks are searched exhaustively. Past ``MAX_EXACT_CONFIGS`` configurations, one
    order is searched for, then each state ``_possible_last`` allows is probed with a virtual
    read after the whole chunk (a probe past ``MAX_PROBE_CONFIGS`` keeps its state: inexact).
    """
    if len(chunk) == 1:
        _inv, _ret, kind, value, _op = chunk[0]
        return {after for state in starts for after in _apply(kind, value, state)}, True
    try:
        return _search(chunk, starts, deadline, True, MAX_EXACT_CONFIGS), True
    except _TooBig:
        pass
    if not _search(chunk, starts, deadline, False):
        return set(), True
    candidates = _possible_last(chunk, starts)
    if len(candidates) == 1:
        return set(candidates), True
    after_all = max(e[1] for e in chunk) + 1.0
    ends: set[State] = set()
    exact = True
    # UNKNOWN creates and deletes that may take effect after everything else: one search with
    # all of them skipped shows every one of their states possible at the end.
    last_invoke = max(e[0] for e in chunk)
    late = [e for e in chunk if e[2] in (_CU, _DU) and e[1] >= last_invoke]
    if late:
        late_states = {ABSENT if e[2] == _DU else e[3] for e in late}
        rest = [e for e in chunk if not (e[2] in (_CU, _DU) and e[1] >= last_invoke)]
        if not rest or _search(rest, starts, deadline, False):
            ends.update(late_states)
            candidates = candidates - late_states
    for state in candidates:
        probe = (after_all, after_all, _RA if state is ABSENT else _RV, state, None)
        try:
            if _search([*chunk, probe], starts, deadline, False, MAX_PROBE_CONFIGS):
                ends.add(state)
        except _TooBig:
            ends.add(state)
            exact = False
    return ends, exact


def _run(
    ops: Iterable[Op],
    starts: frozenset[State],
    horizon_s: float,
    relaxed: Collection[Op],
    deadline: float,
    cut: float | None = None,
    inclusive: bool = True,
) -> frozenset[State] | None:
    """End states of a whole history (empty: not linearizable; None: out of time)."""
    ents = _prepare(ops, horizon_s, relaxed, cut, inclusive)
    states = starts
    try:
        for a, b in _split(ents):
            ends, _exact = _chunk_ends(ents[a:b], states, deadline)
            if not ends:
                return frozenset()
            states = frozenset(ends)
    except _OutOfTime:
        return None
    return states


# --- checking one object ------------------------------------------------------------------------------


def check_object(
    ops: Sequence[Op],
    initial: Iterable[State] = INITIAL,
    budget_s: float = 1.0,
    *,
    horizon_s: float = UNKNOWN_HORIZON_S,
    relaxed: Collection[Op] = frozenset(),
    obj_id: str | None = None,
) -> Result:
    """Check one object's history against the model, starting from any state in ``initial``.

    ``relaxed`` ops are checked as if their outcome were UNKNOWN (used across segment cuts).
    The search stops after ``budget_s`` (status "undecided"); explaining a violation may take
    up to a quarter of the budget more.
    """
    started = time.monotonic()
    deadline = started + budget_s
    obj_id = obj_id if obj_id is not None else (ops[0].obj_id if ops else "")
    ents = _prepare(ops, horizon_s, relaxed)
    chunks = _split(ents)
    states = frozenset(initial)
    exact = True
    for ci, (a, b) in enumerate(chunks):
        try:
            if time.monotonic() > deadline:
                raise _OutOfTime
            ends, chunk_exact = _chunk_ends(ents[a:b], states, deadline)
        except _OutOfTime:
            return Result(
                STATUS_UNDECIDED,
                _resume_states(ents[a:], states),
                None,
                len(ents),
                time.monotonic() - started,
                False,
            )
        if not ends:
            explain_deadline = max(deadline, time.monotonic() + budget_s / 4)
            violation = _diagnose(
                ents,
                chunks,
                ci,
                states,
                frozenset(initial),
                ops,
                horizon_s,
                relaxed,
                obj_id,
                explain_deadline,
            )
            return Result(
                STATUS_VIOLATION,
                _resume_states(ents[a:], states),
                violation,
                len(ents),
                time.monotonic() - started,
                exact,
            )
        exact = exact and chunk_exact
        states = frozenset(ends)
    return Result(STATUS_OK, states, None, len(ents), time.monotonic() - started, exact)


# --- explaining a violation ------------------------------------------------------------------------------


def _ddmin(items: list[Op], fails: Callable[[list[Op]], bool], deadline: float) -> list[Op]:
    """Delta debugging (complements only): a 1-minimal sub-list on which ``fails`` still holds."""
    granularity = 2
    while len(items) >= 1 and time.monotonic() < deadline:
        size = max(1, -(-len(items) // granularity))
        for start in range(0, len(items), size):
            candidate = items[:start] + items[start + size :]
            if fails(candidate):
                items = candidate
                granularity = max(granularity - 1, 2)
                break
            if time.monotonic() >= deadline:
                return items
        else:
            if size == 1:
                break
            granularity = min(len(items), granularity * 2)
    return items


def _diagnose(
    ents: list[_Ent],
    chunks: list[tuple[int, int]],
    ci: int,
    chunk_starts: frozenset[State],
    initial: frozenset[State],
    all_ops: Sequence[Op],
    horizon_s: float,
    relaxed: Collection[Op],
    obj_id: str,
    deadline: float,
) -> Violation:
    """Witness, minimal sub-history, name and explanation of the violation found in chunk ``ci``.

    The sub-history is first sought so that it fails from *any* start state (it then shows its
    own cause: "deleted, then read"); only violations that need the initial states (an object
    read before any create) are shrunk from ``initial``.
    """
    a, b = chunks[ci]
    chunk_ops = [e[4] for e in ents[a:b]]
    context = [e[4] for e in ents[:b]]

    def witness_in(ops: list[Op], starts: frozenset[State], among: list[Op]) -> tuple[Op, float]:
        """The op of ``among`` whose answer first makes ``ops`` impossible (binary search)."""
        rets = sorted({op.end(horizon_s) for op in among if op.outcome != FAILED})
        lo, hi = 0, len(rets) - 1
        while lo < hi:
            mid = (lo + hi) // 2
            if _run(ops, starts, horizon_s, relaxed, deadline, rets[mid]) == frozenset():
                hi = mid
            else:
                lo = mid + 1
        t = rets[lo]
        at_t = [op for op in among if op.outcome != FAILED and op.end(horizon_s) == t]
        definite = [op for op in at_t if op.outcome in (OK, NOT_FOUND) and op not in relaxed]
        return (definite or at_t)[-1], t

    witness, t_w = witness_in(chunk_ops, chunk_starts, chunk_ops)
    mentioned = {e[3] for e in ents[:b]}
    universal = frozenset(initial) | mentioned | {ABSENT, _OTHER}

    def fails(sub: list[Op], starts: frozenset[State]) -> bool:
        """Not linearizable when cut at the witness's answer, linearizable just before it."""
        at = _run(sub, starts, horizon_s, relaxed, deadline, t_w, True)
        if at is None or at:
            return False
        return bool(_run(sub, starts, horizon_s, relaxed, deadline, t_w, False))

    sub, starts = context, initial
    for candidate_starts in (universal, initial):
        found = None
        # Context: the fewest preceding chunks (doubling) that make the failure show.
        j = 0
        while time.monotonic() < deadline:
            lo = chunks[max(0, ci - j)][0]
            if fails([e[4] for e in ents[lo:b]], candidate_starts):
                found = [e[4] for e in ents[lo:b]]
                break
            if j >= ci:
                break
            j = min(ci, max(1, j * 2))
        if (
            found is None
            and candidate_starts is universal
            and _run(context, universal, horizon_s, relaxed, deadline) == frozenset()
        ):
            w, t = witness_in(context, universal, chunk_ops)  # the failure moved: look again
            witness, t_w, found = w, t, context
        if found is not None:
            sub, starts = found, candidate_starts
            break

    rest = [op for op in sub if op is not witness]
    # The writes of the value the witness read stay in (taken from the whole context when the
    # history still fails with them): without them the shrunk history would only show "a read
    # of a value nobody wrote", not which write it came from and when.
    pinned = _sources_of(witness, [op for op in context if op is not witness])
    extra = [op for op in pinned if op not in rest]
    if extra and fails([*rest, *extra, witness], starts):
        rest = [*extra, *rest]
    pinned = [op for op in pinned if op in rest]
    if fails([*rest, witness], starts):
        free = [op for op in rest if op not in pinned]
        rest = [*pinned, *_ddmin(free, lambda items: fails([*items, *pinned, witness], starts), deadline)]
    minimal = sorted([*rest, witness], key=lambda op: op.invoke)
    before = _run(rest, starts, horizon_s, relaxed, deadline, t_w, True) or frozenset()
    before = frozenset(s for s in before if s is not _OTHER)
    name, explanation = _name(witness, before, minimal, all_ops, horizon_s)
    return Violation(name, obj_id, explanation, minimal, witness, starts is universal)


def _sources_of(witness: Op, ops: Sequence[Op], limit: int = 3) -> list[Op]:
    """The (latest few) writes among ``ops`` of the value ``witness`` read, if it read a value."""
    if witness.op not in (GET, LIST) or witness.outcome != OK or witness.observed is None:
        return []
    writes = [
        op
        for op in ops
        if op.op in (CREATE, UPDATE) and op.value == witness.observed and op.outcome != FAILED
    ]
    return sorted(writes, key=lambda op: op.invoke)[-limit:]


def _name(
    witness: Op, states: frozenset[State], minimal: list[Op], all_ops: Sequence[Op], horizon_s: float
) -> tuple[str, str]:
    """Name a violation from what its witness saw and what the object had to be (``states``)."""
    origin = min(op.invoke for op in minimal)
    what = _describe(witness, origin)
    must = _states_text(states)
    others = [op for op in minimal if op is not witness and op.outcome == OK]
    earlier = [op for op in others if op.invoke < witness.invoke]
    writes = [op for op in earlier if op.op in (CREATE, UPDATE, DELETE)]
    last_write = max(writes, key=lambda op: op.end(horizon_s)) if writes else None
    deletes = [op for op in earlier if op.op == DELETE]
    if deletes:
        absent_cause = f"{_describe(deletes[-1], origin)} and nothing could have re-created it"
    else:
        # No delete in the sub-history: absent from the start, or as an earlier answer showed.
        seen_absent = [
            op
            for op in minimal
            if op is not witness and op.outcome == NOT_FOUND and op.invoke < witness.invoke
        ]
        absent_cause = (
            f"{_describe(seen_absent[-1], origin)} and nothing could have created it since"
            if seen_absent
            else "it had not been created yet"
        )
    if witness.outcome == NOT_FOUND:
        present = [op for op in earlier if op.op != DELETE]
        cause = max(present, key=lambda op: op.end(horizon_s)) if present else None
        because = f": {_describe(cause, origin)} and no delete could have removed it since" if cause else ""
        return LOST_CREATE, f"{what}, but the object must have existed ({must}){because}"
    if witness.op == DELETE:
        other = [op for op in others if op.op == DELETE]
        if other:
            return DOUBLE_DELETE, (
                f"{what}, but {_describe(other[-1], origin)} too, and no create could have run in between"
            )
        return RESURRECTION, f"{what}, but the object must have been absent: {absent_cause}"
    present_states = {s for s in states if s is not ABSENT}
    if witness.op == UPDATE or not present_states:
        name = PHANTOM_IN_LIST if witness.op == LIST else RESURRECTION
        return name, f"{what}, but the object must have been absent: {absent_cause}"
    newer = f", written by {_describe(last_write, origin)}" if last_write else ""
    later_saw_new = any(
        op.op in (GET, LIST)
        and op.outcome == OK
        and op.observed in present_states
        and op.invoke > witness.invoke
        for op in all_ops
        if op is not witness
    )
    if later_saw_new:
        return STALE_READ, (
            f"{what}, but the object must have held {must}{newer}; a later read did see that value, "
            f"so this read was served stale data"
        )
    return LOST_UPDATE, (
        f"{what}, but the object must have held {must}{newer}; "
        "no later read saw that value: the write was lost"
    )


def _states_text(states: Iterable[State]) -> str:
    shown = sorted(("absent" if s is ABSENT else repr(s) for s in states), key=str)
    if not shown:
        return "no consistent state"
    return " or ".join(shown[:3]) + (f" or {len(shown) - 3} more" if len(shown) > 3 else "")


def _describe(op: Op | None, origin: float) -> str:
    if op is None:
        return "?"
    what = op.op if op.value is None else f"{op.op} of {op.value!r}"
    when = f"{what} at +{op.invoke - origin:.3f}s"
    if op.outcome == NOT_FOUND:
        return f"{when} did not show the object" if op.op == LIST else f"{when} answered 404"
    if op.outcome == OK:
        return f"{when} read {op.observed!r}" if op.op in (GET, LIST) else f"{when} answered ok"
    return f"{when} ended {op.outcome or 'without an answer'}"


# --- rendering ------------------------------------------------------------------------------------------


def render(ops: Sequence[Op], origin: float | None = None, marked: Op | None = None) -> list[str]:
    """Text lines such as ``t=+0.012..+0.020 delete -> ok``, times relative to the first invoke."""
    if not ops:
        return []
    origin = min(op.invoke for op in ops) if origin is None else origin
    lines = []
    for op in ops:
        end = "?" if op.complete is None else f"+{op.complete - origin:.3f}"
        sent = f" {op.value!r}" if op.value is not None else ""
        if op.outcome == OK and op.op in (GET, LIST):
            answer = f"ok {op.observed!r}" if op.observed is not None else "ok"
        elif op.outcome == NOT_FOUND:
            answer = "absent" if op.op == LIST else "not found"
        else:
            answer = op.outcome or "no answer"
        mark = "   <- impossible here" if op is marked else ""
        lines.append(f"t=+{op.invoke - origin:.3f}..{end} {op.op}{sent} -> {answer}{mark}")
    return lines


# --- checking a whole history ---------------------------------------------------------------------------


@dataclass
class Report:
    """What the check of every object found; mergeable (``to_dict``/``merge``) like Findings."""

    checked: int = 0  # objects
    ok: int = 0
    undecided: int = 0
    violating: int = 0  # objects with at least one violation
    operations: int = 0  # operations checked (after dropping FAILED ops and unanswered reads)
    violations: Counter[str] = field(default_factory=Counter)  # by name
    examples: list[dict[str, Any]] = field(default_factory=list)  # Violation.to_dict(), capped
    undecided_objects: list[str] = field(default_factory=list)  # capped
    max_examples: int = MAX_EXAMPLES

    def add(self, log: ObjectLog, result: Result) -> None:
        """Count one object: its dropped segments' results and the check of what remains."""
        self.checked += 1
        self.operations += log.segment_ops + result.ops_checked
        names = Counter(log.violation_counts)
        found = list(log.violations)
        if result.violation is not None:
            names[result.violation.name] += 1
            found.append(result.violation)
        if names:
            self.violating += 1
            self.violations.update(names)
            for violation in found:
                if len(self.examples) < self.max_examples:
                    self.examples.append(violation.to_dict())
        elif result.status == STATUS_UNDECIDED or log.undecided_segments:
            self.undecided += 1
            if len(self.undecided_objects) < self.max_examples:
                self.undecided_objects.append(log.obj_id)
        else:
            self.ok += 1

    def total_violations(self) -> int:
        return sum(self.violations.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "ok": self.ok,
            "undecided": self.undecided,
            "violating": self.violating,
            "operations": self.operations,
            "violations": dict(self.violations),
            "examples": list(self.examples),
            "undecided_objects": list(self.undecided_objects),
        }

    def merge(self, data: dict[str, Any] | Report) -> None:
        """Add another process's report (its ``to_dict()`` or the Report itself)."""
        if isinstance(data, Report):
            data = data.to_dict()
        for key in ("checked", "ok", "undecided", "violating", "operations"):
            setattr(self, key, getattr(self, key) + int(data.get(key, 0)))
        self.violations.update(data.get("violations", {}))
        room = self.max_examples - len(self.examples)
        self.examples.extend(list(data.get("examples", ()))[: max(0, room)])
        room = self.max_examples - len(self.undecided_objects)
        self.undecided_objects.extend(list(data.get("undecided_objects", ()))[: max(0, room)])

    def summary(self) -> list[str]:
        """Human lines: the counts, then each kept example with its minimal history."""
        names = ", ".join(
            f"{name} {self.violations[name]}" for name in VIOLATION_NAMES if self.violations[name]
        )
        lines = [
            f"linearizability: {self.checked} objects, {self.operations} operations: {self.ok} ok, "
            f"{self.violating} with violations, {self.undecided} undecided; "
            f"violations found: {names or 'none'}"
        ]
        for example in self.examples:
            lines.append(f"  {example['name']} on {example['object']}: {example['explanation']}")
            lines.extend(f"    {line}" for line in example["history"])
        return lines

    def record_into(self, findings: Any) -> None:
        """Count the violations as race_condition findings (note "history_<name>" each)."""
        from camstream_locust.classify import RACE_CONDITION

        for name in VIOLATION_NAMES:
            count = self.violations[name]
            if count:
                example = next((e for e in self.examples if e["name"] == name), None)
                message = (
                    f"{name} on {example['object']}: {example['explanation']} | "
                    + " | ".join(example["history"])
                    if example
                    else name
                )
                findings.record_extra(RACE_CONDITION, NOTE_PREFIX + name, "history check", message, count)
        if self.undecided:
            objects = ", ".join(self.undecided_objects[:5])
            findings.note(NOTE_PREFIX + "undecided", f"history check undecided for {objects}", self.undecided)


def check_all(
    history: History,
    budget_s_per_object: float = 1.0,
    *,
    total_budget_s: float | None = None,
    max_examples: int = MAX_EXAMPLES,
    skip: Collection[str] = (),
) -> Report:
    """Check every object of ``history`` (what its segments found included); never mutates it.

    With ``total_budget_s``, objects reached after it is spent are reported undecided; ``skip``:
    ids checked elsewhere (a worker's shared ids, checked on the master).
    """
    report = Report(max_examples=max_examples)
    stop = time.monotonic() + total_budget_s if total_budget_s is not None else None
    for log in history.logs():
        if log.obj_id in skip:
            continue
        budget = budget_s_per_object
        if stop is not None:
            budget = max(0.0, min(budget, stop - time.monotonic()))
        result = check_object(
            log.ops, log.starts, budget, horizon_s=history.horizon_s, relaxed=log.relaxed, obj_id=log.obj_id
        )
        report.add(log, result)
    return report
