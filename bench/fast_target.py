"""Bench-only cam-stream server: in memory, raw HTTP/1.1 on a gevent StreamServer, as cheap as Python gets.

    .venv/bin/python bench/fast_target.py --port 0 [--max-seconds 900]
    -> prints "fast-target listening on http://127.0.0.1:PORT"

Why it exists: the overhead benchmark needs a target that is not the bottleneck and whose
answers the suite accepts. Canned answers (nginx ``return``) cannot echo a POST/PUT body,
and they would contradict what the run wrote (a GET or a list that never shows the objects
just created), so the suite's "kept as sent" and history checks would turn every such answer
into a failure and measure its failure path, not its normal one. This server keeps the
state, answers every route of the contract correctly, and is atomic per request (one
greenlet runs at a time and nothing here yields between read and write), so a correct
suite finds nothing. It skips everything the contract leaves to the server that costs CPU:
no persistence, no Flask, no WSGI; list and export answers are serialised once per change.

It is loopback-only, exits by itself after ``--max-seconds`` and on SIGTERM/SIGINT, and is
not a reference: use the real reference target (``python -m camstream_locust.target``) for
anything but measuring the suite's own cost.
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import sys
import time
from typing import Any
from urllib.parse import unquote

import gevent
import gevent.event
from gevent.server import StreamServer

CAMERAS = "/api/cameras"
SERVERS = "/api/inference-servers"
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_REASONS = {200: b"OK", 201: b"Created", 400: b"Bad Request", 404: b"Not Found"}
_NOT_FOUND = b"404 page not found\n"


class Store:
    def __init__(self) -> None:
        self.tables: dict[str, dict[str, dict[str, Any]]] = {CAMERAS: {}, SERVERS: {}}
        self.alert: dict[str, Any] = {"url": "", "enabled": False, "updated_at": _now()}
        self.version = 0
        self._cache: dict[str, tuple[int, bytes]] = {}
        self.served = 0

    def changed(self) -> None:
        self.version += 1

    def cached(self, key: str, build: Any) -> bytes:
        hit = self._cache.get(key)
        if hit is not None and hit[0] == self.version:
            return hit[1]
        body = build()
        self._cache[key] = (self.version, body)
        return body


_clock = [0.0, ""]


def _now() -> str:
    t = time.time()
    if t - _clock[0] >= 1.0:
        _clock[0] = t
        _clock[1] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
    return _clock[1]


def _envelope(message: str, data: Any = None, with_data: bool = True) -> bytes:
    body: dict[str, Any] = {"success": True, "message": message}
    if with_data:
        body["data"] = data
    return _dumps(body).encode()


def _fail(status: int, message: str, error: str | None = None) -> tuple[int, bytes, bytes]:
    body: dict[str, Any] = {"success": False, "message": message}
    if error:
        body["error"] = error
    return status, _dumps(body).encode(), b"application/json"


def _camera(obj_id: str, body: dict[str, Any], old: dict[str, Any] | None, create: bool) -> dict[str, Any]:
    now = _now()
    cam: dict[str, Any] = {
        "id": obj_id,
        "name": body.get("name") or "",
        "rtsp_url": body.get("rtsp_url") or "",
        "enabled": True if create else bool(body.get("enabled")),
        "running": True if create else bool(body.get("running")),
        "created_at": old["created_at"] if old and not create else now,
        "updated_at": now,
    }
    bindings = body.get("inference_server_bindings")
    if bindings:
        cam["inference_server_bindings"] = bindings
    return cam


def _server(obj_id: str, body: dict[str, Any], old: dict[str, Any] | None, create: bool) -> dict[str, Any]:
    now = _now()
    srv: dict[str, Any] = {
        "id": obj_id,
        "name": body.get("name") or "",
        "url": body.get("url") or "",
        "model_type": body.get("model_type") or "other",
        "enabled": True if create else bool(body.get("enabled")),
        "created_at": old["created_at"] if old and not create else now,
        "updated_at": now,
    }
    if body.get("description"):
        srv["description"] = body["description"]
    return srv


_BUILD = {CAMERAS: _camera, SERVERS: _server}
_REQUIRED = {CAMERAS: ("name", "rtsp_url"), SERVERS: ("name", "url")}
_PREFIX = {CAMERAS: "cam_", SERVERS: "inf_other_"}
_LABEL = {CAMERAS: "Camera", SERVERS: "Inference server"}


def route(db: Store, method: str, path: str, raw: bytes) -> tuple[int, bytes, bytes]:
    """(status, body, content type) of one request."""
    json_type = b"application/json"
    if path == "/api/ping" and method == "GET":
        return 200, _envelope("pong", {"timestamp": _now()}), json_type
    if path == "/api/status" and method == "GET":
        cams = db.tables[CAMERAS].values()
        enabled = sum(1 for c in cams if c["enabled"])
        data = {
            "manager_running": True,
            "total_cameras": len(cams),
            "enabled_cameras": enabled,
            "disabled_cameras": len(cams) - enabled,
            "running_cameras": sum(1 for c in cams if c["running"]),
            "persistent_storage": False,
            "data_file": "",
        }
        return 200, _envelope("ok", data), json_type
    if path == "/api/config/export" and method == "GET":
        body = db.cached("export", lambda: _dumps(_store(db)).encode())
        return 200, body, json_type
    if path == "/api/config/import" and method == "POST":
        try:
            value = json.loads(raw)
        except ValueError as exc:
            return _fail(400, "Invalid request body", str(exc))
        db.tables[CAMERAS] = dict((value.get("cameras") or {}).items())
        db.tables[SERVERS] = dict((value.get("inference_servers") or {}).items())
        db.alert = value.get("alert_server") or db.alert
        db.changed()
        counts = {
            "cameras_count": len(db.tables[CAMERAS]),
            "inference_servers_count": len(db.tables[SERVERS]),
        }
        return 200, _envelope("Config imported", counts), json_type
    if path == "/api/alert-server":
        if method == "GET":
            return 200, _envelope("ok", db.alert), json_type
        if method == "PUT":
            try:
                value = json.loads(raw)
            except ValueError as exc:
                return _fail(400, "Invalid request body", str(exc))
            db.alert = {
                "url": value.get("url") or "",
                "enabled": bool(value.get("enabled")),
                "updated_at": _now(),
            }
            db.changed()
            return 200, _envelope("ok", db.alert), json_type
    for collection in (CAMERAS, SERVERS):
        table = db.tables[collection]
        if path == collection:
            if method == "GET":
                body = db.cached(collection, lambda t=table: _envelope("ok", list(t.values()) or None))
                return 200, body, json_type
            if method == "POST":
                try:
                    value = json.loads(raw)
                except ValueError as exc:
                    return _fail(400, "Invalid request body", str(exc))
                if not isinstance(value, dict) or any(not value.get(k) for k in _REQUIRED[collection]):
                    return _fail(400, "Missing required fields")
                obj_id = value.get("id") or f"{_PREFIX[collection]}{db.version:08x}"
                obj = _BUILD[collection](obj_id, value, table.get(obj_id), True)
                table[obj_id] = obj
                db.changed()
                return 201, _envelope(f"{_LABEL[collection]} created successfully", obj), json_type
            return 404, _NOT_FOUND, b"text/plain; charset=utf-8"
        if path.startswith(collection + "/"):
            obj_id = unquote(path[len(collection) + 1 :])
            old = table.get(obj_id)
            if old is None or method not in ("GET", "PUT", "DELETE"):
                if method in ("GET", "PUT", "DELETE"):
                    return _fail(404, f"{_LABEL[collection]} not found")
                return 404, _NOT_FOUND, b"text/plain; charset=utf-8"
            if method == "GET":
                return 200, _envelope("ok", old), json_type
            if method == "DELETE":
                del table[obj_id]
                if collection == SERVERS:
                    for cam in db.tables[CAMERAS].values():
                        bindings = cam.get("inference_server_bindings")
                        if bindings and any(b.get("server_id") == obj_id for b in bindings):
                            kept = [b for b in bindings if b.get("server_id") != obj_id]
                            if kept:
                                cam["inference_server_bindings"] = kept
                            else:
                                del cam["inference_server_bindings"]
                db.changed()
                return (
                    200,
                    _envelope(f"{_LABEL[collection]} deleted successfully", with_data=False),
                    json_type,
                )
            try:
                value = json.loads(raw)
            except ValueError as exc:
                return _fail(400, "Invalid request body", str(exc))
            obj = _BUILD[collection](obj_id, value if isinstance(value, dict) else {}, old, False)
            table[obj_id] = obj
            db.changed()
            return 200, _envelope(f"{_LABEL[collection]} updated successfully", obj), json_type
    return 404, _NOT_FOUND, b"text/plain; charset=utf-8"


def _store(db: Store) -> dict[str, Any]:
    return {"cameras": db.tables[CAMERAS], "inference_servers": db.tables[SERVERS], "alert_server": db.alert}


def handler(db: Store) -> Any:
    def handle(sock: Any, _addr: Any) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buf = b""
        recv, sendall = sock.recv, sock.sendall
        try:
            while True:
                end = buf.find(b"\r\n\r\n")
                while end < 0:
                    chunk = recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                    end = buf.find(b"\r\n\r\n")
                head = buf[:end].decode("latin-1")
                buf = buf[end + 4 :]
                lines = head.split("\r\n")
                method, target, version = lines[0].split(" ", 2)
                length = 0
                close = version == "HTTP/1.0"
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    name = name.strip().lower()
                    if name == "content-length":
                        length = int(value)
                    elif name == "connection":
                        close = value.strip().lower() == "close"
                while len(buf) < length:
                    chunk = recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                raw, buf = buf[:length], buf[length:]
                status, body, ctype = route(db, method, target.split("?", 1)[0], raw)
                db.served += 1
                extra = b""
                if target.startswith("/api/config/export"):
                    extra = b'Content-Disposition: attachment; filename="cameras.json"\r\n'
                sendall(
                    b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n%s%s\r\n"
                    % (
                        status,
                        _REASONS.get(status, b"OK"),
                        ctype,
                        len(body),
                        extra,
                        b"Connection: close\r\n" if close else b"",
                    )
                    + body
                )
                if close:
                    return
        except (OSError, ValueError):
            return
        finally:
            sock.close()

    return handle


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--max-seconds", type=float, default=900.0, help="exit after this long (safety)")
    args = parser.parse_args(argv)
    db = Store()
    server = StreamServer(("127.0.0.1", args.port), handler(db), backlog=1024)
    server.init_socket()
    server.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    server.start()
    print(f"fast-target listening on http://127.0.0.1:{server.server_port}", flush=True)
    stop = gevent.event.Event()
    gevent.signal_handler(signal.SIGTERM, stop.set)
    gevent.signal_handler(signal.SIGINT, stop.set)
    stop.wait(args.max_seconds)
    server.stop(timeout=1)
    print(f"fast-target served {db.served} requests", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
