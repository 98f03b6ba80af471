"""Validation of cam-stream answers against the contract (pure; no Locust, no network).

Each check raises ``Invalid`` with a one-line reason worded so that classify.py files it
under the right category ("bad JSON: ..." is a json_error, "HTTP 500 ..." an http_error).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from camstream_locust import contract

#: Statistics names: one entry per route, not per id.
CAMERA_ITEM = f"{contract.CAMERAS}/[id]"
SERVER_ITEM = f"{contract.INFERENCE_SERVERS}/[id]"

_DECODER = json.JSONDecoder()


class Invalid(Exception):
    """An answer that breaks the contract; the message says how, in one line."""


def parse_json(text: str | bytes | None) -> Any:
    """The first JSON value of the body (trailing bytes are tolerated, as upstream's decoder does)."""
    if text is None:
        raise Invalid("bad JSON: empty body")
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    stripped = text.lstrip()
    if not stripped:
        raise Invalid("bad JSON: empty body")
    try:
        value, _ = _DECODER.raw_decode(stripped)
    except ValueError as exc:
        raise Invalid(f"bad JSON: {exc}") from None
    return value


def envelope(text: str | bytes | None) -> dict[str, Any]:
    """The ``{success, message, data?, error?}`` envelope of an answer."""
    body = parse_json(text)
    if not isinstance(body, dict):
        raise Invalid(f"bad envelope: expected an object, got {type(body).__name__}")
    if not isinstance(body.get("success"), bool):
        raise Invalid("bad envelope: 'success' is missing or not a bool")
    if not isinstance(body.get("message"), str):
        raise Invalid("bad envelope: 'message' is missing or not a string")
    if "error" in body and not isinstance(body["error"], str):
        raise Invalid("bad envelope: 'error' is not a string")
    return body


def ok_envelope(text: str | bytes | None) -> dict[str, Any]:
    body = envelope(text)
    if body["success"] is not True:
        raise Invalid(f"bad envelope: success is false on a 2xx answer: {body['message']!r}")
    return body


def failure_text(status: int, name: str, text: str | bytes | None, limit: int = 240) -> str:
    """One line for a failed answer: status, request name, and the server's message/error."""
    detail = ""
    try:
        body = parse_json(text)
        if isinstance(body, dict):
            detail = " ".join(str(body[k]) for k in ("message", "error") if body.get(k))
    except Invalid:
        pass
    if not detail and text:
        raw = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
        detail = " ".join(raw.split())
    return f"HTTP {status} {name}: {detail[:limit]}".rstrip(": ")


# --- objects -----------------------------------------------------------------------------------


def _require(obj: Mapping[str, Any], key: str, kind: type | tuple[type, ...], what: str) -> Any:
    value = obj.get(key)
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise Invalid(f"bad data: {what} {key!r} is {type(value).__name__}, not {_kind_name(kind)}")
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    if isinstance(kind, tuple):
        return " or ".join(k.__name__ for k in kind)
    return kind.__name__


def camera(obj: Any) -> dict[str, Any]:
    """A camera object's shape."""
    # Fast path: decoded JSON holds exact types; anything else takes the path that says why.
    if (
        type(obj) is dict
        and type(obj.get("id")) is str
        and type(obj.get("name")) is str
        and type(obj.get("rtsp_url")) is str
        and type(obj.get("enabled")) is bool
        and type(obj.get("running")) is bool
    ):
        bindings = obj.get("inference_server_bindings")
        if bindings is None or (
            type(bindings) is list
            and all(type(b) is dict and type(b.get("server_id")) is str for b in bindings)
        ):
            return obj
    return _camera_checked(obj)


def _camera_checked(obj: Any) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise Invalid(f"bad data: camera is {type(obj).__name__}, not an object")
    for key in ("id", "name", "rtsp_url"):
        _require(obj, key, str, "camera")
    for key in ("enabled", "running"):
        _require(obj, key, bool, "camera")
    bindings = obj.get("inference_server_bindings")
    if bindings is not None:
        if not isinstance(bindings, list):
            raise Invalid("bad data: camera 'inference_server_bindings' is not a list")
        for binding in bindings:
            if not isinstance(binding, dict) or not isinstance(binding.get("server_id"), str):
                raise Invalid("bad data: camera binding without a string 'server_id'")
    return obj


def server(obj: Any) -> dict[str, Any]:
    """An inference server object's shape."""
    if (
        type(obj) is dict
        and type(obj.get("id")) is str
        and type(obj.get("name")) is str
        and type(obj.get("url")) is str
        and type(obj.get("model_type")) is str
        and type(obj.get("enabled")) is bool
        and type(obj.get("description", "")) is str
    ):
        return obj
    return _server_checked(obj)


def _server_checked(obj: Any) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise Invalid(f"bad data: inference server is {type(obj).__name__}, not an object")
    for key in ("id", "name", "url", "model_type"):
        _require(obj, key, str, "inference server")
    _require(obj, "enabled", bool, "inference server")
    if "description" in obj and not isinstance(obj["description"], str):
        raise Invalid("bad data: inference server 'description' is not a string")
    return obj


def listing(body: Mapping[str, Any], item: Any) -> list[dict[str, Any]]:
    """The list in ``data`` (``null`` is an empty list), each item checked with ``item``."""
    data = body.get("data")
    if data is None:
        return []
    if not isinstance(data, list):
        raise Invalid(f"bad data: list answer holds {type(data).__name__}")
    return [item(obj) for obj in data]


def bindings_of(obj: Mapping[str, Any]) -> list[tuple[str, float, float]]:
    return [
        (b.get("server_id"), b.get("threshold"), b.get("max_threshold"))
        for b in obj.get("inference_server_bindings") or ()
    ]


def kept_as_sent(
    stored: Mapping[str, Any], sent: Mapping[str, Any], fields: Sequence[str], what: str
) -> None:
    """The server must keep the client-controlled fields exactly as sent."""
    if stored.get("id") != sent["id"]:
        raise Invalid(f"bad data: {what} answered id {stored.get('id')!r} for {sent['id']!r}")
    for key in fields:
        if key == "inference_server_bindings":
            if bindings_of(stored) != bindings_of(sent):
                raise Invalid(f"bad data: {what} {sent['id']} bindings not kept as sent")
        elif (stored.get(key) or "") != (sent.get(key) or ""):
            raise Invalid(
                f"bad data: {what} {sent['id']} {key} {stored.get(key)!r} != sent {sent.get(key)!r}"
            )


def camera_kept(stored: Mapping[str, Any], sent: Mapping[str, Any]) -> None:
    kept_as_sent(stored, sent, contract.CAMERA_CLIENT_FIELDS, "camera")


def server_kept(stored: Mapping[str, Any], sent: Mapping[str, Any]) -> None:
    kept_as_sent(stored, sent, contract.SERVER_CLIENT_FIELDS, "inference server")


STATUS_INT_FIELDS = ("total_cameras", "enabled_cameras", "disabled_cameras", "running_cameras")


def status(body: Mapping[str, Any]) -> dict[str, Any]:
    data = body.get("data")
    if not isinstance(data, dict):
        raise Invalid("bad data: status answer without a data object")
    for key in STATUS_INT_FIELDS:
        _require(data, key, int, "status")
    for key in ("manager_running", "persistent_storage"):
        _require(data, key, bool, "status")
    if data["enabled_cameras"] + data["disabled_cameras"] != data["total_cameras"]:
        raise Invalid(
            "bad data: status enabled_cameras + disabled_cameras != total_cameras "
            f"({data['enabled_cameras']} + {data['disabled_cameras']} != {data['total_cameras']})"
        )
    return data


def store(value: Any) -> dict[str, Any]:
    """A data store (data file or config export): {cameras: {id: camera}, inference_servers: {...}, ...}."""
    if not isinstance(value, dict):
        raise Invalid(f"bad store: expected an object, got {type(value).__name__}")
    for key, item in (("cameras", camera), ("inference_servers", server)):
        table = value.get(key)
        if table is None:
            continue
        if not isinstance(table, dict):
            raise Invalid(f"bad store: {key!r} is {type(table).__name__}, not an object of id -> object")
        for obj_id, obj in table.items():
            item(obj)
            if obj.get("id") != obj_id:
                raise Invalid(f"bad store: {key}[{obj_id!r}] holds id {obj.get('id')!r}")
    if "alert_server" in value and not isinstance(value["alert_server"], dict):
        raise Invalid("bad store: 'alert_server' is not an object")
    return value


def ping(body: Mapping[str, Any]) -> None:
    if body.get("message") != "pong":
        raise Invalid(f"bad data: ping answered {body.get('message')!r}, not 'pong'")
