"""Shapes of cameras, inference servers, the alert server and the data store.

Pure functions: decode untrusted JSON values (request bodies, the data file) into the
objects the target stores, with Go-like type errors, and build stored objects in the
field order the Go server emits.
"""

from __future__ import annotations

import json
import math
import re
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

JsonObject = dict[str, Any]

#: Go's zero time, what an alert server that was never set reports as updated_at.
GO_ZERO_TIME = "0001-01-01T00:00:00Z"
DEFAULT_MODEL_TYPE = "other"

_GO_TYPES = {str: "string", bool: "bool", float: "float64"}


class FieldError(ValueError):
    """A JSON value does not fit the object it should decode into (a 400 for a request body)."""


def now_rfc3339() -> str:
    """The current UTC time in RFC 3339 with microseconds and a `Z`."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def new_camera_id() -> str:
    return f"cam_{secrets.token_hex(8)}"


def new_server_id(model_type: str) -> str:
    return f"inf_{model_type}_{secrets.token_hex(8)}"


def _reject_constant(name: str) -> float:
    raise ValueError(f"invalid character '{name[0]}' looking for beginning of value")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
#: A `\\uD800`-`\\uDFFF` escape: the only way a lone surrogate gets into a decoded value.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _fix_string(text: str) -> str:
    return _SURROGATE.sub("\ufffd", text)


def replace_lone_surrogates(value: object) -> object:
    """`value` with every lone UTF-16 surrogate in its strings and keys replaced by U+FFFD.

    What Go's encoding/json does with `"\\ud800"`; Python keeps it, and a string holding one
    cannot be encoded as UTF-8 (once stored it would break every later answer and write).
    Fixes lists and dicts in place, iteratively (any depth the JSON decoder accepted).
    """
    if isinstance(value, str):
        return _fix_string(value)
    stack = [value]
    while stack:
        container = stack.pop()
        if isinstance(container, list):
            for i, item in enumerate(container):
                if isinstance(item, str):
                    container[i] = _fix_string(item)
                elif isinstance(item, list | dict):
                    stack.append(item)
        elif isinstance(container, dict):
            fixed = {}
            for key, item in container.items():
                if isinstance(item, str):
                    item = _fix_string(item)
                elif isinstance(item, list | dict):
                    stack.append(item)
                fixed[_fix_string(key)] = item
            container.clear()
            container.update(fixed)
    return value


def loads(text: str, *, first_value_only: bool = False) -> object:
    """Decode JSON text: NaN/Infinity are rejected, lone surrogates become U+FFFD.

    `first_value_only` ignores bytes after the first value (Go's json.Decoder); otherwise
    they are an error. Raises ValueError (also for nesting too deep for the decoder).
    """
    try:
        if first_value_only:
            value, _end = _DECODER.raw_decode(text)
        else:
            value = _DECODER.decode(text)
    except RecursionError:
        raise ValueError("exceeded max depth") from None
    return replace_lone_surrogates(value) if _SURROGATE_ESCAPE.search(text) else value


def parse_json(raw: bytes) -> object:
    """Decode the first JSON value of `raw` like Go's json.Decoder: trailing bytes are ignored.

    Raises FieldError on empty input, invalid UTF-8, a syntax error, NaN/Infinity literals,
    or nesting too deep.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FieldError(f"invalid UTF-8 in request body: {exc.reason}") from None
    text = text.lstrip(" \t\r\n")
    if not text:
        raise FieldError("EOF")
    try:
        return loads(text, first_value_only=True)
    except ValueError as exc:
        raise FieldError(str(exc)) from None


def _json_type(value: object) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def _unmarshal_error(value: object, where: str, go_type: str) -> FieldError:
    return FieldError(
        f"json: cannot unmarshal {_json_type(value)} into Go struct field {where} of type {go_type}"
    )


def _field(obj: JsonObject, key: str, kind: type, default: Any, struct: str) -> Any:
    """obj[key] checked against `kind`; a missing key or null gives `default` (Go's zero value)."""
    value = obj.get(key)
    if value is None:
        return default
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not _fits_float64(value):
            raise _unmarshal_error(value, f"{struct}.{key}", "float64")
        return value
    if not isinstance(value, kind):
        raise _unmarshal_error(value, f"{struct}.{key}", _GO_TYPES[kind])
    return value


def _fits_float64(value: float) -> bool:
    """A finite number that a float64 can hold (a huge integer literal cannot)."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _require_object(value: object, go_type: str) -> JsonObject:
    if not isinstance(value, dict):
        raise FieldError(f"json: cannot unmarshal {_json_type(value)} into Go value of type {go_type}")
    return value


def _decode_bindings(value: object) -> list[JsonObject]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _unmarshal_error(value, "Camera.inference_server_bindings", "[]camera.InferenceServerBinding")
    bindings = []
    for item in value:
        if not isinstance(item, dict):
            raise _unmarshal_error(item, "Camera.inference_server_bindings", "camera.InferenceServerBinding")
        struct = "Camera.inference_server_bindings"
        bindings.append(
            {
                "server_id": _field(item, "server_id", str, "", struct),
                "threshold": _field(item, "threshold", float, 0, struct),
                "max_threshold": _field(item, "max_threshold", float, 0, struct),
            }
        )
    return bindings


def decode_camera(value: object) -> JsonObject:
    """The client-controlled fields of a camera body: id, name, rtsp_url, bindings, enabled, running."""
    obj = _require_object(value, "camera.Camera")
    return {
        "id": _field(obj, "id", str, "", "Camera"),
        "name": _field(obj, "name", str, "", "Camera"),
        "rtsp_url": _field(obj, "rtsp_url", str, "", "Camera"),
        "inference_server_bindings": _decode_bindings(obj.get("inference_server_bindings")),
        "enabled": _field(obj, "enabled", bool, False, "Camera"),
        "running": _field(obj, "running", bool, False, "Camera"),
    }


def decode_server(value: object) -> JsonObject:
    """The client-controlled fields of an inference-server body (model_type defaults to "other")."""
    obj = _require_object(value, "inference.Server")
    struct = "InferenceServer"
    return {
        "id": _field(obj, "id", str, "", struct),
        "name": _field(obj, "name", str, "", struct),
        "url": _field(obj, "url", str, "", struct),
        "model_type": _field(obj, "model_type", str, "", struct) or DEFAULT_MODEL_TYPE,
        "description": _field(obj, "description", str, "", struct),
        "enabled": _field(obj, "enabled", bool, False, struct),
    }


def decode_alert(value: object) -> JsonObject:
    """The client-controlled fields of the alert server: url and enabled."""
    obj = _require_object(value, "alert.Server")
    return {
        "url": _field(obj, "url", str, "", "AlertServer"),
        "enabled": _field(obj, "enabled", bool, False, "AlertServer"),
    }


def make_camera(
    fields: JsonObject, *, obj_id: str, enabled: bool, running: bool, created_at: str, updated_at: str
) -> JsonObject:
    """A stored camera in Go field order; bindings omitted when empty."""
    camera: JsonObject = {"id": obj_id, "name": fields["name"], "rtsp_url": fields["rtsp_url"]}
    if fields["inference_server_bindings"]:
        camera["inference_server_bindings"] = fields["inference_server_bindings"]
    camera.update(enabled=enabled, running=running, created_at=created_at, updated_at=updated_at)
    return camera


def make_server(
    fields: JsonObject, *, obj_id: str, enabled: bool, created_at: str, updated_at: str
) -> JsonObject:
    """A stored inference server in Go field order; description omitted when empty."""
    server: JsonObject = {
        "id": obj_id,
        "name": fields["name"],
        "url": fields["url"],
        "model_type": fields["model_type"],
    }
    if fields["description"]:
        server["description"] = fields["description"]
    server.update(enabled=enabled, created_at=created_at, updated_at=updated_at)
    return server


def make_alert(fields: JsonObject, *, updated_at: str) -> JsonObject:
    return {"url": fields["url"], "enabled": fields["enabled"], "updated_at": updated_at}


def empty_store() -> JsonObject:
    return {
        "cameras": {},
        "inference_servers": {},
        "alert_server": {"url": "", "enabled": False, "updated_at": GO_ZERO_TIME},
    }


def _timestamp(obj: JsonObject, key: str, struct: str, now: str) -> str:
    return _field(obj, key, str, "", struct) or now


def _decode_table(
    value: object, key: str, decode: Callable[[str, object], JsonObject]
) -> dict[str, JsonObject]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise FieldError(f"{key}: expected an object of id -> object, got {_json_type(value)}")
    table = {}
    for obj_id, item in value.items():
        try:
            table[obj_id] = decode(obj_id, item)
        except FieldError as exc:
            raise FieldError(f"{key}[{obj_id!r}]: {exc}") from None
    return table


def decode_store(value: object, *, now: str) -> JsonObject:
    """A whole data store (data file or import body); the map key is each object's id.

    Missing tables are empty; missing timestamps become `now`. Raises FieldError.
    """
    if not isinstance(value, dict):
        raise FieldError(f"expected a JSON object with {', '.join(empty_store())}, got {_json_type(value)}")

    def camera(obj_id: str, item: object) -> JsonObject:
        obj = _require_object(item, "camera.Camera")
        fields = decode_camera(obj)
        return make_camera(
            fields,
            obj_id=obj_id,
            enabled=fields["enabled"],
            running=fields["running"],
            created_at=_timestamp(obj, "created_at", "Camera", now),
            updated_at=_timestamp(obj, "updated_at", "Camera", now),
        )

    def server(obj_id: str, item: object) -> JsonObject:
        obj = _require_object(item, "inference.Server")
        fields = decode_server(obj)
        return make_server(
            fields,
            obj_id=obj_id,
            enabled=fields["enabled"],
            created_at=_timestamp(obj, "created_at", "InferenceServer", now),
            updated_at=_timestamp(obj, "updated_at", "InferenceServer", now),
        )

    store = empty_store()
    store["cameras"] = _decode_table(value.get("cameras"), "cameras", camera)
    store["inference_servers"] = _decode_table(value.get("inference_servers"), "inference_servers", server)
    alert = value.get("alert_server")
    if alert is not None:
        try:
            obj = _require_object(alert, "alert.Server")
            fields = decode_alert(obj)
            updated_at = _field(obj, "updated_at", str, "", "AlertServer") or GO_ZERO_TIME
        except FieldError as exc:
            raise FieldError(f"alert_server: {exc}") from None
        store["alert_server"] = make_alert(fields, updated_at=updated_at)
    return store
