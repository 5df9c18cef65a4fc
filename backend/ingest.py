"""Ingest: turn a line-protocol body into validated samples of known series.

A batch is all or nothing: the first bad line raises IngestError naming it, and nothing of
the batch is stored. Checks: the syntax, the measurement (= subsystem), the tags (the
entity), each field (a parameter of that subsystem and entity), its type, finiteness, and
time (not more than `max_future_s` ahead).
"""

from __future__ import annotations

import gzip
import time
import zlib
from collections.abc import Callable

from backend.lineprotocol import PRECISION_NS, FieldValue, LineError, parse_key, parse_lines
from backend.mission import Mission, Parameter
from backend.series import SeriesRegistry
from backend.store.base import NS, Batch

_TAGS = {"satellite": ("satellite",), "station": ("station",), "link": ("satellite", "station")}


class IngestError(ValueError):
    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


def decode_body(body: bytes, content_encoding: str | None, max_bytes: int) -> str:
    """The request body as text, gunzipped when so marked; IngestError when unreadable."""
    if (content_encoding or "").lower() == "gzip":
        try:
            inflater = zlib.decompressobj(wbits=31)
            body = inflater.decompress(body, max_bytes + 1)
        except (zlib.error, gzip.BadGzipFile) as exc:
            raise IngestError(f"body is not valid gzip: {exc}") from None
        if len(body) > max_bytes:
            raise BodyTooLarge(max_bytes)
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise IngestError(f"body is not UTF-8 (byte {exc.start})") from None


class BodyTooLarge(ValueError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"body larger than {limit} bytes")
        self.limit = limit


class Ingestor:
    def __init__(self, mission: Mission, registry: SeriesRegistry, max_future_s: int) -> None:
        self.mission = mission
        self.registry = registry
        self.max_future_ns = max_future_s * NS
        # ("power,satellite=kazsat-2", field) -> (series id, text-to-number function),
        # filled as fields are first seen and validated
        self._known: dict[tuple[str, str], tuple[int, Callable[[str], float]]] = {}
        self._keys: dict[str, tuple[str, str | None, str | None]] = {}

    def parse(self, text: str, precision: str = "ns", now_ns: int | None = None) -> Batch:
        if precision not in PRECISION_NS:
            raise IngestError(f"precision {precision!r} is not one of ns, us, ms, s")
        now_ns = time.time_ns() if now_ns is None else now_ns
        limits = (now_ns + self.max_future_ns, PRECISION_NS[precision], precision)
        batch = Batch()
        sids, times, values = batch.series_ids, batch.times, batch.values
        known = self._known
        # The fast path: plain lines of fields already seen, each converted by its
        # parameter's type. Anything unusual (escapes, a new field, a bad value) goes to
        # `_one_line`, the full parser, which also finds the words for any refusal.
        for number, line in enumerate(text.split("\n"), start=1):
            if not line or line[0] == "#":
                continue
            start = len(values)
            try:
                parts = line.split(" ")
                if len(parts) == 3 and parts[2].isdigit():
                    t = int(parts[2]) * limits[1]
                elif len(parts) == 2:
                    t = now_ns
                else:
                    raise LookupError
                if t > limits[0] or "\\" in line:
                    raise LookupError
                key = parts[0]
                for item in parts[1].split(","):
                    name, _, raw = item.partition("=")
                    sid, convert = known[(key, name)]
                    v = convert(raw)
                    if v - v != 0.0:  # NaN or infinity
                        raise ValueError
                    sids.append(sid)
                    values.append(v)
                times.extend([t] * (len(values) - start))
            except (LookupError, ValueError):
                del sids[start:], values[start:], times[start:]
                self._one_line(line, number, now_ns, limits, batch)
        if not batch:
            raise IngestError("no data lines in the body")
        return batch

    def _one_line(self, line: str, number: int, now_ns: int, limits: tuple, batch: Batch) -> None:
        horizon, _, precision = limits
        try:
            for parsed in parse_lines(line, precision):
                t = now_ns if parsed.time_ns is None else parsed.time_ns
                if t > horizon or t < 0:
                    why = (f"more than {self.max_future_ns // NS} s ahead of the server clock"
                           if t > 0 else "before 1970")
                    raise IngestError(f"time {t} ns is {why} (precision {precision})", number)
                for name, raw in parsed.fields:
                    sid, param = self._resolve(parsed.key, name, number)
                    batch.series_ids.append(sid)
                    batch.times.append(t)
                    batch.values.append(_number(param, raw, number))
        except LineError as exc:
            raise IngestError(exc.message, number) from None

    def _resolve(self, key: str, field: str, number: int) -> tuple[int, Parameter]:
        measurement, satellite, station = self._entity(key, number)
        param = self.mission.parameters.get(field)
        if param is None:
            raise IngestError(f"unknown parameter {field!r} in measurement {measurement!r}", number)
        if param.subsystem != measurement:
            raise IngestError(f"parameter {field!r} belongs to measurement {param.subsystem!r}, "
                              f"not {measurement!r}", number)
        info = self.registry.find(satellite, station, field)
        if info is None:
            raise IngestError(f"{satellite} has no parameter {field!r}", number)
        self._known[(key, field)] = (info.id, _CONVERT[param.type](param))
        return info.id, param

    def _entity(self, key: str, number: int) -> tuple[str, str | None, str | None]:
        if key in self._keys:
            return self._keys[key]
        measurement, tags = parse_key(key, number)
        subsystem = self.mission.subsystems.get(measurement)
        if subsystem is None:
            raise IngestError(f"unknown measurement {measurement!r} (expected one of "
                              f"{', '.join(self.mission.subsystems)})", number)
        wanted = _TAGS[subsystem.entity]
        if set(tags) != set(wanted):
            raise IngestError(f"measurement {measurement!r} takes tags {', '.join(wanted)}; "
                              f"got {', '.join(sorted(tags)) or 'none'}", number)
        satellite, station = tags.get("satellite"), tags.get("station")
        if satellite is not None and satellite not in self.mission.satellites:
            raise IngestError(f"unknown satellite {satellite!r}", number)
        if station is not None and station not in self.mission.stations:
            raise IngestError(f"unknown station {station!r}", number)
        self._keys[key] = (measurement, satellite, station)
        return self._keys[key]


def _float_text(raw: str) -> float:
    if "_" in raw:  # Python reads 1_000; line protocol does not
        raise ValueError(raw)
    return float(raw)


def _int_text(raw: str) -> float:
    if raw[-1] != "i" or "_" in raw:
        raise ValueError(raw)
    return float(int(raw[:-1]))


_BOOL_TEXT = {**dict.fromkeys(("t", "T", "true", "True", "TRUE"), 1.0),
              **dict.fromkeys(("f", "F", "false", "False", "FALSE"), 0.0)}
# Per parameter type, a function from field text to the stored number; a text of another
# shape raises LookupError or ValueError and takes the full parser.
_CONVERT: dict[str, Callable[[Parameter], Callable[[str], float]]] = {
    "float": lambda p: _float_text,
    "int": lambda p: _int_text,
    "bool": lambda p: _BOOL_TEXT.__getitem__,
    "enum": lambda p: {f'"{v}"': float(i) for i, v in enumerate(p.values)}.__getitem__,
}


def _number(param: Parameter, raw: FieldValue, line: int) -> float:
    """The stored float for a field value, checked against the parameter's type."""
    kind = type(raw)
    if param.type == "float":
        if kind is float or kind is int:
            return float(raw)
    elif param.type == "int":
        if kind is int or (kind is float and raw.is_integer()):
            return float(raw)
    elif param.type == "bool":
        if kind is bool:
            return 1.0 if raw else 0.0
    elif kind is str and raw in param.values:
        return param.encode(raw)
    elif param.type == "enum":
        raise IngestError(f"field {param.key!r}: {raw!r} is not one of "
                          f"{', '.join(param.values)}", line)
    raise IngestError(f"field {param.key!r}: expected {param.type}, got {_kind(raw)} {raw!r}",
                      line)


def _kind(raw: FieldValue) -> str:
    return {bool: "bool", int: "int", float: "float", str: "string"}[type(raw)]
