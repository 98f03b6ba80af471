"""The only Locust event glue: options, preflight, failure classification, reports, quiesce, exit code.

Where things happen (see shared/locust-facts.md):
- ``request`` fires on workers and the local runner only: failures are classified there into
  the process's ``RunContext.findings`` delta.
- Workers ship the delta with ``report_to_master``; the master merges it in ``worker_report``.
  Locally the ticker merges the delta the same way: totals only grow by ``Findings.merge``.
- When load stops, every load process quiesces (stops its users, waits for the server to
  settle, audits what it owns) and ships its last delta; the master asks its workers to do so
  from ``test_stopping``, while its message loop still runs, and waits for their answers.
- The final block, the verdict and the exit code are decided in ``quitting``, after the
  workers' last reports.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import gevent
from locust import events
from locust import runners as locust_runners
from locust.runners import STATE_STOPPED, LocalRunner, MasterRunner, WorkerRunner

from camstream_locust import (
    api,
    audit,
    classify,
    context,
    contract,
    embedded,
    http,
    options,
    payloads,
    reporting,
    summary,
    watchers,
    webui,
)
from camstream_locust.checker import Report
from camstream_locust.findings import Findings
from camstream_locust.history import UNKNOWN_HORIZON_S, History
from camstream_locust.users import USER_CLASSES

log = logging.getLogger("camstream")


def _machine_id() -> str:
    """This machine's boot id: the same in every process and container sharing its clock."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as f:
            return f.read().strip()
    except OSError:
        import socket

        return socket.gethostname()


MACHINE = _machine_id()

REPORT_KEY = "camstream"
#: Key of the worker report that carries the completed ops on the shared (hot) ids.
HISTORY_KEY = "camstream_history"
QUIESCE = "camstream_quiesce"
QUIESCED = "camstream_quiesced"
#: Seconds to let the server finish requests that were cut off when the users stopped.
SETTLE_SECONDS = 0.5
#: How many passes the cleanup makes over objects that failed to delete. A pass is only repeated
#: when something is left; against a server panicking on 5 % of requests (lists included), 3
#: passes left some of 130 objects behind in 6.7 % of simulated runs, 5 in 0.09 %, 8 in ~0.
CLEANUP_PASSES = 8
#: A directory: every process of the run writes what it counted there when it quits (for tests).
DEBUG_COUNTS_ENV = "CAMSTREAM_DEBUG_COUNTS_DIR"
#: Seconds a worker goes on without a heartbeat from its master before it quits (Locust's own: 60).
MASTER_TIMEOUT_ENV = "CAMSTREAM_MASTER_TIMEOUT"
MASTER_TIMEOUT = 10.0


@dataclass
class Suite:
    """The state of this process across the run (one per Locust environment)."""

    environment: Any
    #: The run's merged findings (master and local runner; unused on workers).
    totals: Findings = field(default_factory=Findings)
    ctx: context.RunContext | None = None
    target: embedded.EmbeddedTarget | None = None
    ticker: Any = None
    not_run: str = ""
    notes: list[str] = field(default_factory=list)
    quiesced: bool = False
    #: Master: worker id -> the last delta it sent when it quiesced (None until it does).
    quiesce_replies: dict[str, Any] = field(default_factory=dict)
    finished: bool = False
    #: Everything this process took from its own delta (shipped to the master, or merged locally).
    sent: Findings = field(default_factory=Findings)
    #: Master: every worker that took part in the run, to tell at the end which ones were lost.
    workers_seen: set[str] = field(default_factory=set)
    #: With CAMSTREAM_DEBUG_COUNTS_DIR: Locust's requests in this process, counted independently.
    debug: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    #: The server log and data file, watched by the process owning the totals (None on workers).
    watch: watchers.Watchers | None = None
    #: --allow-import: the server's config export from before the run, restored at the end.
    saved_config: bytes | None = None
    #: Extra top-level sections of the JSON summary (server_log, data_file, history).
    sections: dict[str, Any] = field(default_factory=dict)
    #: Master: the ops of the shared (hot) ids from every worker, checked at the end.
    shared_history: History | None = None
    #: Master: the machines (boot ids) the shared ops came from; one clock only if one machine.
    machines: set[str] = field(default_factory=set)
    #: The history check's merged report (master and local runner); None when checks are off.
    history_report: Report | None = None
    #: --camstream-run-id was given (kept for every test), else a fresh id per test.
    run_id_given: bool = False
    tests_started: int = 0

    @property
    def options(self) -> Any:
        return self.environment.parsed_options

    @property
    def runner(self) -> Any:
        return self.environment.runner

    def opt(self, name: str, default: Any = None) -> Any:
        return getattr(self.options, name, default) if self.options is not None else default

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)
            log.warning(text)


_suite: Suite | None = None


def _say(line: str) -> None:
    """A one-line message for the user, on stderr (never a traceback)."""
    print(f"camstream: {line}", file=sys.stderr, flush=True)


# --- options and start-up ------------------------------------------------------------------------


@events.init_command_line_parser.add_listener
def _add_options(parser: Any, **_kw: Any) -> None:
    options.add_arguments(parser)


@events.init.add_listener
def _on_init(environment: Any, runner: Any = None, **_kw: Any) -> None:
    global _suite
    suite = _suite = Suite(environment)
    if isinstance(runner, WorkerRunner):
        runner.register_message(
            QUIESCE, lambda environment, msg, **kw: _worker_quiesce(suite), concurrent=True
        )
        # Locust's worker waits 60 s for a vanished master; read at every check, so patch it here.
        locust_runners.MASTER_HEARTBEAT_TIMEOUT = _master_timeout()
        return
    opts = environment.parsed_options
    if opts is None:
        return
    if environment.web_ui is not None:
        webui.install(environment, suite, refresh=lambda: _collect_local(suite))
    suite.run_id_given = bool(opts.camstream_run_id)
    if not opts.camstream_run_id:
        opts.camstream_run_id = payloads.new_run_id()  # forwarded to workers with the spawn message
    if not getattr(opts, "user_classes", None):
        chosen = USER_CLASSES[opts.scenario]
        environment.user_classes[:] = [c for c in environment.user_classes if c is chosen] or [chosen]
    if opts.embedded_target:
        _start_embedded(suite)
    elif opts.target_faults:
        suite.note("--target-faults is ignored without --embedded-target")
    if isinstance(runner, MasterRunner):
        runner.register_message(QUIESCED, lambda environment, msg, **kw: _on_quiesced(suite, msg))
    if opts.headless or getattr(opts, "autostart", False):
        problem = preflight(environment.host or _default_host(), opts.request_timeout)
        if problem:
            _say(problem)
            if suite.target:
                suite.target.stop()
            sys.exit(reporting.EXIT_NOT_RUN)


def _default_host() -> str:
    return next(iter(USER_CLASSES.values())).host


def _master_timeout() -> float:
    """Seconds without a heartbeat from the master before a worker quits by itself."""
    text = os.environ.get(MASTER_TIMEOUT_ENV, "")
    try:
        value = float(text) if text else MASTER_TIMEOUT
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        log.warning("%s=%r is not a positive number; using %s s", MASTER_TIMEOUT_ENV, text, MASTER_TIMEOUT)
        value = MASTER_TIMEOUT
    return value


def _start_embedded(suite: Suite) -> None:
    opts = suite.options
    try:
        suite.target = embedded.start(opts.target_faults, opts.target_dir)
    except (embedded.EmbeddedTargetError, OSError) as exc:
        _say(f"cannot start the embedded target: {exc}")
        sys.exit(reporting.EXIT_NOT_RUN)
    if opts.host and opts.host != suite.target.url:
        suite.note(f"--embedded-target: ignoring --host {opts.host}")
    suite.environment.host = opts.host = suite.target.url
    log.info(
        "embedded cam-stream target at %s (data %s, log %s, faults: %s)",
        suite.target.url,
        suite.target.data_file,
        suite.target.log_file,
        opts.target_faults or "none",
    )


def preflight(host: str, timeout: float) -> str:
    """Empty when ``host`` answers ``/api/ping`` like a cam-stream server, else one line saying why not."""
    try:
        answer = http.request(host, "GET", contract.PING, timeout=timeout)
    except http.HttpProblem as exc:
        return f"cannot reach the cam-stream server at {host}: {exc} (is it running? aim with --host URL)"
    if answer.status != 200:
        return f"{host} does not look like a cam-stream server: GET {contract.PING} gave HTTP {answer.status}"
    try:
        api.ping(api.ok_envelope(answer.body))
    except api.Invalid as exc:
        return f"{host} does not look like a cam-stream server: GET {contract.PING}: {exc}"
    return ""


@events.test_start.add_listener
def _on_test_start(environment: Any, **_kw: Any) -> None:
    suite = _suite
    if suite is None:
        return
    opts = environment.parsed_options
    runner = environment.runner
    if opts is not None and not isinstance(runner, WorkerRunner) and not suite.run_id_given:
        # A fresh run id per test (web UI: Start, Stop, Start): a late request of the last test
        # can never land on this one's objects. Sent to the workers with the spawn message.
        if suite.tests_started:
            opts.camstream_run_id = payloads.new_run_id()
        suite.tests_started += 1
    suite.quiesced = suite.finished = False
    suite.sent = Findings()
    suite.debug.clear()
    if not isinstance(runner, MasterRunner):
        suite.ctx = context.install(environment, _new_context(opts, isinstance(runner, WorkerRunner)))
    if isinstance(runner, WorkerRunner):
        return
    suite.totals = Findings()
    suite.quiesce_replies = {}
    suite.sections = {}
    suite.history_report = Report() if history_enabled(opts) else None
    if getattr(opts, "no_history", False):
        suite.note("--no-history: per-object histories are not recorded nor checked")
    suite.shared_history = None
    suite.machines = set()
    if isinstance(runner, MasterRunner) and history_enabled(opts):
        # Cut no segment before every worker's ops of that time can have arrived.
        settle = float(opts.request_timeout) + 2 * locust_runners.WORKER_REPORT_INTERVAL + 1
        suite.shared_history = History(horizon_s=_horizon(opts), settle_s=settle)
    if isinstance(runner, MasterRunner):
        suite.workers_seen = {c.id for c in runner.clients.values() if c.state != "missing"}
    if opts is not None and not (opts.headless or getattr(opts, "autostart", False)):
        problem = preflight(environment.host or _default_host(), opts.request_timeout)
        if problem:
            _say(problem)
            suite.not_run = problem
            if suite.ctx:
                suite.ctx.halted = problem
            gevent.spawn(runner.stop)
            return
    if opts is not None:
        _save_config(suite)
        suite.watch = watchers.Watchers.from_options(opts, environment.host or _default_host(), suite.target)
        suite.watch.start()
    if suite.ticker is None or suite.ticker.dead:
        suite.ticker = gevent.spawn(_tick, suite)


def _save_config(suite: Suite) -> None:
    """--allow-import: keep the server's state from before the run, to restore it at the end."""
    suite.saved_config = None
    if not suite.opt("allow_import", False):
        return
    host = suite.environment.host or _default_host()
    try:
        answer = http.request(
            host, "GET", contract.CONFIG_EXPORT, timeout=float(suite.opt("request_timeout", 5.0))
        )
        if answer.status == 200:
            api.store(api.parse_json(answer.body))
            suite.saved_config = answer.body
    except (http.HttpProblem, api.Invalid) as exc:
        suite.note(f"--allow-import: could not save the server's state before the run: {exc}")
        return
    if suite.saved_config is None:
        suite.note(
            f"--allow-import: GET {contract.CONFIG_EXPORT} answered HTTP {answer.status}: nothing to restore"
        )
    suite.note("--allow-import: per-object history checks are off while imports race the load")


def history_enabled(opts: Any) -> bool:
    """Per-object histories are recorded unless --no-history, or --allow-import (imports rewrite
    every object at once, which the per-object model cannot follow)."""
    return (
        opts is not None
        and not getattr(opts, "no_history", False)
        and not getattr(opts, "allow_import", False)
    )


def _horizon(opts: Any) -> float:
    """Seconds after its invoke within which an unanswered operation may still take effect."""
    return max(UNKNOWN_HORIZON_S, 3 * float(getattr(opts, "request_timeout", 5.0)))


def _new_context(opts: Any, worker: bool = False) -> context.RunContext:
    run_id = getattr(opts, "camstream_run_id", "") or payloads.new_run_id()
    history = None
    if history_enabled(opts):
        # A worker hands the shared ids' ops to the master, where every worker's ops meet.
        shipped = frozenset(context.hot_camera_ids(run_id)) if worker else frozenset()
        history = History(horizon_s=_horizon(opts), shipped=shipped)
    return context.RunContext(
        run_id=run_id,
        process_tag=payloads.new_process_tag(),
        pool_size=getattr(opts, "pool_size", 50),
        request_timeout=getattr(opts, "request_timeout", 5.0),
        closed_port=payloads.pick_closed_port(),
        allow_import=bool(getattr(opts, "allow_import", False)),
        history=history,
    )


# --- classification of failures (workers and local runner) ---------------------------------------


@events.request.add_listener
def _on_request(
    request_type: str, name: str, response: Any = None, exception: Any = None, **_kw: Any
) -> None:
    if exception is None:
        return
    suite = _suite
    ctx = suite.ctx if suite else None
    if ctx is None:
        return
    kind = type(exception).__name__
    text = str(exception) or kind
    status = getattr(response, "status_code", 0) or 0
    found = classify.classify(f"{kind}: {text}", status)
    message = text if kind == "CatchResponseError" else f"{kind}: {text}"
    if found.possible_panic:
        message += " (connection closed without a response: possible server panic)"
    ctx.findings.record_failure(
        found.category, f"{request_type} {name}", message, possible_panic=found.possible_panic
    )


# --- shipping and merging --------------------------------------------------------------------------


@events.report_to_master.add_listener
def _on_report_to_master(client_id: str, data: dict[str, Any], **_kw: Any) -> None:
    ctx = _suite.ctx if _suite else None
    if ctx is None:
        return
    if not ctx.findings.is_empty():
        data[REPORT_KEY] = _take_delta(_suite, client_id)
    if ctx.history is not None and ctx.history.shipped:
        shipped = ctx.history.drain()
        if shipped["ops"]:
            data[HISTORY_KEY] = {**shipped, "machine": MACHINE}


def _take_delta(suite: Any, source: str | None = None) -> dict[str, Any]:
    """This process's findings since the last call, to ship or merge; also kept in ``suite.sent``."""
    delta = suite.ctx.findings.drain() if suite.ctx is not None else Findings().to_dict()
    if source:
        delta["sources"] = [source]
    suite.sent.merge(delta)
    return delta


@events.worker_report.add_listener
def _on_worker_report(client_id: str, data: dict[str, Any], **_kw: Any) -> None:
    if _suite is not None:
        _suite.workers_seen.add(client_id)
        if REPORT_KEY in data:
            _suite.totals.merge(data[REPORT_KEY])
        _merge_shared_ops(_suite, data.get(HISTORY_KEY))


def _merge_shared_ops(suite: Suite, shipped: dict[str, Any] | None) -> None:
    if shipped and suite.shared_history is not None:
        suite.machines.add(shipped.get("machine") or "?")
        suite.shared_history.merge(shipped)


def _collect_local(suite: Suite) -> None:
    """Move what this process found into the totals: what it watches (server log, data file) and,
    on the local runner, its users' delta (the workers' path, in-process)."""
    if suite.watch is not None and not suite.watch.findings.is_empty():
        suite.totals.merge(suite.watch.findings.drain())
    if suite.ctx is not None and not isinstance(suite.runner, MasterRunner | WorkerRunner):
        suite.totals.merge(_take_delta(suite))


def _locust_totals(environment: Any) -> reporting.Totals:
    total = environment.stats.total
    return reporting.Totals(total.num_requests, total.num_failures)


def _tick(suite: Suite) -> None:
    interval = float(suite.opt("stats_interval", 5.0))
    while True:
        gevent.sleep(interval)
        _collect_local(suite)
        _check_workers(suite)
        print(reporting.stats_block(_locust_totals(suite.environment), suite.totals), flush=True)


# --- quiesce: stop load, let the server settle, audit, clean up -------------------------------------


@events.test_stopping.add_listener
def _on_test_stopping(environment: Any, **_kw: Any) -> None:
    suite = _suite
    if suite is None:
        return
    if suite.ticker is not None:
        suite.ticker.kill(block=False)
        suite.ticker = None
    if isinstance(environment.runner, MasterRunner):
        _master_quiesce(suite)


@events.test_stop.add_listener
def _on_test_stop(environment: Any, **_kw: Any) -> None:
    suite = _suite
    if suite is not None and isinstance(environment.runner, LocalRunner):
        _quiesce_here(suite)
        _finish(suite)


def _quiesce_here(suite: Suite) -> dict[str, Any]:
    """This process's users have stopped: let cut-off requests land, then audit what it owns.

    Returns what a worker sends the master besides its findings: the shared ids' last ops and
    this process's history report.
    """
    ctx = suite.ctx
    if suite.quiesced or ctx is None:
        return {}
    suite.quiesced = True
    audit.start_end_phase(ctx.request_timeout)
    gevent.sleep(SETTLE_SECONDS)
    history = ctx.history
    if history is None:
        return {}
    host = suite.environment.host or _default_host()
    paths = (contract.CAMERAS, contract.INFERENCE_SERVERS)
    problem = audit.final_read(history, host, ctx.request_timeout, {p: ctx.owned_ids(p) for p in paths})
    if problem:
        ctx.findings.note("history_final_read_failed", f"final read at quiesce failed: {problem}")
    shipped = history.drain(final=True) if history.shipped else {"ops": []}
    report = audit.check(history, skip=history.shipped)
    report.record_into(ctx.findings)
    if suite.history_report is not None:  # the local runner: this is the whole run's report
        suite.history_report.merge(report)
    return {"history_ops": {**shipped, "machine": MACHINE}, "history_report": report.to_dict()}


def _worker_quiesce(suite: Suite) -> None:
    """Worker, on the master's request: stop the users, quiesce, and send the last delta."""
    runner = suite.runner
    if runner.state != STATE_STOPPED:
        runner.stop()
    audited = _quiesce_here(suite)
    delta = _take_delta(suite, runner.client_id)
    runner.send_message(QUIESCED, {"client_id": runner.client_id, "findings": delta, **audited})


def _on_quiesced(suite: Suite, msg: Any) -> None:
    data = msg.data or {}
    suite.totals.merge(data.get("findings") or {})
    _merge_shared_ops(suite, data.get("history_ops"))
    if suite.history_report is not None and data.get("history_report"):
        suite.history_report.merge(data["history_report"])
    suite.quiesce_replies[data.get("client_id") or msg.node_id] = True


def _check_shared(suite: Suite, missing: list[str]) -> None:
    """Master: check the shared (hot) ids with every worker's ops, after a final read of its own."""
    history, report = suite.shared_history, suite.history_report
    if history is None or report is None or not history.ids():
        return
    if missing or len(suite.machines) > 1:
        why = (
            f"{len(missing)} worker(s) did not send their last operations"
            if missing
            else f"the workers ran on {len(suite.machines)} machines, whose clocks cannot be compared"
        )
        suite.note(f"history: the shared same-camera ids were not checked: {why}")
        return
    host = suite.environment.host or _default_host()
    ids = context.hot_camera_ids(suite.opt("camstream_run_id", ""))
    timeout = float(suite.opt("request_timeout", 5.0))
    problem = audit.final_read(history, host, timeout, {contract.CAMERAS: ids})
    if problem:
        suite.totals.note("history_final_read_failed", f"final read at quiesce failed: {problem}")
    shared = audit.check(history)
    shared.record_into(suite.totals)
    report.merge(shared)


def _check_workers(suite: Suite) -> None:
    """Master: a note for each worker that took part and is now missing or gone."""
    runner = suite.runner
    if not isinstance(runner, MasterRunner):
        return
    states = {c.id: c.state for c in runner.clients.values()}
    for client_id in sorted(suite.workers_seen):
        state = states.get(client_id, "gone")
        if state in ("missing", "gone"):
            how = "stopped sending heartbeats" if state == "missing" else "no longer connected"
            suite.note(
                f"worker {client_id} was lost during the run ({how}): the findings and requests it "
                "made after its last report are not in these totals"
            )


def _master_quiesce(suite: Suite) -> None:
    runner = suite.runner
    _check_workers(suite)
    workers = [c.id for c in runner.clients.values() if c.state != "missing"]
    if not workers or suite.quiesced:
        _finish(suite)
        return
    suite.quiesced = True
    suite.quiesce_replies = {}
    for client_id in workers:
        runner.send_message(QUIESCE, None, client_id)
    deadline = time.monotonic() + 15 + float(suite.opt("request_timeout", 5.0))

    def settled(worker: str) -> bool:  # answered, or lost meanwhile (no answer will come)
        node = runner.clients.get(worker)
        return worker in suite.quiesce_replies or node is None or node.state == "missing"

    while time.monotonic() < deadline and not all(settled(w) for w in workers):
        gevent.sleep(0.1)
    missing = [w for w in workers if w not in suite.quiesce_replies]
    if missing:
        suite.note(f"{len(missing)} worker(s) did not report their final findings: {', '.join(missing)}")
    _check_workers(suite)
    # Every worker that took part must have sent its last ops, the lost ones included.
    lost = sorted(set(missing) | (suite.workers_seen - set(suite.quiesce_replies)))
    _check_shared(suite, lost)
    _finish(suite)


def _finish(suite: Suite) -> None:
    """Once per run, on the process that owns the totals: delete what the run created."""
    if suite.finished or suite.not_run:
        return
    suite.finished = True
    audit.start_end_phase(float(suite.opt("request_timeout", 5.0)))
    if suite.history_report is not None:
        suite.sections["history"] = suite.history_report.to_dict()
    else:
        why = "--allow-import" if suite.opt("allow_import", False) else "--no-history"
        suite.sections["history"] = {"off": why}
    if suite.watch is not None:
        _collect_local(suite)  # the drop times of the last requests
        suite.watch.finish(suite.totals.drop_times)
        for line in suite.watch.notes:
            suite.note(line)
        suite.sections.update(suite.watch.sections)
    host = suite.environment.host
    run_id = suite.opt("camstream_run_id", "")
    if not host or not run_id:
        return
    timeout = float(suite.opt("request_timeout", 5.0))
    if suite.opt("keep_data", False):
        suite.note(
            f"--keep-data: objects with ids starting {payloads.run_prefix(run_id)!r} were left on the server"
        )
    else:
        deleted, failed = cleanup(host, payloads.run_prefix(run_id), timeout)
        log.info("cleanup: deleted %d object(s) this run created", deleted)
        timeouts = suite.totals.categories.get(classify.TIMEOUT, 0)
        if timeouts:
            suite.note(
                f"cleanup ran, but {timeouts} requests timed out: a server that still completes them "
                f"can create objects of this run afterwards (ids starting "
                f"{payloads.run_prefix(run_id)!r}); check again before reusing the data"
            )
        if failed:
            suite.note(
                f"cleanup: {len(failed)} objects of this run could not be deleted: {', '.join(failed[:5])}"
            )
    if suite.saved_config is not None:
        _restore_config(suite, host, timeout)


def _restore_config(suite: Suite, host: str, timeout: float) -> None:
    for attempt in range(CLEANUP_PASSES):
        if attempt and audit.end_phase_over():
            break
        try:
            if http.request(host, "POST", contract.CONFIG_IMPORT, suite.saved_config, timeout).status == 200:
                log.info("--allow-import: restored the server's state from before the run")
                return
        except http.HttpProblem:
            pass
    suite.note("--allow-import: could not restore the server's state from before the run")


def cleanup(host: str, prefix: str, timeout: float) -> tuple[int, list[str]]:
    """Delete every camera and inference server whose id starts with ``prefix``: (deleted, left)."""
    deleted = 0
    left: list[str] = []
    for attempt in range(CLEANUP_PASSES):
        if attempt and audit.end_phase_over():
            break
        left = []
        hung = 0
        for path in (contract.CAMERAS, contract.INFERENCE_SERVERS):
            try:
                answer = http.request(host, "GET", path, timeout=timeout)
                ids = [o.get("id", "") for o in api.listing(api.ok_envelope(answer.body), dict)]
            except (http.HttpProblem, api.Invalid) as exc:
                left.append(f"{path} (list failed: {exc})")
                hung += getattr(exc, "timed_out", False)
                continue
            for obj_id in ids:
                if not isinstance(obj_id, str) or not obj_id.startswith(prefix):
                    continue
                try:
                    status = http.request(host, "DELETE", f"{path}/{obj_id}", timeout=timeout).status
                except http.HttpProblem:
                    status = 0
                if status == 200:
                    deleted += 1
                elif status != 404:
                    left.append(obj_id)
        if not left or hung == 2:  # done, or the server no longer answers at all
            break
    return deleted, left


# --- the end: final block, verdict, exit code --------------------------------------------------------


@events.quitting.add_listener
def _on_quitting(environment: Any, **_kw: Any) -> None:
    suite = _suite
    if suite is None:
        return
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        environment.process_exit_code = 0
        _write_debug_counts(suite, "worker")
        return
    if isinstance(runner, LocalRunner) and runner.state != STATE_STOPPED:
        runner.stop()  # SIGINT/SIGTERM: quitting fires before the runner stops; quiesce now
    _collect_local(suite)
    fail_on = options.fail_on(suite.options) if suite.options is not None else frozenset()
    result = reporting.verdict(
        suite.totals,
        fail_on,
        suite_errors=len(runner.exceptions),
        not_run=suite.not_run,
        totals=_locust_totals(environment),
    )
    details = suite.history_report.summary() if suite.history_report is not None else []
    print(
        reporting.final_block(_locust_totals(environment), suite.totals, result, suite.notes, details),
        flush=True,
    )
    environment.process_exit_code = result.exit_code
    problems = summary.write_reports(environment, suite.totals, result, fail_on, suite.notes, suite.sections)
    for problem in problems:
        _say(problem)
    if problems and environment.process_exit_code == reporting.EXIT_CLEAN:
        environment.process_exit_code = reporting.EXIT_NOT_RUN  # a report CI asked for is missing
    _write_debug_counts(suite, "master" if isinstance(runner, MasterRunner) else "local", result.exit_code)
    if suite.target is not None:
        suite.target.stop()


# --- debug counts (CAMSTREAM_DEBUG_COUNTS_DIR, for the distributed tests) ------------------------------


def _debug_request(
    request_type: str, name: str, response: Any = None, exception: Any = None, url: Any = None, **_kw: Any
) -> None:
    """Count Locust's requests in this process independently of the classification above."""
    if _suite is None:
        return
    counts = _suite.debug
    counts["totals"]["requests"] += 1
    if exception is not None:
        counts["totals"]["failures"] += 1
        counts["failures_by_name"][f"{request_type} {name}"] += 1
        return
    if getattr(response, "status_code", 0) != 200:
        return
    path = "/" + str(url or "").split("://", 1)[-1].split("/", 1)[-1].split("?", 1)[0]
    for collection in (contract.CAMERAS, contract.INFERENCE_SERVERS):
        if path.startswith(collection + "/"):  # an item answered 200: "PUT <id>" -> count
            counts["ok_by_id"][f"{request_type} {path[len(collection) + 1 :]}"] += 1


if os.environ.get(DEBUG_COUNTS_ENV):
    events.request.add_listener(_debug_request)


def _write_debug_counts(suite: Suite, role: str, exit_code: int | None = None) -> None:
    """With CAMSTREAM_DEBUG_COUNTS_DIR set: this process's own counts, as DIR/<role>-<pid>.json."""
    directory = os.environ.get(DEBUG_COUNTS_ENV, "")
    if not directory:
        return
    ctx, runner = suite.ctx, suite.runner
    record: dict[str, Any] = {
        "role": role,
        "pid": os.getpid(),
        "client_id": getattr(runner, "client_id", None),
        "run_id": suite.opt("camstream_run_id", ""),
        "process_tag": ctx.process_tag if ctx is not None else None,
        "hot_cameras": list(ctx.hot_cameras) if ctx is not None else [],
        "requests": {key: dict(counter) for key, counter in suite.debug.items()},
        "sent": suite.sent.to_dict(),
        "unsent": ctx.findings.to_dict() if ctx is not None else None,
    }
    if role != "worker":
        total = suite.environment.stats.total
        record["locust"] = {"requests": total.num_requests, "failures": total.num_failures}
        record["totals"] = suite.totals.to_dict()
        record["notes"] = list(suite.notes)
        record["exit_code"] = exit_code
        record["workers_seen"] = sorted(suite.workers_seen)
    try:
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, f"{role}-{os.getpid()}.json")
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            json.dump(record, f, indent=1, sort_keys=True)
        os.replace(path + ".tmp", path)
    except OSError as exc:
        log.warning("%s: cannot write the debug counts: %s", DEBUG_COUNTS_ENV, exc)
