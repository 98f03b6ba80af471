"""The target's state and its persistence to one JSON data file.

Every store operation (read-check-modify and the persistence snapshot) runs under one
lock, so concurrent requests never lose an update or resurrect a deleted object. Nothing
inside the lock yields to the gevent hub (no sleeps, plain blocking file I/O), so a plain
lock is safe with and without gevent monkey-patching.

Stored objects are never modified in place: a change replaces whole objects. Readers may
therefore keep references to them, but must treat them as read-only. A change runs on
copies of the tables it touches, which become the store only once the file is written:
a failed write fails the request and leaves memory and file as they were.

Fault injection hooks (`race_pause`, `torn_write`) deliberately break these guarantees.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from camstream_locust.target import model
from camstream_locust.target.model import JsonObject

T = TypeVar("T")

CAMERAS = "cameras"
SERVERS = "inference_servers"
ALERT = "alert_server"

#: Writes the serialized store to the data file (default: write_atomic).
Writer = Callable[[Path, bytes], None]


class StoreFileError(Exception):
    """The data file exists but cannot be loaded; `reason` says why."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"invalid data file {path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True)
class Change(Generic[T]):
    """A mutation of some top-level entries of the store.

    `apply` receives a dict holding (at least) the entries named in `tables`; it may change
    those tables' contents or rebind the entries, and returns the operation's result:
    None or False when it changed nothing (then nothing is written).
    """

    tables: tuple[str, ...]
    apply: Callable[[dict[str, Any]], T]


def serialize(data: JsonObject) -> bytes:
    """The data file's bytes: pretty-printed JSON (indent 2), also served by config export."""
    return json.dumps(data, indent=2, ensure_ascii=False).encode("utf-8")


def write_atomic(path: Path, payload: bytes) -> None:
    """Replace `path` with `payload`: temp file in the same directory, fsync, os.replace."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def check_writable(directory: Path) -> None:
    """Raise OSError unless a file can be created in `directory` (as write_atomic does)."""
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".probe.", suffix=".tmp")
    os.close(fd)
    os.unlink(tmp)


def load_file(path: Path, *, now: str) -> JsonObject:
    """The store in `path`; a missing file is an empty store. Raises StoreFileError."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return model.empty_store()
    except OSError as exc:
        raise StoreFileError(path, exc.strerror or str(exc)) from None
    try:
        return model.decode_store(model.loads(raw.decode("utf-8")), now=now)
    except UnicodeDecodeError as exc:
        raise StoreFileError(path, f"not UTF-8: {exc.reason}") from None
    except ValueError as exc:  # json.JSONDecodeError, too deep, and model.FieldError
        raise StoreFileError(path, str(exc) or type(exc).__name__) from None


# --- changes (pure functions returning Change objects) ---------------------------------------


def put(table: str, obj: JsonObject) -> Change[JsonObject]:
    """Insert or replace obj (upsert by obj["id"])."""

    def apply(data: dict[str, Any]) -> JsonObject:
        data[table][obj["id"]] = obj
        return obj

    return Change((table,), apply)


def replace(table: str, obj: JsonObject) -> Change[JsonObject | None]:
    """Replace an existing object keeping its created_at; None when absent."""

    def apply(data: dict[str, Any]) -> JsonObject | None:
        old = data[table].get(obj["id"])
        if old is None:
            return None
        new = dict(obj)
        new["created_at"] = old["created_at"]
        data[table][obj["id"]] = new
        return new

    return Change((table,), apply)


def delete(table: str, obj_id: str) -> Change[bool]:
    """Delete an object; False when absent."""

    def apply(data: dict[str, Any]) -> bool:
        return data[table].pop(obj_id, None) is not None

    return Change((table,), apply)


def unbind(camera: JsonObject, server_id: str) -> JsonObject:
    """The camera without its bindings to server_id (the same object when it has none)."""
    bindings = camera.get("inference_server_bindings") or []
    kept = [b for b in bindings if b["server_id"] != server_id]
    if len(kept) == len(bindings):
        return camera
    # Same key order; the key is omitted when no binding is left.
    return {
        k: (kept if k == "inference_server_bindings" else v)
        for k, v in camera.items()
        if kept or k != "inference_server_bindings"
    }


def delete_server(server_id: str) -> Change[bool]:
    """Delete an inference server and every camera's bindings to it; False when absent."""

    def apply(data: dict[str, Any]) -> bool:
        if data[SERVERS].pop(server_id, None) is None:
            return False
        cameras = data[CAMERAS]
        for cam_id, camera in list(cameras.items()):
            cameras[cam_id] = unbind(camera, server_id)
        return True

    return Change((SERVERS, CAMERAS), apply)


def set_alert(alert: JsonObject) -> Change[JsonObject]:
    def apply(data: dict[str, Any]) -> JsonObject:
        data[ALERT] = alert
        return alert

    return Change((ALERT,), apply)


def replace_all(new: JsonObject) -> Change[bool]:
    """Replace cameras, inference servers and the alert server at once (config import)."""

    def apply(data: dict[str, Any]) -> bool:
        for key in (CAMERAS, SERVERS, ALERT):
            data[key] = new[key]
        return True

    return Change((CAMERAS, SERVERS, ALERT), apply)


def _changed(result: object) -> bool:
    return result is not None and result is not False


# --- the store -------------------------------------------------------------------------------


class Store:
    """Cameras, inference servers and the alert server, persisted to `data_file`."""

    def __init__(self, data_file: Path, data: JsonObject | None = None) -> None:
        self.data_file = data_file
        self._data: dict[str, Any] = data if data is not None else model.empty_store()
        self._lock = threading.Lock()

    @classmethod
    def load(cls, data_file: Path) -> Store:
        """The store persisted in data_file (empty when missing).

        Creates the file's directory and checks that it can write there first: raises
        OSError for an unusable directory, StoreFileError for an invalid file.
        """
        data_file.parent.mkdir(parents=True, exist_ok=True)
        check_writable(data_file.parent)
        return cls(data_file, load_file(data_file, now=model.now_rfc3339()))

    # reads: each from one consistent snapshot

    def list(self, table: str) -> list[JsonObject]:
        with self._lock:
            return list(self._data[table].values())

    def get(self, table: str, obj_id: str) -> JsonObject | None:
        with self._lock:
            return self._data[table].get(obj_id)

    def alert_server(self) -> JsonObject:
        with self._lock:
            return self._data[ALERT]

    def counts(self) -> dict[str, int]:
        """total/enabled/disabled/running camera counts."""
        with self._lock:
            cameras = list(self._data[CAMERAS].values())
        enabled = sum(1 for c in cameras if c["enabled"])
        return {
            "total_cameras": len(cameras),
            "enabled_cameras": enabled,
            "disabled_cameras": len(cameras) - enabled,
            "running_cameras": sum(1 for c in cameras if c["running"]),
        }

    def export_bytes(self) -> bytes:
        """The same bytes the data file holds after the last mutation."""
        with self._lock:
            return serialize(self._data)

    # writes

    def _commit(self, data: dict[str, Any], torn_write: Writer | None) -> bytes:
        """Persist `data` and make it the store (caller holds the lock); returns its bytes.

        The atomic write comes first: when it fails, the store is left as it was and the
        error propagates (the request fails; API state and file stay equal). With a torn
        write pending, nothing is written here (the caller writes after releasing the lock).
        """
        payload = serialize(data)
        if torn_write is None:
            write_atomic(self.data_file, payload)
        self._data = data
        return payload

    def apply(
        self,
        change: Change[T],
        *,
        race_pause: Callable[[], None] | None = None,
        torn_write: Writer | None = None,
    ) -> T:
        """Run `change` on a copy of the touched tables, persist, then publish the copy.

        Normally all of it happens under the lock. Faults: `race_pause` makes it an
        unsynchronized read-modify-write (copy the tables, pause, change the copy, write the
        copy back: concurrent updates are lost, deleted objects come back); `torn_write`
        writes the file non-atomically outside the lock.
        """
        payload: bytes | None = None
        if race_pause is None:
            with self._lock:
                work = self._copy(change.tables)
                result = change.apply(work)
                if _changed(result):
                    payload = self._commit(work, torn_write)
        else:
            snapshot = {t: dict(self._data[t]) for t in change.tables}
            race_pause()
            result = change.apply(snapshot)
            if _changed(result):
                with self._lock:
                    payload = self._commit({**self._data, **snapshot}, torn_write)
        if torn_write is not None and payload is not None:
            torn_write(self.data_file, payload)
        return result

    def _copy(self, tables: tuple[str, ...]) -> dict[str, Any]:
        """The store with fresh copies of `tables` (other entries shared, read-only)."""
        work = dict(self._data)
        for table in tables:
            work[table] = dict(work[table])
        return work
