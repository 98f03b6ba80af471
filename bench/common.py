"""Shared helpers of the bench scripts: processes, targets, Locust runs, probe windows, tables, versions.

Plain Python (no gevent, no Locust import): the scripts drive ``locust`` and the targets as
child processes, all on 127.0.0.1, every one bounded in time and stopped in ``finally``.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import platform
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
SUITE_LOCUSTFILE = "locustfiles/camstream.py"
BARE_LOCUSTFILE = "bench/bare_locustfile.py"
PROBE = "bench/probe.py"
PROBE_PREFIX = "BENCHPROBE "
NGINX_TEMPLATE = BENCH / "nginx" / "camstream-front.conf.template"
LISTENING = "camstream-target listening on "
FAST_LISTENING = "fast-target listening on "


def _terminate(signum: int, _frame: Any) -> None:
    """SIGTERM (and SIGHUP) end a bench script like Ctrl-C: ``finally`` blocks stop the children."""
    raise KeyboardInterrupt(f"signal {signum}")


if threading.current_thread() is threading.main_thread():
    for _sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(_sig, _terminate)


def locust_cmd() -> list[str]:
    """The ``locust`` next to this Python (the venv's), else ``python -m locust``."""
    script = Path(sys.executable).with_name("locust")
    return [str(script)] if script.exists() else [sys.executable, "-m", "locust"]


def shell(argv: Sequence[str]) -> str:
    return " ".join(shlex.quote(str(a)) for a in argv)


def say(text: str = "") -> None:
    print(text, flush=True)


# --- versions and machine -------------------------------------------------------------------------


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "-"


NGINX_HINT = (
    "nginx is not installed: the fast target runs without its nginx front. To install it "
    "(Debian/Ubuntu, as root): apt-get update && apt-get install -y nginx-light"
)


def nginx_exe() -> str | None:
    """Debian's nginx (on PATH, or /usr/sbin/nginx when /usr/sbin is not on PATH), or None."""
    exe = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else "")
    return exe or None


def nginx_version() -> str:
    exe = nginx_exe()
    if not exe:
        return "not installed"
    out = subprocess.run([exe, "-v"], capture_output=True, text=True, timeout=10)
    return (out.stderr or out.stdout).strip().split("/", 1)[-1]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def environment_lines(nginx: bool = False) -> list[str]:
    """Date, machine and versions, one ``key: value`` a line (printed by every script)."""
    lines = [
        f"date: {datetime.datetime.now().astimezone().strftime('%a %d %b %Y %H:%M:%S %Z')}",
        f"machine: {os.cpu_count()} cores ({cpu_model()}), "
        f"{psutil.virtual_memory().total / 2**30:.0f} GiB, {platform.system()} {platform.release()}",
        f"python: {platform.python_version()} ({sys.executable})",
        "packages: "
        + ", ".join(
            f"{name} {_version(name)}"
            for name in ("locust", "gevent", "geventhttpclient", "Flask", "psutil", "camstream-locust")
        ),
    ]
    if nginx:
        lines.append(f"nginx: {nginx_version()}")
    return lines


def print_header(title: str, argv: Sequence[str] | None = None, nginx: bool = False) -> None:
    say(f"== {title}")
    say(f"command: {shell([sys.executable, *(argv if argv is not None else sys.argv)])}")
    for line in environment_lines(nginx):
        say(line)
    say()


# --- processes ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[str]:
    """``Popen`` in a session (process group) of its own, so ``stop`` can also end what it started."""
    return subprocess.Popen(list(argv), start_new_session=True, text=True, **kwargs)


def stop(proc: subprocess.Popen[Any] | None, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
    """Signal one process we started (``sig``), SIGKILL it after ``timeout``, then end whatever is
    left in its process group (its children: an embedded target, nginx workers); idempotent."""
    if proc is None:
        return
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait(timeout)
    _end_group(proc.pid)


def _end_group(pgid: int) -> None:
    """SIGTERM, then SIGKILL, the members left in the process group ``pgid`` (one we created)."""
    for group_sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, group_sig)
        except (ProcessLookupError, PermissionError):
            return
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            try:
                os.killpg(pgid, 0)
            except (ProcessLookupError, PermissionError):
                return
            time.sleep(0.05)


def children_pids(pid: int) -> list[int]:
    """The pids of a process's descendants (e.g. the embedded target of a locust process)."""
    try:
        return [c.pid for c in psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return []


@dataclass
class Server:
    """A target (or front) we started: its process, URL and what it printed."""

    name: str
    proc: subprocess.Popen[str]
    url: str
    workdir: Path | None = None
    extra: list[subprocess.Popen[str]] = field(default_factory=list)

    def pids(self) -> list[int]:
        """This server's processes and their children (nginx workers)."""
        out = []
        for proc in [self.proc, *self.extra]:
            try:
                p = psutil.Process(proc.pid)
                out.append(p.pid)
                out.extend(c.pid for c in p.children(recursive=True))
            except psutil.NoSuchProcess:
                pass
        return out

    def stop(self) -> None:
        for proc in [self.proc, *self.extra]:
            stop(proc)
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)


def _wait_line(proc: subprocess.Popen[str], prefix: str, timeout: float) -> str:
    """The first stdout line starting with ``prefix`` (read in a thread, so bounded in time).

    The thread goes on reading (and dropping) the rest, so a full pipe never blocks the server.
    """
    found: list[str] = []
    seen = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if not found and line.startswith(prefix):
                found.append(line[len(prefix) :].strip())
                seen.set()
        seen.set()

    threading.Thread(target=read, daemon=True).start()
    seen.wait(timeout)
    if not found:
        stop(proc)
        raise RuntimeError(f"{shell(proc.args)} did not print {prefix!r} within {timeout:.0f} s")
    return found[0]


def start_reference_target(faults: str = "", max_seconds: float = 1800) -> Server:
    """``python -m camstream_locust.target`` on a free loopback port, a fresh data dir (as the
    suite's --embedded-target starts it), stopped by ``timeout`` after ``max_seconds`` at worst."""
    workdir = Path(tempfile.mkdtemp(prefix="bench-target-"))
    argv = ["timeout", "-s", "TERM", str(int(max_seconds)), sys.executable, "-m", "camstream_locust.target"]
    argv += ["--host", "127.0.0.1", "--port", "0", "--data-dir", str(workdir)]
    argv += ["--log-file", str(workdir / "target.log")]
    if faults:
        argv += ["--faults", faults]
    proc = spawn(argv, cwd=ROOT, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    url = _wait_line(proc, LISTENING, 30)
    return Server("reference target", proc, url, workdir)


def start_fast_target(max_seconds: float = 1800) -> Server:
    argv = [sys.executable, str(BENCH / "fast_target.py"), "--port", "0", "--max-seconds", str(max_seconds)]
    proc = spawn(argv, cwd=ROOT, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    url = _wait_line(proc, FAST_LISTENING, 30)
    return Server("fast target", proc, url)


def start_nginx_front(upstream: str, max_seconds: float = 1800) -> Server:
    """Debian's nginx on a free loopback port, with bench/nginx's config: canned stateless routes,
    the stateful ones proxied (keep-alive) to ``upstream``."""
    exe = nginx_exe()
    if exe is None:
        raise RuntimeError(NGINX_HINT)
    workdir = Path(tempfile.mkdtemp(prefix="bench-nginx-"))
    port = free_port()
    up_host, up_port = upstream.split("://", 1)[1].rsplit(":", 1)
    conf = NGINX_TEMPLATE.read_text()
    for key, value in {"PREFIX": str(workdir), "PORT": str(port), "UPSTREAM": f"{up_host}:{up_port}"}.items():
        conf = conf.replace("@" + key + "@", value)
    (workdir / "nginx.conf").write_text(conf)
    argv = ["timeout", "-s", "TERM", str(int(max_seconds)), exe, "-p", str(workdir), "-c"]
    argv += [str(workdir / "nginx.conf"), "-e", str(workdir / "error.log"), "-g", "daemon off;"]
    proc = spawn(argv, cwd=workdir, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while True:
        try:
            with urllib.request.urlopen(url + "/api/ping", timeout=1) as answer:
                if answer.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            err = (workdir / "error.log").read_text() if (workdir / "error.log").exists() else ""
            stop(proc)
            raise RuntimeError(f"nginx did not start: {err.strip()[-500:]}")
        time.sleep(0.1)
    return Server("nginx front", proc, url, workdir)


@contextlib.contextmanager
def fast_front(use_nginx: bool = True) -> Iterator[tuple[str, list[Server]]]:
    """The non-bottleneck target: nginx in front of the bench's in-memory server (or that server alone)."""
    servers: list[Server] = []
    try:
        fast = start_fast_target()
        servers.append(fast)
        url = fast.url
        if use_nginx:
            front = start_nginx_front(fast.url)
            servers.append(front)
            url = front.url
        yield url, servers
    finally:
        for server in reversed(servers):
            server.stop()


# --- CPU sampling of processes other than locust (targets) -----------------------------------------


class CpuSampler:
    """Samples user+system CPU seconds of a set of processes every ``interval`` s (a thread)."""

    def __init__(self, pids: Callable[[], list[int]], interval: float = 0.5) -> None:
        self._pids = pids
        self.interval = interval
        self.samples: list[tuple[float, float]] = []  # (epoch, cpu seconds summed over the pids)
        self._seen: dict[int, psutil.Process] = {}
        self._last: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _total(self) -> float:
        for pid in self._pids():
            if pid not in self._seen:
                with contextlib.suppress(psutil.Error):
                    self._seen[pid] = psutil.Process(pid)
        for pid, proc in list(self._seen.items()):
            try:
                t = proc.cpu_times()
                self._last[pid] = t.user + t.system
            except psutil.Error:
                pass  # gone: keep its last reading
        return sum(self._last.values())

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.time(), self._total()))
            self._stop.wait(self.interval)

    def __enter__(self) -> CpuSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(5)

    def between(self, t0: float, t1: float) -> float | None:
        """CPU seconds used between t0 and t1 (linear interpolation of the samples)."""
        a, b = _interp(self.samples, t0), _interp(self.samples, t1)
        return None if a is None or b is None else b - a


def _interp(samples: list[tuple[float, float]], t: float) -> float | None:
    before = [s for s in samples if s[0] <= t]
    after = [s for s in samples if s[0] >= t]
    if not before or not after:
        return None
    (t0, v0), (t1, v1) = before[-1], after[0]
    return v0 if t1 == t0 else v0 + (v1 - v0) * (t - t0) / (t1 - t0)


# --- Locust runs ----------------------------------------------------------------------------------


@dataclass
class LocustRun:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    probes: list[dict[str, float]]
    pid: int
    elapsed: float


def run_locust(
    args: Sequence[str],
    locustfile: str,
    probe: bool = True,
    timeout: float = 900,
    on_stdout: Callable[[str, subprocess.Popen[str]], None] | None = None,
    on_start: Callable[[subprocess.Popen[str]], None] | None = None,
    env: dict[str, str] | None = None,
) -> LocustRun:
    """Run ``locust -f LOCUSTFILE[,bench/probe.py] ARGS`` from the repository root, bounded by ``timeout``.

    ``on_stdout(line, proc)`` sees every stdout line as it arrives (e.g. to SIGINT on a finding).
    """
    files = f"{locustfile},{PROBE}" if probe else locustfile
    argv = [*locust_cmd(), "-f", files, *args]
    out_lines: list[str] = []
    err_lines: list[str] = []
    probes: list[dict[str, float]] = []
    started = time.monotonic()
    proc = spawn(
        argv,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )

    def read_out() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            out_lines.append(line)
            if on_stdout is not None:
                on_stdout(line, proc)

    def read_err() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            record = _probe_record(line)
            if record is not None:
                probes.append(record)
            else:
                err_lines.append(line)

    threads = [threading.Thread(target=read_out, daemon=True), threading.Thread(target=read_err, daemon=True)]
    for thread in threads:
        thread.start()
    try:
        if on_start is not None:
            on_start(proc)
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        stop(proc, signal.SIGINT, 30)
    finally:
        stop(proc, signal.SIGINT, 30)
        for thread in threads:
            thread.join(10)
    return LocustRun(
        argv,
        proc.returncode,
        "".join(out_lines),
        "".join(err_lines),
        probes,
        proc.pid,
        time.monotonic() - started,
    )


def _probe_record(line: str) -> dict[str, float] | None:
    """A probe record from a stderr line. Other writers share that pipe (an embedded target is a
    child of the locust process and inherits its stderr), so a record is looked for anywhere in
    the line and decoded up to its end; the rest of such a line is dropped."""
    at = line.find(PROBE_PREFIX)
    if at < 0:
        return None
    try:
        record, _end = json.JSONDecoder().raw_decode(line, at + len(PROBE_PREFIX))
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


@dataclass
class Window:
    """The steady middle of a run, from the probe lines."""

    t0: float
    t1: float
    requests: int
    failures: int
    cpu: float  # CPU seconds of the locust process

    @property
    def seconds(self) -> float:
        return self.t1 - self.t0

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_per_1000(self) -> float:
        return 1000.0 * self.cpu / self.requests if self.requests else float("nan")

    @property
    def cpu_share(self) -> float:
        """Cores used by the locust process (1.0 = one full core)."""
        return self.cpu / self.seconds if self.seconds > 0 else 0.0


def steady_window(probes: list[dict[str, float]], skip_start: float, skip_end: float) -> Window:
    """Probe records from ``skip_start`` s after the first to ``skip_end`` s before the last."""
    if len(probes) < 3:
        raise RuntimeError(f"too few probe lines ({len(probes)}): did the run start?")
    first, last = probes[0]["t"], probes[-1]["t"]
    inside = [p for p in probes if first + skip_start <= p["t"] <= last - skip_end]
    if len(inside) < 2:
        raise RuntimeError("the run is too short for its warm-up and cool-down")
    a, b = inside[0], inside[-1]
    return Window(a["t"], b["t"], int(b["n"] - a["n"]), int(b["f"] - a["f"]), b["cpu"] - a["cpu"])


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A markdown table (readable as text too)."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |" for row in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def percentile_from_csv(prefix: Path) -> dict[str, float]:
    """Aggregated median / p95 / p99 (ms) from Locust's ``--csv PREFIX`` stats file."""
    import csv

    path = Path(f"{prefix}_stats.csv")
    if not path.exists():
        return {}
    with path.open() as f:
        for row in csv.DictReader(f):
            if row.get("Name") == "Aggregated":
                return {
                    "p50": float(row.get("50%") or "nan"),
                    "p95": float(row.get("95%") or "nan"),
                    "p99": float(row.get("99%") or "nan"),
                }
    return {}


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    n = len(ordered)
    if not n:
        return float("nan")
    return ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2


def parse_iso(text: str | None) -> float | None:
    """Epoch seconds of the suite's UTC ISO-8601 times ("2026-12-04T05:01:02.123Z")."""
    if not text:
        return None
    for fmt in ("%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return datetime.datetime.strptime(text, fmt).replace(tzinfo=datetime.UTC).timestamp()
        except ValueError:
            continue
    return None


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON file written by the run (e.g. --camstream-json), or None when missing or invalid."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def say_run(run: LocustRun, expected: tuple[int, ...] = (0, 3)) -> None:
    """The exact command of a run, and the tail of its stderr when its exit code is unexpected."""
    say(f"   command: {shell(run.argv)}")
    if run.returncode not in expected:
        say(f"   exit code {run.returncode}; stderr tail:")
        say("   " + run.stderr[-1500:].replace("\n", "\n   "))


def run_main(main: Callable[[], int]) -> int:
    """A script's ``main()``; on Ctrl-C or SIGTERM (its ``finally`` blocks have stopped every child
    by then) one line and exit code 130 instead of a traceback."""
    try:
        return main()
    except KeyboardInterrupt:
        say("\ninterrupted: every process this script started has been stopped")
        return 130
