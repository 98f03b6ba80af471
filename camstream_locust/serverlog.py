"""Read a server's own log: panics, fatal errors and race reports become findings (pure; no gevent).

``LogParser`` turns log lines into ``Report``s: Go panics (`panic: ...`, `http: panic serving
ADDR: ...`), Go fatal errors (`fatal error: concurrent map writes`, ...), Go race-detector
blocks (`WARNING: DATA RACE` up to the closing `==================`), Python tracebacks and
Java exceptions, interleaved with ordinary log lines. Lines may carry a docker-compose
(`svc-1  | `), RFC 3339 (docker -t, kubectl, CRI), syslog/journald or Go log
(`2026/12/03 21:40:16[.micro] `) prefix; the first timestamp found dates the report.

A report's signature is its kind, its normalised error line and its top frames in the
server's own code (not the Go runtime, the standard library or module-cache dependencies),
so goroutine ids, addresses, arguments and `+0x` offsets do not split one bug in many.
``ServerLogFindings`` counts reports by signature; it is mergeable like findings.Findings.
"""

from __future__ import annotations

import bisect
import re
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from camstream_locust.classify import NIL_POINTER, RACE_CONDITION, classify

PANIC = "panic"
#: The categories a server-log finding can have.
CATEGORIES = (NIL_POINTER, RACE_CONDITION, PANIC)

GO_PANIC = "go_panic"
GO_FATAL = "go_fatal"
DATA_RACE = "data_race"
JAVA_EXCEPTION = "java_exception"
PYTHON_EXCEPTION = "python_exception"
#: Kinds after which a server drops connections without an answer (a panicking Go
#: handler closes its connection; a fatal error kills the process).
DROPPING_KINDS = frozenset({GO_PANIC, GO_FATAL})

#: Own frames per signature (per side for a race).
SIGNATURE_FRAMES = 3
#: Frames kept per stack while parsing.
FRAME_LIMIT = 64
#: Text kept per report while parsing; later lines are counted, not kept.
TEXT_LINE_LIMIT = 400
TEXT_CHAR_LIMIT = 64 * 1024
#: A race block longer than this is cut (its closing line was probably lost).
RACE_LINE_LIMIT = 1000
MESSAGE_LIMIT = 300
EXAMPLE_LIMIT = 8 * 1024
#: Distinct signatures kept; more are counted in one "(other signatures)" row per category.
SIGNATURE_LIMIT = 1000
#: Times of connection-dropping reports kept for linking with dropped connections.
PANIC_TIMES_LIMIT = 10_000


@dataclass(frozen=True)
class Report:
    """One panic, fatal error, race or exception read from the log."""

    kind: str  # GO_PANIC, GO_FATAL, DATA_RACE, JAVA_EXCEPTION, PYTHON_EXCEPTION
    category: str  # NIL_POINTER, RACE_CONDITION or PANIC
    message: str  # the error line, e.g. "panic: runtime error: index out of range [3] with length 3"
    signature: str
    frames: tuple[str, ...]  # the own frames in the signature, innermost first
    text: str  # the report as logged (capped)
    time: float  # epoch seconds: the first line's timestamp, else when it was read
    truncated: bool = False  # cut short (rotation, EOF, the next report, a lost line)


# --- line prefixes --------------------------------------------------------------------------

_COMPOSE = re.compile(r"\w[\w.-]*\s+\| ")
_ISO = re.compile(r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:[.,](\d+))?(Z|[+-]\d\d:?\d\d)? ")
_CRI = re.compile(r"(?:stdout|stderr) [FP] ")
_JOURNAL_IDENT = re.compile(r"\S+ [^\s\[\]:]+\[\d+\]: ")
_SYSLOG = re.compile(r"([A-Z][a-z]{2}) ([ \d]\d) (\d\d):(\d\d):(\d\d) ")
_SYSLOG_IDENT = re.compile(r"\S+ [^\s\[\]:]+(?:\[\d+\])?: ")
_GO_PREFIX = re.compile(r"(\d{4})/(\d\d)/(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))? (?:[\w./-]+\.go:\d+: )?")
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTHS = {name: number for number, name in enumerate(_MONTH_NAMES, 1)}


def _epoch(parts: Sequence[str | int], fraction: str | None, tz: timezone | None) -> float | None:
    try:
        stamp = datetime(*(int(p) for p in parts), tzinfo=tz)  # type: ignore[misc]
    except ValueError:
        return None
    micro = int((fraction + "000000")[:6]) / 1e6 if fraction else 0.0
    return stamp.timestamp() + micro


def _offset(text: str | None, utc: bool) -> timezone | None:
    if text is None:
        return UTC if utc else None
    if text == "Z":
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))


def strip_prefix(line: str, *, utc: bool = False, now: float | None = None) -> tuple[str, float | None, bool]:
    """(line without its prefixes, the first prefix's epoch time or None, had a Go log prefix).

    Handles, outermost first: docker compose `svc-1  | `; an RFC 3339 time (docker -t,
    kubectl --timestamps; plus CRI's `stderr F ` or journald's `host ident[pid]: `) or a
    syslog/journald `Dec  3 21:40:16 host ident[pid]: `; then Go's `2026/12/03 21:40:16[.micro] `
    (with an optional `file.go:12: `). Times without a zone are local, or UTC if `utc`.
    """
    when: float | None = None
    match = _COMPOSE.match(line)
    if match:
        line = line[match.end() :]
    match = _ISO.match(line)
    if match:
        when = _epoch(match.groups()[:6], match[7], _offset(match[8], utc))
        line = line[match.end() :]
        match = _CRI.match(line) or _JOURNAL_IDENT.match(line)
        if match:
            line = line[match.end() :]
    else:
        match = _SYSLOG.match(line)
        if match and match[1] in _MONTHS:
            current = now if now is not None else time.time()
            year = datetime.fromtimestamp(current, UTC if utc else None).year
            parts = (year, _MONTHS[match[1]], match[2].strip(), match[3], match[4], match[5])
            when = _epoch(parts, None, UTC if utc else None)
            if when is not None and when > current + 86400:  # December's line read in January
                when = _epoch((year - 1, *parts[1:]), None, UTC if utc else None)
            line = line[match.end() :]
            match = _SYSLOG_IDENT.match(line)
            if match:
                line = line[match.end() :]
    match = _GO_PREFIX.match(line)
    if not match:
        return line, when, False
    if when is None:
        when = _epoch(match.groups()[:6], match[7], UTC if utc else None)
    return line[match.end() :], when, True


# --- own frames, messages, signatures -------------------------------------------------------

#: First path elements of the Go standard library (and `panic`, the builtin).
_GO_STD_NAMES = (
    "archive bufio builtin bytes cmp compress container context crypto database debug embed encoding "
    "errors expvar flag fmt go hash html image index internal io iter log maps math mime net os path "
    "plugin reflect regexp runtime slices sort strconv strings structs sync syscall testing text time "
    "unicode unique unsafe vendor weak panic"
)
_GO_STD_ROOTS = frozenset(_GO_STD_NAMES.split())
_GOROOT_PATH = re.compile(
    r"/usr/local/go/src/|/usr/lib/go(?:lang|-[\d.]+)?/src/|/libexec/src/|/sdk/go[\d.]+/src/|/Go/src/"
    r"|^\$GOROOT/"
)
#: Module cache, vendored and -trimpath dependency paths: not the server's own code.
_GO_DEP_PATH = re.compile(r"/pkg/mod/|/vendor/|@v\d")
#: Java packages that are the platform or a framework, not the server's own code.
_JAVA_FRAMEWORK_NAMES = (
    "java. javax. jakarta. jdk. sun. com.sun. kotlin. kotlinx. scala. org.springframework. "
    "org.apache.catalina. org.apache.coyote. org.apache.tomcat. org.eclipse.jetty. io.netty. "
    "io.undertow. reactor."
)
_JAVA_FRAMEWORK = tuple(_JAVA_FRAMEWORK_NAMES.split())
_PY_LIBRARY = ("/lib/python", "site-packages", "dist-packages")


def is_own_go_frame(func: str, path: str = "") -> bool:
    """Whether a Go frame is the server's own code: not runtime, stdlib, GOROOT or a dependency."""
    root = func.split("/", 1)[0].split(".", 1)[0]
    if root in _GO_STD_ROOTS:
        return False
    return not (path and (_GOROOT_PATH.search(path) or _GO_DEP_PATH.search(path)))


def is_own_java_frame(func: str) -> bool:
    return not func.startswith(_JAVA_FRAMEWORK)


def is_own_python_frame(path: str) -> bool:
    return not (path.startswith("<") or any(part in path for part in _PY_LIBRARY))


_HEX = re.compile(r"0x[0-9a-fA-F]+")
#: UUIDs and long hex ids (with a digit and a letter, so not a plain word or number).
_IDLIKE = re.compile(
    r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F-]{4,}\b|\b(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\b"
)
_DIGITS = re.compile(r"\d+")


def normalize_message(message: str) -> str:
    """The error line without what varies between occurrences: addresses, ids, numbers."""
    message = _HEX.sub("0x?", message)
    message = _IDLIKE.sub("<id>", message)
    return _DIGITS.sub("N", message).strip()[:200]


_EXTRA_NIL = re.compile(r"assignment to entry in nil map|interface conversion: .* is nil, not ")
_EXTRA_RACE = re.compile(r"\b(?:keys changed|mutated) during iteration\b")


def category_of(kind: str, message: str) -> str:
    """NIL_POINTER, RACE_CONDITION or PANIC (classify.classify, plus Go's nil map, Python's mutations)."""
    if kind == DATA_RACE:
        return RACE_CONDITION
    category = classify(message).category
    if category in (NIL_POINTER, RACE_CONDITION):
        return category
    if _EXTRA_NIL.search(message):
        return NIL_POINTER
    return RACE_CONDITION if _EXTRA_RACE.search(message) else PANIC


def _basename(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1].rsplit("\\", 1)[-1]


def _frame_text(func: str, path: str, line: int) -> str:
    return f"{func} ({_basename(path)}:{line})" if path else func


def _signature(kind: str, message: str, frames: Sequence[str]) -> str:
    key = normalize_message(message)
    return f"{kind}: {key} @ {' < '.join(frames)}" if frames else f"{kind}: {key}"


# --- line grammar -----------------------------------------------------------------------------


def might_start(line: str) -> bool:
    """The one cheap check an ordinary line gets: could it start a report? (substring tests)"""
    return (
        "panic" in line
        or "Error" in line
        or "Exception" in line
        or "fatal error" in line
        or "DATA RACE" in line
        or "==================" in line
        or "Traceback" in line
        or "during iteration" in line
        or "NoneType" in line
    )


_RULE = re.compile(r"={18,}")
_RACE_WARNING = "WARNING: DATA RACE"
_HTTP_PANIC = re.compile(r"\bhttp2?: panic serving (\S+?): (.*)$")
_RECOVERED = re.compile(r"\s*\[recovered(?:, repanicked)?\]$")
_TRACEBACK = "Traceback (most recent call last):"
_JAVA_CLASS = r"(?:[a-zA-Z_$][\w$]*\.)+[A-Z][\w$]*(?:Exception|Error)"
_JAVA_HEAD = re.compile(rf"(?:Exception in thread \"[^\"]*\" )?(?P<cls>{_JAVA_CLASS})(?::\s?(?P<msg>.*))?$")
_JAVA_THREAD = re.compile(rf"Exception in thread \"[^\"]*\" (?P<cls>{_JAVA_CLASS})(?::\s?(?P<msg>.*))?$")
_JAVA_MID = re.compile(r"\b(?P<cls>java\.(?:lang|util)\.[A-Z]\w*(?:Exception|Error))\b(?::\s?(?P<msg>.*))?")
_JAVA_AT = re.compile(r"\s+at (?:[\w.$@/-]+/)?(?P<func>[\w.$<>]+)\((?P<loc>[^)]*)\)")
_PY_SINGLE = re.compile(
    r"'NoneType' object (?:has no attribute|is not subscriptable|is not iterable)"
    r"|\b(?:dictionary|set|Set|OrderedDict|deque) (?:changed size|mutated) during iteration"
    r"|\bdictionary keys changed during iteration"
)
_PY_FRAME = re.compile(r"\s+File \"(?P<file>[^\"]+)\", line (?P<line>\d+)(?:, in (?P<func>.+))?$")
_PY_EXCEPTION = re.compile(r"[A-Za-z_][\w.]*(?::\s?.*)?$")
_PY_CHAIN = (
    "During handling of the above exception, another exception occurred:",
    "The above exception was the direct cause of the following exception:",
)

_GOROUTINE = re.compile(r"goroutine \d+(?: gp=\S+ m=\S+(?: mp=\S+)?)? \[[^\]]*\]:$")
_GO_FUNC = re.compile(r"[^\s]+\(.*\)$")
_GO_FILE = re.compile(r"\s+(?P<path>\S.*?):(?P<line>\d+)(?: .*)?$")
_GO_CREATED = re.compile(r"created by (?P<func>\S+?)(?: in goroutine \d+)?$")
_GO_ELIDED = re.compile(r"\.\.\.(?:\d+|additional) frames elided\.\.\.$")
_GO_SIGNAL = re.compile(r"\[signal .*\]$")
_GO_NESTED = re.compile(r"\s+panic: ")
_GO_ENTRY_FUNCS = frozenset({"main.main", "runtime.main", "runtime.goexit", "runtime.mstart"})
_RACE_ACCESS = re.compile(
    r"(?P<prev>Previous )?(?:atomic )?(?P<op>read|write)(?: of size \d+)? at 0x[0-9a-fA-F]+ by "
    r"(?:goroutine \d+|main goroutine):$",
    re.IGNORECASE,
)


def go_func_name(line: str) -> str:
    """`pkg.(*T).M(0xc000..., {...})` -> `pkg.(*T).M`: drop the last balanced parenthesised group."""
    line = line.strip()
    if not line.endswith(")"):
        return line
    depth = 0
    for index in range(len(line) - 1, -1, -1):
        char = line[index]
        if char == ")":
            depth += 1
        elif char == "(":
            depth -= 1
            if depth == 0:
                return line[:index]
    return line


def _start_kind(text: str) -> str | None:
    """Which report `text` (prefix stripped) starts, if any."""
    if text.startswith("panic: "):
        return "go_panic"
    if text.startswith("fatal error: "):
        return "go_fatal"
    if "panic serving " in text and _HTTP_PANIC.search(text):
        return "go_http_panic"
    stripped = text.strip()
    if stripped == _RACE_WARNING:
        return "race"
    if _RULE.fullmatch(stripped):
        return "rule"
    if stripped.endswith(_TRACEBACK):
        return "python"
    if _JAVA_HEAD.match(text) or _JAVA_THREAD.search(text) or _JAVA_MID.search(text):
        return "java"
    if _PY_SINGLE.search(text):
        return "python_single"
    return None


# --- blocks: one report being read ------------------------------------------------------------

CONSUMED, IGNORED, END_BEFORE = "consumed", "ignored", "end_before"
#: Start kinds that do not end a Python traceback or a race block (they may be part of it).
_IN_TRACEBACK = (None, "python_single", "java")


class _Block:
    kind = ""

    def __init__(self, when: float, raw: str, message: str) -> None:
        self.time = when
        self.message = message
        self.lines: list[str] = []
        self.omitted = 0
        self._chars = 0
        self.add(raw)

    def add(self, raw: str) -> None:
        if len(self.lines) < TEXT_LINE_LIMIT and self._chars < TEXT_CHAR_LIMIT:
            self.lines.append(raw)
            self._chars += len(raw) + 1
        else:
            self.omitted += 1

    def text(self) -> str:
        text = "\n".join(self.lines).rstrip()
        return f"{text}\n... ({self.omitted} more lines)" if self.omitted else text

    def accept(self, text: str, go_prefixed: bool, raw: str) -> str:
        """CONSUMED (part of the report), IGNORED (interleaved noise) or END_BEFORE (not part)."""
        raise NotImplementedError

    def complete(self) -> bool:
        raise NotImplementedError

    def signature(self, own: Callable[..., bool]) -> tuple[str, tuple[str, ...]]:
        raise NotImplementedError


class _GoBlock(_Block):
    """A Go panic or fatal error: the header lines, then goroutine stacks (no closing line)."""

    def __init__(self, when: float, raw: str, message: str, kind: str) -> None:
        super().__init__(when, raw, message)
        self.kind = kind
        self.in_stack = False
        self.goroutines = 0
        self.frames: list[tuple[str, str, int]] = []  # of the first goroutine
        self.pending: str | None = None  # function line awaiting its file line
        self.last = ""  # kind of the last line: goroutine, func, file, elided
        self.last_func = ""

    def accept(self, text: str, go_prefixed: bool, raw: str) -> str:
        if go_prefixed:
            return END_BEFORE
        if not text.strip():
            self.add(raw)
            return CONSUMED
        if not self.in_stack:
            if _GO_SIGNAL.match(text) or _GO_NESTED.match(text):
                self.add(raw)
                return CONSUMED
            if not (_GOROUTINE.match(text) or text == "runtime stack:"):
                return END_BEFORE
            self.in_stack = True
        if text[0] in " \t":
            match = _GO_FILE.match(text)
            if match:
                if self.pending is not None and self.goroutines == 1 and len(self.frames) < FRAME_LIMIT:
                    self.frames.append((self.pending, match["path"], int(match["line"])))
                self.pending = None
                self.last = "file"
            elif self.last == "goroutine":  # "goroutine running on other thread; stack unavailable"
                self.last = "elided"
        elif _GOROUTINE.match(text):
            self.goroutines += 1
            self.pending, self.last = None, "goroutine"
        elif text == "runtime stack:":
            self.pending, self.last = None, "section"
        elif _GO_CREATED.match(text):
            self.pending, self.last, self.last_func = None, "func", "created by"
        elif _GO_ELIDED.match(text):
            self.pending, self.last = None, "elided"
        elif _GO_FUNC.match(text):
            self.pending = self.last_func = go_func_name(text)
            self.last = "func"
        else:
            return END_BEFORE
        self.add(raw)
        return CONSUMED

    def complete(self) -> bool:
        if self.goroutines == 0:
            return False
        if self.last == "elided":
            return True
        return self.last == "file" and (self.last_func == "created by" or self.last_func in _GO_ENTRY_FUNCS)

    def signature(self, own: Callable[..., bool]) -> tuple[str, tuple[str, ...]]:
        frames = tuple(_frame_text(*f) for f in self.frames if own(f[0], f[1]))[:SIGNATURE_FRAMES]
        return _signature(self.kind, self.message, frames), frames


class _RaceBlock(_Block):
    """A race-detector report, up to its closing `==================`."""

    kind = DATA_RACE

    def __init__(self, when: float, raws: list[str]) -> None:
        super().__init__(when, raws[0], "DATA RACE")
        for raw in raws[1:]:
            self.add(raw)
        self.count = len(raws)
        self.state = "open"  # then "closed" (saw the closing rule; is it the next one's opening?)
        self.carry: str | None = None  # an opening rule that belongs to the next report
        self.sides: list[tuple[str, str, list[tuple[str, str, int]]]] = []  # (op, header, frames)
        self.section: list[tuple[str, str, int]] | None = None
        self.pending: str | None = None

    def accept(self, text: str, go_prefixed: bool, raw: str) -> str:
        stripped = text.strip()
        if self.state == "closed":
            if stripped == _RACE_WARNING:  # the rule opened the next report: this one was cut
                self.carry = self.lines.pop() if self.lines else None
                self.state = "open"
            return END_BEFORE
        if _RULE.fullmatch(stripped):
            self.add(raw)
            self.state = "closed"
            return CONSUMED
        if self.count >= RACE_LINE_LIMIT or (stripped and _start_kind(text) not in _IN_TRACEBACK):
            return END_BEFORE
        if go_prefixed:
            return IGNORED
        self.count += 1
        self.add(raw)
        if match := _RACE_ACCESS.match(stripped):
            if len(self.sides) < 2:
                frames: list[tuple[str, str, int]] = []
                self.sides.append((match["op"].lower(), stripped.rstrip(":"), frames))
                self.section = frames
            else:
                self.section = None
        elif text[:1] not in (" ", "\t"):
            self.section = None  # "Goroutine 7 (running) created at:", "Location is ...", ...
        elif self.section is not None:
            file_match = _GO_FILE.match(text)
            if file_match and not stripped.endswith(")"):
                if self.pending is not None and len(self.section) < FRAME_LIMIT:
                    self.section.append((self.pending, file_match["path"], int(file_match["line"])))
                self.pending = None
            elif stripped.endswith(")"):
                self.pending = go_func_name(stripped)
        return CONSUMED

    def complete(self) -> bool:
        return self.state == "closed"

    def signature(self, own: Callable[..., bool]) -> tuple[str, tuple[str, ...]]:
        if self.sides:
            self.message = "DATA RACE: " + " / ".join(header for _op, header, _frames in self.sides)
        described = []
        all_frames: list[str] = []
        for op, _header, frames in self.sides:
            mine = [_frame_text(*f) for f in frames if own(f[0], f[1])][:SIGNATURE_FRAMES]
            all_frames += mine
            described.append(f"{op} @ {' < '.join(mine) or '?'}")
        if not all_frames:
            return _signature(DATA_RACE, self.message, ()), ()
        return f"{DATA_RACE}: {' | '.join(sorted(described))}", tuple(all_frames)


class _PythonBlock(_Block):
    """A Python traceback: frames, the exception line, and any chained tracebacks."""

    kind = PYTHON_EXCEPTION

    def __init__(self, when: float, raw: str) -> None:
        super().__init__(when, raw, "")
        self.state = "frames"  # then "after" (saw the exception line), "chain" (saw a chain line)
        self.frames: list[tuple[str, str, int]] = []  # (func, file, line), outermost first

    def accept(self, text: str, go_prefixed: bool, raw: str) -> str:
        stripped = text.strip()
        if self.state == "frames":
            if text[:1] in (" ", "\t"):
                match = _PY_FRAME.match(text)
                if match and len(self.frames) < FRAME_LIMIT * 4:
                    self.frames.append((match["func"] or "?", match["file"], int(match["line"])))
                self.add(raw)
                return CONSUMED
            # a dotted Python exception (json.decoder.JSONDecodeError) looks like a Java one
            if go_prefixed or _start_kind(text) not in _IN_TRACEBACK or not _PY_EXCEPTION.match(text):
                return END_BEFORE
            self.message = stripped
            self.state = "after"
        elif not stripped:
            pass
        elif self.state == "after" and stripped in _PY_CHAIN:
            self.state = "chain"
        elif self.state == "chain" and stripped.endswith(_TRACEBACK) and not go_prefixed:
            self.state, self.frames = "frames", []
        else:
            return END_BEFORE
        self.add(raw)
        return CONSUMED

    def complete(self) -> bool:
        return self.state != "frames"

    def signature(self, own: Callable[..., bool]) -> tuple[str, tuple[str, ...]]:
        mine = [_frame_text(func, file, line) for func, file, line in reversed(self.frames) if own(file)]
        frames = tuple(mine[:SIGNATURE_FRAMES])
        return _signature(self.kind, self.message or "Traceback", frames), frames


class _JavaBlock(_Block):
    """A Java exception line and its `at ...` frames, `Caused by:` sections and `... N more`."""

    kind = JAVA_EXCEPTION

    def __init__(self, when: float, raw: str, cls: str, message: str) -> None:
        super().__init__(when, raw, message)
        self.cls = cls
        self.frames: list[tuple[str, str, int]] = []
        self.first_section = True
        self.blank_lines = 0

    def accept(self, text: str, go_prefixed: bool, raw: str) -> str:
        if go_prefixed:
            return END_BEFORE
        if not text.strip():
            if self.frames or not self.first_section:
                return END_BEFORE
            self.blank_lines += 1  # Spring: "... with root cause", a blank line, then the exception
            if self.blank_lines > 2:
                return END_BEFORE
        elif text[:1] in (" ", "\t"):
            match = _JAVA_AT.match(text)
            if match and self.first_section and len(self.frames) < FRAME_LIMIT:
                file, _sep, line = match["loc"].partition(":")
                self.frames.append((match["func"], file, int(line) if line.isdigit() else 0))
        elif text.startswith("Caused by: "):
            self.first_section = False
        else:
            head = _JAVA_HEAD.match(text)
            # "... nested exception is java.lang.X]" then "java.lang.X: msg": one report
            if not (head and not self.frames and self.first_section and head["cls"] == self.cls):
                return END_BEFORE
            self.message = _java_message(head)
        self.add(raw)
        return CONSUMED

    def complete(self) -> bool:
        return True

    def signature(self, own: Callable[..., bool]) -> tuple[str, tuple[str, ...]]:
        frames = tuple(_frame_text(*f) for f in self.frames if own(f[0]))[:SIGNATURE_FRAMES]
        return _signature(self.kind, self.message, frames), frames


def _java_message(match: re.Match[str]) -> str:
    return f"{match['cls']}: {match['msg']}" if match["msg"] else match["cls"]


# --- the parser -------------------------------------------------------------------------------


class LogParser:
    """Turns log lines into Reports, one line at a time (keeps at most one report pending).

    ``own_prefixes``, if given, decides which frames are the server's own: Go and Java
    functions starting with one of them, Python files whose path contains one; otherwise
    a heuristic (not the Go runtime/stdlib/GOROOT/module cache, not java.*/framework
    packages, not the Python library/site-packages). ``utc``: zone-less timestamps are UTC.
    """

    def __init__(
        self, *, clock: Callable[[], float] = time.time, utc: bool = False, own_prefixes: Iterable[str] = ()
    ) -> None:
        self._clock = clock
        self._utc = utc
        self._own_prefixes = tuple(own_prefixes)
        self._block: _Block | None = None
        self._rule: tuple[str, float] | None = None  # a lone `=====` line: a race report may follow

    @property
    def pending(self) -> bool:
        """Whether a report is being read."""
        return self._block is not None or self._rule is not None

    def feed(self, line: str) -> list[Report]:
        """Read one line (its end of line is ignored); the reports this line completed."""
        if self._block is None and self._rule is None and not might_start(line):
            return []
        out: list[Report] = []
        self._process(line.rstrip("\r\n"), out)
        return out

    def flush(self) -> list[Report]:
        """The pending report (EOF, rotation, stop), marked truncated unless it looks complete."""
        block, self._block, self._rule = self._block, None, None
        return [self._finish(block)] if block is not None else []

    def flush_complete(self) -> list[Report]:
        """The pending report only if it already looks complete (for a quiet log: no more lines)."""
        if self._block is not None and self._block.complete():
            return self.flush()
        return []

    def _process(self, raw: str, out: list[Report]) -> None:
        text, when, go_prefixed = strip_prefix(raw, utc=self._utc)
        block = self._block
        if block is not None:
            verdict = block.accept(text, go_prefixed, raw)
            if verdict != END_BEFORE:
                return
            self._block = None
            out.append(self._finish(block))
            carry = getattr(block, "carry", None)
            if carry is not None:  # the rule that opened the next race report
                self._rule = (carry, when if when is not None else self._clock())
        if self._rule is not None:
            rule_raw, rule_time = self._rule
            self._rule = None
            if text.strip() == _RACE_WARNING:
                self._block = _RaceBlock(rule_time, [rule_raw, raw])
                return
        if might_start(raw):
            self._start(raw, text, when, out)

    def _start(self, raw: str, text: str, when: float | None, out: list[Report]) -> None:
        kind = _start_kind(text)
        if kind is None:
            return
        now = when if when is not None else self._clock()
        if kind == "rule":
            self._rule = (raw, now)
        elif kind == "race":
            self._block = _RaceBlock(now, [raw])
        elif kind == "go_panic":
            self._block = _GoBlock(now, raw, "panic: " + _RECOVERED.sub("", text[7:].strip()), GO_PANIC)
        elif kind == "go_http_panic":
            match = _HTTP_PANIC.search(text)
            assert match is not None
            self._block = _GoBlock(now, raw, "panic: " + match[2].strip(), GO_PANIC)
        elif kind == "go_fatal":
            self._block = _GoBlock(now, raw, text.strip(), GO_FATAL)
        elif kind == "python":
            self._block = _PythonBlock(now, raw)
        elif kind == "java":
            match = _JAVA_HEAD.match(text) or _JAVA_THREAD.search(text) or _JAVA_MID.search(text)
            assert match is not None
            self._block = _JavaBlock(now, raw, match["cls"], _java_message(match))
        else:  # python_single
            block = _PythonBlock(now, raw)
            block.message, block.state = text.strip(), "after"
            out.append(self._finish(block))

    def _own_frame(self, block: _Block) -> Callable[..., bool]:
        """The own-frame test for `block`'s language."""
        prefixes = self._own_prefixes
        if isinstance(block, _PythonBlock):
            return (lambda path: any(p in path for p in prefixes)) if prefixes else is_own_python_frame
        if isinstance(block, _JavaBlock):
            return (lambda func: func.startswith(prefixes)) if prefixes else is_own_java_frame
        return (lambda func, _path="": func.startswith(prefixes)) if prefixes else is_own_go_frame

    def _finish(self, block: _Block) -> Report:
        own = self._own_frame(block)
        signature, frames = block.signature(own)
        message = block.message[:MESSAGE_LIMIT]
        return Report(
            kind=block.kind,
            category=category_of(block.kind, message),
            message=message,
            signature=signature,
            frames=frames,
            text=block.text(),
            time=block.time,
            truncated=not block.complete(),
        )


def parse_lines(lines: Iterable[str], parser: LogParser | None = None) -> list[Report]:
    """Every report in `lines` (e.g. a whole log file), flushing at the end."""
    parser = parser or LogParser()
    reports: list[Report] = []
    for line in lines:
        reports += parser.feed(line)
    return reports + parser.flush()


# --- aggregation --------------------------------------------------------------------------------


@dataclass
class Finding:
    """All reports of one signature."""

    signature: str
    category: str
    kind: str
    message: str
    frames: list[str]
    count: int
    truncated: int  # how many of `count` were cut short
    first_seen: float
    last_seen: float
    example: str
    example_truncated: bool

    @classmethod
    def from_report(cls, report: Report) -> Finding:
        example = report.text
        if len(example) > EXAMPLE_LIMIT:
            example = example[:EXAMPLE_LIMIT] + "\n... (cut)"
        return cls(
            signature=report.signature,
            category=report.category,
            kind=report.kind,
            message=report.message,
            frames=list(report.frames),
            count=1,
            truncated=int(report.truncated),
            first_seen=report.time,
            last_seen=report.time,
            example=example,
            example_truncated=report.truncated,
        )

    def absorb(self, other: Finding) -> None:
        """Add `other` (same signature): counts add, times widen, one example is kept."""
        self.count += other.count
        self.truncated += other.truncated
        self.first_seen = min(self.first_seen, other.first_seen)
        self.last_seen = max(self.last_seen, other.last_seen)
        if self.example_truncated and not other.example_truncated:
            self.example, self.example_truncated = other.example, False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ServerLogFindings:
    """Server-log reports counted by signature, plus recent times of connection-dropping ones."""

    findings: dict[str, Finding] = field(default_factory=dict)
    panic_times: deque[float] = field(default_factory=lambda: deque(maxlen=PANIC_TIMES_LIMIT))

    def add(self, report: Report) -> Finding:
        """Count one report; returns its finding."""
        if report.kind in DROPPING_KINDS:
            self.panic_times.append(report.time)
        return self._absorb(Finding.from_report(report))

    def _absorb(self, finding: Finding) -> Finding:
        known = self.findings.get(finding.signature)
        if known is None and len(self.findings) >= SIGNATURE_LIMIT:
            finding.signature = f"{finding.category}: (other signatures)"
            known = self.findings.get(finding.signature)
        if known is None:
            self.findings[finding.signature] = finding
            return finding
        known.absorb(finding)
        return known

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable; ``merge()`` takes it back (in this or another process)."""
        return {
            "findings": [finding.to_dict() for finding in self.findings.values()],
            "panic_times": list(self.panic_times),
        }

    def drain(self) -> dict[str, Any]:
        """``to_dict()`` of what was added since the last drain, then forget it."""
        data = self.to_dict()
        self.findings.clear()
        self.panic_times.clear()
        return data

    def merge(self, data: dict[str, Any]) -> None:
        """Add a ``to_dict()``/``drain()`` result."""
        for row in data.get("findings", ()):
            self._absorb(Finding(**{**row, "frames": list(row.get("frames", ()))}))
        incoming = data.get("panic_times", ())
        if incoming:
            merged = sorted([*self.panic_times, *incoming])[-PANIC_TIMES_LIMIT:]
            self.panic_times = deque(merged, maxlen=PANIC_TIMES_LIMIT)

    def total(self, category: str | None = None) -> int:
        """Reports counted, of one category or all."""
        return sum(f.count for f in self.findings.values() if category is None or f.category == category)

    def by_category(self) -> dict[str, int]:
        return {category: self.total(category) for category in CATEGORIES}

    def by_signature(self) -> list[dict[str, Any]]:
        """One row (a Finding's dict) per signature, most frequent first."""
        rows = sorted(self.findings.values(), key=lambda f: (-f.count, f.first_seen, f.signature))
        return [finding.to_dict() for finding in rows]

    def panics_between(self, t0: float, t1: float) -> int:
        """Connection-dropping reports (Go panics, fatal errors) timed within [t0, t1]."""
        return sum(1 for t in self.panic_times if t0 <= t <= t1)

    def linked_drops(self, drop_times: Iterable[float], window: float = 2.0) -> int:
        """``link_drops`` against the panic times kept here."""
        return link_drops(drop_times, self.panic_times, window)


def link_drops(drop_times: Iterable[float], panic_times: Iterable[float], window: float = 2.0) -> int:
    """How many connection drops (epoch seconds) have a logged panic within ±window seconds.

    One panic may explain several drops (a fatal error drops every open connection).
    """
    panics = sorted(panic_times)
    linked = 0
    for when in drop_times:
        index = bisect.bisect_left(panics, when - window)
        if index < len(panics) and panics[index] <= when + window:
            linked += 1
    return linked
