"""Locust users: one class per scenario, weighted tasks over cameras, inference servers, status, config.

Every answer is judged inside ``catch_response`` (status, envelope, data shape); nothing
may escape the ``with`` block, or the request would vanish from the statistics. Judging is
cheap on the success path; classification happens only for failures (listeners.py).
"""

from __future__ import annotations

from typing import Any

import geventhttpclient.client
from locust import FastHttpUser, between
from locust.exception import StopUser

from camstream_locust import api, audit, context, contract
from camstream_locust.scenarios import SCENARIOS, Scenario


def _never_resend(method: str) -> bool:
    """geventhttpclient silently resends GET/PUT/DELETE when a connection closes without an answer.

    That hides exactly what this suite looks for (a handler that panics closes the connection)
    and sends a write twice, which corrupts the history; so a request is always sent once.
    """
    return False


geventhttpclient.client._may_retry_after_send_error = _never_resend

OK = "ok"
NOT_FOUND = "not_found"
FAILED = "failed"  # a definite answer that had no effect (4xx other than 404)
UNKNOWN = "unknown"  # no answer, or a 5xx: the operation may or may not have taken effect

CREATE, UPDATE, DELETE, GET, LIST = "create", "update", "delete", "get", "list"


class _Kind:
    """Everything that differs between cameras and inference servers."""

    def __init__(self, path: str, item_name: str, validate: Any, kept: Any, value: Any, label: str) -> None:
        self.path = path
        self.item_name = item_name
        self.validate = validate
        self.kept = kept
        #: The history's value of an object of this kind (a digest of its client fields).
        self.value = value
        self.label = label


CAMERAS = _Kind(contract.CAMERAS, api.CAMERA_ITEM, api.camera, api.camera_kept, audit.camera_state, "camera")
SERVERS = _Kind(
    contract.INFERENCE_SERVERS,
    api.SERVER_ITEM,
    api.server,
    api.server_kept,
    audit.server_state,
    "inference server",
)


class CamStreamUser(FastHttpUser):
    """The operations of every scenario; subclasses only choose task weights."""

    abstract = True
    host = f"http://localhost:{contract.DEFAULT_PORT}"
    wait_time = between(0.0, 0.1)

    def __init__(self, environment: Any) -> None:
        options = environment.parsed_options
        timeout = float(getattr(options, "request_timeout", 5.0) or 5.0)
        self.network_timeout = timeout
        self.connection_timeout = timeout
        super().__init__(environment)
        self.ctx: context.RunContext | None = None

    def on_start(self) -> None:
        self.ctx = context.of(self.environment)
        if self.ctx is None or self.ctx.halted:
            raise StopUser()

    # -- one request, judged --------------------------------------------------------------------
    def _send(
        self,
        method: str,
        path: str,
        name: str,
        expect: int,
        body: Any = None,
        check: Any = None,
        item: bool = False,
    ) -> tuple[str, dict[str, Any] | None]:
        """Send, judge and report one request: (outcome, envelope or None when unreadable)."""
        with self.client.request(method, path, name=name, json=body, catch_response=True) as r:
            try:
                status = r.status_code
                if not status:  # no answer: Locust reports the client's own error (timeout, reset...)
                    return UNKNOWN, None
                if status == expect:
                    try:
                        answer = api.ok_envelope(r.content)
                        if check is not None:
                            check(answer)
                    except api.Invalid as exc:
                        r.failure(f"{exc} ({method} {name})")
                        return OK, None
                    r.success()
                    return OK, answer
                if status == 404 and item:
                    # Another user deleted it first: an expected outcome of contention, not an error.
                    r.success()
                    assert self.ctx is not None
                    self.ctx.findings.record_contention(f"{method} not found")
                    return NOT_FOUND, None
                r.failure(api.failure_text(status, f"{method} {name}", r.content))
                # A 4xx was refused (no effect); any other unexpected answer may have taken effect.
                return (FAILED if 400 <= status < 500 else UNKNOWN), None
            except Exception as exc:  # a bug of the suite must not make the request vanish
                r.failure(f"suite error: {type(exc).__name__}: {exc}")
                return UNKNOWN, None

    def _record(self, obj_id: str, op: str, value: Any = None) -> Any:
        history = self.ctx.history if self.ctx else None
        return history.invoke(obj_id, op, value) if history is not None else None

    def _done(self, entry: Any, outcome: str, observed: Any = None) -> None:
        if entry is not None:
            self.ctx.history.complete(entry, outcome, observed)  # type: ignore[union-attr]

    # -- generic operations ---------------------------------------------------------------------
    def _create(self, kind: _Kind, pool: Any, obj_id: str, body: dict[str, Any]) -> None:
        entry = self._record(obj_id, CREATE, kind.value(body))
        outcome, _ = self._send(
            "POST",
            kind.path,
            kind.path,
            201,
            body,
            check=lambda a: kind.kept(kind.validate(a.get("data")), body),
        )
        self._done(entry, outcome)
        if outcome in (OK, UNKNOWN) and pool is not None:
            pool.add(obj_id)

    def _update(self, kind: _Kind, pool: Any, obj_id: str, body: dict[str, Any]) -> None:
        entry = self._record(obj_id, UPDATE, kind.value(body))
        outcome, _ = self._send(
            "PUT",
            f"{kind.path}/{obj_id}",
            kind.item_name,
            200,
            body,
            check=lambda a: kind.kept(kind.validate(a.get("data")), body),
            item=True,
        )
        self._done(entry, outcome)
        if outcome == NOT_FOUND and pool is not None:
            pool.discard(obj_id)

    def _delete(self, kind: _Kind, pool: Any, obj_id: str) -> None:
        entry = self._record(obj_id, DELETE)
        outcome, _ = self._send("DELETE", f"{kind.path}/{obj_id}", kind.item_name, 200, item=True)
        self._done(entry, outcome)
        if outcome == UNKNOWN and pool is not None:
            pool.add(obj_id)

    def _get(self, kind: _Kind, pool: Any, obj_id: str) -> None:
        entry = self._record(obj_id, GET)

        def check(answer: dict[str, Any]) -> None:
            obj = kind.validate(answer.get("data"))
            if obj["id"] != obj_id:
                raise api.Invalid(f"bad data: GET {kind.label} {obj_id} answered id {obj['id']!r}")

        outcome, answer = self._send(
            "GET", f"{kind.path}/{obj_id}", kind.item_name, 200, check=check, item=True
        )
        if outcome == OK and answer is not None:
            self._done(entry, OK, kind.value(answer["data"]))
        elif outcome == NOT_FOUND:
            self._done(entry, NOT_FOUND)
            if pool is not None:
                pool.discard(obj_id)
        else:
            self._done(entry, UNKNOWN)

    def _list(self, kind: _Kind) -> None:
        ctx = self.ctx
        history = ctx.history if ctx else None
        started = history.clock() if history is not None else 0.0
        outcome, answer = self._send(
            "GET", kind.path, kind.path, 200, check=lambda a: api.listing(a, kind.validate)
        )
        if history is not None and outcome == OK and answer is not None:
            owned = ctx.owned_ids(kind.path)
            seen = audit.observed(answer.get("data") or (), set(owned), kind.value)
            history.record_list(started, history.clock(), seen, owned)

    # -- tasks (referenced by name from scenarios.py) ------------------------------------------
    def create_camera(self) -> None:
        ctx = self.ctx
        obj_id = ctx.cameras.id_for_create()
        self._create(CAMERAS, ctx.cameras, obj_id, ctx.payloads.camera(obj_id, ctx.servers.sample(2)))

    def update_camera(self) -> None:
        ctx = self.ctx
        obj_id = ctx.cameras.pick()
        if obj_id is None:
            return self.create_camera()
        self._update(CAMERAS, ctx.cameras, obj_id, ctx.payloads.camera(obj_id, ctx.servers.sample(2)))

    def delete_camera(self) -> None:
        obj_id = self.ctx.cameras.take()
        if obj_id is not None:
            self._delete(CAMERAS, self.ctx.cameras, obj_id)

    def get_camera(self) -> None:
        obj_id = self.ctx.cameras.pick()
        if obj_id is None:
            return self.create_camera()
        self._get(CAMERAS, self.ctx.cameras, obj_id)

    def list_cameras(self) -> None:
        self._list(CAMERAS)

    def create_server(self) -> None:
        obj_id = self.ctx.servers.id_for_create()
        self._create(SERVERS, self.ctx.servers, obj_id, self.ctx.payloads.server(obj_id))

    def update_server(self) -> None:
        obj_id = self.ctx.servers.pick()
        if obj_id is None:
            return self.create_server()
        self._update(SERVERS, self.ctx.servers, obj_id, self.ctx.payloads.server(obj_id))

    def delete_server(self) -> None:
        obj_id = self.ctx.servers.take()
        if obj_id is not None:
            self._delete(SERVERS, self.ctx.servers, obj_id)

    def get_server(self) -> None:
        obj_id = self.ctx.servers.pick()
        if obj_id is None:
            return self.create_server()
        self._get(SERVERS, self.ctx.servers, obj_id)

    def list_servers(self) -> None:
        self._list(SERVERS)

    def status(self) -> None:
        self._send("GET", contract.STATUS, contract.STATUS, 200, check=api.status)

    def config_file(self) -> None:
        """The original tool's "config.json modification", against the server: export and validate."""
        with self.client.get(contract.CONFIG_EXPORT, name=contract.CONFIG_EXPORT, catch_response=True) as r:
            try:
                if not r.status_code:
                    return
                if r.status_code != 200:
                    r.failure(api.failure_text(r.status_code, f"GET {contract.CONFIG_EXPORT}", r.content))
                    return
                disposition = r.headers.get("Content-Disposition") or ""
                if "attachment" not in disposition:
                    r.failure(
                        f"bad data: config export without an attachment Content-Disposition ({disposition!r})"
                    )
                    return
                exported = api.store(api.parse_json(r.content))
                r.success()
            except api.Invalid as exc:
                r.failure(f"{exc} (GET {contract.CONFIG_EXPORT})")
                return
            except Exception as exc:
                r.failure(f"suite error: {type(exc).__name__}: {exc}")
                return
        if self.ctx.allow_import:
            self._import(r.content, exported)

    def _import(self, raw: bytes, exported: dict[str, Any]) -> None:
        """--allow-import: send the export straight back (a config conflict with the CRUD load)."""
        counts = {
            "cameras_count": len(exported.get("cameras") or {}),
            "inference_servers_count": len(exported.get("inference_servers") or {}),
        }

        def check(answer: dict[str, Any]) -> None:
            data = answer.get("data")
            if not isinstance(data, dict) or {k: data.get(k) for k in counts} != counts:
                raise api.Invalid(f"bad data: import answered {data!r}, expected {counts}")

        with self.client.post(
            contract.CONFIG_IMPORT,
            data=raw,
            name=contract.CONFIG_IMPORT,
            catch_response=True,
            headers={"Content-Type": "application/json"},
        ) as r:
            try:
                if not r.status_code:
                    return
                if r.status_code != 200:
                    r.failure(api.failure_text(r.status_code, f"POST {contract.CONFIG_IMPORT}", r.content))
                    return
                check(api.ok_envelope(r.content))
                r.success()
            except api.Invalid as exc:
                r.failure(f"{exc} (POST {contract.CONFIG_IMPORT})")
            except Exception as exc:
                r.failure(f"suite error: {type(exc).__name__}: {exc}")

    # -- the same-camera scenario: every user of every worker on the same few ids -----------------
    def hot_create(self) -> None:
        obj_id = self.ctx.rng.choice(self.ctx.hot_cameras)
        self._create(CAMERAS, None, obj_id, self.ctx.payloads.camera(obj_id))

    def hot_update(self) -> None:
        obj_id = self.ctx.rng.choice(self.ctx.hot_cameras)
        self._update(CAMERAS, None, obj_id, self.ctx.payloads.camera(obj_id))

    def hot_delete(self) -> None:
        self._delete(CAMERAS, None, self.ctx.rng.choice(self.ctx.hot_cameras))

    def hot_get(self) -> None:
        self._get(CAMERAS, None, self.ctx.rng.choice(self.ctx.hot_cameras))


def _scenario_class(scenario: Scenario) -> type[CamStreamUser]:
    tasks = {getattr(CamStreamUser, task): weight for task, weight in scenario.weights.items()}
    doc = f"Scenario {scenario.name!r}: {scenario.summary}."
    return type(
        scenario.class_name, (CamStreamUser,), {"tasks": tasks, "__doc__": doc, "__module__": __name__}
    )


#: scenario name -> its User class (MixedUser, ReadsUser, WritesUser, ConfigConflictUser, SameCameraUser).
USER_CLASSES: dict[str, type[CamStreamUser]] = {name: _scenario_class(s) for name, s in SCENARIOS.items()}
