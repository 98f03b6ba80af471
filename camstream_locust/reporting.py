"""What the suite prints: the original tool's statistics block, the final block and the verdict (pure).

The headings and labels are the original tool's (``CONCURRENCY TEST STATISTICS``,
``Total Requests``, ...): people parse them.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from camstream_locust import classify
from camstream_locust.findings import Findings

RULE = "=" * 60
EXIT_CLEAN = 0
EXIT_FINDINGS = 3
EXIT_NOT_RUN = 2
EXIT_SUITE_ERROR = 1

_LABELS = {
    classify.NIL_POINTER: "Nil Pointer Errors",
    classify.RACE_CONDITION: "Race Condition Errors",
    classify.TIMEOUT: "Timeout Errors",
    classify.HTTP_ERROR: "HTTP Errors",
    classify.JSON_ERROR: "JSON Errors",
    classify.CONNECTION: "Connection Errors",
    classify.OTHER: "Other Errors",
}
_FLAGS = {classify.NIL_POINTER: " 🚨", classify.RACE_CONDITION: " ⚠️"}


@dataclass(frozen=True)
class Totals:
    """Locust's own request counts for the same run."""

    requests: int
    failures: int


@dataclass(frozen=True)
class Verdict:
    exit_code: int
    failing: dict[str, int]  # fail-on category -> count (only those > 0)
    line: str


def verdict(
    findings: Findings,
    fail_on: Iterable[str],
    suite_errors: int = 0,
    not_run: str = "",
    totals: Totals | None = None,
) -> Verdict:
    """Exit 3 when a --fail-on category has findings; 2 when the run could not start or not one
    of its requests succeeded (the server was never exercised); 1 on suite errors."""
    if not_run:
        return Verdict(EXIT_NOT_RUN, {}, f"VERDICT: NOT RUN - {not_run} (exit code {EXIT_NOT_RUN})")
    failing = {c: findings.count(c) for c in classify.CATEGORIES if c in fail_on and findings.count(c)}
    if failing:
        what = ", ".join(f"{n} {c}" for c, n in failing.items())
        return Verdict(EXIT_FINDINGS, failing, f"VERDICT: FAIL - {what} findings (exit code {EXIT_FINDINGS})")
    if totals is not None and totals.requests and totals.failures >= totals.requests:
        why = f"none of the {totals.requests} requests succeeded: the server was never exercised"
        return Verdict(EXIT_NOT_RUN, {}, f"VERDICT: NOT RUN - {why} (exit code {EXIT_NOT_RUN})")
    if suite_errors:
        return Verdict(
            EXIT_SUITE_ERROR,
            {},
            f"VERDICT: ERROR - {suite_errors} errors in the suite's own code (exit code {EXIT_SUITE_ERROR})",
        )
    watched = ", ".join(sorted(fail_on)) or "no category"
    return Verdict(EXIT_CLEAN, {}, f"VERDICT: CLEAN - no {watched} findings (exit code {EXIT_CLEAN})")


def _clock(epoch: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(epoch))


def stats_block(
    totals: Totals, findings: Findings, title: str = "CONCURRENCY TEST STATISTICS", recent: int = 5
) -> str:
    """The original tool's block, plus connection/other counts and what the suite found beyond requests."""
    ok = totals.requests - totals.failures
    rate = 100.0 * ok / totals.requests if totals.requests else 0.0
    counts = findings.all_categories()
    request_errors = findings.request_errors()
    lines = [
        RULE,
        title,
        RULE,
        f"Total Requests:        {totals.requests}",
        f"Successful Requests:   {ok}",
        f"Failed Requests:       {totals.failures}",
        f"Success Rate:          {rate:.2f}%",
        "",
        "ERROR ANALYSIS:",
        f"Total Errors:          {request_errors}",
    ]
    for category in classify.CATEGORIES:
        label = f"{_LABELS[category]}:"
        line = f"{label:<23}{counts[category]}{_FLAGS.get(category, '')}"
        extra = findings.extra(category)
        if extra:
            line += f" ({counts[category] - extra} failed requests + {extra} beyond requests)"
        lines.append(line)
    possible = findings.notes.get("possible_panic", 0)
    if possible:
        lines.append(f"Possible Panics:       {possible} (connections closed without a response)")
    contention = sum(findings.contention.values())
    if contention:
        detail = ", ".join(f"{k} {v}" for k, v in sorted(findings.contention.items()))
        lines.append(f"Expected Contention:   {contention} ({detail})")
    beyond = {k: v for k, v in findings.notes.items() if k != "possible_panic"}
    if beyond:
        lines.append("Beyond Requests:       " + ", ".join(f"{k} {v}" for k, v in sorted(beyond.items())))
    shown = list(findings.recent)[-recent:]
    lines += ["", f"RECENT ERRORS (last {recent}):"]
    if not shown:
        lines.append("  (none)")
    for error in shown:
        lines.append(f"  [{_clock(error.time)}] {error.category}: {error.message}")
    lines.append(RULE)
    return "\n".join(lines)


def final_block(
    totals: Totals,
    findings: Findings,
    result: Verdict,
    notes: Iterable[str] = (),
    details: Iterable[str] = (),
) -> str:
    """The block printed once at the end: the statistics, ``details`` (e.g. the history check's
    summary), what was noticed, and the verdict."""
    parts = [stats_block(totals, findings, title="FINAL CONCURRENCY TEST STATISTICS")]
    parts.extend(details)
    parts.extend(f"NOTE: {note}" for note in notes)
    parts.append(result.line)
    return "\n".join(parts)
