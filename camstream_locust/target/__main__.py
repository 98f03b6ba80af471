"""`python -m camstream_locust.target` / `camstream-target`: run the reference cam-stream server.

Prints exactly one line to stdout once listening:
`camstream-target listening on http://HOST:PORT`. Exit codes: 0 after SIGTERM/SIGINT,
2 for a bad --faults spec, an invalid data file, an unusable data directory or log file,
or a port it cannot listen on (one line on stderr; argparse usage errors also exit 2).
"""

from __future__ import annotations

import argparse
import math
import random
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from camstream_locust import contract
from camstream_locust.target import faults
from camstream_locust.target.golog import GoLog
from camstream_locust.target.store import Store, StoreFileError

PROG = "camstream-target"


def port_number(text: str) -> int:
    """argparse type of --port: an integer from 0 to 65535."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be between 0 and 65535, got {port}")
    return port


def seconds(text: str) -> float:
    """argparse type of --slow-seconds: a finite number >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Reference cam-stream HTTP API server.")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    parser.add_argument(
        "--port",
        type=port_number,
        default=contract.DEFAULT_PORT,
        help="port; 0 picks a free one (default: %(default)s)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path("."),
        help=f"the store is persisted to DATA_DIR/{contract.DATA_FILE_RELPATH} (default: current directory)",
    )
    parser.add_argument(
        "--faults",
        default="",
        metavar="SPEC",
        help="fault rates, e.g. nil-pointer=0.05,race=0.2,slow=0.02,bad-json=0.02,http=0.02,torn-file=1 "
        f"(known: {', '.join(faults.FAULT_NAMES)}; default: none)",
    )
    parser.add_argument("--log-file", type=Path, help="append the Go-format log here (default: stderr)")
    parser.add_argument(
        "--slow-seconds", type=seconds, default=10.0, help="delay of the `slow` fault (default: %(default)s)"
    )
    parser.add_argument("--seed", type=int, help="seed of the fault dice (default: random)")
    return parser


def _fail(message: str) -> int:
    print(f"{PROG}: {message}", file=sys.stderr, flush=True)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        rates = faults.parse_fault_spec(args.faults)
    except faults.FaultSpecError as exc:
        return _fail(f"invalid --faults {args.faults!r}: {exc}")
    data_file = (args.data_dir / contract.DATA_FILE_RELPATH).absolute()
    try:
        db = Store.load(data_file)
    except StoreFileError as exc:
        return _fail(str(exc))
    except OSError as exc:
        return _fail(f"cannot use data directory {args.data_dir}: {exc.strerror or exc}")

    try:
        log = GoLog.open(args.log_file)
    except OSError as exc:
        return _fail(f"cannot open log file {args.log_file}: {exc.strerror or exc}")

    # Imported only now: gevent and Flask take most of the start-up time, and a bad
    # command line should fail fast.
    import gevent

    from camstream_locust.target.app import Faults, create_app
    from camstream_locust.target.server import make_server

    injected = None
    if any(rates.values()):
        dice = faults.FaultDice(rates, random.Random(args.seed))
        injected = Faults(dice, slow_seconds=args.slow_seconds)
    try:
        server = make_server(args.host, args.port, create_app(db, log, injected), error_log=_ErrorLog(log))
    except OSError as exc:
        log.close()
        return _fail(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}")

    for signum in (signal.SIGTERM, signal.SIGINT):
        gevent.signal_handler(signum, server.stop)
    server.start()
    host = f"[{args.host}]" if ":" in args.host else args.host
    url = f"http://{host}:{server.server_port}"
    log.printf(f"[INFO] {PROG} listening on {url}, data file {data_file}, faults: {args.faults or 'none'}")
    print(f"{PROG} listening on {url}", flush=True)
    try:
        server.serve_forever(stop_timeout=1)
    finally:
        log.printf(f"[INFO] {PROG} stopped")
        log.close()
    return 0


class _ErrorLog:
    """A file-like for pywsgi's error log that writes each message as one Go log entry."""

    def __init__(self, log: GoLog) -> None:
        self._log = log

    def write(self, text: str) -> None:
        if text.strip():
            self._log.printf(f"[ERROR] {text.rstrip()}")

    def flush(self) -> None:
        pass


if __name__ == "__main__":
    sys.exit(main())
