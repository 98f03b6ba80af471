"""The JSON summary, the JUnit XML, the HTML section and the web UI rows (pure; no network, no Locust)."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from camstream_locust import classify, reporting, summary, webui
from camstream_locust.findings import Findings

T0 = 1_700_000_000.0


def sample_findings() -> Findings:
    """3 nil_pointer, 2 http_error, 1 connection from requests; 1 race_condition from the history checker."""
    f = Findings()
    f.record_failure(
        classify.NIL_POINTER, "PUT /api/cameras/[id]", "HTTP 500: nil pointer dereference", T0 + 1
    )
    f.record_failure(
        classify.NIL_POINTER, "PUT /api/cameras/[id]", "HTTP 500: nil pointer dereference", T0 + 2
    )
    f.record_failure(classify.NIL_POINTER, "GET /api/status", "HTTP 500: invalid memory address", T0 + 3)
    f.record_failure(classify.HTTP_ERROR, "GET /api/cameras", "HTTP 503 GET /api/cameras", T0 + 4)
    f.record_failure(classify.HTTP_ERROR, "GET /api/cameras", "HTTP 502 GET /api/cameras", T0 + 5)
    f.record_failure(
        classify.CONNECTION, "POST /api/cameras", "HTTPConnectionClosed", T0 + 6, possible_panic=True
    )
    f.record_extra(classify.RACE_CONDITION, "lost_update", "history", "cam-1: the write was lost")
    f.record_contention("PUT not found")
    f.record_contention("PUT not found")
    f.record_contention("DELETE not found")
    f.sources.update({"worker-a", "worker-b"})
    return f


def params(
    fail_on: frozenset[str] = frozenset({"nil_pointer", "race_condition"}), **kw: Any
) -> summary.RunParams:
    values: dict[str, Any] = {
        "host": "http://127.0.0.1:8080",
        "scenario": "mixed",
        "users": 10,
        "spawn_rate": 10.0,
        "run_time": 15,
        "duration": 14.5,
        "fail_on": tuple(sorted(fail_on)),
        "run_id": "abc123",
        "locust_version": "2.47.0",
        "mode": "local",
        "workers": 0,
        "embedded_target": True,
        "target_faults": "nil-pointer=0.1",
        "started_at": T0,
    }
    values.update(kw)
    return summary.RunParams(**values)


def make_summary(
    fail_on: frozenset[str] = frozenset({"nil_pointer", "race_condition"}),
    findings: Findings | None = None,
    not_run: str = "",
    suite_errors: int = 0,
) -> dict[str, Any]:
    findings = sample_findings() if findings is None else findings
    result = reporting.verdict(findings, fail_on, suite_errors=suite_errors, not_run=not_run)
    return summary.build_summary(
        params(fail_on), reporting.Totals(1000, 6), findings, result, ["a suite note"], generated_at=T0 + 20
    )


# --- JSON summary -------------------------------------------------------------------------------------


def test_summary_structure() -> None:
    doc = make_summary()
    assert json.loads(summary.summary_json(doc)) == doc  # plain JSON types only
    assert doc["schema"] == summary.SCHEMA
    assert doc["generated_at"] == "2023-11-14T22:13:40.000Z"
    assert list(doc) == [
        "schema",
        "generated_at",
        "run",
        "totals",
        "categories",
        "category_details",
        "contention",
        "notes",
        "examples",
        "suite_notes",
        "failures_by_name",
        "recent_errors",
        "sources",
        "verdict",
    ]
    run = doc["run"]
    assert run["host"] == "http://127.0.0.1:8080" and run["scenario"] == "mixed" and run["users"] == 10
    assert run["duration"] == 14.5 and run["run_time"] == 15 and run["run_id"] == "abc123"
    assert run["target_faults"] == "nil-pointer=0.1" and run["locust_version"] == "2.47.0"
    assert run["fail_on"] == ["nil_pointer", "race_condition"]
    assert run["started_at"] == "2023-11-14T22:13:20.000Z"
    assert doc["totals"] == {"requests": 1000, "failures": 6, "success_rate": 99.4}
    assert list(doc["categories"]) == list(classify.CATEGORIES)
    assert doc["categories"] == {
        "nil_pointer": 3,
        "race_condition": 1,
        "timeout": 0,
        "http_error": 2,
        "json_error": 0,
        "connection": 1,
        "other": 0,
    }
    race = doc["category_details"][1]
    assert race == {
        "category": "race_condition",
        "count": 1,
        "requests": 0,
        "extra": 1,
        "fail_on": True,
        "fails_run": True,
        "example": None,
    }
    assert doc["category_details"][0]["example"] == "PUT /api/cameras/[id]: HTTP 500: nil pointer dereference"
    assert doc["contention"] == {"DELETE not found": 1, "PUT not found": 2}
    assert doc["notes"] == {"lost_update": 1, "possible_panic": 1}
    assert doc["suite_notes"] == ["a suite note"]
    assert list(doc["failures_by_name"].items()) == [  # most failures first, then by name
        ("GET /api/cameras", 2),
        ("PUT /api/cameras/[id]", 2),
        ("GET /api/status", 1),
        ("POST /api/cameras", 1),
    ]
    errors = doc["recent_errors"]
    assert len(errors) == 7
    assert errors[0] == {
        "time": T0 + 1,
        "category": "nil_pointer",
        "name": "PUT /api/cameras/[id]",
        "message": "HTTP 500: nil pointer dereference",
        "time_iso": "2023-11-14T22:13:21.000Z",
    }
    assert [e["time"] for e in errors] == sorted(e["time"] for e in errors)
    assert doc["sources"] == ["worker-a", "worker-b"]
    verdict = reporting.verdict(sample_findings(), frozenset({"nil_pointer", "race_condition"}))
    assert doc["verdict"] == {
        "result": "FAIL",
        "line": verdict.line,
        "exit_code": 3,
        "failing": {"nil_pointer": 3, "race_condition": 1},
    }


def test_summary_of_a_clean_and_an_empty_run() -> None:
    doc = make_summary(frozenset({"timeout"}))
    assert doc["verdict"]["result"] == "CLEAN" and doc["verdict"]["exit_code"] == 0
    assert not any(d["fails_run"] for d in doc["category_details"])
    empty = summary.build_summary(
        params(), reporting.Totals(0, 0), Findings(), reporting.verdict(Findings(), frozenset())
    )
    assert empty["totals"]["success_rate"] == 0.0 and empty["recent_errors"] == []
    assert set(empty["categories"].values()) == {0}


def test_summary_not_run_and_suite_errors() -> None:
    assert make_summary(findings=Findings(), not_run="cannot reach")["verdict"]["result"] == "NOT RUN"
    doc = make_summary(frozenset({"timeout"}), suite_errors=2)
    assert doc["verdict"]["result"] == "ERROR" and doc["verdict"]["exit_code"] == 1


# --- JUnit XML ------------------------------------------------------------------------------------------


def junit_cases(doc: dict[str, Any]) -> tuple[ET.Element, dict[str, ET.Element]]:
    root = ET.fromstring(summary.build_junit(doc))
    suite = root.find("testsuite")
    assert suite is not None
    return root, {case.get("name", ""): case for case in suite.findall("testcase")}


FAIL_ON_SETTINGS = [
    frozenset({"nil_pointer", "race_condition"}),  # the default
    frozenset({"nil_pointer"}),
    frozenset({"http_error", "timeout", "json_error"}),
    frozenset(),  # --fail-on none
    frozenset(classify.CATEGORIES),
]


@pytest.mark.parametrize("fail_on", FAIL_ON_SETTINGS, ids=lambda f: ",".join(sorted(f)) or "none")
def test_junit_fails_exactly_the_failing_categories(fail_on: frozenset[str]) -> None:
    findings = sample_findings()
    doc = make_summary(fail_on, findings)
    root, cases = junit_cases(doc)
    assert list(cases) == list(classify.CATEGORIES)
    expected = {c for c in fail_on if findings.count(c)}
    failed = {name for name, case in cases.items() if case.find("failure") is not None}
    assert failed == expected == set(reporting.verdict(findings, fail_on).failing)
    for name, case in cases.items():
        assert case.get("classname") == "camstream.findings"
        assert case.find("error") is None and case.find("skipped") is None
        failure = case.find("failure")
        if failure is not None:
            count = findings.count(name)
            assert failure.get("type") == name
            assert failure.get("message", "").startswith(f"{count} {name} findings")
            assert (failure.text or "").startswith(f"{count} {name} findings")
        else:
            out = case.find("system-out")
            assert out is not None and (out.text or "").startswith(f"{findings.count(name)} {name} findings")
    for element in (root, root.find("testsuite")):
        assert element is not None
        assert element.get("tests") == "7" and element.get("failures") == str(len(expected))
        assert element.get("errors") == "0" and element.get("skipped") == "0"
    props = {p.get("name"): p.get("value") for p in root.iter("property")}
    assert props["fail_on"] == (",".join(sorted(fail_on)) or "none")
    assert props["verdict"] == doc["verdict"]["line"] and props["run_id"] == "abc123"


def test_junit_failure_carries_the_first_example() -> None:
    _root, cases = junit_cases(make_summary())
    failure = cases["nil_pointer"].find("failure")
    assert failure is not None
    assert (
        failure.text
        == "3 nil_pointer findings\nfirst: PUT /api/cameras/[id]: HTTP 500: nil pointer dereference"
    )
    assert failure.get("message") == "3 nil_pointer findings (in --fail-on)"


def test_junit_not_run_skips_every_case() -> None:
    root, cases = junit_cases(make_summary(findings=Findings(), not_run="cannot reach the server"))
    assert all(case.find("skipped") is not None and case.find("failure") is None for case in cases.values())
    assert root.get("failures") == "0" and root.get("skipped") == "7"


def test_junit_survives_characters_xml_cannot_carry() -> None:
    findings = Findings()
    findings.record_failure(classify.NIL_POINTER, "GET /x", "bad \x00\x1b bytes <&> ]]>", T0)
    _root, cases = junit_cases(make_summary(findings=findings))
    failure = cases["nil_pointer"].find("failure")
    assert failure is not None and "bad \ufffd\ufffd bytes <&> ]]>" in (failure.text or "")


# --- HTML section ---------------------------------------------------------------------------------------

REPORT = (
    '<html><head></head><body><div id="root"></div><script>window.templateArgs = {}</script></body></html>'
)


def test_html_section_goes_above_the_react_root_and_is_replaced_next_time() -> None:
    doc = make_summary()
    once = summary.inject_html(REPORT, summary.html_section(doc))
    assert once is not None and once.index("camstream-findings") < once.index('<div id="root">')
    assert "VERDICT: FAIL" in once and "FAILS THE RUN" in once and "🚨 nil_pointer" in once
    again = summary.inject_html(once, summary.html_section(make_summary(frozenset({"timeout"}))))
    assert again is not None and again.count(summary.HTML_BEGIN) == 1 and "VERDICT: CLEAN" in again
    assert summary.inject_html("<html>no body</html>", "x") is None
    assert summary.inject_html("<html><body></body></html>", "X") == "<html><body>X\n</body></html>"


def test_html_section_escapes_messages() -> None:
    findings = Findings()
    findings.record_failure(classify.OTHER, "GET /x", "<script>alert(1)</script>", T0)
    section = summary.html_section(make_summary(findings=findings))
    assert "<script>" not in section and "&lt;script&gt;alert(1)&lt;/script&gt;" in section


# --- web UI rows ----------------------------------------------------------------------------------------


def test_table_rows() -> None:
    doc = make_summary()
    rows = webui.table_rows(doc)
    assert all(set(row) == set(webui.COLUMNS) for row in rows)  # no "name": the React table sorts by it
    sections = [row["section"] for row in rows]
    assert sections[:2] == ["verdict", "requests"]
    assert sections[2:9] == ["category"] * 7
    categories = rows[2:9]
    assert categories[0]["item"] == "🚨 nil_pointer" and categories[0]["count"] == 3
    assert categories[0]["detail"].startswith("FAILS THE RUN | first: PUT /api/cameras/[id]")
    assert categories[1]["item"] == "⚠️ race_condition" and "1 from other sources" in categories[1]["detail"]
    assert [r["item"] for r in categories[2:]] == list(classify.CATEGORIES[2:])
    assert [(r["item"], r["count"]) for r in rows if r["section"] == "contention"] == [
        ("DELETE not found", 1),
        ("PUT not found", 2),
    ]
    assert {r["item"] for r in rows if r["section"] == "finding"} == {"lost_update", "possible_panic"}
    assert [r["detail"] for r in rows if r["section"] == "note"] == ["a suite note"]
    errors = [r for r in rows if r["section"] == "error"]
    assert len(errors) == 7 and errors[0]["request"] == "history"  # newest first (recorded now)
    assert errors[-1]["request"] == "PUT /api/cameras/[id]" and errors[-1]["item"] == "🚨 nil_pointer"
    assert len(errors[-1]["time"]) == 8  # HH:MM:SS
    csv_text = webui.rows_csv(rows)
    assert csv_text.splitlines()[0] == "section,item,count,time,request,detail"
    assert len(csv_text.splitlines()) == len(rows) + 1


# --- the adapters: parameters off a Locust environment, files out ------------------------------------


class MasterRunner:  # run_params tells the mode by the runner's class name
    worker_count = 2


def fake_environment(tmp_path: Path, **opts: Any) -> SimpleNamespace:
    options = SimpleNamespace(
        scenario="mixed",
        num_users=10,
        spawn_rate=5.0,
        run_time=15,
        camstream_run_id="abc123",
        embedded_target=False,
        target_faults="nil-pointer=0.1",
        camstream_json=str(tmp_path / "out" / "summary.json"),
        camstream_junit=str(tmp_path / "out" / "junit.xml"),
        html_file=None,
    )
    vars(options).update(opts)
    total = SimpleNamespace(num_requests=1000, num_failures=6, last_request_timestamp=T0 + 14.25)
    return SimpleNamespace(
        parsed_options=options,
        runner=MasterRunner(),
        host="http://127.0.0.1:8080",
        stats=SimpleNamespace(start_time=T0, total=total),
    )


def write(environment: SimpleNamespace, fail_on: frozenset[str] = frozenset({"nil_pointer"})) -> list[str]:
    findings = sample_findings()
    result = reporting.verdict(findings, fail_on)
    return summary.write_reports(environment, findings, result, fail_on, ["note"])


def test_write_reports(tmp_path: Path) -> None:
    env = fake_environment(tmp_path)
    assert write(env) == []
    doc = json.loads(Path(env.parsed_options.camstream_json).read_text(encoding="utf-8"))
    assert doc["run"]["mode"] == "distributed" and doc["run"]["workers"] == 2
    assert doc["run"]["duration"] == 14.25 and doc["run"]["target_faults"] is None  # not embedded
    assert doc["run"]["spawn_rate"] == 5.0 and doc["run"]["locust_version"] == summary.locust_version()
    assert doc["totals"]["requests"] == 1000 and doc["verdict"]["failing"] == {"nil_pointer": 3}
    root = ET.parse(env.parsed_options.camstream_junit).getroot()
    assert [c.get("name") for c in root.iter("testcase") if c.find("failure") is not None] == ["nil_pointer"]
    assert not list(tmp_path.glob("out/*.tmp"))


def test_write_reports_says_what_it_could_not_write(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    env = fake_environment(
        tmp_path,
        camstream_json=str(blocker / "s.json"),
        camstream_junit="",
        html_file=str(tmp_path / "r.html"),
    )
    problems = write(env)
    assert len(problems) == 2 and all("\n" not in p for p in problems)
    assert problems[0].startswith(f"--camstream-json: cannot write {blocker / 's.json'}: ")
    assert problems[1].startswith("--html: Locust did not write")


def test_write_reports_adds_the_findings_to_this_runs_html_report(tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    report.write_text(REPORT, encoding="utf-8")
    env = fake_environment(tmp_path, camstream_json="", camstream_junit="", html_file=str(report))
    env.stats.start_time = report.stat().st_mtime - 5
    assert write(env) == []
    assert report.read_text(encoding="utf-8").count(summary.HTML_BEGIN) == 1
    os.utime(report, (T0 - 100, T0 - 100))  # a report left over from an earlier run
    env.stats.start_time = T0
    assert write(env)[0].startswith("--html: Locust did not write")
