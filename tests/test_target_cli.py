"""The target's command line: the listening line, exit codes, start-up errors, restart."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from conftest import STOP_TIMEOUT, TargetProcess, free_port, http_json, http_request, target_command

LISTENING_LINE = re.compile(r"camstream-target listening on http://127\.0\.0\.1:(\d+)\n")
RTSP = "rtsp://127.0.0.1:9/stream"


def run_failing(*args: str, cwd: Path) -> str:
    """Run the target expecting a start-up failure: exit 2, one stderr line, no traceback."""
    done = subprocess.run(target_command(*args), capture_output=True, timeout=30, cwd=cwd, check=False)
    stderr = done.stderr.decode(errors="replace")
    assert done.returncode == 2, (done.returncode, stderr)
    assert done.stdout == b""
    assert "Traceback" not in stderr
    assert stderr.count("\n") == 1 and stderr.endswith("\n"), stderr
    assert stderr.startswith("camstream-target: ")
    return stderr


def test_listening_line_and_clean_exit(start_target) -> None:
    target = start_target()
    assert target.url == f"http://127.0.0.1:{target.port}" and target.port > 0
    assert http_json("GET", target.url + "/api/ping")[0] == 200
    target.proc.send_signal(signal.SIGTERM)
    assert target.proc.wait(STOP_TIMEOUT) == 0
    assert target.proc.stdout is not None and target.proc.stdout.read() == b""  # exactly one line
    assert target.stop() == 0  # idempotent
    assert target.stderr_file().read_bytes() == b""
    log = target.log_text()
    assert "listening on " + target.url in log and "stopped" in log


def test_sigint_also_exits_0(start_target) -> None:
    target = start_target()
    target.proc.send_signal(signal.SIGINT)
    assert target.proc.wait(STOP_TIMEOUT) == 0


def test_listening_line_format(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        target_command("--port", "0", "--data-dir", str(tmp_path / "d"), "--log-file", str(tmp_path / "l")),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        assert LISTENING_LINE.fullmatch(line), line
    finally:
        proc.terminate()
        proc.wait(STOP_TIMEOUT)
        if proc.stdout is not None:
            proc.stdout.close()


def test_binds_loopback_by_default(start_target) -> None:
    target = start_target()
    listening = [
        c.laddr
        for c in psutil.Process(target.proc.pid).net_connections(kind="tcp")
        if c.status == psutil.CONN_LISTEN
    ]
    assert [(addr.ip, addr.port) for addr in listening] == [("127.0.0.1", target.port)]


def test_fixed_port(start_target) -> None:
    port = free_port()
    target = start_target("", "--port", str(port))
    assert target.port == port
    assert http_json("GET", f"http://127.0.0.1:{port}/api/ping")[0] == 200


def test_console_script(tmp_path: Path) -> None:
    script = shutil.which("camstream-target", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("camstream-target console script not installed next to the interpreter")
    proc = subprocess.Popen(
        [script, "--port", "0", "--data-dir", str(tmp_path), "--log-file", str(tmp_path / "log")],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    try:
        assert proc.stdout is not None
        match = LISTENING_LINE.fullmatch(proc.stdout.readline().decode())
        assert match
        assert http_json("GET", f"http://127.0.0.1:{match[1]}/api/ping")[0] == 200
    finally:
        proc.terminate()
        assert proc.wait(STOP_TIMEOUT) == 0
        if proc.stdout is not None:
            proc.stdout.close()


def test_help(tmp_path: Path) -> None:
    done = subprocess.run(
        target_command("--help"), capture_output=True, timeout=30, cwd=tmp_path, check=False
    )
    assert done.returncode == 0
    for option in ("--port", "--data-dir", "--faults", "--log-file", "--seed", "--slow-seconds"):
        assert option.encode() in done.stdout


@pytest.mark.parametrize(
    "spec",
    ["bogus=1", "race=2", "race=-0.1", "race", "race=x", "race=nan", "=1", "race=0.1,race=0.2", "race=0.1,"],
)
def test_bad_faults_spec(tmp_path: Path, spec: str) -> None:
    stderr = run_failing("--port", "0", "--data-dir", str(tmp_path), "--faults", spec, cwd=tmp_path)
    assert "invalid --faults" in stderr
    assert not (tmp_path / "_data").exists()


def write_data_file(data_dir: Path, raw: bytes) -> None:
    (data_dir / "_data").mkdir(parents=True)
    (data_dir / "_data" / "cameras.json").write_bytes(raw)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"{",
        b'{"cameras": {}} trailing',
        b"[]",
        b'{"cameras": []}',
        b'{"cameras": {"c1": {"name": 5}}}',
        b'{"cameras": {"c1": {"inference_server_bindings": [{"threshold": 1' + b"0" * 400 + b"}]}}}",
        b'{"inference_servers": {"s": "x"}}',
        b'{"alert_server": {"enabled": "yes"}}',
        b'{"cameras": {"c": {"name": "\xff"}}}',
        b"[" * 100_000,
        b'{"cameras": {"c": {"name": NaN}}}',
    ],
    ids=[
        "empty",
        "truncated",
        "trailing-bytes",
        "array",
        "cameras-array",
        "wrong-type",
        "huge-number",
        "server-not-object",
        "alert-wrong-type",
        "not-utf8",
        "deep-nesting",
        "nan",
    ],
)
def test_invalid_data_file(tmp_path: Path, raw: bytes) -> None:
    write_data_file(tmp_path, raw)
    stderr = run_failing("--port", "0", "--data-dir", str(tmp_path), cwd=tmp_path)
    assert "invalid data file" in stderr and "cameras.json" in stderr
    assert (tmp_path / "_data" / "cameras.json").read_bytes() == raw  # left alone


def test_data_file_is_a_directory(tmp_path: Path) -> None:
    (tmp_path / "_data" / "cameras.json").mkdir(parents=True)
    assert "invalid data file" in run_failing("--port", "0", "--data-dir", str(tmp_path), cwd=tmp_path)


def test_data_dir_is_a_file(tmp_path: Path) -> None:
    bad = tmp_path / "file"
    bad.write_text("x")
    stderr = run_failing("--port", "0", "--data-dir", str(bad), cwd=tmp_path)
    assert "cannot use data directory" in stderr


def test_data_subdir_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "_data").write_text("x")
    stderr = run_failing("--port", "0", "--data-dir", str(tmp_path), cwd=tmp_path)
    assert "cannot use data directory" in stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write to a read-only directory")
def test_unwritable_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "ro" / "_data"
    data.mkdir(parents=True)
    data.chmod(0o555)
    try:
        stderr = run_failing("--port", "0", "--data-dir", str(tmp_path / "ro"), cwd=tmp_path)
    finally:
        data.chmod(0o755)
    assert "cannot use data directory" in stderr and "Permission denied" in stderr


def test_unopenable_log_file(tmp_path: Path) -> None:
    log = tmp_path / "missing-dir" / "target.log"
    stderr = run_failing("--port", "0", "--data-dir", str(tmp_path), "--log-file", str(log), cwd=tmp_path)
    assert "cannot open log file" in stderr


def test_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        stderr = run_failing("--port", str(port), "--data-dir", str(tmp_path), cwd=tmp_path)
    assert f"cannot listen on 127.0.0.1:{port}" in stderr


@pytest.mark.parametrize(
    "args", [["--port", "70000"], ["--port", "x"], ["--slow-seconds", "nan"], ["--seed", "x"], ["--nope"]]
)
def test_bad_arguments_are_usage_errors(tmp_path: Path, args: list[str]) -> None:
    done = subprocess.run(
        target_command("--port", "0", "--data-dir", str(tmp_path), *args),
        capture_output=True,
        timeout=30,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 2
    assert b"Traceback" not in done.stderr and b"usage:" in done.stderr


def test_restart_keeps_the_state(start_target) -> None:
    first = start_target()
    bindings = [{"server_id": "inf_k", "threshold": 0.25, "max_threshold": 0.75}]
    cam = {"name": "kept", "rtsp_url": RTSP, "inference_server_bindings": bindings}
    server = {"id": "inf_k", "name": "k", "url": "u"}
    assert http_json("POST", first.url + "/api/inference-servers", server)[0] == 201
    assert http_json("POST", first.url + "/api/cameras", cam)[0] == 201
    assert http_json("PUT", first.url + "/api/alert-server", {"url": "a", "enabled": True})[0] == 200
    exported = http_request("GET", first.url + "/api/config/export")[2]
    assert first.stop() == 0

    second: TargetProcess = start_target(data_dir=first.data_dir)
    assert second.port != 0
    assert http_request("GET", second.url + "/api/config/export")[2] == exported
    status, env, _raw = http_json("GET", second.url + "/api/cameras")
    assert status == 200 and env is not None
    assert [c["inference_server_bindings"] for c in env["data"]] == [bindings]
    assert json.loads(exported)["alert_server"]["url"] == "a"


def test_starts_from_a_hand_written_data_file(start_target, tmp_path: Path) -> None:
    data_dir = tmp_path / "hand"
    config = {"cameras": {"cam_h": {"name": "H", "rtsp_url": RTSP, "enabled": False, "running": True}}}
    write_data_file(data_dir, json.dumps(config).encode())
    target = start_target(data_dir=data_dir)
    status, env, raw = http_json("GET", target.url + "/api/cameras/cam_h")
    assert status == 200 and env is not None, raw
    assert env["data"]["id"] == "cam_h" and env["data"]["enabled"] is False
    status, env, _raw = http_json("GET", target.url + "/api/status")
    assert env is not None and env["data"]["data_file"] == str(target.data_file().absolute())
