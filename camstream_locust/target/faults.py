"""Fault injection: the spec, the per-request dice, and what a misbehaving Go server looks like.

Spec: `nil-pointer=0.05,race=0.2,slow=0.02,bad-json=0.02,http=0.02,torn-file=1`, each
rate a probability per eligible request. The text generators (panic traces, race
reports, fatal errors) are pure functions of a random.Random and the Go handler name, so
the server frame is stable per route while goroutine ids and addresses vary.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

NIL_POINTER = "nil-pointer"
RACE = "race"
SLOW = "slow"
BAD_JSON = "bad-json"
HTTP = "http"
TORN_FILE = "torn-file"

FAULT_NAMES = (NIL_POINTER, RACE, SLOW, BAD_JSON, HTTP, TORN_FILE)
#: At most one of these applies to a request, rolled in this order.
RESPONSE_FAULTS = (NIL_POINTER, HTTP, BAD_JSON, SLOW)

NIL_DEREF = "runtime error: invalid memory address or nil pointer dereference"
INDEX_OUT_OF_RANGE = "runtime error: index out of range [3] with length 3"
CONCURRENT_MAP_WRITES = "concurrent map writes"


class FaultSpecError(ValueError):
    """A --faults spec that cannot be parsed."""


class DropConnection(BaseException):
    """Raised by a handler to close the connection without writing a byte (a Go handler panic).

    A BaseException so that Flask's `except Exception` error handling lets it through to the
    WSGI handler (see server.GoWSGIHandler), like GreenletExit or KeyboardInterrupt.
    """


def parse_fault_spec(spec: str | None) -> dict[str, float]:
    """`name=rate,...` to {name: rate}; empty or None means no faults. Raises FaultSpecError."""
    rates: dict[str, float] = {}
    if not spec or not spec.strip():
        return rates
    for item in spec.split(","):
        name, sep, rate_text = (part.strip() for part in item.partition("="))
        if not sep or not name:
            raise FaultSpecError(f"expected name=rate, got {item.strip()!r}")
        if name not in FAULT_NAMES:
            raise FaultSpecError(f"unknown fault {name!r} (known: {', '.join(FAULT_NAMES)})")
        if name in rates:
            raise FaultSpecError(f"fault {name!r} given twice")
        try:
            rate = float(rate_text)
        except ValueError:
            raise FaultSpecError(f"rate of {name!r} is not a number: {rate_text!r}") from None
        if not (math.isfinite(rate) and 0.0 <= rate <= 1.0):
            raise FaultSpecError(f"rate of {name!r} must be between 0 and 1, got {rate_text!r}")
        rates[name] = rate
    return rates


@dataclass
class FaultDice:
    """Rolls the configured faults with one seeded random.Random (the process is single-threaded)."""

    rates: dict[str, float]
    rng: random.Random

    def roll(self, name: str) -> bool:
        rate = self.rates.get(name, 0.0)
        return rate > 0.0 and self.rng.random() < rate

    def response_fault(self) -> str | None:
        """At most one of nil-pointer/http/bad-json/slow, rolled in that order."""
        for name in RESPONSE_FAULTS:
            if self.roll(name):
                return name
        return None


# --- Go text --------------------------------------------------------------------------------

#: Go handler name -> (source file, line of the faulting statement) in cam-stream/internal/api.
HANDLER_SITES: dict[str, tuple[str, int]] = {
    "Ping": ("health.go", 18),
    "GetStatus": ("status.go", 31),
    "ListCameras": ("cameras.go", 27),
    "CreateCamera": ("cameras.go", 61),
    "GetCamera": ("cameras.go", 97),
    "UpdateCamera": ("cameras.go", 142),
    "DeleteCamera": ("cameras.go", 188),
    "ListInferenceServers": ("inference_servers.go", 24),
    "CreateInferenceServer": ("inference_servers.go", 57),
    "GetInferenceServer": ("inference_servers.go", 93),
    "UpdateInferenceServer": ("inference_servers.go", 131),
    "DeleteInferenceServer": ("inference_servers.go", 174),
    "GetAlertServer": ("alert.go", 19),
    "UpdateAlertServer": ("alert.go", 44),
    "ExportConfig": ("config.go", 22),
    "ImportConfig": ("config.go", 58),
}

#: Go handler name -> (package, receiver, method, file, line) of the map write it races on.
MAP_WRITE_SITES: dict[str, tuple[str, str, str, str, int]] = {
    "CreateCamera": ("camera", "Manager", "AddCamera", "manager.go", 158),
    "UpdateCamera": ("camera", "Manager", "UpdateCamera", "manager.go", 211),
    "DeleteCamera": ("camera", "Manager", "RemoveCamera", "manager.go", 247),
    "CreateInferenceServer": ("inference", "Registry", "AddServer", "registry.go", 74),
    "UpdateInferenceServer": ("inference", "Registry", "UpdateServer", "registry.go", 103),
    "DeleteInferenceServer": ("inference", "Registry", "RemoveServer", "registry.go", 131),
}
#: package -> the read the racing write conflicts with.
MAP_READ_SITES: dict[str, tuple[str, str, str, int]] = {
    "camera": ("Manager", "GetCamera", "manager.go", 96),
    "inference": ("Registry", "GetServer", "registry.go", 52),
}

_GO_SRC = "/usr/local/go/src"


def _heap_addr(rng: random.Random) -> str:
    return f"0xc000{rng.randrange(0x010000, 0x400000) & ~0xF:06x}"


def _site(handler: str) -> tuple[str, int]:
    return HANDLER_SITES.get(handler, ("router.go", 77))


def _write_site(handler: str) -> tuple[str, str, str, str, int]:
    return MAP_WRITE_SITES.get(handler, MAP_WRITE_SITES["UpdateCamera"])


def _http_frames(rng: random.Random, handler: str, offset: str) -> list[str]:
    """From the api handler frame down to `created by net/http.(*Server).Serve`."""
    file, line = _site(handler)
    w, r, conn = _heap_addr(rng), _heap_addr(rng), _heap_addr(rng)
    return [
        f"cam-stream/internal/api.(*Handler).{handler}({_heap_addr(rng)}, {{0xa1b2c0, {w}}}, {r})",
        f"\t/app/internal/api/{file}:{line} {offset}",
        f"net/http.HandlerFunc.ServeHTTP({_heap_addr(rng)}?, {{0xa1b2c0?, {w}?}}, {r}?)",
        f"\t{_GO_SRC}/net/http/server.go:2166 +0x29",
        f"net/http.(*ServeMux).ServeHTTP({_heap_addr(rng)}?, {{0xa1b2c0, {w}}}, {r})",
        f"\t{_GO_SRC}/net/http/server.go:2683 +0x1ad",
        f"net/http.serverHandler.ServeHTTP({{{_heap_addr(rng)}?}}, {{0xa1b2c0?, {w}?}}, 0x6?)",
        f"\t{_GO_SRC}/net/http/server.go:3137 +0x8e",
        f"net/http.(*conn).serve({conn}, {{0xa1c3e8, {_heap_addr(rng)}}})",
        f"\t{_GO_SRC}/net/http/server.go:2039 +0x5e8",
        "created by net/http.(*Server).Serve in goroutine 1",
        f"\t{_GO_SRC}/net/http/server.go:3285 +0x4b4",
    ]


def panic_trace(rng: random.Random, handler: str, client: str, error: str) -> str:
    """What Go's net/http logs when `handler` panics with `error` while serving `client`."""
    lines = [
        f"http: panic serving {client}: {error}",
        f"goroutine {rng.randrange(20, 20000)} [running]:",
        "net/http.(*conn).serve.func1()",
        f"\t{_GO_SRC}/net/http/server.go:1903 +0xbe",
    ]
    if error == NIL_DEREF:
        lines += ["panic({0x8f4a20?, 0xd2c1b0?})", f"\t{_GO_SRC}/runtime/panic.go:770 +0x132"]
    else:
        lines += [
            f"panic({{0x91c3e0?, {_heap_addr(rng)}?}})",
            f"\t{_GO_SRC}/runtime/panic.go:770 +0x132",
            "runtime.goPanicIndex(0x3, 0x3)",
            f"\t{_GO_SRC}/runtime/panic.go:114 +0x7c",
        ]
    return "\n".join(lines + _http_frames(rng, handler, "+0x1c5"))


def fatal_map_writes(rng: random.Random, handler: str) -> str:
    """The block the Go runtime prints when two goroutines write one map at once."""
    package, receiver, method, file, line = _write_site(handler)
    return "\n".join(
        [
            f"fatal error: {CONCURRENT_MAP_WRITES}",
            "",
            f"goroutine {rng.randrange(20, 20000)} [running]:",
            "internal/runtime/maps.fatal({0x9a3b1e?, 0x0?})",
            f"\t{_GO_SRC}/runtime/panic.go:1058 +0x20",
            f"runtime.mapassign_faststr({_heap_addr(rng)}?, {_heap_addr(rng)}, {{{_heap_addr(rng)}, 0x14}})",
            f"\t{_GO_SRC}/internal/runtime/maps/runtime_faststr.go:263 +0x3a5",
            f"cam-stream/internal/{package}.(*{receiver}).{method}({_heap_addr(rng)}, {_heap_addr(rng)})",
            f"\t/app/internal/{package}/{file}:{line} +0x2e4",
            *_http_frames(rng, handler, "+0x3c4"),
        ]
    )


def race_report(rng: random.Random, handler: str) -> str:
    """A Go race-detector report for a map write in `handler` racing with a concurrent read."""
    package, receiver, method, file, line = _write_site(handler)
    read_receiver, read_method, read_file, read_line = MAP_READ_SITES[package]
    api_file, api_line = _site(handler)
    writer, reader = rng.sample(range(20, 20000), 2)
    addr = f"0x00c000{rng.randrange(0x010000, 0x400000) & ~0x7:06x}"
    faststr = f"{_GO_SRC}/internal/runtime/maps/runtime_faststr.go"
    serve = [
        "  net/http.(*Server).Serve()",
        f"      {_GO_SRC}/net/http/server.go:3360 +0x8ec",
        "  net/http.(*Server).ListenAndServe()",
        f"      {_GO_SRC}/net/http/server.go:3259 +0xa4",
        "  main.main()",
        "      /app/cmd/server/main.go:64 +0x6c4",
    ]
    return "\n".join(
        [
            "==================",
            "WARNING: DATA RACE",
            f"Write at {addr} by goroutine {writer}:",
            "  runtime.mapassign_faststr()",
            f"      {faststr}:263 +0x0",
            f"  cam-stream/internal/{package}.(*{receiver}).{method}()",
            f"      /app/internal/{package}/{file}:{line} +0x2e4",
            f"  cam-stream/internal/api.(*Handler).{handler}()",
            f"      /app/internal/api/{api_file}:{api_line} +0x3c4",
            "  net/http.HandlerFunc.ServeHTTP()",
            f"      {_GO_SRC}/net/http/server.go:2166 +0x47",
            "",
            f"Previous read at {addr} by goroutine {reader}:",
            "  runtime.mapaccess2_faststr()",
            f"      {faststr}:117 +0x0",
            f"  cam-stream/internal/{package}.(*{read_receiver}).{read_method}()",
            f"      /app/internal/{package}/{read_file}:{read_line} +0x7d",
            "  net/http.HandlerFunc.ServeHTTP()",
            f"      {_GO_SRC}/net/http/server.go:2166 +0x47",
            "",
            f"Goroutine {writer} (running) created at:",
            *serve,
            "",
            f"Goroutine {reader} (finished) created at:",
            *serve,
            "==================",
        ]
    )


# --- broken answers and writes ----------------------------------------------------------------


def corrupt_json(rng: random.Random, body: bytes) -> bytes:
    """Invalid JSON in place of `body`: its first half (a truncated write) or nothing, 50/50."""
    return body[: len(body) // 2] if rng.random() < 0.5 else b""


def torn_writer(rng: random.Random, sleep: Callable[[float], None]) -> Callable[[Path, bytes], None]:
    """A non-atomic data-file writer: truncate the real file, then write 3-4 pieces with pauses.

    A concurrent reader can see an empty, truncated or interleaved file; concurrent torn
    writes can leave it interleaved for good.
    """

    def write(path: Path, payload: bytes) -> None:
        pieces = rng.choice((3, 4))
        cuts = sorted(rng.sample(range(1, len(payload)), pieces - 1)) if len(payload) > pieces else []
        bounds = [0, *cuts, len(payload)]
        with open(path, "wb") as f:
            for start, end in itertools.pairwise(bounds):
                sleep(rng.uniform(0.001, 0.005))
                f.write(payload[start:end])
                f.flush()

    return write
