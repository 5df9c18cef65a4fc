"""Blocks -> InfluxDB line protocol.

Blocks of one measurement and entity (different sample periods) are merged, so fields that share
a timestamp go in one line. Lines are built with one %-format per line over preconverted
columns, the fastest pure-Python way (no per-value Python calls).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import numpy as np

from simulator.catalogue import ParamSpec
from simulator.model import Block


def escape_key(s: str) -> str:
    """Measurement, tag key/value and field key escaping (comma, equals, space)."""
    return s.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


def _escape_str(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"')


def _column(p: ParamSpec | None, v: np.ndarray) -> tuple[str, list[Any]]:
    """A %-format for one field and its values as a Python list that format accepts."""
    if v.dtype == bool:
        return "%s", np.where(v, "true", "false").tolist()
    if np.issubdtype(v.dtype, np.integer):
        return "%di", v.tolist()
    if v.dtype.kind in "US":
        return "%s", [f'"{_escape_str(x)}"' for x in v.tolist()]
    decimals = p.decimals if p else 5
    if decimals >= 6:  # tiny numbers (bit-error rate): keep significant digits
        return "%.4e", v.tolist()
    return f"%.{decimals + 1}f", v.tolist()


def lines(blocks: list[Block], params: dict[str, ParamSpec]) -> Iterator[tuple[list[str], int]]:
    """(lines, field values in them) for each measurement and entity, in time order."""
    for ls, counts in _lines_counted(blocks, params):
        yield ls, int(counts.sum())


def _lines_counted(
    blocks: list[Block], params: dict[str, ParamSpec]
) -> Iterator[tuple[list[str], np.ndarray]]:
    """(lines, field values of each line) for each measurement and entity."""
    groups: dict[tuple[str, tuple[tuple[str, str], ...]], list[Block]] = defaultdict(list)
    for b in blocks:
        groups[(b.measurement, tuple(b.tags.items()))].append(b)
    for (meas, tags), bl in groups.items():
        prefix = escape_key(meas) + "".join(f",{escape_key(k)}={escape_key(v)}" for k, v in tags)
        bl = [b for b in bl if len(b.times) and b.fields]
        if len(bl) == 1:
            b = bl[0]
            yield _format(prefix, b, params), np.full(len(b.times), len(b.fields))
        elif bl:
            yield _merged(prefix, bl, params)


def _format(prefix: str, b: Block, params: dict[str, ParamSpec]) -> list[str]:
    fmts, cols = [], []
    for k, v in b.fields.items():
        f, c = _column(params.get(k), v)
        fmts.append(f"{escape_key(k)}={f}")
        cols.append(c)
    fmt = f"{prefix} {','.join(fmts)} %d"
    cols.append(b.times.tolist())
    return [fmt % row for row in zip(*cols, strict=True)]


def _merged(
    prefix: str, bl: list[Block], params: dict[str, ParamSpec]
) -> tuple[list[str], np.ndarray]:
    """Blocks with different periods: rows that share a time get one line with all fields."""
    times = np.unique(np.concatenate([b.times for b in bl]))
    present = np.zeros(len(times), dtype=np.int64)
    counts = np.zeros(len(times), dtype=np.int64)
    where = []
    for i, b in enumerate(bl):
        idx = np.searchsorted(times, b.times)
        present[idx] |= 1 << i
        counts[idx] += len(b.fields)
        where.append(idx)
    out = np.empty(len(times), dtype=object)
    for pattern in np.unique(present):
        rows = np.flatnonzero(present == pattern)
        fields: dict[str, np.ndarray] = {}
        for i, b in enumerate(bl):
            if pattern & (1 << i):
                pos = np.searchsorted(where[i], rows)
                fields.update({k: v[pos] for k, v in b.fields.items()})
        sub = Block(bl[0].measurement, {}, times[rows], fields)
        out[rows] = _format(prefix, sub, params)
    return out.tolist(), counts


def batches(
    blocks: list[Block], params: dict[str, ParamSpec], max_values: int = 10_000
) -> Iterator[tuple[str, int]]:
    """Request bodies of about max_values field values each (whole lines), and exact counts."""
    buf: list[str] = []
    count = 0
    for ls, counts in _lines_counted(blocks, params):
        cum = np.cumsum(counts)
        s, done = 0, 0
        while s < len(ls):
            # the most lines from s that keep this body within max_values (at least one line)
            e = max(int(np.searchsorted(cum, done + max_values - count, side="right")), s + 1)
            buf.extend(ls[s:e])
            count += int(cum[e - 1]) - done
            done = int(cum[e - 1])
            s = e
            if count >= max_values:
                yield "\n".join(buf), count
                buf, count = [], 0
    if buf:
        yield "\n".join(buf), count
