"""Bench-only bare locustfile: the suite's requests with none of its checks (the overhead baseline).

    locust -f bench/bare_locustfile.py --headless -H URL -u 20 -r 20 -t 60s --only-summary
    (BARE_SCENARIO=NAME picks another scenario's weights; default: mixed)

The same FastHttpUser client and timeouts, the same ``wait_time``, the same task weights
and the same request bodies and ids as the suite, all taken from the suite's own modules
(``camstream_locust.scenarios``, ``.users``, ``.payloads``, ``.pools``) so they cannot drift.
What it leaves out is exactly what the overhead benchmark measures: no ``catch_response``,
no validation of answers, no failure classification, no findings, no history recording,
no periodic block, no listeners, no preflight or cleanup. Locust's own rule decides success
(status < 400). The id pools follow answers by status code only, as the suite's do by outcome,
so both make the same mix of creates, upserts, updates and deletes.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

from locust import FastHttpUser

from camstream_locust import context, contract, payloads, pools
from camstream_locust import users as suite_users
from camstream_locust.scenarios import SCENARIOS

SCENARIO = SCENARIOS[os.environ.get("BARE_SCENARIO", "mixed")]
CAMERA_ITEM = suite_users.api.CAMERA_ITEM
SERVER_ITEM = suite_users.api.SERVER_ITEM
TIMEOUT = 5.0  # the suite's --request-timeout default
POOL_SIZE = 50  # the suite's --pool-size default


def _new_context() -> context.RunContext:
    """The suite's own per-process state (pools, payloads, hot ids), built the way the suite does."""
    return context.RunContext(
        run_id=payloads.new_run_id(),
        process_tag=payloads.new_process_tag(),
        pool_size=POOL_SIZE,
        request_timeout=TIMEOUT,
        closed_port=payloads.pick_closed_port(),
    )


#: One per process, as the suite's; built at import (before any user runs: building it probes a
#: closed port, a greenlet switch, so building it lazily in on_start would race and build many).
SHARED = _new_context()


class BareOps(FastHttpUser):
    abstract = True
    wait_time = suite_users.CamStreamUser.wait_time
    network_timeout = TIMEOUT
    connection_timeout = TIMEOUT

    def on_start(self) -> None:
        self.ctx = SHARED

    # -- generic --------------------------------------------------------------------------------
    def _create(self, path: str, pool: pools.IdPool | None, obj_id: str, body: dict) -> None:
        status = self.client.request("POST", path, name=path, json=body).status_code
        if pool is not None and (status == 201 or not status or status >= 500):
            pool.add(obj_id)

    def _update(self, path: str, name: str, pool: pools.IdPool | None, obj_id: str, body: dict) -> None:
        status = self.client.request("PUT", f"{path}/{obj_id}", name=name, json=body).status_code
        if status == 404 and pool is not None:
            pool.discard(obj_id)

    def _delete(self, path: str, name: str, pool: pools.IdPool | None, obj_id: str) -> None:
        status = self.client.request("DELETE", f"{path}/{obj_id}", name=name).status_code
        if pool is not None and (not status or status >= 500):
            pool.add(obj_id)

    def _get(self, path: str, name: str, pool: pools.IdPool | None, obj_id: str) -> None:
        status = self.client.request("GET", f"{path}/{obj_id}", name=name).status_code
        if status == 404 and pool is not None:
            pool.discard(obj_id)

    # -- tasks: the same names as the suite's (users.CamStreamUser) ------------------------------
    def create_camera(self) -> None:
        c = self.ctx
        obj_id = c.cameras.id_for_create()
        self._create(contract.CAMERAS, c.cameras, obj_id, c.payloads.camera(obj_id, c.servers.sample(2)))

    def update_camera(self) -> None:
        c = self.ctx
        obj_id = c.cameras.pick()
        if obj_id is None:
            return self.create_camera()
        body = c.payloads.camera(obj_id, c.servers.sample(2))
        self._update(contract.CAMERAS, CAMERA_ITEM, c.cameras, obj_id, body)

    def delete_camera(self) -> None:
        obj_id = self.ctx.cameras.take()
        if obj_id is not None:
            self._delete(contract.CAMERAS, CAMERA_ITEM, self.ctx.cameras, obj_id)

    def get_camera(self) -> None:
        obj_id = self.ctx.cameras.pick()
        if obj_id is None:
            return self.create_camera()
        self._get(contract.CAMERAS, CAMERA_ITEM, self.ctx.cameras, obj_id)

    def list_cameras(self) -> None:
        self.client.request("GET", contract.CAMERAS, name=contract.CAMERAS)

    def create_server(self) -> None:
        c = self.ctx
        obj_id = c.servers.id_for_create()
        self._create(contract.INFERENCE_SERVERS, c.servers, obj_id, c.payloads.server(obj_id))

    def update_server(self) -> None:
        c = self.ctx
        obj_id = c.servers.pick()
        if obj_id is None:
            return self.create_server()
        body = c.payloads.server(obj_id)
        self._update(contract.INFERENCE_SERVERS, SERVER_ITEM, c.servers, obj_id, body)

    def delete_server(self) -> None:
        obj_id = self.ctx.servers.take()
        if obj_id is not None:
            self._delete(contract.INFERENCE_SERVERS, SERVER_ITEM, self.ctx.servers, obj_id)

    def get_server(self) -> None:
        obj_id = self.ctx.servers.pick()
        if obj_id is None:
            return self.create_server()
        self._get(contract.INFERENCE_SERVERS, SERVER_ITEM, self.ctx.servers, obj_id)

    def list_servers(self) -> None:
        self.client.request("GET", contract.INFERENCE_SERVERS, name=contract.INFERENCE_SERVERS)

    def status(self) -> None:
        self.client.request("GET", contract.STATUS, name=contract.STATUS)

    def config_file(self) -> None:
        self.client.request("GET", contract.CONFIG_EXPORT, name=contract.CONFIG_EXPORT)

    def hot_create(self) -> None:
        obj_id = self.ctx.rng.choice(self.ctx.hot_cameras)
        self._create(contract.CAMERAS, None, obj_id, self.ctx.payloads.camera(obj_id))

    def hot_update(self) -> None:
        obj_id = self.ctx.rng.choice(self.ctx.hot_cameras)
        self._update(contract.CAMERAS, CAMERA_ITEM, None, obj_id, self.ctx.payloads.camera(obj_id))

    def hot_delete(self) -> None:
        self._delete(contract.CAMERAS, CAMERA_ITEM, None, self.ctx.rng.choice(self.ctx.hot_cameras))

    def hot_get(self) -> None:
        self._get(contract.CAMERAS, CAMERA_ITEM, None, self.ctx.rng.choice(self.ctx.hot_cameras))


class BareUser(BareOps):
    """The chosen scenario's weights (scenarios.SCENARIOS), on the bare operations above."""

    tasks: ClassVar[dict[Any, int]] = {getattr(BareOps, t): w for t, w in SCENARIO.weights.items()}
