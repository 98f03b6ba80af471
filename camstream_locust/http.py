"""A small blocking JSON client for work outside the load (preflight, cleanup, final reads).

Uses urllib, which is cooperative under Locust's gevent monkey-patching. Every failure is a
``HttpProblem`` with a one-line message; nothing here raises anything else.
"""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any


class HttpProblem(Exception):
    """The request got no usable answer (refused, timed out, ...); the message says which."""

    def __init__(self, message: str, timed_out: bool = False) -> None:
        super().__init__(message)
        #: No answer within the timeout (a hung server), as opposed to a refused or broken one.
        self.timed_out = timed_out


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", exc)
    if isinstance(reason, socket.timeout | TimeoutError):
        return "timed out"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, socket.gaierror):
        return f"cannot resolve host ({reason.strerror or reason})"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror.lower()
    return str(reason) or type(reason).__name__


def request(base: str, method: str, path: str, body: Any = None, timeout: float = 5.0) -> Answer:
    """One request to ``base + path``; ``body`` is sent as JSON (bytes are sent as they are)."""
    data = None
    headers = {"Accept": "application/json"}
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(base.rstrip("/") + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return Answer(resp.status, resp.read(), dict(resp.headers.items()))
    except urllib.error.HTTPError as exc:
        try:
            payload = exc.read()
        except OSError:
            payload = b""
        return Answer(exc.code, payload, dict(exc.headers.items()) if exc.headers else {})
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = _reason(exc)
        raise HttpProblem(f"{method} {path}: {reason}", timed_out=reason == "timed out") from None
    except Exception as exc:  # http.client.RemoteDisconnected, IncompleteRead, ...
        raise HttpProblem(f"{method} {path}: {type(exc).__name__}: {exc}") from None
