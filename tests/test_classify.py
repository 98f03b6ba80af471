"""Table test of the failure classifier over realistic messages (pure)."""

import pytest

from camstream_locust.classify import (
    CATEGORIES,
    CONNECTION,
    HTTP_ERROR,
    JSON_ERROR,
    NIL_POINTER,
    OTHER,
    RACE_CONDITION,
    TIMEOUT,
    classify,
    parse_categories,
)

CASES = [
    # Go panics, as answered in a 500 body or in a log line
    (
        "HTTP 500 POST /api/cameras: internal server error runtime error: invalid memory address or nil pointer dereference",
        500,
        NIL_POINTER,
    ),
    (
        "panic: runtime error: invalid memory address or nil pointer dereference [signal SIGSEGV: segmentation violation code=0x1 addr=0x18 pc=0x6b4c2a]",
        0,
        NIL_POINTER,
    ),
    (
        "http: panic serving 127.0.0.1:51234: runtime error: invalid memory address or nil pointer dereference",
        0,
        NIL_POINTER,
    ),
    (
        'HTTP 500 GET /api/cameras/[id]: java.lang.NullPointerException: Cannot invoke "Camera.getName()"',
        500,
        NIL_POINTER,
    ),
    (
        "HTTP 500 PUT /api/cameras/[id]: AttributeError: 'NoneType' object has no attribute 'bindings'",
        500,
        NIL_POINTER,
    ),
    ("TypeError: 'NoneType' object is not subscriptable", 500, NIL_POINTER),
    ("null pointer dereference in camera manager", 500, NIL_POINTER),
    ("unexpected signal during runtime execution: SIGSEGV", 0, NIL_POINTER),
    # Races
    (
        "HTTP 500 POST /api/cameras: internal server error fatal error: concurrent map writes",
        500,
        RACE_CONDITION,
    ),
    ("fatal error: concurrent map read and map write", 500, RACE_CONDITION),
    ("fatal error: concurrent map iteration and map write", 500, RACE_CONDITION),
    ("WARNING: DATA RACE Write at 0x00c0001a2b40 by goroutine 42", 0, RACE_CONDITION),
    (
        "java.util.ConcurrentModificationException at java.util.HashMap$HashIterator.nextNode",
        500,
        RACE_CONDITION,
    ),
    ("RuntimeError: dictionary changed size during iteration", 500, RACE_CONDITION),
    ("race condition detected while saving config", 500, RACE_CONDITION),
    ("resurrection: camera lc-1 reappeared after an acknowledged delete", 0, RACE_CONDITION),
    ("lost update on inference server lc-2", 0, RACE_CONDITION),
    # Not races: words that only contain "race" or talk about stack traces
    ("HTTP 500 GET /api/status: see stack trace in server log", 500, HTTP_ERROR),
    ("HTTP 503 POST /api/cameras: server in shutdown grace period", 503, HTTP_ERROR),
    ("HTTP 400 PUT /api/cameras/[id]: Invalid request body trace_id=42", 400, HTTP_ERROR),
    ("embraced by the concurrency of the braces", 0, OTHER),
    # Timeouts
    ("RetriesExceeded('http://127.0.0.1:8080/api/cameras', 0, original=timed out)", 0, TIMEOUT),
    (
        "ReadTimeout: HTTPConnectionPool(host='127.0.0.1', port=8080): Read timed out. (read timeout=5)",
        0,
        TIMEOUT,
    ),
    ("ConnectTimeout: connection to 127.0.0.1 timed out", 0, TIMEOUT),
    ("context deadline exceeded (Client.Timeout exceeded while awaiting headers)", 0, TIMEOUT),
    ("HTTP 504 GET /api/cameras: Gateway Timeout", 504, TIMEOUT),
    # JSON
    ("bad JSON: Expecting value: line 1 column 1 (char 0) (GET /api/cameras)", 200, JSON_ERROR),
    (
        "bad JSON: Unterminated string starting at: line 1 column 256 (char 255) (PUT /api/cameras/[id])",
        200,
        JSON_ERROR,
    ),
    ("bad JSON: empty body (GET /api/status)", 200, JSON_ERROR),
    ("JSONDecodeError: Extra data: line 1 column 5 (char 4)", 200, JSON_ERROR),
    ("bad envelope: 'success' is missing or not a bool", 200, JSON_ERROR),
    ("unexpected end of JSON input", 200, JSON_ERROR),
    # Connection
    ("ConnectionRefusedError: [Errno 111] Connection refused", 0, CONNECTION),
    ("ConnectionResetError: [Errno 104] Connection reset by peer", 0, CONNECTION),
    ("HTTPConnectionClosed: connection closed.", 0, CONNECTION),
    ("RemoteDisconnected: Remote end closed connection without response", 0, CONNECTION),
    ("BrokenPipeError: [Errno 32] Broken pipe", 0, CONNECTION),
    # Plain HTTP errors
    ("HTTP 502 POST /api/inference-servers: 502 Bad Gateway", 502, HTTP_ERROR),
    ("HTTP 503 DELETE /api/cameras/[id]: 503 Service Unavailable", 503, HTTP_ERROR),
    ("CatchResponseError: unexpected answer", 418, HTTP_ERROR),
    ("bad data: camera lc-1 name 'a' != sent 'b'", 200, OTHER),
]


@pytest.mark.parametrize(("text", "status", "expected"), CASES, ids=[c[0][:50] for c in CASES])
def test_classify_table(text: str, status: int, expected: str) -> None:
    assert classify(text, status).category == expected


def test_table_is_large_and_covers_every_category() -> None:
    assert len(CASES) >= 30
    assert {expected for _, _, expected in CASES} == set(CATEGORIES)


@pytest.mark.parametrize(
    "text",
    [
        "HTTPConnectionClosed: connection closed.",
        "RemoteDisconnected: Remote end closed connection without response",
        "ConnectionResetError: [Errno 104] Connection reset by peer",
    ],
)
def test_connection_closed_without_answer_is_a_possible_panic(text: str) -> None:
    assert classify(text, 0).possible_panic


def test_refused_connection_is_not_a_possible_panic() -> None:
    found = classify("ConnectionRefusedError: [Errno 111] Connection refused", 0)
    assert found.category == CONNECTION and not found.possible_panic


def test_parse_categories() -> None:
    assert parse_categories("nil_pointer, race_condition") == {NIL_POINTER, RACE_CONDITION}
    with pytest.raises(ValueError, match="unknown categories"):
        parse_categories("nil_pointer,races")
