"""The state one load-generating process keeps for a run: ids it owns, payloads, findings delta.

Created at test start (when workers have received the master's options, run id included)
and shared by every user of the process.
"""

from __future__ import annotations

import random
import weakref
from dataclasses import dataclass, field
from typing import Any

from camstream_locust import contract, payloads
from camstream_locust.findings import Findings
from camstream_locust.history import History
from camstream_locust.pools import IdPool
from camstream_locust.scenarios import HOT_CAMERAS


@dataclass
class RunContext:
    run_id: str
    process_tag: str
    pool_size: int
    request_timeout: float
    closed_port: int
    #: What this process found since its last report (shipped to the master, or merged locally).
    findings: Findings = field(default_factory=Findings)
    #: Set when the run must not load the server (e.g. the preflight failed): the reason.
    halted: str | None = None
    #: --allow-import: the config-file task sends each export back as an import.
    allow_import: bool = False
    #: Per-object operation histories (None: history checking is off).
    history: History | None = None
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        prefix = payloads.run_prefix(self.run_id)
        self.prefix = prefix
        self.payloads = payloads.Payloads(self.process_tag, self.closed_port, self.rng)
        self.cameras = IdPool(f"{prefix}{self.process_tag}-cam-", self.pool_size, self.rng)
        self.servers = IdPool(f"{prefix}{self.process_tag}-inf-", self.pool_size, self.rng)
        #: Shared by every process of the run: the same-camera scenario's contention targets.
        self.hot_cameras = hot_camera_ids(self.run_id)

    def owned_ids(self, path: str) -> list[str]:
        """Every id of one collection whose history this process keeps (its pool, the hot ids)."""
        if path == contract.CAMERAS:
            return [*self.cameras.owned, *self.hot_cameras]
        return list(self.servers.owned)


def hot_camera_ids(run_id: str) -> list[str]:
    """The same-camera scenario's shared ids: the same in every process of the run."""
    prefix = payloads.run_prefix(run_id)
    return [f"{prefix}hot-cam-{k}" for k in range(1, HOT_CAMERAS + 1)]


_contexts: weakref.WeakKeyDictionary[Any, RunContext] = weakref.WeakKeyDictionary()


def install(environment: Any, ctx: RunContext) -> RunContext:
    _contexts[environment] = ctx
    return ctx


def of(environment: Any) -> RunContext | None:
    return _contexts.get(environment)
