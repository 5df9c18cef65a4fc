r"""InfluxDB line protocol parsing: a fast path for plain lines, a full parser for escapes.

    measurement,tag=v,tag2=v2 field=1.5,flag=true,count=3i,mode="safe" 1764000000000000000

What is accepted, and nothing more (Python's int() and float() read far more: `_`
separators, a `+` sign, surrounding whitespace, digits of any script, "nan", "infinity"):

- float: ASCII digits with an optional leading `-`, an optional `.` and an optional
  exponent (`1`, `-0.5`, `.5`, `5.`, `1e-6`, `2E+3`); it must be finite, so no NaN or
  infinity and nothing that overflows a double (`1e999`).
- integer: `-?[0-9]+i` within int64; unsigned: `[0-9]+u` within uint64.
- boolean: t, T, true, True, TRUE, f, F, false, False, FALSE.
- string: double-quoted; `\"` and `\\` are the escapes.
- timestamp: `-?[0-9]+` within int64, in the request's precision, and within int64 once
  scaled to nanoseconds.

Blank lines (spaces and tabs only) and lines whose first other character is `#` are
skipped. Only the wire format lives here; what the fields mean is checked by `ingest`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import NamedTuple

FieldValue = float | int | bool | str

PRECISION_NS = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000}
_TRUE = frozenset({"t", "T", "true", "True", "TRUE"})
_FALSE = frozenset({"f", "F", "false", "False", "FALSE"})
INT64 = range(-(2**63), 2**63)
UINT64 = range(2**64)
_FLOAT = re.compile(r"-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?").fullmatch
_INTEGER = re.compile(r"-?[0-9]+").fullmatch
_NOT_FINITE = re.compile(r"[-+]?(?:nan|inf|infinity)", re.IGNORECASE).fullmatch


class LineError(ValueError):
    """A line that is not valid line protocol; `line` is 1-based."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.message = message


class Line(NamedTuple):
    number: int  # 1-based line number in the body
    key: str  # "measurement,tag=value,..." as written: a cache key for the series part
    fields: list[tuple[str, FieldValue]]
    time_ns: int | None


def parse_lines(body: str, precision: str = "ns") -> Iterator[Line]:
    """Yield each data line of a body; raise LineError at the first malformed one."""
    scale = PRECISION_NS[precision]
    keys_seen: set[str] = set()  # each distinct series key is checked once per body
    for number, raw in enumerate(body.split("\n"), start=1):
        line = raw.rstrip("\r")
        if skipped(line):
            continue
        parsed = _fast(line) if "\\" not in line else None
        key, fields, stamp = parsed or _slow(line, number)
        if key not in keys_seen:
            parse_key(key, number)
            keys_seen.add(key)
        yield Line(number, key, [(k, _value(v, k, number)) for k, v in fields],
                   _time(stamp, scale, number))


def skipped(line: str) -> bool:
    """A blank line (spaces and tabs only) or a comment."""
    rest = line.lstrip(" \t")
    return not rest or rest[0] == "#"


def parse_key(key: str, number: int = 0) -> tuple[str, dict[str, str]]:
    """Split a series key into measurement and tags, undoing escapes."""
    parts = _split_unescaped(key, ",")
    measurement = _unescape(parts[0])
    if not measurement:
        raise LineError(number, "missing measurement")
    tags: dict[str, str] = {}
    for part in parts[1:]:
        pair = _split_unescaped(part, "=")
        if len(pair) != 2 or not pair[0] or not pair[1]:
            raise LineError(number, f"malformed tag {part!r} in {key!r}")
        name = _unescape(pair[0])
        if name in tags:
            raise LineError(number, f"tag {name!r} given twice")
        tags[name] = _unescape(pair[1])
    return measurement, tags


def _fast(line: str) -> tuple[str, list[tuple[str, str]], str | None] | None:
    """Plain lines (no backslash, no spaces or commas in strings): str.split only."""
    parts = line.split(" ")
    if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
        return None
    fields = []
    for item in parts[1].split(","):
        name, eq, value = item.partition("=")
        if not eq or not name or not value:
            return None
        if '"' in value and (len(value) < 2 or value[0] != '"' or value[-1] != '"'
                             or '"' in value[1:-1]):
            return None
        fields.append((name, value))
    return parts[0], fields, parts[2] if len(parts) == 3 else None


def _slow(line: str, number: int) -> tuple[str, list[tuple[str, str]], str | None]:
    """The full grammar: backslash escapes anywhere, quoted strings with any content."""
    # The series key ends at the first unescaped space.
    i, n = 0, len(line)
    while i < n and line[i] != " ":
        i += 2 if line[i] == "\\" else 1
    key = line[:i]
    if not key:
        raise LineError(number, "missing measurement")
    if i >= n:
        raise LineError(number, "missing fields")
    i += 1
    fields: list[tuple[str, str]] = []
    while True:
        start = i
        while i < n and line[i] != "=":
            if line[i] in " ,":
                raise LineError(number, f"malformed field near column {i + 1}")
            i += 2 if line[i] == "\\" else 1
        if i >= n or i == start:
            raise LineError(number, f"malformed field near column {start + 1}")
        name = _unescape(line[start:i])
        i += 1
        vstart = i
        if i < n and line[i] == '"':
            i += 1
            while i < n and line[i] != '"':
                i += 2 if line[i] == "\\" else 1
            if i >= n:
                raise LineError(number, f"unterminated string in field {name!r}")
            i += 1
            if i < n and line[i] not in " ,":
                raise LineError(number, f"field {name!r}: {line[i]!r} after its closing quote")
        else:
            while i < n and line[i] not in " ,":
                i += 1
        value = line[vstart:i]
        if not value:
            raise LineError(number, f"field {name!r} has no value")
        fields.append((name, value))
        if i >= n or line[i] == " ":
            break
        i += 1  # the comma before the next field
    stamp = line[i + 1:] if i < n else None
    if stamp is not None and (not stamp or " " in stamp):
        raise LineError(number, "malformed timestamp")
    return key, fields, stamp


def _value(text: str, name: str, number: int) -> FieldValue:
    last = text[-1]
    if last == '"':
        if len(text) < 2 or text[0] != '"':
            raise LineError(number, f"field {name!r}: malformed string {_shown(text)}")
        return text[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    if last in "iu":
        kind, bounds = ("integer", INT64) if last == "i" else ("unsigned integer", UINT64)
        digits = text[:-1]
        if not _INTEGER(digits) or (last == "u" and digits[0] == "-"):
            raise LineError(number, f"field {name!r}: malformed {kind} {_shown(text)}")
        value = _bounded_int(digits, bounds)
        if value is None:
            raise LineError(number, f"field {name!r}: {kind} {_shown(text)} is out of range "
                                    f"({'int64' if last == 'i' else 'uint64'})")
        return value
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    if _NOT_FINITE(text):
        raise LineError(number, f"field {name!r}: value {_shown(text)} is not a finite number")
    if not _FLOAT(text):
        raise LineError(number, f"field {name!r}: value {_shown(text)} is not a number")
    real = float(text)
    if not math.isfinite(real):
        raise LineError(number, f"field {name!r}: value {_shown(text)} is not a finite number "
                                "(out of a double's range)")
    return real


def _time(stamp: str | None, scale: int, number: int) -> int | None:
    if stamp is None:
        return None
    if not _INTEGER(stamp):
        raise LineError(number, f"malformed timestamp {_shown(stamp)} (ASCII digits, optional '-')")
    value = _bounded_int(stamp, INT64)
    if value is None or value * scale not in INT64:
        raise LineError(number, f"timestamp {_shown(stamp)} is out of range (int64 nanoseconds)")
    return value * scale


def _bounded_int(digits: str, bounds: range) -> int | None:
    """The integer `-?[0-9]+` stands for if it lies in bounds, else None. Long texts are
    out of range without converting them (int() of thousands of digits is slow, or fails)."""
    magnitude = digits.lstrip("-").lstrip("0") or "0"
    if len(magnitude) > 20:
        return None
    value = -int(magnitude) if digits[0] == "-" else int(magnitude)
    return value if value in bounds else None


def _shown(text: str) -> str:
    """A value as an error message quotes it: a long one cut (it may be megabytes)."""
    return repr(text) if len(text) <= 40 else f"{text[:20]!r}...({len(text)} characters)"


def _split_unescaped(text: str, sep: str) -> list[str]:
    parts, start, i = [], 0, 0
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == sep:
            parts.append(text[start:i])
            start = i + 1
        i += 1
    parts.append(text[start:])
    return parts


def _unescape(text: str) -> str:
    if "\\" not in text:
        return text
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text) and text[i + 1] in ' ,="\\':
            out.append(text[i + 1])
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)
