"""Classify a failure's text into one error category (pure; no Locust, no network).

The original tool searched its own exception texts for "race" or "nil pointer" and so
counted "stack trace" as a race and missed every real one. Here each category is a set of
real signatures from Go, Java and Python servers, matched on word boundaries, tried in
order of severity: the first category whose signature matches wins.
"""

from __future__ import annotations

import re
from typing import NamedTuple

NIL_POINTER = "nil_pointer"
RACE_CONDITION = "race_condition"
TIMEOUT = "timeout"
HTTP_ERROR = "http_error"
JSON_ERROR = "json_error"
CONNECTION = "connection"
OTHER = "other"

#: Every category, in the order the report lists them.
CATEGORIES = (NIL_POINTER, RACE_CONDITION, TIMEOUT, HTTP_ERROR, JSON_ERROR, CONNECTION, OTHER)

_SIGNATURES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (category, re.compile("|".join(patterns), re.IGNORECASE))
    for category, patterns in (
        (
            NIL_POINTER,
            (
                r"\bnil pointer\b",
                r"\binvalid memory address\b",
                r"\bnull pointer\b",
                r"\bNullPointerException\b",
                r"'NoneType' object (has no attribute|is not subscriptable|is not iterable)",
                r"\bSIGSEGV\b",
                r"\bsegmentation (fault|violation)\b",
            ),
        ),
        (
            RACE_CONDITION,
            (
                r"\bconcurrent map (writes|read and map write|iteration and map write)\b",
                r"\bDATA RACE\b",
                r"\brace (condition|detected)\b",
                r"\bConcurrentModificationException\b",
                r"\b(dictionary|set) changed size during iteration\b",
                r"\bresurrect(ed|ion)\b",
                r"\blost (update|create|write)\b",
                r"\bdouble delete\b",
                r"\bstale read\b",
            ),
        ),
        (
            TIMEOUT,
            (
                r"\btimed out\b",
                r"\btime ?out\b",
                r"\bTimeoutError\b",
                r"\bReadTimeout\b",
                r"\bConnectTimeout\b",
                r"\bdeadline exceeded\b",
            ),
        ),
        (
            JSON_ERROR,
            (
                r"\bJSONDecodeError\b",
                r"\binvalid JSON\b",
                r"\bbad (JSON|envelope)\b",
                r"\bExpecting (value|property name|',' delimiter|':' delimiter)\b",
                r"\bUnterminated string\b",
                r"\bExtra data\b",
                r"\bunexpected end of JSON\b",
            ),
        ),
        (
            CONNECTION,
            (
                r"\bconnection (refused|reset|aborted|closed)\b",
                r"\bConnection(Refused|Reset|Aborted)Error\b",
                r"\bHTTPConnectionClosed\b",
                r"\bRemoteDisconnected\b",
                r"\bbroken pipe\b",
                r"\bclosed (the )?connection without (a )?response\b",
                r"\bEOF occurred\b",
                r"\bName or service not known\b",
            ),
        ),
        (
            HTTP_ERROR,
            (
                r"\bHTTP [1-5]\d\d\b",
                r"\bLocustBadStatusCode\b",
                r"\bHTTPError\b",
                r"\bstatus(_code)?[ =:]+[45]\d\d\b",
            ),
        ),
    )
)

#: The connection was closed or reset after the request was sent and before any answer:
#: what Go's net/http does when a handler panics.
_NO_RESPONSE = re.compile(
    r"\bHTTPConnectionClosed\b|\bRemoteDisconnected\b|\bConnectionResetError\b|\bconnection (reset|closed)\b"
    r"|\bwithout (a )?response\b|\bIncompleteRead\b",
    re.IGNORECASE,
)


class Classification(NamedTuple):
    category: str
    #: A connection dropped mid-request without an answer: perhaps a panicking handler.
    possible_panic: bool = False


def classify(text: str, status: int | None = None) -> Classification:
    """Category of a failure, from its message (exception name and text) and HTTP status.

    ``status`` is 0 or None when no HTTP answer arrived.
    """
    for category, pattern in _SIGNATURES:
        if pattern.search(text):
            if category == CONNECTION:
                return Classification(CONNECTION, bool(_NO_RESPONSE.search(text)))
            return Classification(category)
    if status and status >= 400:
        return Classification(HTTP_ERROR)
    return Classification(OTHER)


def parse_categories(spec: str) -> frozenset[str]:
    """Parse a comma list of category names; raise ValueError naming any unknown one."""
    names = {name.strip() for name in spec.split(",") if name.strip()}
    unknown = names - set(CATEGORIES)
    if unknown:
        raise ValueError(f"unknown categories {sorted(unknown)}; choose from {', '.join(CATEGORIES)}")
    return frozenset(names)
