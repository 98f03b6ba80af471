"""The findings in Locust's web UI: a "Camstream findings" tab, JSON/CSV/JUnit routes, the HTML report.

Locust 2.47's documented extension points (shared/locust-facts.md, section 4):
``template_args`` ``extended_tabs``/``extended_tables``/``extended_csv_files`` declare the tab,
its table columns and download links; the rows are an ``extended_stats`` entry added to the
polled ``/stats/requests`` JSON in an ``after_request`` hook. The React table renders every
cell as plain text and sorts rows by a ``name`` key, so the rows have no ``name`` (their order
is kept) and the nil_pointer/race_condition rows carry a marker in their text.

Installed only where the web UI lives (the master or the local runner); it always shows the
run's merged totals (``Suite.totals``), refreshed from this process first when it is the local
runner.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from flask import Response, request

from camstream_locust import options, reporting, summary

log = logging.getLogger("camstream")

TAB_KEY = "camstream"
TAB_TITLE = "Camstream findings"
FINDINGS_ROUTE = "/camstream/findings"
CSV_ROUTE = "/camstream/findings.csv"
JUNIT_ROUTE = "/camstream/junit.xml"
#: The tab's columns: row key -> heading.
COLUMNS = {
    "section": "Section",
    "item": "Item",
    "count": "Count",
    "time": "Time",
    "request": "Request",
    "detail": "Detail",
}


def live_summary(environment: Any, suite: Any, refresh: Callable[[], None] | None = None) -> dict[str, Any]:
    """The JSON summary of the run so far (the same document ``--camstream-json`` writes at the end)."""
    if refresh is not None:
        refresh()
    fail_on = options.fail_on(suite.options) if suite.options is not None else frozenset()
    runner = environment.runner
    total = environment.stats.total
    result = reporting.verdict(
        suite.totals,
        fail_on,
        suite_errors=len(getattr(runner, "exceptions", {})),
        not_run=suite.not_run,
        totals=reporting.Totals(total.num_requests, total.num_failures),
    )
    document = summary.current_summary(environment, suite.totals, result, fail_on, suite.notes)
    document.update(suite.sections)  # history, data file, server log: once the test has ended
    return document


def _row(
    section: str, item: str = "", count: Any = "", when: str = "", name: str = "", detail: str = ""
) -> dict[str, Any]:
    return {"section": section, "item": item, "count": count, "time": when, "request": name, "detail": detail}


def table_rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The tab's rows, from a summary document: verdict, totals, categories, contention, notes, errors."""
    verdict, totals = doc["verdict"], doc["totals"]
    rows = [
        _row("verdict", verdict["result"], detail=verdict["line"]),
        _row(
            "requests",
            "Locust total",
            totals["requests"],
            detail=f"{totals['failures']} failed, {totals['success_rate']:.2f}% successful",
        ),
    ]
    for d in doc["category_details"]:
        marker = summary.MARKERS.get(d["category"])
        status = "FAILS THE RUN" if d["fails_run"] else ("in --fail-on" if d["fail_on"] else "")
        if d["extra"]:
            status = f"{status}; {d['extra']} from other sources".lstrip("; ")
        example = f"first: {d['example']}" if d["example"] else ""
        item = f"{marker} {d['category']}" if marker else d["category"]
        rows.append(_row("category", item, d["count"], detail=" | ".join(x for x in (status, example) if x)))
    for outcome, count in doc["contention"].items():
        rows.append(
            _row("contention", outcome, count, detail="expected outcome under contention, not an error")
        )
    for kind, count in doc["notes"].items():
        rows.append(_row("finding", kind, count, detail=doc["examples"].get(kind, "")))
    rows.extend(_row("note", detail=note) for note in doc["suite_notes"])
    for error in reversed(doc["recent_errors"]):
        marker = summary.MARKERS.get(error["category"])
        item = f"{marker} {error['category']}" if marker else error["category"]
        clock = time.strftime("%H:%M:%S", time.localtime(error["time"]))
        rows.append(_row("error", item, when=clock, name=error["name"], detail=error["message"]))
    return rows


def rows_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def install(environment: Any, suite: Any, refresh: Callable[[], None] | None = None) -> None:
    """Add the tab, the routes and the report section to ``environment.web_ui`` (call from ``init``).

    ``suite`` is the listeners' Suite (``totals``, ``options``, ``notes``, ``not_run``); ``refresh``
    moves this process's own findings into ``suite.totals`` first (the local runner's collect).
    """
    web_ui = environment.web_ui
    app = web_ui.app
    base = (getattr(environment.parsed_options, "web_base_path", "") or "").rstrip("/")
    args = web_ui.template_args
    args["extended_tabs"] = [*args.get("extended_tabs", []), {"title": TAB_TITLE, "key": TAB_KEY}]
    structure = [{"key": key, "title": title} for key, title in COLUMNS.items()]
    args["extended_tables"] = [*args.get("extended_tables", []), {"key": TAB_KEY, "structure": structure}]
    args["extended_csv_files"] = [
        *args.get("extended_csv_files", []),
        {"href": f".{CSV_ROUTE}", "title": "Download camstream findings CSV"},
        {"href": f".{FINDINGS_ROUTE}?download=1", "title": "Download camstream findings (JSON)"},
        {"href": f".{JUNIT_ROUTE}", "title": "Download camstream JUnit XML"},
    ]
    auth = web_ui.auth_required_if_enabled

    def snapshot() -> dict[str, Any]:
        return live_summary(environment, suite, refresh)

    def attachment(body: str, mimetype: str, filename: str, download: bool = True) -> Response:
        response = Response(body, mimetype=mimetype)
        if download:
            response.headers["Content-Disposition"] = f"attachment;filename={filename}"
        return response

    @auth
    def findings_json() -> Response:
        body = summary.summary_json(snapshot())
        return attachment(
            body, "application/json", "camstream_findings.json", bool(request.args.get("download"))
        )

    @auth
    def findings_csv() -> Response:
        return attachment(rows_csv(table_rows(snapshot())), "text/csv", "camstream_findings.csv")

    @auth
    def junit_xml() -> Response:
        return attachment(summary.build_junit(snapshot()), "application/xml", "camstream_junit.xml")

    app.add_url_rule(base + FINDINGS_ROUTE, "camstream_findings", findings_json)
    app.add_url_rule(base + CSV_ROUTE, "camstream_findings_csv", findings_csv)
    app.add_url_rule(base + JUNIT_ROUTE, "camstream_junit", junit_xml)

    stats_path, report_path = f"{base}/stats/requests", f"{base}/stats/report"

    @app.after_request
    def _extend(response: Response) -> Response:
        if response.status_code != 200 or request.path not in (stats_path, report_path):
            return response
        try:
            if request.path == stats_path:
                data = json.loads(response.get_data())
                if isinstance(data, dict) and "state" in data:
                    others = [e for e in data.get("extended_stats", []) if e.get("key") != TAB_KEY]
                    data["extended_stats"] = [*others, {"key": TAB_KEY, "data": table_rows(snapshot())}]
                    response.set_data(json.dumps(data))
            else:
                page = summary.inject_html(response.get_data(as_text=True), summary.html_section(snapshot()))
                if page is not None:
                    response.set_data(page)
        except Exception:  # never break Locust's own UI for the tab's sake
            log.exception("camstream web UI: cannot add the findings to %s", request.path)
        return response
