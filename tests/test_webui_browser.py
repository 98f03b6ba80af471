"""The findings tab in Locust's web UI, against real runs: headless Chromium, the JSON route, the summary.

Each test starts ``locust`` with the web UI on a free loopback port, the embedded target with
faults, ``--autostart`` and ``--autoquit`` (so the run ends by itself), reads the tab while the
test runs and after it stopped, and compares that with the ``--camstream-json`` file written at
the end. Every wait is bounded and every process is stopped. Chromium: Debian's ``chromium``
package (the browser test is skipped without it); the screenshot goes to ``artifacts/``.
"""

from __future__ import annotations

import html.parser
import json
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import free_port, http_json

from camstream_locust import classify, webui

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "artifacts"
LOCUST = Path(sys.executable).with_name("locust")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
    "--window-size=1400,1000",
    "--virtual-time-budget=5000",
)
FAULTS = "nil-pointer=0.1,http=0.05"
#: Upper bounds (seconds) of the waits.
START_TIMEOUT = 60.0
CHROMIUM_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0
#: Fields of the summary that must not change between "the test stopped" and the end of the run.
COUNTED = (
    "totals",
    "categories",
    "category_details",
    "contention",
    "notes",
    "failures_by_name",
    "recent_errors",
)

needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium not installed (apt-get install chromium)"
)


class LocustRun:
    """A ``locust`` process with the web UI on 127.0.0.1 and its output files."""

    def __init__(self, workdir: Path, *args: str) -> None:
        self.web_port = free_port()
        self.url = f"http://127.0.0.1:{self.web_port}"
        self.summary_file = workdir / "summary.json"
        self.stdout = workdir / "locust.stdout"
        self.stderr = workdir / "locust.stderr"
        command = [
            str(LOCUST),
            "-f",
            "locustfiles/camstream.py",
            "--web-host",
            "127.0.0.1",
            "--web-port",
            str(self.web_port),
            "--embedded-target",
            "--target-faults",
            FAULTS,
            "--autostart",
            "-u",
            "10",
            "-r",
            "10",
            "--camstream-json",
            str(self.summary_file),
            *args,
        ]
        with open(self.stdout, "wb") as out, open(self.stderr, "wb") as err:
            self.proc = subprocess.Popen(command, cwd=REPO, stdin=subprocess.DEVNULL, stdout=out, stderr=err)

    def output(self) -> str:
        return self.stdout.read_text(errors="replace") + self.stderr.read_text(errors="replace")

    def get(self, path: str) -> dict[str, Any]:
        """The JSON object at ``path`` (fails the test if the UI does not answer with one)."""
        status, body, raw = http_json("GET", self.url + path, timeout=10)
        assert status == 200 and body is not None, (path, status, raw[:300])
        return body

    def wait_for(self, what: str, check: Callable[[], Any], timeout: float) -> Any:
        """Poll ``check`` until it returns something truthy; fail after ``timeout`` or if locust exits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, (
                f"locust exited ({self.proc.returncode}) waiting for {what}:\n{self.output()}"
            )
            try:
                value = check()
            except OSError:  # the web UI is not listening yet
                value = None
            if value:
                return value
            time.sleep(0.25)
        pytest.fail(f"timed out waiting for {what}:\n{self.output()[-3000:]}")

    def state(self) -> str:
        return str(self.get("/stats/requests").get("state"))

    def stable_findings(self) -> dict[str, Any]:
        """The JSON route once two reads a second apart agree on every count (after the test stopped)."""
        previous: dict[str, Any] | None = None

        def settled() -> dict[str, Any] | None:
            nonlocal previous
            current = self.get(webui.FINDINGS_ROUTE)
            same = previous is not None and all(previous[k] == current[k] for k in COUNTED)
            previous = current
            if not same:
                time.sleep(1.0)
            return current if same else None

        return self.wait_for("the findings to settle", settled, STOP_TIMEOUT)

    def finish(self) -> int:
        """Wait (bounded) for the run to end by itself; its exit code."""
        try:
            return self.proc.wait(START_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"locust did not quit by itself:\n{self.output()[-3000:]}")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not exited in time. Idempotent."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_TIMEOUT)


@pytest.fixture
def locust_run(tmp_path: Path) -> Iterator[Callable[..., LocustRun]]:
    runs: list[LocustRun] = []

    def start(*args: str) -> LocustRun:
        run = LocustRun(tmp_path, *args)
        runs.append(run)
        return run

    yield start
    for run in runs:
        run.stop()


def chromium(tmp_path: Path, url: str, *args: str) -> str:
    """Run headless Chromium on ``url`` with ``args`` (``--dump-dom``, ``--screenshot=...``); its stdout."""
    assert CHROMIUM is not None
    profile = tmp_path / f"chromium-profile-{time.monotonic_ns()}"
    done = subprocess.run(
        [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args, url],
        capture_output=True,
        timeout=CHROMIUM_TIMEOUT,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    return done.stdout.decode("utf-8", "replace")


class TablesAndTabs(html.parser.HTMLParser):
    """The text of every ``role="tab"`` element and every table row (cells in order) in a DOM dump."""

    def __init__(self) -> None:
        super().__init__()
        self.tabs: list[str] = []
        self.rows: list[list[str]] = []
        self._tab_depth = 0
        self._tab_text: list[str] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._tab_depth:
            self._tab_depth += 1
        elif dict(attrs).get("role") == "tab":
            self._tab_depth, self._tab_text = 1, []
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self.rows:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None
        if self._tab_depth:
            self._tab_depth -= 1
            if not self._tab_depth:
                self.tabs.append("".join(self._tab_text).strip())

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._tab_depth:
            self._tab_text.append(data)


def findings_table(dom: str) -> list[dict[str, str]]:
    """The tab's rows as dicts keyed like ``webui.COLUMNS``, read from Chromium's DOM dump."""
    parsed = TablesAndTabs()
    parsed.feed(dom)
    assert webui.TAB_TITLE in parsed.tabs, parsed.tabs
    heading = list(webui.COLUMNS.values())
    assert heading in parsed.rows, f"no findings table in the DOM; rows: {parsed.rows[:3]}"
    rows = parsed.rows[parsed.rows.index(heading) + 1 :]
    return [dict(zip(webui.COLUMNS, row, strict=True)) for row in rows if len(row) == len(heading)]


def dom_categories(rows: list[dict[str, str]]) -> dict[str, int]:
    """Category -> count, from the tab's category rows (their item may carry a marker)."""
    counts = {row["item"].split()[-1]: int(row["count"]) for row in rows if row["section"] == "category"}
    assert list(counts) == list(classify.CATEGORIES), counts
    return counts


def assert_same_counts(live: dict[str, Any], final: dict[str, Any]) -> None:
    for key in COUNTED:
        assert live[key] == final[key], key
    assert live["verdict"] == final["verdict"]


@needs_chromium
def test_findings_tab_in_chromium_matches_the_summary(locust_run, tmp_path: Path) -> None:
    run = locust_run("-t", "8s", "--autoquit", "15")

    def counting() -> bool:
        data = run.get("/stats/requests")
        tab = next((e["data"] for e in data.get("extended_stats", []) if e["key"] == webui.TAB_KEY), [])
        nil = [
            r["count"] for r in tab if r["section"] == "category" and r["item"].endswith(classify.NIL_POINTER)
        ]
        return data["state"] == "running" and bool(nil) and nil[0] > 0

    run.wait_for("nil_pointer findings in /stats/requests", counting, START_TIMEOUT)

    # While the test runs: the tab is there, highlighted, with counts and recent errors.
    page = f"{run.url}/?tab={webui.TAB_KEY}"
    rows = findings_table(chromium(tmp_path, page, "--dump-dom"))
    counts = dom_categories(rows)
    assert counts[classify.NIL_POINTER] > 0 and counts[classify.HTTP_ERROR] > 0
    items = {row["item"] for row in rows}
    assert "🚨 nil_pointer" in items and "⚠️ race_condition" in items
    nil_row = next(r for r in rows if r["item"] == "🚨 nil_pointer")
    assert nil_row["detail"].startswith("FAILS THE RUN")
    errors = [r for r in rows if r["section"] == "error"]
    assert errors and all(r["time"] and r["request"] and r["detail"] for r in errors)
    assert rows[0]["section"] == "verdict" and rows[0]["item"] == "FAIL"
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "webui-tab.png"
    shot.unlink(missing_ok=True)
    chromium(tmp_path, page, f"--screenshot={shot}")
    assert shot.stat().st_size > 10_000

    # Stopped, before --autoquit: the tab's counts are final; they must equal the summary.
    run.wait_for("the test to stop", lambda: run.state() == "stopped", STOP_TIMEOUT + 8)
    live = run.stable_findings()
    stopped_rows = findings_table(chromium(tmp_path, page, "--dump-dom"))
    assert dom_categories(stopped_rows) == live["categories"]
    total_row = next(r for r in stopped_rows if r["section"] == "requests")
    assert int(total_row["count"]) == live["totals"]["requests"]
    assert run.finish() == 3, run.output()[-3000:]

    final = json.loads(run.summary_file.read_text(encoding="utf-8"))
    assert_same_counts(live, final)
    assert final["run"]["mode"] == "local" and final["run"]["target_faults"] == FAULTS
    assert final["run"]["users"] == 10 and final["run"]["embedded_target"] is True
    assert final["verdict"]["exit_code"] == 3 and final["verdict"]["failing"][classify.NIL_POINTER] > 0
    assert sum(d["requests"] for d in final["category_details"]) == final["totals"]["failures"]
    assert "Traceback" not in run.output()


def test_distributed_web_ui_shows_the_merged_totals(locust_run) -> None:
    master_port = str(free_port())
    run = locust_run(
        "--processes",
        "2",
        "--master-bind-host",
        "127.0.0.1",
        "--master-bind-port",
        master_port,
        "--master-port",
        master_port,
        "-t",
        "8s",
        "--autoquit",
        "10",
    )

    def both_workers_counting() -> bool:
        doc = run.get(webui.FINDINGS_ROUTE)
        return len(doc["sources"]) == 2 and doc["categories"][classify.NIL_POINTER] > 0

    run.wait_for("findings from both workers", both_workers_counting, START_TIMEOUT)
    run.wait_for("the test to stop", lambda: run.state() == "stopped", START_TIMEOUT)
    live = run.stable_findings()
    stats = run.get("/stats/requests")
    assert live["totals"]["requests"] == stats["stats"][-1]["num_requests"] > 0
    assert run.finish() == 3, run.output()[-3000:]

    final = json.loads(run.summary_file.read_text(encoding="utf-8"))
    assert_same_counts(live, final)
    assert final["run"]["mode"] == "distributed" and final["run"]["workers"] == 2
    assert len(final["sources"]) == 2
    assert sum(d["requests"] for d in final["category_details"]) == final["totals"]["failures"]
    assert "Traceback" not in run.output()
