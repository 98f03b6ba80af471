"""Per-object operation histories for the linearizability check (pure; no Locust, no gevent, no I/O).

Every request on a camera or an inference server records one ``Op``: the object id, the
operation, a digest of the client-controlled fields it sent, its invoke and complete times
(``time.monotonic``: comparable between processes of one machine) and its outcome::

    entry = history.invoke(obj_id, UPDATE, camera_digest(name, rtsp_url))
    ...                                   # send the request
    history.complete(entry, OK)           # or NOT_FOUND / FAILED / UNKNOWN; reads pass ``observed``

Outcomes: ``OK``; ``NOT_FOUND`` (404); ``FAILED``: a definite answer that had no effect
(e.g. 400), dropped by the checker; ``UNKNOWN``: no answer, a timeout or a 5xx — the
operation may or may not have taken effect. An op never completed (the process stopped
mid-request) counts as UNKNOWN. Assumption: the effect of an UNKNOWN op, if any, happens
within ``horizon_s`` of its invoke (default 30 s; keep it above the request timeout).

The hot path appends one slotted object to a list; no hashing, no locks (one gevent
process is single-threaded). Memory stays bounded: when an object's history reaches
``cap_per_object`` ops, its older part is checked as a *segment* (checker.check_object)
and dropped; only the set of states the object may be in afterwards is carried forward.
The cut is made at a quiet point (no op in flight across it, UNKNOWN ops counted as in
flight until their horizon ends), which loses nothing. When no quiet point exists (e.g. a
steady stream of timeouts), the cut is made anyway and the ops open across it are kept for
the next segment and checked, in both segments, as if their outcome were UNKNOWN: never a
false violation, at worst a missed one. Violations found in segments are kept (a bounded
number of examples, every one counted).

An op that arrives after its time was checked (a list answered after the cut, though sent
before it; a late ``merge``) cannot be placed against the carried states: a write dropped
with the segment may have taken effect after it began. Such a read is not stored, such a
write is checked as UNKNOWN (``late_ops`` counts both).

List answers: ``record_list`` turns one list into an observation of every owned object of
that kind (present with its digest, or absent). A list observation identical to the
previous read of an object is not stored when no write on that object can have taken
effect since that read began (it adds no information), so quiet objects cost nothing.

Distributed runs: ids shared by several processes (the same-camera scenario's hot ids) are
checked where all their ops meet. A worker built with ``shipped=hot_ids`` never checks those
ids itself; ``drain()`` hands over their completed ops (JSON-serialisable) and the master's
``merge()`` adds them. The master should use ``settle_s`` (e.g. request timeout + two report
intervals) so that it never cuts a segment before every worker's ops of that time arrived.
"""

from __future__ import annotations

import time
import zlib
from collections import Counter
from collections.abc import Callable, Container, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from operator import attrgetter
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from camstream_locust.checker import Violation

CREATE, UPDATE, DELETE, GET, LIST = "create", "update", "delete", "get", "list"
OPERATIONS = (CREATE, UPDATE, DELETE, GET, LIST)
WRITES = frozenset({CREATE, UPDATE, DELETE})

OK, NOT_FOUND, FAILED, UNKNOWN = "ok", "not_found", "failed", "unknown"
OUTCOMES = (OK, NOT_FOUND, FAILED, UNKNOWN)

#: A digest (str) of the client fields, or tuple of them: what a present object holds.
State = Hashable
#: The model state of an object that does not exist.
ABSENT: Final = None
#: Objects are created by the run with fresh ids: they start absent.
INITIAL: Final[frozenset[State]] = frozenset({ABSENT})

#: Default bound (seconds after invoke) for the effect of an UNKNOWN op.
UNKNOWN_HORIZON_S = 30.0
DEFAULT_CAP = 1000
#: Examples of violations found in segments kept per History (all are counted).
MAX_KEPT_VIOLATIONS = 20

_NAME_CHARS = 40
_INF = float("inf")
_by_invoke = attrgetter("invoke")


# --- digests -------------------------------------------------------------------------------------


def _digest(head: str, joined: str) -> str:
    return f"{head[:_NAME_CHARS]}#{zlib.crc32(joined.encode('utf-8', 'surrogatepass')):08x}"


def digest(fields: tuple[Any, ...]) -> str:
    """A short, deterministic digest of field values: the first one (readable) and a CRC of all.

    Deterministic across processes (unlike ``hash``), about half a microsecond; None counts as "".
    """
    parts = ["" if f is None else f if isinstance(f, str) else repr(f) for f in fields]
    return _digest(parts[0] if parts else "", "\x1f".join(parts))


def camera_digest(name: str | None, rtsp_url: str | None) -> str:
    """Digest of a camera's client fields (bindings left out: deleting a server rewrites them)."""
    name = name or ""
    return _digest(name, f"{name}\x1f{rtsp_url or ''}")


def server_digest(name: str | None, url: str | None, model_type: str | None, description: str | None) -> str:
    """Digest of an inference server's client fields (None and "" are the same: "omitted when empty")."""
    name = name or ""
    return _digest(name, f"{name}\x1f{url or ''}\x1f{model_type or ''}\x1f{description or ''}")


# --- one operation ------------------------------------------------------------------------------


@dataclass(slots=True, eq=False)
class Op:
    """One operation on one object. Compared and hashed by identity."""

    obj_id: str
    op: str  # CREATE / UPDATE / DELETE / GET / LIST
    value: State = None  # digest sent (create, update)
    invoke: float = 0.0
    complete: float | None = None  # None: still in flight (or never completed)
    outcome: str | None = None  # OK / NOT_FOUND / FAILED / UNKNOWN; None: in flight
    observed: State = None  # digest read (get/list answered OK)

    def end(self, horizon_s: float) -> float:
        """Latest time the op can take effect: its answer, or invoke + horizon when UNKNOWN/in flight."""
        outcome = self.outcome
        if self.complete is not None and outcome in (OK, NOT_FOUND, FAILED):
            return self.complete
        return max(self.complete or self.invoke, self.invoke + horizon_s)

    def to_list(self) -> list[Any]:
        return [self.obj_id, self.op, self.value, self.invoke, self.complete, self.outcome, self.observed]

    @classmethod
    def from_list(cls, row: list[Any]) -> Op:
        obj_id, op, value, invoke, complete, outcome, observed = row
        return cls(obj_id, op, _thaw(value), float(invoke), complete, outcome, _thaw(observed))


def _thaw(value: Any) -> Any:
    """JSON/msgpack turn tuples into lists; states must be hashable."""
    return tuple(_thaw(v) for v in value) if isinstance(value, list) else value


@dataclass(slots=True, eq=False)
class ObjectLog:
    """The recorded ops of one object, and what earlier (checked, dropped) segments left behind."""

    obj_id: str
    ops: list[Op] = field(default_factory=list)
    #: Segment when ``len(ops)`` reaches this.
    limit: int = DEFAULT_CAP
    #: Writes invoked and not completed yet.
    pending_writes: int = 0
    #: Latest time a completed write can take effect (its answer; invoke + horizon if UNKNOWN).
    settled: float = -_INF
    #: States the object may be in before ``ops[0]`` (after the dropped segments).
    starts: frozenset[State] = INITIAL
    #: Ops carried open across a cut made at no quiet point: checked as UNKNOWN.
    relaxed: frozenset[Op] = frozenset()
    #: Latest time a write dropped with a segment can take effect: a read begun at or before it
    #: may have been served before that write and cannot be checked against ``starts``.
    checked_until: float = -_INF
    segments: int = 0
    segment_ops: int = 0
    violation_counts: Counter[str] = field(default_factory=Counter)
    violations: list[Violation] = field(default_factory=list)
    undecided_segments: int = 0


# --- the history of a process ------------------------------------------------------------------


class History:
    """Per-object histories of one process (or, after ``merge``, of several)."""

    def __init__(
        self,
        cap_per_object: int = DEFAULT_CAP,
        clock: Callable[[], float] = time.monotonic,
        *,
        horizon_s: float = UNKNOWN_HORIZON_S,
        settle_s: float = 0.0,
        segment_budget_s: float = 0.25,
        shipped: Container[str] = (),
        max_kept_violations: int = MAX_KEPT_VIOLATIONS,
    ) -> None:
        if cap_per_object < 8:
            raise ValueError("cap_per_object must be at least 8")
        self.cap = cap_per_object
        self.clock = clock
        self.horizon_s = horizon_s
        self.settle_s = settle_s
        self.segment_budget_s = segment_budget_s
        self.shipped = shipped
        self.max_kept_violations = max_kept_violations
        self._logs: dict[str, ObjectLog] = {}
        self._kept_violations = 0
        #: List observations not stored because they could add nothing.
        self.coalesced = 0
        #: Ops that arrived after their time was checked in a segment (reads dropped, writes relaxed).
        self.late_ops = 0

    # -- recording (hot path) -----------------------------------------------------------------------
    def _log(self, obj_id: str) -> ObjectLog:
        log = self._logs.get(obj_id)
        if log is None:
            log = self._logs[obj_id] = ObjectLog(obj_id, limit=self.cap)
        return log

    def invoke(self, obj_id: str, op: str, value: State = None) -> Op:
        """Record the start of an operation; ``value`` is the digest of the client fields sent."""
        entry = Op(obj_id, op, value, self.clock())
        log = self._logs.get(obj_id) or self._log(obj_id)
        ops = log.ops
        ops.append(entry)
        if op in WRITES:
            log.pending_writes += 1
        if len(ops) >= log.limit:
            self._segment(log)
        return entry

    def complete(self, entry: Op, outcome: str, observed: State = None) -> None:
        """Record the answer of ``entry``; ``observed`` is the digest read (get answered OK)."""
        if entry.complete is not None:
            return
        now = self.clock()
        entry.complete = now
        entry.outcome = outcome
        entry.observed = observed
        if entry.op in WRITES:
            log = self._logs.get(entry.obj_id)
            if log is not None:
                log.pending_writes -= 1
                if outcome != FAILED:
                    end = now if outcome != UNKNOWN else max(now, entry.invoke + self.horizon_s)
                    if end > log.settled:
                        log.settled = end

    def record_list(
        self, invoke_t: float, complete_t: float, seen: Mapping[str, State], owned_ids: Iterable[str]
    ) -> None:
        """A list answered OK: every owned id is observed present (digest in ``seen``) or absent.

        ``owned_ids``: the ids of that kind whose histories this process keeps (its pool, plus the
        shared hot ids for cameras). Ids never recorded here and not listed are skipped.
        """
        logs = self._logs
        for obj_id in owned_ids:
            observed = seen.get(obj_id, ABSENT)
            log = logs.get(obj_id)
            if log is None:
                if observed is ABSENT:
                    continue
                log = self._log(obj_id)
            if invoke_t <= log.checked_until:
                self.late_ops += 1  # begun before a dropped write's effect: unplaceable
                continue
            ops = log.ops
            if ops:
                prev = ops[-1]
                if prev.observed == observed and observed is not ABSENT:
                    observed = prev.observed  # share the string
                if (
                    prev.op == LIST
                    and prev.observed == observed
                    and log.pending_writes == 0
                    and log.settled < prev.invoke
                ):
                    # No write can have taken effect since prev began: this observation adds nothing.
                    self.coalesced += 1
                    continue
            ops.append(
                Op(
                    obj_id,
                    LIST,
                    None,
                    invoke_t,
                    complete_t,
                    NOT_FOUND if observed is ABSENT else OK,
                    observed,
                )
            )
            if len(ops) >= log.limit:
                self._segment(log)

    # -- bounded memory -------------------------------------------------------------------------------
    def _segment(self, log: ObjectLog) -> None:
        """Check and drop the older part of a full log; carry the possible states forward."""
        if log.obj_id in self.shipped:
            log.limit = len(log.ops) + max(1, self.cap // 4)  # checked where all its ops meet
            return
        from camstream_locust.checker import check_object  # checker imports this module

        ops = log.ops
        ops.sort(key=_by_invoke)
        now = self.clock()
        horizon = self.horizon_s
        latest = now - self.settle_s
        n = len(ops)
        limit = max(1, n * 3 // 4)
        ends = [op.end(horizon) for op in ops[: limit + 1]]
        # The latest quiet point at or before ``limit``: every earlier op over before ops[cut] began.
        cut, run_max = 0, -_INF
        for i in range(limit + 1):
            begin = ops[i].invoke
            if i and run_max < begin <= latest:
                cut = i
            if ends[i] > run_max and ops[i].outcome != FAILED:
                run_max = ends[i]
        carried: list[Op] = []
        if cut < max(1, n // 8):
            # No useful quiet point: cut at ``limit`` anyway; the ops open across it stay, relaxed.
            k = limit
            while k > 0 and (ops[k].invoke > latest or ops[k - 1].invoke == ops[k].invoke):
                k -= 1
            if k == 0:
                log.limit = n + max(1, self.cap // 4)
                return
            cut_t = ops[k].invoke
            carried = [
                op for op, end in zip(ops[:k], ends, strict=False) if end >= cut_t and op.outcome != FAILED
            ]
            cut = k
        segment = ops[:cut]
        relaxed = log.relaxed | frozenset(carried) if carried else log.relaxed
        kept = frozenset(carried)
        for op in segment:
            if op.op in WRITES and op.outcome != FAILED and op not in kept:
                end = op.end(horizon)
                if end > log.checked_until:
                    log.checked_until = end
        result = check_object(
            segment, log.starts, self.segment_budget_s, horizon_s=horizon, relaxed=relaxed, obj_id=log.obj_id
        )
        log.segments += 1
        log.segment_ops += result.ops_checked
        if result.violation is not None:
            log.violation_counts[result.violation.name] += 1
            if self._kept_violations < self.max_kept_violations:
                self._kept_violations += 1
                log.violations.append(result.violation)
        elif result.status == "undecided":
            log.undecided_segments += 1
        log.starts = result.end_states
        del ops[:cut]
        if carried:
            ops[:0] = carried
        if relaxed:
            remaining = set(ops)
            log.relaxed = frozenset(op for op in relaxed if op in remaining)
        log.limit = max(self.cap, len(ops) + max(1, self.cap // 8))

    # -- reading ------------------------------------------------------------------------------------
    def ids(self) -> list[str]:
        """Every object id with a history (in first-seen order)."""
        return list(self._logs)

    def ops(self, obj_id: str) -> list[Op]:
        """The ops still held for ``obj_id`` (after the last dropped segment), by invoke time."""
        log = self._logs.get(obj_id)
        return sorted(log.ops, key=_by_invoke) if log else []

    def log(self, obj_id: str) -> ObjectLog | None:
        """The full record of one object (ops, carried states, segment results)."""
        return self._logs.get(obj_id)

    def logs(self) -> list[ObjectLog]:
        return list(self._logs.values())

    def __len__(self) -> int:
        """Ops currently held, over all objects."""
        return sum(len(log.ops) for log in self._logs.values())

    def stats(self) -> dict[str, int]:
        logs = self._logs.values()
        return {
            "objects": len(self._logs),
            "ops_held": sum(len(log.ops) for log in logs),
            "segments": sum(log.segments for log in logs),
            "segment_ops": sum(log.segment_ops for log in logs),
            "coalesced_list_observations": self.coalesced,
            "late_ops": self.late_ops,
        }

    # -- shipping between processes --------------------------------------------------------------------
    def to_dict(self, ids: Iterable[str] | None = None) -> dict[str, Any]:
        """The held ops (all ids, or ``ids``), JSON/msgpack-serialisable; pending ops included."""
        chosen = self._logs.keys() if ids is None else [i for i in ids if i in self._logs]
        return {"ops": [op.to_list() for obj_id in chosen for op in self._logs[obj_id].ops]}

    def drain(self, final: bool = False) -> dict[str, Any]:
        """``to_dict()`` of the completed ops of shipped ids (every op when ``final``), then forget them."""
        rows: list[list[Any]] = []
        for obj_id, log in self._logs.items():
            if obj_id not in self.shipped or not log.ops:
                continue
            keep: list[Op] = []
            for op in log.ops:
                if final or op.complete is not None:
                    rows.append(op.to_list())
                else:
                    keep.append(op)
            log.ops = keep
            log.limit = self.cap
        return {"ops": rows}

    def merge(self, data: Mapping[str, Any] | History) -> None:
        """Add ops from another process (its ``to_dict()``/``drain()``, or the History itself)."""
        if isinstance(data, History):
            data = data.to_dict()
        horizon = self.horizon_s
        touched: set[str] = set()
        for row in data.get("ops", ()):
            op = Op.from_list(row)
            log = self._log(op.obj_id)
            if op.invoke <= log.checked_until:  # arrived after its time was checked (settle_s too short)
                self.late_ops += 1
                if op.op not in WRITES:
                    continue
                log.relaxed = log.relaxed | {op}
            log.ops.append(op)
            if op.op in WRITES and op.outcome != FAILED:  # pending ones count as UNKNOWN
                log.settled = max(log.settled, op.end(horizon))
            touched.add(op.obj_id)
        for obj_id in touched:
            log = self._logs[obj_id]
            log.ops.sort(key=_by_invoke)
            if len(log.ops) >= log.limit:
                self._segment(log)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], **kwargs: Any) -> History:
        history = cls(**kwargs)
        history.merge(data)
        return history
