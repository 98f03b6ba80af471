"""What the process owning the totals watches besides requests: the server's log and its data file.

Exactly one process of a run does this (the local runner, or the master), so nothing is
counted twice. Findings go into ``findings``, a delta merged into the run's totals.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

import gevent

from camstream_locust import api, audit, classify, contract, datafile, http
from camstream_locust.findings import Findings
from camstream_locust.logwatch import ServerLogWatch

log = logging.getLogger("camstream")

#: Seconds given to the log follower to read what the server wrote just before the end.
LOG_DRAIN_SECONDS = 0.6
TORN = "torn data-file read"
MISMATCH = "data file differs from the API"
EXPORT_MISMATCH = "config export differs from the API"


class _TornAtQuiesce(Exception):
    """The data file read at quiesce is not a whole store."""


@dataclass
class Watchers:
    host: str
    timeout: float
    findings: Findings = field(default_factory=Findings)
    log_watch: ServerLogWatch | None = None
    sampler: datafile.DataFileSampler | None = None
    data_file: str = ""
    notes: list[str] = field(default_factory=list)
    sections: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_options(cls, opts: Any, host: str, target: Any = None) -> Watchers:
        """``--server-log``/``--server-log-cmd``/``--data-file``, defaulting to the embedded target's."""
        watchers = cls(host, float(getattr(opts, "request_timeout", 5.0)))
        log_path = getattr(opts, "server_log", "") or ""
        log_cmd = getattr(opts, "server_log_cmd", "") or ""
        if log_path and log_cmd:
            watchers.notes.append("--server-log and --server-log-cmd both given: following --server-log only")
            log_cmd = ""
        if not (log_path or log_cmd) and target is not None:
            log_path = str(target.log_file)
        if log_path or log_cmd:
            watchers.log_watch = ServerLogWatch(
                path=log_path or None,
                command=log_cmd or None,
                from_start=bool(getattr(opts, "server_log_from_start", False)),
                findings=watchers.findings,
            )
        watchers.data_file = getattr(opts, "data_file", "") or (
            str(target.data_file) if target is not None else ""
        )
        if watchers.data_file:
            watchers.sampler = datafile.DataFileSampler(
                datafile.reader(watchers.data_file, watchers.timeout), watchers._torn
            )
        return watchers

    def _torn(self, message: str) -> None:
        # Every torn read counts; the first few are enough among the recent errors.
        recent = self.sampler is None or self.sampler.torn <= 3
        self.findings.record_extra(classify.RACE_CONDITION, TORN, "data file", message, recent=recent)

    def start(self) -> None:
        if self.log_watch is not None:
            self.log_watch.start()
            log.info("following the server log: %s", self.log_watch.what)
        if self.sampler is not None:
            self.sampler.start()
            log.info("sampling the data file %s every %.2f s", self.data_file, self.sampler.interval)

    def finish(self, drop_times: list[float]) -> None:
        """At quiesce: check the data file and the export against the API, then read the log's
        last reports (those checks' own requests can make a faulty server log a panic too)."""
        if self.sampler is not None:
            self.sampler.stop()
            self._final_data_file_check()
        self.export_check()
        if self.log_watch is not None:
            gevent.sleep(LOG_DRAIN_SECONDS)
            self.log_watch.stop()
            self.notes.extend(self.log_watch.problems)
            rows = self.log_watch.signatures.by_signature()
            self.sections["server_log"] = {"source": self.log_watch.what, "signatures": rows}
            if drop_times:
                linked = self.log_watch.linked_drops(drop_times)
                self.sections["server_log"]["dropped_connections_linked"] = linked
                self.notes.append(
                    f"{linked} of {len(drop_times)} connections dropped without an answer came within "
                    f"2 s of a panic in the server log"
                )

    def _final_data_file_check(self) -> None:
        sampler = self.sampler
        assert sampler is not None
        section: dict[str, Any] = {
            "location": self.data_file,
            "samples": sampler.samples,
            "torn": sampler.torn,
        }
        self.sections["data_file"] = section
        if sampler.unreadable and not sampler.samples:
            self.notes.append(f"--data-file: never readable: {sampler.unreadable}")
            return

        def read_store() -> dict[str, Any]:
            raw = sampler.read()
            torn = datafile.torn_reason(raw)
            if torn is not None:
                raise _TornAtQuiesce(torn)
            return json.loads(raw)

        try:
            diffs = audit.compare_with_api(read_store, self.host, self.timeout)
        except _TornAtQuiesce as exc:
            self._mismatch(f"the data file at quiesce is not a whole store: {exc}")
            section["final"] = str(exc)
            return
        except (datafile.Unreadable, http.HttpProblem, api.Invalid) as exc:
            self.notes.append(f"data file vs API at quiesce not checked: {exc}")
            return
        section["final_differences"] = diffs
        if diffs:
            self._mismatch("at quiesce the data file differs from the API: " + "; ".join(diffs))

    def export_check(self) -> None:
        """At quiesce: ``/api/config/export`` must be a whole store holding what the API holds."""

        def read_export() -> dict[str, Any]:
            answer = http.request(self.host, "GET", contract.CONFIG_EXPORT, timeout=self.timeout)
            if answer.status != 200:
                raise api.Invalid(f"GET {contract.CONFIG_EXPORT} answered HTTP {answer.status}")
            return api.store(api.parse_json(answer.body))

        try:
            diffs = audit.compare_with_api(read_export, self.host, self.timeout)
        except (http.HttpProblem, api.Invalid) as exc:
            self.notes.append(f"config export vs API at quiesce not checked: {exc}")
            return
        self.sections["config_export"] = {"final_differences": diffs}
        if diffs:
            self.findings.record_extra(
                classify.RACE_CONDITION,
                EXPORT_MISMATCH,
                "config export",
                "at quiesce the config export differs from the API: " + "; ".join(diffs),
            )

    def _mismatch(self, message: str) -> None:
        self.findings.record_extra(classify.RACE_CONDITION, MISMATCH, "data file", message)
