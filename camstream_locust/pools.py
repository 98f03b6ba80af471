"""Which ids this run owns, shared by every user of one process (pure, single-threaded).

Only ids minted here (or the run's shared hot ids) are ever updated or deleted, so the suite
never touches an object it did not create. At most ``size`` ids are minted per pool; once
they all exist, a create re-POSTs an owned id (an upsert), so lists stay small and a run
of hours costs no more than a run of minutes.
"""

from __future__ import annotations

import random


class IdPool:
    """The ids of one kind (cameras or inference servers) owned by this process."""

    def __init__(self, prefix: str, size: int, rng: random.Random | None = None) -> None:
        self.prefix = prefix
        self.size = size
        self.rng = rng or random.Random()
        #: Every id minted here, in order (at most ``size``).
        self.owned: list[str] = []
        self._owned_set: set[str] = set()
        #: Ids believed to exist now, as a list (random pick) with an index (O(1) removal).
        self._live: list[str] = []
        self._index: dict[str, int] = {}

    # -- choosing ids ---------------------------------------------------------------------------
    def id_for_create(self) -> str:
        """A new id while fewer than ``size`` exist, else an owned one (re-created or upserted)."""
        if len(self.owned) < self.size:
            obj_id = f"{self.prefix}{len(self.owned) + 1}"
            self.owned.append(obj_id)
            self._owned_set.add(obj_id)
            return obj_id
        return self.rng.choice(self.owned)

    def pick(self) -> str | None:
        """A random live id, or None when none is live."""
        return self.rng.choice(self._live) if self._live else None

    def sample(self, k: int) -> list[str]:
        return self.rng.sample(self._live, min(k, len(self._live)))

    def take(self) -> str | None:
        """A random live id, no longer offered to others (for a delete), or None."""
        obj_id = self.pick()
        if obj_id is not None:
            self.discard(obj_id)
        return obj_id

    # -- what answers told us -------------------------------------------------------------------
    def add(self, obj_id: str) -> None:
        """The id exists (a create was acknowledged, or a delete's outcome is unknown)."""
        if obj_id not in self._index:
            self._index[obj_id] = len(self._live)
            self._live.append(obj_id)

    def discard(self, obj_id: str) -> None:
        """The id is gone (deleted, or answered 404)."""
        i = self._index.pop(obj_id, None)
        if i is None:
            return
        last = self._live.pop()
        if last != obj_id:
            self._live[i] = last
            self._index[last] = i

    # -- reading --------------------------------------------------------------------------------
    def owns(self, obj_id: str) -> bool:
        return obj_id in self._owned_set

    def live(self) -> list[str]:
        return list(self._live)

    def __len__(self) -> int:
        return len(self._live)
