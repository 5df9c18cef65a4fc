"""Streaming export of samples or rollups as CSV or Parquet, a chunk at a time."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from backend.series import SeriesInfo
from backend.store.base import TelemetryStore
from backend.timeutil import format_time

if TYPE_CHECKING:
    from typing_extensions import Buffer  # collections.abc has it from Python 3.12

RAW_COLUMNS = ["time", "satellite", "station", "parameter", "value"]
ROLLUP_COLUMNS = ["time", "satellite", "station", "parameter", "min", "max", "mean", "count",
                  "first", "last"]
CHUNK_ROWS = 5000


def rows(store: TelemetryStore, series: list[SeriesInfo], start_ns: int, end_ns: int,
         level_s: int | None, decode: bool = True) -> Iterator[list[Any]]:
    """Export rows, series after series, each in time order. Raw enum and bool values are
    decoded to their names (CSV) or kept as numbers (Parquet: one float column)."""
    by_id = {s.id: s for s in series}
    for row in store.export([s.id for s in series], start_ns, end_ns, level_s):
        info = by_id[row[0]]
        head = [format_time(row[1]), info.satellite or "", info.station or "",
                info.parameter.key]
        if level_s is None:
            yield [*head, info.parameter.decode(row[2]) if decode else row[2]]
        else:
            yield [*head, *row[2:]]


def csv_chunks(lines: Iterator[list[Any]], columns: list[str]) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for i, line in enumerate(lines, start=1):
        writer.writerow(["true" if v is True else "false" if v is False else v for v in line])
        if i % CHUNK_ROWS == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def parquet_chunks(lines: Iterator[list[Any]], columns: list[str]) -> Iterator[bytes]:
    """Row groups of 100,000 rows, each sent as soon as it is written: Parquet's writer only
    appends (header, row groups, then the footer at close), so nothing is spooled."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = _Sink()
    writer = None
    for group in _groups(lines):
        table = pa.table({name: [r[i] for r in group] for i, name in enumerate(columns)})
        if writer is None:
            writer = pq.ParquetWriter(sink, table.schema)
        writer.write_table(table.cast(writer.schema))
        yield sink.take()
    if writer is None:
        writer = pq.ParquetWriter(sink, pa.schema([(c, pa.string()) for c in columns]))
    writer.close()
    yield sink.take()


class _Sink(io.RawIOBase):
    """A write-only stream that hands over what was written since the last take()."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._offset = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Buffer) -> int:
        chunk = bytes(data)
        self._parts.append(chunk)
        self._offset += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._offset

    def take(self) -> bytes:
        out, self._parts = b"".join(self._parts), []
        return out


def _groups(lines: Iterator[list[Any]]) -> Iterator[list[list[Any]]]:
    group: list[list[Any]] = []
    for line in lines:
        group.append(line)
        if len(group) == 100_000:
            yield group
            group = []
    if group:
        yield group
