"""The cam-stream HTTP API as a Flask app: routes, the JSON envelope, and where faults hook in.

Endpoints are named after the upstream Go handlers (CreateCamera, UpdateCamera, ...);
fault traces use those names. A wrong method or an unknown path answers Go's plain-text
`404 page not found`.
"""

from __future__ import annotations

import json
import random
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import gevent
from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from camstream_locust import contract
from camstream_locust.target import faults, model, store
from camstream_locust.target.golog import GoLog
from camstream_locust.target.model import JsonObject
from camstream_locust.target.store import CAMERAS, SERVERS, Store

T = TypeVar("T")

MAX_BODY_BYTES = 1 << 20
_ABSENT: Any = object()


class ApiError(Exception):
    """A failure answered with the envelope; `error` only where upstream sets it."""

    def __init__(self, status: int, message: str, error: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error = error


def envelope(status: int, message: str, data: Any = _ABSENT, error: str | None = None) -> Response:
    """`{success, message, data?, error?}` as application/json (data may be null)."""
    body: JsonObject = {"success": 200 <= status < 300, "message": message}
    if data is not _ABSENT:
        body["data"] = data
    if error is not None:
        body["error"] = error
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":")) + "\n"
    return Response(text, status, mimetype="application/json")


def go_not_found() -> Response:
    """Go's http.NotFound answer (also what upstream's mux gives for a wrong method)."""
    response = Response("404 page not found\n", 404, content_type="text/plain; charset=utf-8")
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _too_large() -> ApiError:
    return ApiError(413, "Request body too large", "http: request body too large")


def read_body() -> bytes:
    """The raw request body; 413 when over 1 MiB, with a Content-Length or chunked.

    Reads the server's input directly: werkzeug's own limit would silently cut a chunked
    body at the limit (a 400 for the truncated JSON instead of a 413). The server discards
    whatever is left unread.
    """
    length = request.content_length
    if length is not None and length > MAX_BODY_BYTES:
        raise _too_large()
    stream = request.environ.get("wsgi.input")
    if stream is None:
        return b""
    chunks: list[bytes] = []
    size = 0
    while size <= MAX_BODY_BYTES:
        chunk = stream.read(MAX_BODY_BYTES + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > MAX_BODY_BYTES:
        raise _too_large()
    return b"".join(chunks)


def read_json_body() -> object:
    """The request body's first JSON value; 413 over 1 MiB, 400 (error set) when not JSON."""
    try:
        return model.parse_json(read_body())
    except model.FieldError as exc:
        raise ApiError(400, "Invalid request body", str(exc)) from None


def decode(decoder: Callable[[object], T], value: object, message: str = "Invalid request body") -> T:
    try:
        return decoder(value)
    except model.FieldError as exc:
        raise ApiError(400, message, str(exc)) from None


def _list_or_null(items: list[JsonObject]) -> list[JsonObject] | None:
    return items or None


@dataclass
class Faults:
    """What the app needs to inject faults: the dice, the pause for `slow`, and a sleep."""

    dice: faults.FaultDice
    slow_seconds: float = 10.0
    sleep: Callable[[float], None] = field(default=gevent.sleep)

    @property
    def rng(self) -> random.Random:
        return self.dice.rng


def create_app(db: Store, log: GoLog, injected: Faults | None = None) -> Flask:
    """The Flask app serving `db`; `injected` turns fault injection on."""
    app = Flask("camstream_target")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES

    def mutate(change: store.Change[T], *, racy: bool) -> T:
        """Apply a change, with race/torn-file faults when rolled."""
        if injected is None:
            return db.apply(change)
        rng, handler = injected.rng, str(request.endpoint)
        race = racy and injected.dice.roll(faults.RACE)
        torn = injected.dice.roll(faults.TORN_FILE)
        result = db.apply(
            change,
            race_pause=(lambda: injected.sleep(rng.uniform(0.001, 0.020))) if race else None,
            torn_write=faults.torn_writer(rng, injected.sleep) if torn else None,
        )
        if race:
            log.raw(faults.race_report(rng, handler))
            if rng.random() < 0.1:
                log.raw(faults.fatal_map_writes(rng, handler))
                raise ApiError(500, "internal server error", f"fatal error: {faults.CONCURRENT_MAP_WRITES}")
        return result

    def panic(handler: str) -> None:
        """Log a Go nil-pointer panic trace, then either close the connection silently or answer 500.

        Both forms carry the nil-dereference text (the 500 in its `error`), so a client
        can tell this fault from a plain 5xx.
        """
        assert injected is not None
        rng = injected.rng
        client = f"{request.remote_addr}:{request.environ.get('REMOTE_PORT', '0')}"
        log.printf(faults.panic_trace(rng, handler, client, faults.NIL_DEREF))
        if rng.random() < 0.5:
            raise faults.DropConnection
        raise ApiError(500, "internal server error", faults.NIL_DEREF)

    def http_fault() -> Response:
        assert injected is not None
        status = injected.rng.choice((500, 502, 503))
        if status == 500:
            return envelope(500, "Internal server error")
        text = {502: "Bad Gateway", 503: "Service Unavailable"}[status]
        return Response(f"{status} {text}\n", status, content_type="text/plain; charset=utf-8")

    def serve(handler: str, view: Callable[..., Response], kwargs: dict[str, str]) -> Response:
        fault = injected.dice.response_fault() if injected and handler != "Ping" else None
        try:
            if fault == faults.NIL_POINTER:
                panic(handler)
            if fault == faults.HTTP:
                return http_fault()
            if fault == faults.SLOW:
                assert injected is not None
                injected.sleep(injected.slow_seconds)
            response = view(**kwargs)
        except ApiError as exc:
            response = envelope(exc.status, exc.message, error=exc.error)
        if fault == faults.BAD_JSON:
            assert injected is not None
            response.set_data(faults.corrupt_json(injected.rng, response.get_data()))
        return response

    def route(rule: str, method: str, handler: str) -> Callable[[Callable[..., Response]], None]:
        def register(view: Callable[..., Response]) -> None:
            def endpoint(**kwargs: str) -> Response:
                return serve(handler, view, kwargs)

            app.add_url_rule(rule, handler, endpoint, methods=[method], provide_automatic_options=False)

        return register

    # --- health and status

    @route(contract.PING, "GET", "Ping")
    def ping() -> Response:
        return envelope(200, "pong", {"timestamp": model.now_rfc3339()})

    @route(contract.STATUS, "GET", "GetStatus")
    def status() -> Response:
        data = {
            "manager_running": True,
            **db.counts(),
            "persistent_storage": True,
            "data_file": str(db.data_file),
        }
        return envelope(200, "Status retrieved successfully", data)

    # --- cameras

    one_camera = f"{contract.CAMERAS}/<obj_id>"

    def camera_from_body(obj_id: str | None, *, created: bool) -> JsonObject:
        fields = decode(model.decode_camera, read_json_body())
        if created and (not fields["name"] or not fields["rtsp_url"]):
            raise ApiError(400, "Name and RTSP URL are required")
        now = model.now_rfc3339()
        return model.make_camera(
            fields,
            obj_id=obj_id or fields["id"] or model.new_camera_id(),
            enabled=created or fields["enabled"],
            running=created or fields["running"],
            created_at=now,
            updated_at=now,
        )

    @route(contract.CAMERAS, "GET", "ListCameras")
    def list_cameras() -> Response:
        return envelope(200, "Cameras retrieved successfully", _list_or_null(db.list(CAMERAS)))

    @route(contract.CAMERAS, "POST", "CreateCamera")
    def create_camera() -> Response:
        camera = mutate(store.put(CAMERAS, camera_from_body(None, created=True)), racy=True)
        log.printf(f"[INFO] camera {camera['id']} created")
        return envelope(201, "Camera created successfully", camera)

    @route(one_camera, "GET", "GetCamera")
    def get_camera(obj_id: str) -> Response:
        camera = db.get(CAMERAS, obj_id)
        if camera is None:
            raise ApiError(404, "Camera not found")
        return envelope(200, "Camera retrieved successfully", camera)

    @route(one_camera, "PUT", "UpdateCamera")
    def update_camera(obj_id: str) -> Response:
        if db.get(CAMERAS, obj_id) is None:
            raise ApiError(404, "Camera not found")
        camera = mutate(store.replace(CAMERAS, camera_from_body(obj_id, created=False)), racy=True)
        if camera is None:
            raise ApiError(404, "Camera not found")
        log.printf(f"[INFO] camera {obj_id} updated")
        return envelope(200, "Camera updated successfully", camera)

    @route(one_camera, "DELETE", "DeleteCamera")
    def delete_camera(obj_id: str) -> Response:
        if not mutate(store.delete(CAMERAS, obj_id), racy=True):
            raise ApiError(404, "Camera not found")
        log.printf(f"[INFO] camera {obj_id} deleted")
        return envelope(200, "Camera deleted successfully")

    # --- inference servers

    one_server = f"{contract.INFERENCE_SERVERS}/<obj_id>"

    def server_from_body(obj_id: str | None, *, created: bool) -> JsonObject:
        fields = decode(model.decode_server, read_json_body())
        if created and (not fields["name"] or not fields["url"]):
            raise ApiError(400, "Name and URL are required")
        now = model.now_rfc3339()
        return model.make_server(
            fields,
            obj_id=obj_id or fields["id"] or model.new_server_id(fields["model_type"]),
            enabled=created or fields["enabled"],
            created_at=now,
            updated_at=now,
        )

    @route(contract.INFERENCE_SERVERS, "GET", "ListInferenceServers")
    def list_servers() -> Response:
        return envelope(200, "Inference servers retrieved successfully", _list_or_null(db.list(SERVERS)))

    @route(contract.INFERENCE_SERVERS, "POST", "CreateInferenceServer")
    def create_server() -> Response:
        server = mutate(store.put(SERVERS, server_from_body(None, created=True)), racy=True)
        log.printf(f"[INFO] inference server {server['id']} created")
        return envelope(201, "Inference server created successfully", server)

    @route(one_server, "GET", "GetInferenceServer")
    def get_server(obj_id: str) -> Response:
        server = db.get(SERVERS, obj_id)
        if server is None:
            raise ApiError(404, "Inference server not found")
        return envelope(200, "Inference server retrieved successfully", server)

    @route(one_server, "PUT", "UpdateInferenceServer")
    def update_server(obj_id: str) -> Response:
        if db.get(SERVERS, obj_id) is None:
            raise ApiError(404, "Inference server not found")
        server = mutate(store.replace(SERVERS, server_from_body(obj_id, created=False)), racy=True)
        if server is None:
            raise ApiError(404, "Inference server not found")
        log.printf(f"[INFO] inference server {obj_id} updated")
        return envelope(200, "Inference server updated successfully", server)

    @route(one_server, "DELETE", "DeleteInferenceServer")
    def delete_server(obj_id: str) -> Response:
        if not mutate(store.delete_server(obj_id), racy=True):
            raise ApiError(404, "Inference server not found")
        log.printf(f"[INFO] inference server {obj_id} deleted")
        return envelope(200, "Inference server deleted successfully")

    # --- alert server and configuration

    @route(contract.ALERT_SERVER, "GET", "GetAlertServer")
    def get_alert() -> Response:
        return envelope(200, "Alert server retrieved successfully", db.alert_server())

    @route(contract.ALERT_SERVER, "PUT", "UpdateAlertServer")
    def update_alert() -> Response:
        fields = decode(model.decode_alert, read_json_body())
        alert = mutate(store.set_alert(model.make_alert(fields, updated_at=model.now_rfc3339())), racy=False)
        log.printf("[INFO] alert server updated")
        return envelope(200, "Alert server updated successfully", alert)

    @route(contract.CONFIG_EXPORT, "GET", "ExportConfig")
    def export_config() -> Response:
        response = Response(db.export_bytes(), 200, mimetype="application/json")
        response.headers["Content-Disposition"] = "attachment; filename=cameras.json"
        return response

    @route(contract.CONFIG_IMPORT, "POST", "ImportConfig")
    def import_config() -> Response:
        now = model.now_rfc3339()
        new = decode(
            lambda v: model.decode_store(v, now=now), read_json_body(), "Invalid configuration format"
        )
        mutate(store.replace_all(new), racy=False)
        counts = {"cameras_count": len(new[CAMERAS]), "inference_servers_count": len(new[SERVERS])}
        log.printf(
            f"[INFO] configuration imported: {counts['cameras_count']} cameras, "
            f"{counts['inference_servers_count']} inference servers"
        )
        return envelope(200, "Configuration imported successfully", counts)

    # --- errors

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        if exc.code in (404, 405):
            return go_not_found()
        if exc.code == 413:
            return envelope(413, "Request body too large", error="http: request body too large")
        return envelope(exc.code or 500, exc.name)

    @app.errorhandler(Exception)
    def unexpected_error(exc: Exception) -> Response:
        log.printf(f"[ERROR] {request.method} {request.path}: {''.join(traceback.format_exception(exc))}")
        return envelope(500, "internal server error", error=str(exc))

    return app
