"""Data-file integrity: samples of the server's data file during the run, and file = API at quiesce.

The checks are pure functions; ``DataFileSampler`` is the thin gevent loop around them. The
suite only ever reads the file (a local path, or an http URL for servers that serve it).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gevent

from camstream_locust import api, contract, http

#: Seconds between two samples of the data file.
SAMPLE_INTERVAL = 0.05


class Unreadable(Exception):
    """The file (or URL) could not be read at all: not a torn write, a setup problem."""


def torn_reason(raw: bytes) -> str | None:
    """Why ``raw`` is not a whole data store (empty, truncated, interleaved, wrong shape), or None."""
    if not raw.strip():
        return "empty file"
    try:
        value = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return f"not UTF-8 ({exc.reason}) at byte {exc.start} of {len(raw)}"
    except ValueError as exc:
        return f"not one JSON document ({exc}) in {len(raw)} bytes"
    try:
        api.store(value)
    except api.Invalid as exc:
        return str(exc)
    missing = [key for key in contract.STORE_KEYS[:2] if key not in value]
    if missing:
        return f"bad store: missing {', '.join(missing)}"
    return None


def client_view(store: Mapping[str, Any]) -> dict[str, dict[str, tuple[Any, ...]]]:
    """Cameras and inference servers by id, reduced to the fields the client controls."""
    view: dict[str, dict[str, tuple[Any, ...]]] = {}
    for table, fields in (
        ("cameras", contract.CAMERA_CLIENT_FIELDS),
        ("inference_servers", contract.SERVER_CLIENT_FIELDS),
    ):
        objects = store.get(table) or {}
        rows = objects.values() if isinstance(objects, dict) else objects
        view[table] = {obj["id"]: tuple(_field(obj, f) for f in fields) for obj in rows}
    return view


def _field(obj: Mapping[str, Any], name: str) -> Any:
    if name == "inference_server_bindings":
        return tuple(api.bindings_of(obj))
    return obj.get(name) or ""


def differences(file_store: Mapping[str, Any], api_store: Mapping[str, Any], limit: int = 5) -> list[str]:
    """How the data file differs from the API's state (both as {cameras, inference_servers}), capped."""
    out: list[str] = []
    in_file, in_api = client_view(file_store), client_view(api_store)
    for table in ("cameras", "inference_servers"):
        f, a = in_file[table], in_api[table]
        for obj_id in sorted(a.keys() - f.keys()):
            out.append(f"{table} {obj_id}: in the API, missing from the file")
        for obj_id in sorted(f.keys() - a.keys()):
            out.append(f"{table} {obj_id}: in the file, gone from the API")
        for obj_id in sorted(f.keys() & a.keys()):
            if f[obj_id] != a[obj_id]:
                out.append(f"{table} {obj_id}: file holds {f[obj_id]!r}, the API {a[obj_id]!r}")
    return out[:limit] + ([f"... and {len(out) - limit} more"] if len(out) > limit else [])


def reader(location: str, timeout: float = 5.0) -> Callable[[], bytes]:
    """A function returning the current bytes of a local path or an http(s) URL; raises Unreadable."""
    if location.startswith(("http://", "https://")):

        def read_url() -> bytes:
            try:
                answer = http.request(location, "GET", "", timeout=timeout)
            except http.HttpProblem as exc:
                raise Unreadable(str(exc)) from None
            if answer.status != 200:
                raise Unreadable(f"GET {location} answered HTTP {answer.status}")
            return answer.body

        return read_url
    path = Path(location)

    def read_file() -> bytes:
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise Unreadable(f"{path} does not exist") from None
        except OSError as exc:
            raise Unreadable(f"cannot read {path}: {exc.strerror or exc}") from None

    return read_file


@dataclass
class DataFileSampler:
    """Reads the data file every ``interval`` seconds and counts torn reads (one example kept)."""

    read: Callable[[], bytes]
    on_torn: Callable[[str], None]
    interval: float = SAMPLE_INTERVAL
    samples: int = 0
    torn: int = 0
    unreadable: str = ""
    _greenlet: Any = field(default=None, repr=False)

    def sample(self) -> None:
        try:
            raw = self.read()
        except Unreadable as exc:
            self.unreadable = str(exc)
            return
        self.samples += 1
        reason = torn_reason(raw)
        if reason is not None:
            self.torn += 1
            self.on_torn(f"torn data-file read ({len(raw)} bytes): {reason}")

    def _loop(self) -> None:
        while True:
            self.sample()
            gevent.sleep(self.interval)

    def start(self) -> None:
        if self._greenlet is None or self._greenlet.dead:
            self._greenlet = gevent.spawn(self._loop)

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill(block=True)
            self._greenlet = None
