"""Ingest: turn a line-protocol body into validated samples of known series.

A batch is all or nothing: the first bad line raises IngestError naming it, and nothing of
the batch is stored. Checks: the body's encoding (gzip decoded whole, every member, or
refused), the syntax (`lineprotocol`), the measurement (= subsystem), the tags (the entity),
each field (a parameter of that subsystem and entity), its type, finiteness, and time (not
more than `max_future_s` ahead).

What one request may hold is bounded, so that no body can take much memory: its size after
decoding (`max_body_bytes`, checked while inflating, so a gzip bomb stops at the limit), the
length of a line, the fields of a line, and the field values of the body. The body is split
into lines a block at a time; only the parsed columns grow with it.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Iterator

from backend.lineprotocol import INT64, PRECISION_NS, FieldValue, LineError, parse_key, parse_lines
from backend.mission import Mission, Parameter
from backend.series import SeriesRegistry
from backend.settings import Settings
from backend.store.base import NS, Batch

_TAGS = {"satellite": ("satellite",), "station": ("station",), "link": ("satellite", "station")}
_GZIP_MAGIC = b"\x1f\x8b"
_GZIP_CHUNK = 64 * 1024  # compressed bytes fed to the inflater at a time
_GZIP_OUT_CHUNK = 1024 * 1024  # at most this much decoded per call (not a whole bomb)
_LINE_BLOCK = 1024 * 1024  # body bytes split into lines at a time


class IngestError(ValueError):
    """A refused batch (400); `line` is 1-based, None for the body as a whole."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


class BodyTooLarge(ValueError):
    """A body over one of the request limits (413)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def decode_body(body: bytes | bytearray, content_encoding: str | None,
                max_bytes: int) -> bytes | bytearray:
    """The request body as line-protocol bytes: gunzipped when so marked."""
    encoding = (content_encoding or "identity").strip().lower()
    if encoding in ("gzip", "x-gzip"):
        return gunzip(body, max_bytes)
    if encoding != "identity":
        raise IngestError(f"Content-Encoding {content_encoding!r} is not supported "
                          "(send gzip or identity)")
    return body


def gunzip(body: bytes | bytearray, max_bytes: int) -> bytearray:
    """Every gzip member of the body, decoded, as `gzip` and HTTP clients write them (one
    member, or several concatenated). A stream that does not end properly, or anything after
    the last member, is an IngestError; output beyond max_bytes is BodyTooLarge, found while
    inflating (never more than the limit is held)."""
    out = bytearray()
    view = memoryview(body)
    inflater, member = zlib.decompressobj(wbits=31), 1
    # The input goes in bounded chunks: zlib copies the input it has not used yet
    # (unconsumed_tail, unused_data), which for a whole body of many members is quadratic.
    for offset in range(0, len(view), _GZIP_CHUNK):
        data: bytes | memoryview = view[offset:offset + _GZIP_CHUNK]
        chunk_end = offset + len(data)  # `data` is always a tail of this chunk
        while data:
            if inflater.eof:  # a member has ended: what follows must be another one
                inflater, member = zlib.decompressobj(wbits=31), member + 1
            try:
                out += inflater.decompress(data, min(_GZIP_OUT_CHUNK, max_bytes + 1 - len(out)))
            except zlib.error as exc:
                raise IngestError(f"body is not valid gzip (member {member}: {exc})") from None
            if len(out) > max_bytes:
                raise BodyTooLarge(f"body is over the {max_bytes}-byte limit once decompressed "
                                   "(KAZSAT_MAX_BODY_BYTES)")
            if inflater.eof and inflater.unused_data:
                start = chunk_end - len(inflater.unused_data)
                if view[start:start + 2] != _GZIP_MAGIC:
                    raise IngestError(f"{len(view) - start} bytes after the end of gzip member "
                                      f"{member} (at byte {start}) are not another gzip member")
            data = inflater.unused_data if inflater.eof else inflater.unconsumed_tail
    if not inflater.eof:
        raise IngestError(f"gzip stream is truncated: member {member} does not end"
                          if view else "gzip body is empty")
    return out


def lines_of(body: bytes | bytearray, max_line: int) -> Iterator[bytes | bytearray]:
    """The body's lines as body.split(b"\\n") gives them, split a block at a time: splitting
    it whole would hold every line at once. Of a line longer than a block, only its first
    block (longer than max_line: refused) is given."""
    block, start = max(_LINE_BLOCK, max_line + 1), 0
    while len(body) - start > block:
        cut = body.rfind(b"\n", start, start + block)
        if cut < 0:
            yield body[start:start + block]
            cut = body.find(b"\n", start + block)
            if cut < 0:
                return
        else:
            yield from body[start:cut].split(b"\n")
        start = cut + 1
    yield from body[start:].split(b"\n")


class Ingestor:
    def __init__(self, mission: Mission, registry: SeriesRegistry, settings: Settings) -> None:
        self.mission = mission
        self.registry = registry
        self.max_future_ns = settings.max_future_s * NS
        self.max_line_bytes = settings.max_line_bytes
        self.max_fields_per_line = settings.max_fields_per_line
        self.max_values = settings.max_values_per_body
        # ("power,satellite=kazsat-2", field) -> (series id, text-to-number function),
        # filled as fields are first seen and validated
        self._known: dict[tuple[str, str], tuple[int, Callable[[str], float]]] = {}
        self._keys: dict[str, tuple[str, str | None, str | None]] = {}

    def parse(self, body: bytes | bytearray | str, precision: str = "ns",
              now_ns: int | None = None) -> Batch:
        """The batch a body stands for; IngestError (400) or BodyTooLarge (413) if refused."""
        if precision not in PRECISION_NS:
            raise IngestError(f"precision {precision!r} is not one of ns, us, ms, s")
        if isinstance(body, str):  # text from an in-process caller; the API passes bytes
            body = body.encode()
        now_ns = time.time_ns() if now_ns is None else now_ns
        limits = (now_ns + self.max_future_ns, PRECISION_NS[precision], precision)
        batch = Batch()
        sids, times, values = batch.series_ids, batch.times, batch.values
        known, max_line, max_fields = self._known, self.max_line_bytes, self.max_fields_per_line
        # The fast path: plain lines of fields already seen, each converted by its
        # parameter's type. Anything unusual (escapes, a new field, a bad value) goes to
        # `_one_line`, the full parser, which also finds the words for any refusal.
        for number, raw in enumerate(lines_of(body, max_line), start=1):
            if len(values) > self.max_values:
                raise BodyTooLarge(f"body holds more than {self.max_values} field values "
                                   "(KAZSAT_MAX_VALUES_PER_BODY); send smaller batches")
            if len(raw) > max_line:
                raise IngestError(f"line is longer than {max_line} bytes "
                                  "(KAZSAT_MAX_LINE_BYTES)", number)
            try:
                line = raw.decode()
            except UnicodeDecodeError as exc:
                raise IngestError(f"not UTF-8 (byte {exc.start + 1} of the line)",
                                  number) from None
            if not line or line[0] == "#":
                continue
            start = len(values)
            try:
                if not line.isascii() or "\\" in line:  # see _float_text
                    raise LookupError
                parts = line.split(" ")
                if len(parts) == 3 and parts[2].isdigit():
                    t = int(parts[2]) * limits[1]
                elif len(parts) == 2:
                    t = now_ns
                else:
                    raise LookupError
                if t > limits[0]:
                    raise LookupError
                key = parts[0]
                items = parts[1].split(",")
                if len(items) > max_fields:
                    raise LookupError
                for item in items:
                    name, _, text = item.partition("=")
                    sid, convert = known[(key, name)]
                    v = convert(text)
                    if v - v != 0.0:  # NaN or infinity
                        raise ValueError
                    sids.append(sid)
                    values.append(v)
                times.extend([t] * (len(values) - start))
            except (LookupError, ValueError):
                del sids[start:], values[start:], times[start:]
                self._one_line(line, number, now_ns, limits, batch)
        if len(values) > self.max_values:
            raise BodyTooLarge(f"body holds more than {self.max_values} field values "
                               "(KAZSAT_MAX_VALUES_PER_BODY); send smaller batches")
        if not batch:
            raise IngestError("no data lines in the body")
        return batch

    def _one_line(self, line: str, number: int, now_ns: int, limits: tuple[int, int, str],
                  batch: Batch) -> None:
        horizon, _, precision = limits
        try:
            for parsed in parse_lines(line, precision):
                if len(parsed.fields) > self.max_fields_per_line:
                    raise IngestError(f"more than {self.max_fields_per_line} fields "
                                      "(KAZSAT_MAX_FIELDS_PER_LINE)", number)
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


# The fast path's converters see ASCII lines without escapes. There int() and float() read
# line protocol's numbers and more: `_` separators, a leading `+`, whitespace around, and
# "nan"/"inf" words (refused by the finiteness check); these refuse the rest, and the full
# parser then says why.


def _float_text(raw: str) -> float:
    if "_" in raw or not " " < raw[0] != "+" or raw[-1] <= " ":
        raise ValueError(raw)
    return float(raw)


def _int_text(raw: str) -> float:
    digits = raw[:-1] if raw[-1] == "i" else ""
    if not (digits.isdigit() or (digits[:1] == "-" and digits[1:].isdigit())):
        raise ValueError(raw)
    value = int(digits)
    if value not in INT64:
        raise ValueError(raw)
    return float(value)


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
        if kind is int or (isinstance(raw, float) and raw.is_integer()):
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
