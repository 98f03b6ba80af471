"""``--server-log`` / ``--server-log-cmd``: the server's own log, read by exactly one process.

Each report the parser finishes (a Go panic, a fatal ``concurrent map writes``, a race-detector
block, a Java or Python exception) is deduplicated by signature in ``signatures`` and counted
as a finding beyond requests in ``findings``, a delta the owner merges into the run's totals.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from camstream_locust import classify, serverlog
from camstream_locust.findings import Findings
from camstream_locust.logfollow import LogSource

log = logging.getLogger("camstream")

#: Seconds around a logged panic within which a dropped connection is linked to it.
LINK_WINDOW = 2.0

#: The log parser's categories in the suite's: a panic that is neither nil nor race is "other".
_CATEGORY = {
    serverlog.NIL_POINTER: classify.NIL_POINTER,
    serverlog.RACE_CONDITION: classify.RACE_CONDITION,
    serverlog.PANIC: classify.OTHER,
}


def note_kind(report: serverlog.Report) -> str:
    return f"server log {report.kind}"


@dataclass
class ServerLogWatch:
    """Follows one log (a file or a command's output) and turns its reports into findings."""

    path: str | None = None
    command: str | None = None
    from_start: bool = False
    signatures: serverlog.ServerLogFindings = field(default_factory=serverlog.ServerLogFindings)
    findings: Findings = field(default_factory=Findings)
    problems: list[str] = field(default_factory=list)
    source: Any = None

    @property
    def what(self) -> str:
        return f"--server-log {self.path}" if self.path else f"--server-log-cmd {self.command!r}"

    def on_report(self, report: serverlog.Report) -> None:
        self.signatures.add(report)
        where = f" @ {report.signature.split(' @ ', 1)[1]}" if " @ " in report.signature else ""
        self.findings.record_extra(
            _CATEGORY.get(report.category, classify.OTHER),
            note_kind(report),
            "server log",
            f"{report.message}{where}" + (" (report cut short)" if report.truncated else ""),
        )

    def on_error(self, message: str) -> None:
        """A problem reading the log is reported, never fatal."""
        line = f"{self.what}: {message}"
        if line not in self.problems:
            self.problems.append(line)
            log.warning("%s", line)

    def on_exit(self, code: int | None) -> None:
        if code == 0:
            self.on_error("the command exited (code 0); the server log is no longer read")

    def start(self) -> None:
        if self.source is None:
            self.source = LogSource(
                self.on_report,
                path=self.path,
                command=self.command,
                from_start=self.from_start,
                on_error=self.on_error,
                on_exit=self.on_exit,
            )
            self.source.start()

    def stop(self) -> None:
        """Stop following; the parser's pending report is flushed into the findings."""
        if self.source is not None:
            self.source.stop()
            self.source = None

    def linked_drops(self, drop_times: list[float]) -> int:
        return serverlog.link_drops(drop_times, list(self.signatures.panic_times), LINK_WINDOW)

    def summary_lines(self) -> list[str]:
        """One line per signature, most frequent first (for the final report)."""
        rows = self.signatures.by_signature()
        return [f"{row['count']}x {row['category']} {row['signature']}" for row in rows]
