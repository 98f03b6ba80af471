"""The suite's command-line options: one argument group, each option with an env var and a help line.

Bad values are rejected by argparse with one line (``locust: error: argument --x: ...``).
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from camstream_locust import classify
from camstream_locust.scenarios import DEFAULT_SCENARIO, SCENARIOS


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def categories(text: str) -> str:
    """A comma list of error categories (or "none"), validated, kept as text for the web UI."""
    if text.strip().lower() == "none":
        return "none"
    try:
        classify.parse_categories(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def report_path(text: str) -> str:
    """A file the suite can write at the end (its folder is created if missing); refused now, not
    after the run. Empty: no report (argparse also passes the default through here)."""
    if not text:
        return text
    path = os.path.abspath(text)
    if os.path.isdir(path):
        raise argparse.ArgumentTypeError(f"{text} is a directory")
    parent = os.path.dirname(path)
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise argparse.ArgumentTypeError(f"cannot write {text}: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"cannot write {text}: {parent} is not writable")
    return text


def fault_spec(text: str) -> str:
    from camstream_locust.target.faults import FaultSpecError, parse_fault_spec

    try:
        parse_fault_spec(text)
    except FaultSpecError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def add_arguments(parser: Any) -> None:
    """Register the camstream options on Locust's parser (``init_command_line_parser``)."""
    group = parser.add_argument_group(
        "camstream", "cam-stream concurrency checks (also settable as CAMSTREAM_* environment variables)"
    )

    def option(name: str, env: str, include_in_web_ui: bool = True, **kwargs: Any) -> None:
        action = group.add_argument(name, env_var=f"CAMSTREAM_{env}", **kwargs)
        # What LocustArgumentParser.add_argument does; a group's add_argument does not.
        action.include_in_web_ui = include_in_web_ui
        action.is_secret = action.is_required = action.is_multiple = False

    option(
        "--scenario",
        "SCENARIO",
        default=DEFAULT_SCENARIO,
        choices=sorted(SCENARIOS),
        help=f"stress scenario (default: {DEFAULT_SCENARIO}): "
        + "; ".join(f"{name}: {s.summary}" for name, s in SCENARIOS.items()),
    )
    option(
        "--pool-size",
        "POOL_SIZE",
        type=positive_int,
        default=50,
        help="most live objects of each kind this run keeps per load process; a full pool re-POSTs "
        "(upserts) an id it owns (default: %(default)s)",
    )
    option(
        "--request-timeout",
        "REQUEST_TIMEOUT",
        type=positive_float,
        default=5.0,
        help="seconds before a request counts as a timeout (default: %(default)s)",
    )
    option(
        "--stats-interval",
        "STATS_INTERVAL",
        type=positive_float,
        default=5.0,
        help="seconds between two statistics blocks (default: %(default)s)",
    )
    option(
        "--fail-on",
        "FAIL_ON",
        type=categories,
        default="nil_pointer,race_condition",
        help="categories whose findings fail the run with exit code 3, or 'none' "
        f"(default: %(default)s; known: {', '.join(classify.CATEGORIES)})",
    )
    option(
        "--keep-data",
        "KEEP_DATA",
        action="store_true",
        default=False,
        help="leave the objects this run created on the server (default: delete them at the end)",
    )
    option(
        "--embedded-target",
        "EMBEDDED_TARGET",
        action="store_true",
        default=False,
        include_in_web_ui=False,
        help="start the reference cam-stream target on a free loopback port for this run and aim at it",
    )
    option(
        "--target-faults",
        "TARGET_FAULTS",
        type=fault_spec,
        default="",
        include_in_web_ui=False,
        help="fault spec for the embedded target, e.g. nil-pointer=0.05,race=0.2 (camstream-target --help)",
    )
    option(
        "--target-dir",
        "TARGET_DIR",
        default="",
        include_in_web_ui=False,
        help="data directory of the embedded target; its log is TARGET_DIR/target.log "
        "(default: a temporary directory, removed at the end)",
    )
    option(
        "--camstream-run-id",
        "RUN_ID",
        default="",
        include_in_web_ui=False,
        help="prefix of every id this run creates (default: random; the master sets it for workers)",
    )
    option(
        "--camstream-json",
        "JSON",
        default="",
        type=report_path,
        metavar="PATH",
        include_in_web_ui=False,
        help="write a JSON summary of the run (parameters, totals, findings, verdict) to PATH at the end",
    )
    option(
        "--camstream-junit",
        "JUNIT",
        default="",
        type=report_path,
        metavar="PATH",
        include_in_web_ui=False,
        help="write a JUnit XML file to PATH at the end: one testcase per error category, failing "
        "when that category fails the run",
    )
    option(
        "--server-log",
        "SERVER_LOG",
        default="",
        metavar="PATH",
        include_in_web_ui=False,
        help="follow the server's log file like tail -F (panics, fatal errors and race-detector reports "
        "become findings); with --embedded-target its log is followed by default",
    )
    option(
        "--server-log-cmd",
        "SERVER_LOG_CMD",
        default="",
        metavar="CMD",
        include_in_web_ui=False,
        help="read the server's log from a command's output instead, e.g. 'docker logs -f NAME' or "
        "'journalctl -fu UNIT' (started at test start, stopped at the end)",
    )
    option(
        "--server-log-from-start",
        "SERVER_LOG_FROM_START",
        action="store_true",
        default=False,
        include_in_web_ui=False,
        help="read --server-log from its beginning (default: only what is written during the run)",
    )
    option(
        "--data-file",
        "DATA_FILE",
        default="",
        metavar="PATH|URL",
        include_in_web_ui=False,
        help="the server's JSON data file (a local path or an http URL), read-only: sampled for torn "
        "writes during the run and compared with the API at the end; with --embedded-target its "
        "data file by default",
    )
    option(
        "--allow-import",
        "ALLOW_IMPORT",
        action="store_true",
        default=False,
        include_in_web_ui=False,
        help="DESTRUCTIVE, for test servers only: the config task also imports each export back "
        "(racing the CRUD load); the server's state from before the run is restored at the end",
    )
    option(
        "--no-history",
        "NO_HISTORY",
        action="store_true",
        default=False,
        help="do not record per-object histories nor check them for linearizability at the end",
    )


def fail_on(options: Any) -> frozenset[str]:
    spec = getattr(options, "fail_on", "") or ""
    return frozenset() if spec.strip().lower() == "none" else classify.parse_categories(spec)
