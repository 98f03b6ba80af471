"""Dockerfile, .dockerignore and docker-compose.yml, checked without a Docker engine.

Structure: the image is the official Locust image at the version pyproject.toml pins, with this
package installed; compose has the target, a master with its web UI on 127.0.0.1 only, and
scalable workers; every environment variable compose sets is an option Locust or the suite knows.

Behaviour: ``compose_process`` turns a compose service (entrypoint or the image's ``locust``,
command, environment, volumes) into a local argv and environment, with the service hostnames
mapped to 127.0.0.1, ports to free loopback ports and named volumes to temporary folders. The
target, a headless master (the CI variant, switched on by environment as documented) and one
worker are then run from exactly those commands as plain processes.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import textwrap
import time
import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from camstream_locust import contract

REPO = Path(__file__).resolve().parents[1]
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
COMPOSE_FILE = REPO / "docker-compose.yml"
PYPROJECT = REPO / "pyproject.toml"
LOCUSTFILE_REL = "locustfiles/camstream.py"
LOCUSTFILE = REPO / LOCUSTFILE_REL

#: What the locustio/locust image runs when a service does not override its entrypoint.
IMAGE_ENTRYPOINT = ("locust",)
IMAGE_USER = "locust"
#: Locust's default master port, implied by the compose commands (workers find it by default).
MASTER_PORT = 5557
WEB_UI_PORT = 8089
LOOPBACK = "127.0.0.1"
SERVICES = ("target", "master", "worker")
#: The documented headless CI variant: `LOCUST_HEADLESS=true ... docker compose up --exit-code-from master`.
CI_ENVIRONMENT = {
    "LOCUST_HEADLESS": "true",
    "LOCUST_RUN_TIME": "6s",
    "LOCUST_USERS": "4",
    "LOCUST_SPAWN_RATE": "4",
    "LOCUST_EXPECT_WORKERS": "1",
    "LOCUST_EXPECT_WORKERS_MAX_WAIT": "30",
}
#: Exit codes of a completed run: clean, or concurrency findings.
COMPLETED = (0, 3)

needs_locustfile = pytest.mark.skipif(
    not LOCUSTFILE.is_file(), reason=f"{LOCUSTFILE_REL} does not exist (yet)"
)


# --- reading the files ---------------------------------------------------------------------------


def pinned_locust_version() -> str:
    dependencies = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["dependencies"]
    pins = [m.group(1) for d in dependencies if (m := re.fullmatch(r"\s*locust\s*==\s*([^\s;,]+)\s*", d))]
    assert len(pins) == 1, f"pyproject.toml must pin locust exactly once with ==, got {dependencies}"
    return pins[0]


def pyproject_locustfile() -> str:
    return tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["tool"]["locust"]["locustfile"]


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, arguments = (pending + line).partition(" ")
        instructions.append((keyword.upper(), " ".join(arguments.split())))
        pending = ""
    assert not pending, "the Dockerfile ends in a continuation line"
    return instructions


def instruction_args(keyword: str) -> list[str]:
    return [args for kw, args in dockerfile_instructions() if kw == keyword]


def image_workdir() -> str:
    workdirs = instruction_args("WORKDIR")
    assert workdirs, "the Dockerfile sets no WORKDIR"
    return workdirs[-1]


def load_compose() -> dict[str, Any]:
    with COMPOSE_FILE.open(encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    assert isinstance(data, dict) and isinstance(data.get("services"), dict)
    return data


_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))"
)


def interpolate(text: str, shell: Mapping[str, str]) -> str:
    """Compose's variable interpolation: $$, $VAR, ${VAR}, ${VAR:-d}, ${VAR-d}, ${VAR:?e}, ${VAR:+r}."""

    def substitute(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name = match["braced"] or match["plain"]
        value, op, arg = shell.get(name), match["op"], match["arg"] or ""
        is_set = value is not None
        non_empty = bool(value)
        if op in (":-", "-"):
            return value if (non_empty if op == ":-" else is_set) else arg  # type: ignore[return-value]
        if op in (":?", "?"):
            if not (non_empty if op == ":?" else is_set):
                raise ValueError(f"compose needs {name}: {arg}")
            return value  # type: ignore[return-value]
        if op in (":+", "+"):
            return arg if (non_empty if op == ":+" else is_set) else ""
        return value or ""

    return _VARIABLE.sub(substitute, text)


def interpolated(node: Any, shell: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, shell)
    if isinstance(node, list):
        return [interpolated(item, shell) for item in node]
    if isinstance(node, dict):
        return {key: interpolated(value, shell) for key, value in node.items()}
    return node


def as_argv(value: str | list[Any] | None) -> list[str]:
    if value is None:
        return []
    return shlex.split(value) if isinstance(value, str) else [str(item) for item in value]


def service_environment(service: Mapping[str, Any], shell: Mapping[str, str]) -> dict[str, str]:
    """The container's variables: NAME=value entries, and bare NAMEs passed on only when set in the shell."""
    declared = service.get("environment") or {}
    pairs: list[tuple[str, str | None]] = []
    if isinstance(declared, dict):
        pairs = [(k, None if v is None else str(v)) for k, v in declared.items()]
    else:
        for entry in declared:
            name, sep, value = str(entry).partition("=")
            pairs.append((name, value if sep else None))
    env: dict[str, str] = {}
    for name, value in pairs:
        if value is None:
            if name in shell:
                env[name] = shell[name]
        else:
            env[name] = value
    return env


def declared_env_names(service: Mapping[str, Any]) -> list[str]:
    declared = service.get("environment") or {}
    if isinstance(declared, dict):
        return list(declared)
    return [str(entry).partition("=")[0] for entry in declared]


@dataclass(frozen=True)
class Port:
    host_ip: str
    published: str
    target: int


def published_ports(service: Mapping[str, Any]) -> list[Port]:
    """Both port syntaxes; a host port without an address (or 0.0.0.0, ::) means every interface."""
    ports: list[Port] = []
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            ports.append(
                Port(str(entry.get("host_ip", "")), str(entry.get("published", "")), int(entry["target"]))
            )
            continue
        spec = str(entry).split("/")[0]
        if spec.startswith("["):
            address, _, rest = spec[1:].partition("]:")
            published, _, target = rest.partition(":")
            ports.append(Port(address, published, int(target)))
            continue
        parts = spec.split(":")
        if len(parts) == 1:
            ports.append(Port("", "", int(parts[0])))
        elif len(parts) == 2:
            ports.append(Port("", parts[0], int(parts[1])))
        else:
            ports.append(Port(":".join(parts[:-2]), parts[-2], int(parts[-1])))
    return ports


@dataclass(frozen=True)
class Mount:
    source: str
    target: str
    read_only: bool


def mounts(service: Mapping[str, Any]) -> list[Mount]:
    result: list[Mount] = []
    for entry in service.get("volumes") or []:
        if isinstance(entry, dict):
            result.append(Mount(str(entry["source"]), str(entry["target"]), bool(entry.get("read_only"))))
            continue
        source, target, *mode = str(entry).split(":")
        result.append(Mount(source, target, "ro" in ",".join(mode).split(",")))
    return result


# --- compose service -> local process ------------------------------------------------------------


@dataclass
class LocalMapping:
    """Where the compose network and volumes live when the services run as local processes."""

    root: Path
    #: container port -> free loopback port (the same for every service, as on the compose network)
    ports: dict[int, int] = field(default_factory=dict)

    def port(self, container_port: int) -> int:
        if container_port not in self.ports:
            self.ports[container_port] = free_port()
        return self.ports[container_port]

    def volume(self, name: str) -> Path:
        path = self.root / "volumes" / name
        path.mkdir(parents=True, exist_ok=True)
        return path


PORT_FLAGS = ("--port", "--master-port", "--master-bind-port", "--web-port")
_URL_AUTHORITY = re.compile(r"(?P<scheme>[a-z]+://)(?P<host>[A-Za-z0-9_.-]+):(?P<port>\d+)")


def compose_process(
    name: str, compose: Mapping[str, Any], shell: Mapping[str, str], mapping: LocalMapping
) -> tuple[list[str], dict[str, str]]:
    """The argv and environment variables that run compose service `name` as a local process.

    The image's ENTRYPOINT (`locust`) applies where the service does not set its own; service
    hostnames and the 0.0.0.0 bind address become 127.0.0.1, container ports free loopback ports,
    named-volume paths temporary folders, and the implied master/web UI bindings explicit loopback ones.
    """
    service = interpolated(compose["services"][name], shell)
    argv = [*(as_argv(service.get("entrypoint")) or IMAGE_ENTRYPOINT), *as_argv(service.get("command"))]
    env = service_environment(service, shell)
    localize = _localizer(service, compose, mapping)
    argv = [localize(arg, previous) for previous, arg in zip([None, *argv[:-1]], argv, strict=True)]
    env = {key: localize(value, None) for key, value in env.items()}

    if argv[0] == "locust":
        argv[0] = executable("locust")
        if "--master" in argv:
            argv += ["--master-bind-host", LOOPBACK, "--master-bind-port", str(mapping.port(MASTER_PORT))]
            argv += ["--web-host", LOOPBACK, "--web-port", str(mapping.port(WEB_UI_PORT))]
        if "--worker" in argv:
            argv += ["--master-port", str(mapping.port(MASTER_PORT))]
    elif argv[0] == "python":
        argv[0] = sys.executable
    return argv, env


def healthcheck_process(name: str, compose: Mapping[str, Any], mapping: LocalMapping) -> list[str]:
    service = compose["services"][name]
    test = as_argv(service["healthcheck"]["test"])
    assert test[0] == "CMD", f"{name}'s healthcheck must be an exec-form CMD (the image has no curl): {test}"
    localize = _localizer(service, compose, mapping)
    argv = [localize(arg, None) for arg in test[1:]]
    if argv[0] == "python":
        argv[0] = sys.executable
    return argv


def _localizer(
    service: Mapping[str, Any], compose: Mapping[str, Any], mapping: LocalMapping
) -> Callable[[str, str | None], str]:
    hosts = {*compose["services"], "localhost", LOOPBACK, "0.0.0.0"}
    paths = {m.target: mapping.volume(m.source) for m in mounts(service)}

    def localize(value: str, previous: str | None) -> str:
        if previous in PORT_FLAGS and value.isdigit():
            return str(mapping.port(int(value)))
        if value in hosts:
            return LOOPBACK
        for mount_point, local in paths.items():
            if value == mount_point or value.startswith(mount_point + "/"):
                return str(local) + value[len(mount_point) :]

        def authority(match: re.Match[str]) -> str:
            if match["host"] not in hosts:
                return match[0]
            return f"{match['scheme']}{LOOPBACK}:{mapping.port(int(match['port']))}"

        return _URL_AUTHORITY.sub(authority, value)

    return localize


def executable(name: str) -> str:
    beside = Path(sys.executable).with_name(name)
    found = str(beside) if beside.exists() else shutil.which(name)
    assert found, f"{name} is not installed next to {sys.executable} nor on PATH"
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def parser_env_vars(with_locustfile: bool) -> dict[str, list[str]]:
    """Env var -> option strings of Locust's parser, with the locustfile's options registered or not."""
    script = textwrap.dedent(
        """
        import importlib.util, json, sys
        if sys.argv[1]:
            spec = importlib.util.spec_from_file_location("camstream_locustfile", sys.argv[1])
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        from locust.argument_parser import get_parser
        parser = get_parser(default_config_files=[])
        actions = [a for a in parser._actions if getattr(a, "env_var", None)]
        print(json.dumps({a.env_var: a.option_strings for a in actions}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(LOCUSTFILE) if with_locustfile else ""],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env=clean_environment(),
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def clean_environment() -> dict[str, str]:
    """This process's environment without any LOCUST_*/CAMSTREAM_* setting that would leak into a run."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOCUST_", "CAMSTREAM_"))}
    env["PYTHONUNBUFFERED"] = "1"
    return env


# --- Dockerfile and .dockerignore ----------------------------------------------------------------


def test_dockerfile_is_based_on_the_pinned_locust_image() -> None:
    froms = instruction_args("FROM")
    assert froms == [f"locustio/locust:{pinned_locust_version()}"], froms


def test_dockerfile_installs_this_package_and_runs_as_locust() -> None:
    instructions = dockerfile_instructions()
    workdir = image_workdir()
    copies = [args.split() for kw, args in instructions if kw == "COPY"]
    assert [".", workdir] in copies, f"the project must be copied to the WORKDIR {workdir}: {copies}"
    runs = [args for kw, args in instructions if kw == "RUN"]
    assert any(re.search(rf"pip install (--no-cache-dir )?{re.escape(workdir)}(\s|$)", r) for r in runs), runs

    users = [(index, args) for index, (kw, args) in enumerate(instructions) if kw == "USER"]
    install = next(i for i, (kw, args) in enumerate(instructions) if kw == "RUN" and "pip install" in args)
    assert any(args == "root" and index < install for index, args in users), "pip must run as root"
    assert users[-1][1] == IMAGE_USER, "the image must end up running as the base image's `locust` user"
    assert not instruction_args("ENTRYPOINT"), (
        "the base image's ENTRYPOINT (locust) is what compose relies on"
    )
    assert not instruction_args("CMD")


def test_dockerfile_makes_the_volume_mount_points_writable_for_locust() -> None:
    """Fresh named volumes copy the mount point's owner: /data and /logs must belong to `locust`."""
    compose = load_compose()
    mount_points = {
        m.target for name in SERVICES for m in mounts(compose["services"][name]) if not m.read_only
    }
    assert mount_points, "the target keeps its data and log on named volumes"
    runs = " && ".join(instruction_args("RUN"))
    for path in mount_points:
        assert re.search(rf"mkdir -p [^&]*{re.escape(path)}(\s|$)", runs), f"{path} is not created"
        assert re.search(rf"chown {IMAGE_USER}(:\S+)? [^&]*{re.escape(path)}(\s|$)", runs), (
            f"{path} not chowned"
        )


def dockerignore_patterns() -> list[str]:
    lines = DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def is_ignored(relpath: str, patterns: Sequence[str]) -> bool:
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        glob = pattern.lstrip("!").strip("/")
        candidates = [glob, glob.removeprefix("**/")]
        parts = relpath.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch.fnmatchcase(p, c) for p in prefixes for c in candidates) or (
            glob.startswith("**/") and any(fnmatch.fnmatchcase(part, glob[3:]) for part in parts)
        ):
            ignored = not negate
    return ignored


def test_dockerignore_keeps_what_the_build_needs() -> None:
    patterns = dockerignore_patterns()
    readme = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"].get("readme", "README.md")
    for needed in (
        "pyproject.toml",
        readme,
        "camstream_locust/__init__.py",
        "camstream_locust/target/app.py",
        LOCUSTFILE_REL,
    ):
        assert not is_ignored(needed, patterns), f".dockerignore drops {needed}, which the image needs"
    for junk in (
        ".git/config",
        ".venv/bin/python",
        "camstream_locust/__pycache__/x.pyc",
        "artifacts/report.html",
    ):
        assert is_ignored(junk, patterns), f".dockerignore should keep {junk} out of the build context"


# --- docker-compose.yml: structure ---------------------------------------------------------------


def test_compose_has_target_master_and_workers_from_the_image_built_here() -> None:
    services = load_compose()["services"]
    assert set(services) == set(SERVICES)
    images = {services[name].get("image") for name in SERVICES}
    assert len(images) == 1 and None not in images, f"one image for every service: {images}"
    for name in SERVICES:
        build = services[name].get("build")
        context = build if isinstance(build, str) else (build or {}).get("context")
        assert context and (COMPOSE_FILE.parent / context).resolve() == REPO, f"{name} must build this repo"
        if isinstance(build, dict) and "dockerfile" in build:
            assert build["dockerfile"] == "Dockerfile"
        assert "profiles" not in services[name], "`docker compose up` starts all three (headless is by env)"
        assert "working_dir" not in services[name], "the image's WORKDIR holds pyproject's [tool.locust]"
        assert "user" not in services[name]


def test_target_service_runs_the_reference_server_on_named_volumes() -> None:
    compose = load_compose()
    target = compose["services"]["target"]
    assert as_argv(target["entrypoint"]) == ["python", "-m", "camstream_locust.target"]
    command = as_argv(target["command"])
    options = dict(zip(command[::2], command[1::2], strict=True))
    assert options["--host"] == "0.0.0.0", "reachable from the other containers"
    assert options["--port"] == str(contract.DEFAULT_PORT)
    assert published_ports(target) == [], "the target is reached over the compose network only"
    volumes = {m.target: m for m in mounts(target)}
    assert options["--data-dir"] in volumes, "the store lives on a named volume"
    log_dir = str(Path(options["--log-file"]).parent)
    assert log_dir in volumes and log_dir != options["--data-dir"], "the log lives on its own shared volume"
    for mount in volumes.values():
        assert mount.source in (compose.get("volumes") or {}), (
            f"{mount.source} is not a declared named volume"
        )
        assert not mount.read_only

    health = as_argv(target["healthcheck"]["test"])
    assert health[:3] == ["CMD", "python", "-c"] and "urllib.request" in health[3], health
    assert f"127.0.0.1:{contract.DEFAULT_PORT}{contract.PING}" in health[3]


def test_master_service_web_ui_on_loopback_and_aimed_at_the_target() -> None:
    compose = load_compose()
    master = compose["services"]["master"]
    assert "entrypoint" not in master, "the master runs the image's `locust`"
    command = as_argv(master["command"])
    assert command[:2] == ["-f", LOCUSTFILE_REL] and pyproject_locustfile() == LOCUSTFILE_REL
    assert "--master" in command and "--headless" not in command, "headless is switched on by LOCUST_HEADLESS"
    assert (
        command[command.index("--host") + 1] == f"${{CAMSTREAM_HOST:-http://target:{contract.DEFAULT_PORT}}}"
    )
    assert interpolate(command[command.index("--host") + 1], {}) == f"http://target:{contract.DEFAULT_PORT}"
    own = "http://host.docker.internal:8080"
    assert interpolate(command[command.index("--host") + 1], {"CAMSTREAM_HOST": own}) == own
    assert "host.docker.internal:host-gateway" in master.get("extra_hosts", []), "needed on Linux"

    assert published_ports(master) == [Port(LOOPBACK, str(WEB_UI_PORT), WEB_UI_PORT)]
    assert master["depends_on"] == {"target": {"condition": "service_healthy"}}


def test_master_follows_the_target_log_on_the_shared_volume() -> None:
    compose = load_compose()
    services = compose["services"]
    target_command = as_argv(services["target"]["command"])
    log_file = target_command[target_command.index("--log-file") + 1]
    target_volume = next(m.source for m in mounts(services["target"]) if log_file.startswith(m.target + "/"))
    master_mounts = [m for m in mounts(services["master"]) if m.source == target_volume]
    assert len(master_mounts) == 1 and master_mounts[0].read_only, "the master reads the log volume read-only"
    relative = Path(log_file).relative_to(
        next(m.target for m in mounts(services["target"]) if m.source == target_volume)
    )
    expected = f"{master_mounts[0].target}/{relative}"
    assert service_environment(interpolated(services["master"], {}), {})["CAMSTREAM_SERVER_LOG"] == expected
    off = service_environment(interpolated(services["master"], {"CAMSTREAM_SERVER_LOG": ""}), {})
    assert off["CAMSTREAM_SERVER_LOG"] == "", "CAMSTREAM_SERVER_LOG= must turn it off (own server)"


def test_master_reads_the_target_data_file_on_the_shared_volume() -> None:
    services = load_compose()["services"]
    target_command = as_argv(services["target"]["command"])
    data_dir = target_command[target_command.index("--data-dir") + 1]
    data_volume = next(m.source for m in mounts(services["target"]) if m.target == data_dir)
    master_mounts = [m for m in mounts(services["master"]) if m.source == data_volume]
    assert len(master_mounts) == 1 and master_mounts[0].read_only, "the suite never writes the data file"
    expected = f"{master_mounts[0].target}/_data/cameras.json"
    assert service_environment(interpolated(services["master"], {}), {})["CAMSTREAM_DATA_FILE"] == expected
    off = service_environment(interpolated(services["master"], {"CAMSTREAM_DATA_FILE": ""}), {})
    assert off["CAMSTREAM_DATA_FILE"] == "", "CAMSTREAM_DATA_FILE= must turn it off (own server)"


def test_worker_service_is_scalable() -> None:
    services = load_compose()["services"]
    worker = services["worker"]
    assert "entrypoint" not in worker
    command = as_argv(worker["command"])
    assert command[:2] == ["-f", LOCUSTFILE_REL]
    assert "--worker" in command and command[command.index("--master-host") + 1] == "master"
    assert "container_name" not in worker and "ports" not in worker, "`--scale worker=N` needs neither"
    assert "deploy" not in worker, "the replica count comes from --scale"
    depends = worker["depends_on"]
    assert "master" in (depends if isinstance(depends, list) else list(depends))
    assert "host.docker.internal:host-gateway" in worker.get("extra_hosts", [])


def test_no_port_is_published_beyond_loopback() -> None:
    services = load_compose()["services"]
    for name in SERVICES:
        for port in published_ports(services[name]):
            assert port.host_ip == LOOPBACK and port.published, f"{name} publishes {port} beyond 127.0.0.1"


def test_compose_environment_names_locust_options() -> None:
    known = parser_env_vars(with_locustfile=False)
    services = load_compose()["services"]
    for name in SERVICES:
        for var in declared_env_names(services[name]):
            if var.startswith("LOCUST_"):
                assert var in known, f"{name}: {var} is not a Locust {pinned_locust_version()} option"
    for var in CI_ENVIRONMENT:
        assert var in declared_env_names(services["master"]), (
            f"the headless variant needs {var} on the master"
        )
        assert var in known


@needs_locustfile
def test_compose_environment_names_suite_options() -> None:
    """Every CAMSTREAM_* variable compose hands to Locust is an option the locustfile registers."""
    known = parser_env_vars(with_locustfile=True)
    services = load_compose()["services"]
    for name in ("master", "worker"):
        for var in declared_env_names(services[name]):
            if var.startswith("CAMSTREAM_"):
                assert var in known, f"{name}: {var} is no option of {LOCUSTFILE_REL} (it would be ignored)"


def test_docker_compose_config_when_available() -> None:
    """`docker compose config` parses without an engine; this machine may lack the compose plugin."""
    docker = shutil.which("docker")
    version = docker and subprocess.run([docker, "compose", "version"], capture_output=True, timeout=30)
    if not version or version.returncode != 0:
        pytest.skip("the `docker compose` plugin is not installed")
    for shell in ({}, CI_ENVIRONMENT):
        done = subprocess.run(
            [docker, "compose", "-f", str(COMPOSE_FILE), "config", "-q"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
            env={**clean_environment(), **shell},
        )
        assert done.returncode == 0, done.stderr


# --- the compose commands as local processes -----------------------------------------------------


def test_compose_process_mapping(tmp_path: Path) -> None:
    """The mapping itself: hostnames, ports and volumes as the process test uses them."""
    compose = load_compose()
    mapping = LocalMapping(tmp_path)
    argv, _ = compose_process("target", compose, {}, mapping)
    port = mapping.ports[contract.DEFAULT_PORT]
    assert argv[:3] == [sys.executable, "-m", "camstream_locust.target"]
    assert argv[argv.index("--host") + 1] == LOOPBACK and argv[argv.index("--port") + 1] == str(port)
    assert argv[argv.index("--data-dir") + 1] == str(tmp_path / "volumes" / "target-data")
    argv, env = compose_process("master", compose, CI_ENVIRONMENT, mapping)
    assert argv[argv.index("--host") + 1] == f"http://{LOOPBACK}:{port}"
    assert env["LOCUST_HEADLESS"] == "true" and env["CAMSTREAM_SERVER_LOG"] == str(
        tmp_path / "volumes" / "target-logs" / "target.log"
    )
    own = compose_process("master", compose, {"CAMSTREAM_HOST": "http://cams.example:9000"}, mapping)[0]
    assert own[own.index("--host") + 1] == "http://cams.example:9000", "a user's own host is left alone"
    argv, _ = compose_process("worker", compose, {}, mapping)
    assert argv[argv.index("--master-host") + 1] == LOOPBACK
    assert argv[argv.index("--master-port") + 1] == str(mapping.ports[MASTER_PORT])


class Process:
    """A started service with its output in a file; always stopped by `stop`."""

    def __init__(self, name: str, argv: list[str], env: Mapping[str, str], logs: Path) -> None:
        self.name = name
        self.output = logs / f"{name}.out"
        with self.output.open("wb") as sink:
            self.popen = subprocess.Popen(
                argv, cwd=REPO, env={**clean_environment(), **env}, stdout=sink, stderr=subprocess.STDOUT
            )

    def text(self) -> str:
        return self.output.read_text(encoding="utf-8", errors="replace")

    def wait_for(self, needle: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.text():
            assert self.popen.poll() is None, f"{self.name} exited {self.popen.returncode}:\n{self.text()}"
            assert time.monotonic() < deadline, f"{self.name}: no {needle!r} after {timeout}s:\n{self.text()}"
            time.sleep(0.1)

    def wait(self, timeout: float) -> int:
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{self.name} still running after {timeout}s:\n{self.text()[-4000:]}")

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=15)


@pytest.fixture
def processes() -> Iterator[list[Process]]:
    started: list[Process] = []
    try:
        yield started
    finally:
        for process in reversed(started):
            process.stop()


@needs_locustfile
def test_compose_commands_run_as_local_processes(tmp_path: Path, processes: list[Process]) -> None:
    """target, the headless (CI) master and one worker, from exactly the compose commands."""
    compose = load_compose()
    mapping = LocalMapping(tmp_path)
    logs = tmp_path / "out"
    logs.mkdir()

    argv, env = compose_process("target", compose, CI_ENVIRONMENT, mapping)
    target = Process("target", argv, env, logs)
    processes.append(target)
    target.wait_for("camstream-target listening on http://127.0.0.1:", timeout=30)
    health = subprocess.run(healthcheck_process("target", compose, mapping), capture_output=True, timeout=30)
    assert health.returncode == 0, f"the target's healthcheck fails: {health.stderr!r}"

    argv, env = compose_process("master", compose, CI_ENVIRONMENT, mapping)
    master = Process("master", argv, env, logs)
    processes.append(master)
    argv, env = compose_process("worker", compose, CI_ENVIRONMENT, mapping)
    worker = Process("worker", argv, env, logs)
    processes.append(worker)

    master_code = master.wait(timeout=150)
    output = master.text()
    assert master_code in COMPLETED, (
        f"master exited {master_code}:\n{output[-6000:]}\n{worker.text()[-3000:]}"
    )
    assert "1 workers connected" in output, output[-6000:]
    assert "Response time percentiles" in output, "Locust's summary is missing:\n" + output[-6000:]
    assert "All users spawned" in output
    totals = re.findall(r"^\s+Aggregated\s+(\d+)\s", output, flags=re.MULTILINE)
    assert totals and int(totals[-1]) > 0, "the worker sent no request to the target:\n" + output[-6000:]
    worker_code = worker.wait(timeout=30)
    assert worker_code in COMPLETED, f"worker exited {worker_code}:\n{worker.text()[-4000:]}"

    assert target.popen.poll() is None, f"the target died during the run:\n{target.text()}"
    target_command = as_argv(compose["services"]["target"]["command"])
    log_file = Path(target_command[target_command.index("--log-file") + 1])
    volume = next(m.source for m in mounts(compose["services"]["target"]) if str(log_file.parent) == m.target)
    log_text = (mapping.volume(volume) / log_file.name).read_text(encoding="utf-8")
    assert "camstream-target listening on" in log_text, "the target's log is not on the shared volume"
    target.stop()
    assert target.popen.returncode == 0, target.text()
