"""An independent reading of the line protocol the API accepts, for tests to compare the
parser with: written from the format's description (backend/lineprotocol.py's docstring)
one character at a time, sharing no code with the parser.

It covers the subset the tests generate: no backslash escapes, and quoted strings without
quotes inside (a line with a backslash, or a field that does not split cleanly on spaces,
commas and the first `=`, is taken as refused; for this mission's names that is right,
as no measurement, tag, parameter or enum value holds a space, comma, `=`, quote or
backslash). gzip is read by the standard library's `gzip.decompress`.
"""

from __future__ import annotations

import gzip
import math
from dataclasses import dataclass

from backend.mission import Mission

DIGITS = frozenset("0123456789")
BOOLEANS = {"t": True, "T": True, "true": True, "True": True, "TRUE": True,
            "f": False, "F": False, "false": False, "False": False, "FALSE": False}
SCALE = {"ns": 1, "us": 10**3, "ms": 10**6, "s": 10**9}
INT64_MIN, INT64_MAX, UINT64_MAX = -(2**63), 2**63 - 1, 2**64 - 1


@dataclass(frozen=True)
class Refused:
    status: int  # 400, or 413 for a body over a size limit
    line: int | None = None  # the first bad line (400), if the refusal is about one


@dataclass(frozen=True)
class Limits:
    max_future_s: int = 86_400
    max_body_bytes: int = 32 * 1024 * 1024
    max_line_bytes: int = 64 * 1024
    max_fields_per_line: int = 1000
    max_values_per_body: int = 200_000


# (satellite, station, parameter, time ns, value as the parameter's own type)
Sample = tuple[str | None, str | None, str, int, float | int | bool | str]


def read_request(body: bytes, gzipped: bool, mission: Mission, now_ns: int,
                 precision: str = "ns", limits: Limits = Limits()) -> list[Sample] | Refused:
    """What a POST /api/v2/write of this body must store, or how it must be refused."""
    if len(body) > limits.max_body_bytes:
        return Refused(413)
    if gzipped:
        try:
            body = gzip.decompress(body)
        except Exception:  # truncated, damaged, trailing bytes that are no gzip member
            return Refused(400)
        if len(body) > limits.max_body_bytes:
            return Refused(413)
    return read_body(body, mission, now_ns, precision, limits)


def read_body(body: bytes, mission: Mission, now_ns: int, precision: str = "ns",
              limits: Limits = Limits()) -> list[Sample] | Refused:
    samples: list[Sample] = []
    for number, raw in enumerate(body.split(b"\n"), start=1):
        if len(samples) > limits.max_values_per_body:
            return Refused(413)
        if len(raw) > limits.max_line_bytes:
            return Refused(400, number)
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            return Refused(400, number)
        got = read_line(line.rstrip("\r"), mission, now_ns, precision, limits)
        if got is None:
            return Refused(400, number)
        samples += got
    if len(samples) > limits.max_values_per_body:
        return Refused(413)
    if not samples:
        return Refused(400)
    return samples


def read_line(line: str, mission: Mission, now_ns: int, precision: str,
              limits: Limits) -> list[Sample] | None:
    """The samples of one line ([] for a blank or comment line), None if it is refused."""
    rest = line.lstrip(" \t")
    if rest == "" or rest[0] == "#":
        return []
    if "\\" in line:
        return None
    parts = line.split(" ")
    if len(parts) not in (2, 3) or "" in parts:
        return None
    entity = read_key(parts[0], mission)
    if entity is None:
        return None
    measurement, satellite, station = entity
    fields = parts[1].split(",")
    if len(fields) > limits.max_fields_per_line:
        return None
    t = now_ns
    if len(parts) == 3:
        stamp = read_integer(parts[2])
        if stamp is None or not INT64_MIN <= stamp <= INT64_MAX:
            return None
        t = stamp * SCALE[precision]
        if not INT64_MIN <= t <= INT64_MAX:
            return None
    if t < 0 or t > now_ns + limits.max_future_s * 10**9:
        return None
    samples: list[Sample] = []
    series = set(mission.series)
    for field in fields:
        name, eq, text = field.partition("=")
        if not eq or not name or not text:
            return None
        param = mission.parameters.get(name)
        if param is None or param.subsystem != measurement \
                or (satellite, station, name) not in series:
            return None
        value = read_value(text)
        if value is None:
            return None
        typed = as_type(param.type, param.values, value)
        if typed is None:
            return None
        samples.append((satellite, station, name, t, typed))
    return samples


def read_key(key: str, mission: Mission) -> tuple[str, str | None, str | None] | None:
    measurement, *tag_texts = key.split(",")
    subsystem = mission.subsystems.get(measurement)
    if subsystem is None:
        return None
    tags: dict[str, str] = {}
    for text in tag_texts:
        pair = text.split("=")
        if len(pair) != 2 or "" in pair or pair[0] in tags:
            return None
        tags[pair[0]] = pair[1]
    wanted = {"satellite": {"satellite"}, "station": {"station"},
              "link": {"satellite", "station"}}[subsystem.entity]
    if set(tags) != wanted:
        return None
    satellite, station = tags.get("satellite"), tags.get("station")
    if satellite is not None and satellite not in mission.satellites:
        return None
    if station is not None and station not in mission.stations:
        return None
    return measurement, satellite, station


def read_value(text: str) -> float | int | bool | str | None:
    """A field value as the wire format defines it; None when it is none of them."""
    if text in BOOLEANS:
        return BOOLEANS[text]
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        inner = text[1:-1]
        return None if '"' in inner else inner
    if text[-1] == "i":
        value = read_integer(text[:-1])
        return value if value is not None and INT64_MIN <= value <= INT64_MAX else None
    if text[-1] == "u":
        value = read_integer(text[:-1]) if text[0] != "-" else None
        return value if value is not None and value <= UINT64_MAX else None
    return read_float(text)


def read_integer(text: str) -> int | None:
    """-?[0-9]+ read digit by digit."""
    sign, i = 1, 0
    if text[:1] == "-":
        sign, i = -1, 1
    if i == len(text):
        return None
    value = 0
    for ch in text[i:]:
        if ch not in DIGITS:
            return None
        value = value * 10 + "0123456789".index(ch)
    return sign * value


def read_float(text: str) -> float | None:
    """-? digits [. digits] [e|E [+|-] digits], at least one mantissa digit; finite."""
    i, n, mantissa = 0, len(text), 0
    if i < n and text[i] == "-":
        i += 1
    while i < n and text[i] in DIGITS:
        i, mantissa = i + 1, mantissa + 1
    if i < n and text[i] == ".":
        i += 1
        while i < n and text[i] in DIGITS:
            i, mantissa = i + 1, mantissa + 1
    if mantissa == 0:
        return None
    if i < n and text[i] in "eE":
        i += 1
        if i < n and text[i] in "+-":
            i += 1
        start = i
        while i < n and text[i] in DIGITS:
            i += 1
        if i == start:
            return None
    if i != n:
        return None
    value = float(text)  # plain ASCII decimal by now: float() reads it as written
    return value if math.isfinite(value) else None


def as_type(kind: str, enum_values: list[str] | tuple[str, ...] | None,
            value: float | int | bool | str) -> float | int | bool | str | None:
    """The value as a parameter of this type stores and shows it; None if it does not fit."""
    if kind == "float":
        return float(value) if type(value) in (int, float) else None
    if kind == "int":
        if type(value) is int or (type(value) is float and value.is_integer()):
            return int(float(value))  # stored as a double, shown as an integer
        return None
    if kind == "bool":
        return value if type(value) is bool else None
    return value if type(value) is str and value in (enum_values or ()) else None
