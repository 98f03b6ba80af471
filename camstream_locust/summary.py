"""Machine-readable reports of a run: the JSON summary, the JUnit XML and an HTML section.

The builders are pure (no Locust import, no I/O): they take the merged ``Findings``, the
``Verdict``, Locust's ``Totals`` and the ``RunParams``. ``run_params()`` reads the parameters
off a Locust environment and ``write_reports()`` writes the files asked for with
``--camstream-json``, ``--camstream-junit`` and ``--html``; those two are the adapters.
"""

from __future__ import annotations

import html
import json
import os
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from importlib import metadata
from typing import Any

from camstream_locust import classify, reporting
from camstream_locust.findings import Findings

SCHEMA = "camstream-summary/1"
#: Verdict words by exit code (the word after "VERDICT:" in the verdict line).
RESULTS = {
    reporting.EXIT_CLEAN: "CLEAN",
    reporting.EXIT_FINDINGS: "FAIL",
    reporting.EXIT_NOT_RUN: "NOT RUN",
    reporting.EXIT_SUITE_ERROR: "ERROR",
}
#: Categories the report marks, as the statistics block does.
MARKERS = {classify.NIL_POINTER: "🚨", classify.RACE_CONDITION: "⚠️"}
#: Markers around the findings in Locust's HTML report (see inject_html).
HTML_BEGIN = "<!-- camstream-findings -->"
HTML_END = "<!-- /camstream-findings -->"

# Characters XML 1.0 cannot carry, even escaped.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass(frozen=True)
class RunParams:
    """What the run was asked to do and where."""

    host: str
    scenario: str
    users: int | None
    spawn_rate: float | None
    #: --run-time in seconds (None: no limit).
    run_time: float | None
    #: Seconds from the start of the test to its last request.
    duration: float
    fail_on: tuple[str, ...]
    run_id: str
    locust_version: str
    #: "local" or "distributed".
    mode: str
    workers: int
    embedded_target: bool
    #: The embedded target's --target-faults (None without --embedded-target).
    target_faults: str | None
    #: Epoch seconds of the test's start (Locust's stats start time).
    started_at: float | None


def iso(epoch: float | None) -> str | None:
    """UTC ISO-8601 with milliseconds, e.g. "2026-12-04T05:01:02.123Z"."""
    if epoch is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + f".{int(epoch * 1000) % 1000:03d}Z"


def category_rows(
    findings: Findings, result: reporting.Verdict, fail_on: Iterable[str]
) -> list[dict[str, Any]]:
    """One entry per category (classify.CATEGORIES order): count, sources, whether it fails the run."""
    watched = set(fail_on)
    return [
        {
            "category": category,
            "count": findings.count(category),
            "requests": findings.categories[category],
            "extra": findings.extra_categories[category],
            "fail_on": category in watched,
            "fails_run": category in result.failing,
            "example": findings.examples.get(category),
        }
        for category in classify.CATEGORIES
    ]


def build_summary(
    params: RunParams,
    totals: reporting.Totals,
    findings: Findings,
    result: reporting.Verdict,
    suite_notes: Iterable[str] = (),
    generated_at: float | None = None,
) -> dict[str, Any]:
    """The ``--camstream-json`` document (also served live at ``/camstream/findings``)."""
    ok = totals.requests - totals.failures
    by_name = sorted(findings.by_name.items(), key=lambda item: (-item[1], item[0]))
    return {
        "schema": SCHEMA,
        "generated_at": iso(time.time() if generated_at is None else generated_at),
        "run": {**asdict(params), "fail_on": sorted(params.fail_on), "started_at": iso(params.started_at)},
        "totals": {
            "requests": totals.requests,
            "failures": totals.failures,
            "success_rate": round(100.0 * ok / totals.requests, 2) if totals.requests else 0.0,
        },
        "categories": findings.all_categories(),
        "category_details": category_rows(findings, result, params.fail_on),
        "contention": dict(sorted(findings.contention.items())),
        "notes": dict(sorted(findings.notes.items())),
        "examples": dict(sorted(findings.examples.items())),
        "suite_notes": list(suite_notes),
        "failures_by_name": dict(by_name),
        "recent_errors": [
            {**error.to_dict(), "time_iso": iso(error.time)} for error in sorted(findings.recent, key=_when)
        ],
        "sources": sorted(findings.sources),
        "verdict": {
            "result": RESULTS.get(result.exit_code, str(result.exit_code)),
            "line": result.line,
            "exit_code": result.exit_code,
            "failing": dict(result.failing),
        },
    }


def _when(error: Any) -> float:
    return error.time


def summary_json(summary: dict[str, Any]) -> str:
    return json.dumps(summary, indent=2, ensure_ascii=False) + "\n"


def _xml_text(text: Any) -> str:
    return _XML_INVALID.sub("\ufffd", str(text))


def build_junit(summary: dict[str, Any]) -> str:
    """JUnit XML: one testcase per category, failing exactly when the category fails the run.

    A run that did not start (exit code 2) marks every testcase skipped.
    """
    run, verdict = summary["run"], summary["verdict"]
    details = summary["category_details"]
    not_run = verdict["exit_code"] == reporting.EXIT_NOT_RUN
    failures = 0 if not_run else sum(1 for d in details if d["fails_run"])
    counts = {
        "tests": str(len(details)),
        "failures": str(failures),
        "errors": "0",
        "skipped": str(len(details) if not_run else 0),
        "time": f"{run['duration']:.3f}",
    }
    suites = ET.Element("testsuites", {"name": "camstream", **counts})
    suite = ET.SubElement(
        suites,
        "testsuite",
        {
            "name": f"camstream.{run['scenario']}",
            **counts,
            "timestamp": run["started_at"] or summary["generated_at"],
        },
    )
    properties = ET.SubElement(suite, "properties")
    for name in ("host", "scenario", "run_id", "mode", "workers", "target_faults", "locust_version"):
        if run.get(name) is not None:
            ET.SubElement(properties, "property", {"name": name, "value": _xml_text(run[name])})
    ET.SubElement(properties, "property", {"name": "fail_on", "value": ",".join(run["fail_on"]) or "none"})
    ET.SubElement(properties, "property", {"name": "verdict", "value": _xml_text(verdict["line"])})
    for detail in details:
        category, count = detail["category"], detail["count"]
        case = ET.SubElement(
            suite, "testcase", {"classname": "camstream.findings", "name": category, "time": "0"}
        )
        watched = "in --fail-on" if detail["fail_on"] else "not in --fail-on"
        example = f"\nfirst: {detail['example']}" if detail["example"] else ""
        if not_run:
            ET.SubElement(case, "skipped", {"message": _xml_text(verdict["line"])})
        elif detail["fails_run"]:
            failure = ET.SubElement(
                case, "failure", {"type": category, "message": f"{count} {category} findings ({watched})"}
            )
            failure.text = _xml_text(f"{count} {category} findings{example}")
        else:
            ET.SubElement(case, "system-out").text = _xml_text(
                f"{count} {category} findings ({watched}){example}"
            )
    ET.indent(suites)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


_TABLE = "border-collapse:collapse;margin:8px 0 16px"
_TH = "text-align:left;border-bottom:2px solid #999;padding:4px 10px"
_TD = "border-bottom:1px solid #ddd;padding:4px 10px;vertical-align:top"
_FAILING_ROW = "background:#ffebee;font-weight:bold"
_MARKED_ROW = "background:#fff8e1"


def _html_table(head: Iterable[str], rows: Iterable[tuple[Iterable[Any], str]], nowrap: int = 1) -> str:
    """An inline-styled table of (cells, row style) rows; its first ``nowrap`` columns do not wrap."""
    out = [
        f'<table style="{_TABLE}"><tr>',
        *(f'<th style="{_TH}">{html.escape(h)}</th>' for h in head),
        "</tr>",
    ]
    for cells, style in rows:
        out.append(f'<tr style="{style}">')
        out.extend(
            f'<td style="{_TD}{";white-space:nowrap" if i < nowrap else ""}">{html.escape(str(cell))}</td>'
            for i, cell in enumerate(cells)
        )
        out.append("</tr>")
    out.append("</table>")
    return "".join(out)


def html_section(summary: dict[str, Any]) -> str:
    """A self-contained HTML block of the findings (added to Locust's HTML report)."""
    verdict = summary["verdict"]
    colour = {"CLEAN": "#2e7d32", "FAIL": "#c62828"}.get(verdict["result"], "#ef6c00")
    categories = []
    for d in summary["category_details"]:
        status = "FAILS THE RUN" if d["fails_run"] else ("in --fail-on" if d["fail_on"] else "")
        label = f"{MARKERS.get(d['category'], '')} {d['category']}".strip()
        style = _FAILING_ROW if d["fails_run"] else (_MARKED_ROW if d["category"] in MARKERS else "")
        categories.append(((label, d["count"], d["requests"], d["extra"], status, d["example"] or ""), style))
    parts = [
        '<h2 style="margin:0 0 8px">cam-stream findings</h2>',
        f'<p style="font-weight:bold;color:{colour}">{html.escape(verdict["line"])}</p>',
        _html_table(
            ("Category", "Count", "Requests", "Other sources", "Status", "First example"), categories
        ),
    ]
    for title, counts in (
        ("Expected contention", summary["contention"]),
        ("Other findings", summary["notes"]),
    ):
        if counts:
            rows = [((kind, n, summary["examples"].get(kind, "")), "") for kind, n in counts.items()]
            parts += [f"<h3>{title}</h3>", _html_table(("Kind", "Count", "Example"), rows)]
    if summary["suite_notes"]:
        parts += [
            "<h3>Notes</h3><ul>",
            *(f"<li>{html.escape(n)}</li>" for n in summary["suite_notes"]),
            "</ul>",
        ]
    errors = summary["recent_errors"]
    parts.append(f"<h3>Recent errors ({len(errors)}, newest first)</h3>")
    rows = [((x["time_iso"], x["category"], x["name"], x["message"]), "") for x in reversed(errors)]
    parts.append(
        _html_table(("Time (UTC)", "Category", "Request", "Message"), rows, nowrap=3)
        if rows
        else "<p>(none)</p>"
    )
    style = "font-family:Roboto,Helvetica,Arial,sans-serif;font-size:14px;padding:16px 32px;overflow-x:auto"
    return (
        f'{HTML_BEGIN}<section id="camstream-findings" style="{style}">{"".join(parts)}</section>{HTML_END}'
    )


def inject_html(document: str, section: str) -> str | None:
    """``document`` with ``section`` in place of an earlier one, else above Locust's React root
    (``<div id="root">``), else before ``</body>``; None when it has none of these."""
    begin, end = document.find(HTML_BEGIN), document.find(HTML_END)
    if 0 <= begin < end:
        return document[:begin] + section + document[end + len(HTML_END) :]
    for anchor in ('<div id="root">', "</body>"):
        at = document.rfind(anchor)
        if at >= 0:
            return document[:at] + section + "\n" + document[at:]
    return None


# --- adapters: a Locust environment in, files out ---------------------------------------------------


def locust_version() -> str:
    try:
        return metadata.version("locust")
    except metadata.PackageNotFoundError:
        return "unknown"


def run_params(environment: Any, fail_on: Iterable[str], sources: Iterable[str] = ()) -> RunParams:
    """The run's parameters from a Locust environment (local or master).

    ``workers`` is the larger of the workers connected now and the ``sources`` (the workers that
    reported findings): by ``quitting`` the master may already have let its workers go.
    """
    opts = environment.parsed_options
    runner = environment.runner
    stats = environment.stats
    distributed = type(runner).__name__ == "MasterRunner"
    started = getattr(stats, "start_time", None)
    last = getattr(stats.total, "last_request_timestamp", None)
    embedded = bool(getattr(opts, "embedded_target", False))
    return RunParams(
        host=environment.host or "",
        scenario=getattr(opts, "scenario", ""),
        users=getattr(opts, "num_users", None),
        spawn_rate=getattr(opts, "spawn_rate", None),
        run_time=getattr(opts, "run_time", None),
        duration=round(max(0.0, last - started), 3) if started and last else 0.0,
        fail_on=tuple(sorted(fail_on)),
        run_id=getattr(opts, "camstream_run_id", "") or "",
        locust_version=locust_version(),
        mode="distributed" if distributed else "local",
        workers=max(int(getattr(runner, "worker_count", 0)), len(set(sources))) if distributed else 0,
        embedded_target=embedded,
        target_faults=(getattr(opts, "target_faults", "") or "") if embedded else None,
        started_at=started,
    )


def current_summary(
    environment: Any,
    findings: Findings,
    result: reporting.Verdict,
    fail_on: Iterable[str],
    suite_notes: Iterable[str] = (),
) -> dict[str, Any]:
    """``build_summary`` of the run as it stands (Locust's totals from ``environment.stats.total``)."""
    total = environment.stats.total
    totals = reporting.Totals(total.num_requests, total.num_failures)
    params = run_params(environment, fail_on, findings.sources)
    return build_summary(params, totals, findings, result, suite_notes)


def _write(path: str, text: str) -> None:
    if folder := os.path.dirname(path):
        os.makedirs(folder, exist_ok=True)
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(tmp, path)


def write_reports(
    environment: Any,
    findings: Findings,
    result: reporting.Verdict,
    fail_on: Iterable[str],
    suite_notes: Iterable[str] = (),
    sections: dict[str, Any] | None = None,
) -> list[str]:
    """Write the --camstream-json/--camstream-junit files and add the findings to the --html report.

    ``sections`` adds top-level JSON fields (``server_log``, ``history``, ``data_file``).
    Returns one line per problem (nothing raised for an unwritable path).
    """
    opts = environment.parsed_options
    summary = current_summary(environment, findings, result, fail_on, suite_notes)
    summary.update(sections or {})
    problems = []
    outputs = (
        ("--camstream-json", getattr(opts, "camstream_json", ""), summary_json),
        ("--camstream-junit", getattr(opts, "camstream_junit", ""), build_junit),
    )
    for flag, path, render in outputs:
        if path:
            try:
                _write(path, render(summary))
            except OSError as exc:
                problems.append(f"{flag}: cannot write {path}: {exc.strerror or exc}")
    html_file = getattr(opts, "html_file", None)
    if html_file:
        problems.extend(_add_to_html(html_file, summary, getattr(environment.stats, "start_time", 0.0)))
    return problems


def _add_to_html(path: str, summary: dict[str, Any], started: float) -> list[str]:
    """Locust writes --html before ``quitting``; add the findings to that file (if it is this run's)."""
    try:
        if not os.path.exists(path) or os.path.getmtime(path) + 1 < started:
            return [f"--html: Locust did not write {path} this run (stopped by a signal?); no findings added"]
        with open(path, encoding="utf-8") as src:
            document = inject_html(src.read(), html_section(summary))
        if document is None:
            return [f"--html: {path} has no </body>; no findings added"]
        _write(path, document)
    except OSError as exc:
        return [f"--html: cannot add the findings to {path}: {exc.strerror or exc}"]
    return []
