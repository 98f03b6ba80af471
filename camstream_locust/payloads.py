"""What the suite sends: run-scoped ids and realistic cameras and inference servers (pure).

A cam-stream server dials every camera's ``rtsp_url`` and some inference servers' ``url``,
so every generated address is loopback (127.0.0.1) on a port nothing listens on.
"""

from __future__ import annotations

import random
import secrets
import socket
from collections.abc import Iterable, Sequence
from typing import Any

LOOPBACK = "127.0.0.1"
#: Ports tried, in order, for generated addresses; the first one found closed is used.
CLOSED_PORT_CANDIDATES = (9, 7, 13, 37, 79, 1)

PLACES = (
    "Lobby entrance",
    "Loading dock",
    "Parking level 2",
    "Warehouse aisle",
    "Server room",
    "North gate",
    "Cafeteria",
    "Stairwell B",
    "Reception",
    "Assembly line",
)
MODEL_TYPES = ("yolo", "face", "ppe", "fire_smoke", "other")
STREAM_PATHS = ("live/main", "live/sub", "h264/ch1/main/av_stream", "cam/realmonitor", "stream1")


def new_run_id() -> str:
    """A fresh id for one run: every object the run creates carries it."""
    return secrets.token_hex(3)


def new_process_tag() -> str:
    """Unique per load-generating process, so ids created on different workers never collide."""
    return secrets.token_hex(3)


def run_prefix(run_id: str) -> str:
    """The prefix of every id a run creates (``lc-<run>-``); cleanup deletes exactly these."""
    return f"lc-{run_id}-"


def is_loopback_port_closed(port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=timeout):
            return False
    except OSError:
        return True


def pick_closed_port(candidates: Iterable[int] = CLOSED_PORT_CANDIDATES) -> int:
    """The first candidate port with nothing listening on loopback (the server will dial it)."""
    for port in candidates:
        if is_loopback_port_closed(port):
            return port
    raise RuntimeError("no closed loopback port found for generated URLs")


def is_loopback_url(url: str) -> bool:
    """True when the URL's host is 127.0.0.1 (what every generated URL must be)."""
    rest = url.split("://", 1)[-1]
    host = rest.split("/", 1)[0].rsplit(":", 1)[0]
    return host == LOOPBACK


class Payloads:
    """Builds request bodies; names carry a sequence number so every write is distinguishable."""

    def __init__(self, process_tag: str, closed_port: int, rng: random.Random | None = None) -> None:
        self.tag = process_tag
        self.port = closed_port
        self.rng = rng or random.Random()
        self._seq = 0

    def _next(self) -> int:
        self._seq += 1
        return self._seq

    def camera(self, obj_id: str, server_ids: Sequence[str] = ()) -> dict[str, Any]:
        rng = self.rng
        body: dict[str, Any] = {
            "id": obj_id,
            "name": f"{rng.choice(PLACES)} {rng.randint(1, 40)} ({self.tag}-{self._next()})",
            "rtsp_url": f"rtsp://{LOOPBACK}:{self.port}/{rng.choice(STREAM_PATHS)}/{obj_id}",
            "enabled": True,
        }
        if server_ids:
            chosen = rng.sample(list(server_ids), min(len(server_ids), rng.randint(0, 2)))
            bindings = []
            for server_id in chosen:
                threshold = round(rng.uniform(0.3, 0.7), 2)
                bindings.append(
                    {
                        "server_id": server_id,
                        "threshold": threshold,
                        "max_threshold": round(threshold + 0.25, 2),
                    }
                )
            if bindings:
                body["inference_server_bindings"] = bindings
        return body

    def server(self, obj_id: str) -> dict[str, Any]:
        rng = self.rng
        model = rng.choice(MODEL_TYPES)
        body: dict[str, Any] = {
            "id": obj_id,
            "name": f"{model} detector ({self.tag}-{self._next()})",
            "url": f"http://{LOOPBACK}:{self.port}/v1/models/{model}",
            "model_type": model,
            "enabled": True,
        }
        if rng.random() < 0.5:
            body["description"] = f"{model} inference on GPU {rng.randint(0, 3)}"
        return body
