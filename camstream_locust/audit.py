"""What happens at quiesce, when load has stopped: the final read of every object and the checks.

- ``final_read`` lists cameras and inference servers once more and records what it sees as the
  last operation of each history this process keeps (the object's final state).
- ``check`` runs the linearizability checker over those histories.
- ``stable_state`` reads the API until two reads agree, so that comparisons with the data file
  or the config export are not fooled by a request the server was still finishing.

The state digests (``camera_state``/``server_state``) are what the history compares: the
fields the client controls, as the contract says the server must keep them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any, TypeVar

import gevent

from camstream_locust import api, contract, datafile, http
from camstream_locust.checker import Report, check_all
from camstream_locust.history import History, camera_digest, server_digest

#: Seconds the whole check may take at quiesce (objects past it are reported undecided).
CHECK_BUDGET_S = 10.0
#: Seconds one object's check may take.
CHECK_BUDGET_PER_OBJECT_S = 1.0
#: Reads of the API made to find a stable state, and the pause between them.
STABLE_READS = 6
STABLE_PAUSE_S = 0.5
#: Tries of one read at quiesce (a faulty server fails some of them).
READ_ATTEMPTS = 8
#: The end of a run takes at most this long plus 4 request timeouts per phase, even on a hung
#: server (each load process's quiesce is one phase, the owner's checks and cleanup another).
END_PHASE_S = 10.0

T = TypeVar("T")


#: Memo of state digests by client fields (a list repeats the same objects again and again).
_STATE_MEMO: dict[tuple[Any, ...], str] = {}
_STATE_MEMO_LIMIT = 20_000


def _memo(key: tuple[Any, ...], make: Callable[[], str]) -> str:
    state = _STATE_MEMO.get(key)
    if state is None:
        if len(_STATE_MEMO) >= _STATE_MEMO_LIMIT:
            _STATE_MEMO.clear()
        state = _STATE_MEMO[key] = make()
    return state


def camera_state(obj: Mapping[str, Any]) -> str:
    """The history's value of a camera: its name and rtsp_url (bindings left out: deleting a
    server rewrites them, so they are not the client's alone)."""
    name, url = obj.get("name"), obj.get("rtsp_url")
    return _memo(("c", name, url), lambda: camera_digest(name, url))


def server_state(obj: Mapping[str, Any]) -> str:
    """The history's value of an inference server: name, url, model_type, description."""
    fields = (obj.get("name"), obj.get("url"), obj.get("model_type"), obj.get("description"))
    return _memo(("s", *fields), lambda: server_digest(*fields))


#: (collection path, item validator, state function) per kind, cameras first.
KINDS: tuple[tuple[str, Callable[[Any], dict[str, Any]], Callable[[Mapping[str, Any]], str]], ...] = (
    (contract.CAMERAS, api.camera, camera_state),
    (contract.INFERENCE_SERVERS, api.server, server_state),
)


_end_phase_deadline = float("inf")


def end_phase_budget(request_timeout: float) -> float:
    """Seconds the end of a run may take, even against a hung server."""
    return END_PHASE_S + 4 * request_timeout


def start_end_phase(request_timeout: float) -> None:
    """From now on, the end-of-run reads stop retrying once ``end_phase_budget`` is spent."""
    global _end_phase_deadline
    _end_phase_deadline = time.monotonic() + end_phase_budget(request_timeout)


def end_phase_over() -> bool:
    """True once the end of the run has used its budget (a hung server must not hold it up)."""
    return time.monotonic() > _end_phase_deadline


def retrying(read: Callable[[], T], attempts: int = READ_ATTEMPTS) -> T:
    """``read()``, tried again after a failed answer while the end phase has time left; the last
    failure is raised."""
    for attempt in range(1, attempts + 1):
        try:
            return read()
        except (http.HttpProblem, api.Invalid) as exc:
            if attempt == attempts or end_phase_over() or (_timed_out(exc) and attempt >= 2):
                raise
            gevent.sleep(0.05)
    raise AssertionError("unreachable")


def _timed_out(exc: Exception) -> bool:
    """A read that got no answer in time: retried once only (a hung server stays hung)."""
    return getattr(exc, "timed_out", False)


def _listing(host: str, path: str, item: Callable[[Any], dict[str, Any]], timeout: float) -> list:
    answer = http.request(host, "GET", path, timeout=timeout)
    if answer.status != 200:
        raise api.Invalid(f"GET {path} answered HTTP {answer.status}")
    return api.listing(api.ok_envelope(answer.body), item)


def api_state(host: str, timeout: float) -> dict[str, Any]:
    """The server's cameras and inference servers as {table: {id: obj}}, each list read with retries."""
    state: dict[str, Any] = {}
    for table, (path, item, _state) in zip(("cameras", "inference_servers"), KINDS, strict=True):
        listed = retrying(lambda p=path, i=item: _listing(host, p, i, timeout))
        state[table] = {obj["id"]: obj for obj in listed}
    return state


def observed(
    objects: Iterable[Mapping[str, Any]], wanted: set[str] | frozenset[str], state: Callable
) -> dict:
    """{id: state} of the listed objects whose id is in ``wanted`` (the others cost nothing)."""
    return {obj["id"]: state(obj) for obj in objects if obj.get("id") in wanted}


def final_read(history: History, host: str, timeout: float, owned: Mapping[str, Iterable[str]]) -> str:
    """List each kind once and record it in ``history`` for the ids in ``owned[path]``.

    Returns "" or a one-line problem (the history is then checked without its final read).
    """
    problems = []
    for path, item, state in KINDS:
        ids = list(owned.get(path, ()))
        if not ids:
            continue
        for attempt in range(1, READ_ATTEMPTS + 1):
            started = history.clock()
            try:
                listed = _listing(host, path, item, timeout)
            except (http.HttpProblem, api.Invalid) as exc:
                if attempt == READ_ATTEMPTS or end_phase_over() or (_timed_out(exc) and attempt >= 2):
                    problems.append(str(exc))
                    break
                continue
            history.record_list(started, history.clock(), observed(listed, set(ids), state), ids)
            break
    return "; ".join(problems)


def check(history: History, skip: Collection[str] = ()) -> Report:
    """The linearizability check of every history held (``skip``: ids checked elsewhere)."""
    return check_all(history, CHECK_BUDGET_PER_OBJECT_S, total_budget_s=CHECK_BUDGET_S, skip=skip)


def stable_state(host: str, timeout: float) -> dict[str, Any]:
    """The API's state, read until two consecutive reads agree on every client field.

    Raises ``api.Invalid`` (or ``http.HttpProblem``) when it cannot be read or never settles.
    """
    previous = api_state(host, timeout)
    for _ in range(STABLE_READS):
        if end_phase_over():
            break
        gevent.sleep(STABLE_PAUSE_S)
        current = api_state(host, timeout)
        if datafile.client_view(current) == datafile.client_view(previous):
            return current
        previous = current
    raise api.Invalid(
        f"the server's state kept changing for {STABLE_READS * STABLE_PAUSE_S:.0f} s after the load"
    )


def compare_with_api(read_other: Callable[[], Mapping[str, Any]], host: str, timeout: float) -> list[str]:
    """Differences between another view of the store (data file, export) and a stable API state.

    The API is read before and after ``read_other``; when they differ, the server was still
    changing and the comparison is made again (a few times) rather than reported.
    """
    for _ in range(STABLE_READS):
        if end_phase_over():
            break
        before = stable_state(host, timeout)
        other = retrying(read_other)
        after = api_state(host, timeout)
        if datafile.client_view(before) == datafile.client_view(after):
            return datafile.differences(other, after)
    raise api.Invalid("the server's state kept changing while the comparison was made")
