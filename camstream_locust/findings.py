"""What a run has found: mergeable counters and a ring of recent errors (pure).

One ``Findings`` holds the totals of a run; each load-generating process records into a
``Findings`` delta of its own and ships it with ``to_dict()``; the totals grow only by
``merge()``. Locally the same path is taken, so local and distributed runs count alike.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from camstream_locust.classify import CATEGORIES

RECENT_LIMIT = 50
#: Times of connections dropped without an answer kept (to link them to logged panics).
DROP_TIMES_LIMIT = 5000
MESSAGE_LIMIT = 300


@dataclass(frozen=True)
class RecentError:
    time: float  # epoch seconds
    category: str
    name: str  # request name, e.g. "PUT /api/cameras/[id]"
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"time": self.time, "category": self.category, "name": self.name, "message": self.message}


@dataclass
class Findings:
    #: Failed requests by error category (see classify.CATEGORIES).
    categories: Counter[str] = field(default_factory=Counter)
    #: Failed requests by request name, e.g. {"PUT /api/cameras/[id]": 3}.
    by_name: Counter[str] = field(default_factory=Counter)
    #: Expected outcomes of contention that are not errors, e.g. {"not_found": 12}.
    contention: Counter[str] = field(default_factory=Counter)
    #: Findings that are not failed requests (possible panics, server-log reports,
    #: history violations, torn data-file reads), as "kind" -> count.
    notes: Counter[str] = field(default_factory=Counter)
    #: Extra findings by error category, from other sources than requests
    #: (the server's log, the history checker, data-file checks).
    extra_categories: Counter[str] = field(default_factory=Counter)
    #: Processes that counted into these findings (workers, local runner).
    sources: set[str] = field(default_factory=set)
    recent: deque[RecentError] = field(default_factory=lambda: deque(maxlen=RECENT_LIMIT))
    #: First example of each note kind or category: kind -> message.
    examples: dict[str, str] = field(default_factory=dict)
    #: When connections were dropped without an answer (epoch seconds, the latest kept).
    drop_times: list[float] = field(default_factory=list)

    # -- recording (on the process that saw it) -------------------------------------------
    def record_failure(
        self, category: str, name: str, message: str, when: float | None = None, possible_panic: bool = False
    ) -> None:
        self.categories[category] += 1
        self.by_name[name] += 1
        message = message[:MESSAGE_LIMIT]
        self.recent.append(RecentError(time.time() if when is None else when, category, name, message))
        self.examples.setdefault(category, f"{name}: {message}")
        if possible_panic:
            self.note("possible_panic", f"{name}: {message}")
            self.drop_times.append(self.recent[-1].time)

    def record_contention(self, outcome: str) -> None:
        self.contention[outcome] += 1

    def note(self, kind: str, example: str | None = None, count: int = 1) -> None:
        self.notes[kind] += count
        if example is not None:
            self.examples.setdefault(kind, example[: MESSAGE_LIMIT * 4])

    def record_extra(
        self, category: str, kind: str, name: str, message: str, count: int = 1, recent: bool = True
    ) -> None:
        """A finding from outside the request path, counted in its category and as a note."""
        self.extra_categories[category] += count
        self.note(kind, message, count)
        if recent:
            self.recent.append(RecentError(time.time(), category, name, message[:MESSAGE_LIMIT]))

    # -- shipping and merging ---------------------------------------------------------------
    def is_empty(self) -> bool:
        return not (self.categories or self.contention or self.notes or self.extra_categories or self.recent)

    def to_dict(self) -> dict[str, Any]:
        return {
            "categories": dict(self.categories),
            "by_name": dict(self.by_name),
            "contention": dict(self.contention),
            "notes": dict(self.notes),
            "extra_categories": dict(self.extra_categories),
            "sources": sorted(self.sources),
            "recent": [error.to_dict() for error in self.recent],
            "examples": dict(self.examples),
            "drop_times": list(self.drop_times),
        }

    def drain(self) -> dict[str, Any]:
        """``to_dict()`` of what was recorded since the last drain, then forget it."""
        data = self.to_dict()
        for counter in (self.categories, self.by_name, self.contention, self.notes, self.extra_categories):
            counter.clear()
        self.recent.clear()
        self.examples.clear()
        self.drop_times.clear()
        return data

    def merge(self, data: dict[str, Any]) -> None:
        """Add a delta produced by ``to_dict()``/``drain()`` (from any process)."""
        self.categories.update(data.get("categories", {}))
        self.by_name.update(data.get("by_name", {}))
        self.contention.update(data.get("contention", {}))
        self.notes.update(data.get("notes", {}))
        self.extra_categories.update(data.get("extra_categories", {}))
        self.sources.update(data.get("sources", ()))
        recent = [RecentError(**error) for error in data.get("recent", ())]
        if recent:
            merged = sorted([*self.recent, *recent], key=lambda error: error.time)[-RECENT_LIMIT:]
            self.recent.clear()
            self.recent.extend(merged)
        for kind, example in data.get("examples", {}).items():
            self.examples.setdefault(kind, example)
        drops = data.get("drop_times")
        if drops:
            self.drop_times = sorted([*self.drop_times, *drops])[-DROP_TIMES_LIMIT:]

    # -- reading ------------------------------------------------------------------------------
    def count(self, category: str) -> int:
        """Findings of one category from every source."""
        return self.categories[category] + self.extra_categories[category]

    def extra(self, category: str) -> int:
        """Findings of one category from outside the request path (server log, history, data file)."""
        return self.extra_categories[category]

    def request_errors(self) -> int:
        return sum(self.categories.values())

    def all_categories(self) -> dict[str, int]:
        return {category: self.count(category) for category in CATEGORIES}
