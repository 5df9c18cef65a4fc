"""Block codecs on the simulator's own telemetry: bytes per value and speed, per segment length.

Generates H hours of full telemetry of both satellites, both stations and all links (as
`kazsat simulate --backfill` would send it), cuts each series into segments of the given
lengths, and compresses each segment's times and values with each codec. Figures printed,
nothing asserted (the store's choice, docs/storage.md, "Compressed blocks"):

    .venv/bin/python benchmarks/codecs.py                 # 24 hours, segments of 1, 6, 24 h
    .venv/bin/python benchmarks/codecs.py --hours 24 --segments 6
"""

from __future__ import annotations

import datetime as dt
import sys
import time
import zlib
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from backend.store.blocks import encode
from orbit.geometry import to_ns
from simulator.catalogue import ParamSpec
from simulator.model import Model

NS = 1_000_000_000


def telemetry(hours: float) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Every series of `hours` of full-rate telemetry: key -> (times int64, values float64)."""
    from backend.mission import load_mission

    mission = load_mission(Path(__file__).resolve().parents[1] / "backend" / "mission.yaml")
    end = to_ns(dt.datetime(2026, 12, 1, tzinfo=dt.UTC))
    model = Model(mission.document(), seed=0, start_ns=end)
    parts: dict[str, list[tuple[np.ndarray, np.ndarray]]] = defaultdict(list)
    a = end - int(hours * 3600 * NS)
    while a < end:
        b = min(a + 900 * NS, end)
        for block in model.generate(a, b):
            tags = ",".join(f"{k}={v}" for k, v in sorted(block.tags.items()))
            for name, arr in block.fields.items():
                spec = model.catalogue.params.get(name)
                parts[f"{block.measurement},{tags} {name}"].append(
                    (block.times, _as_stored(arr, spec)))
        a = b
    return {k: (np.concatenate([p[0] for p in v]), np.concatenate([p[1] for p in v]))
            for k, v in parts.items()}


def _as_stored(arr: np.ndarray, spec: ParamSpec | None) -> np.ndarray:
    """As the store keeps it: bools 0/1, enumerations their index, numbers as float64 after
    the line protocol's formatting (the simulator sends decimals + 1 digits)."""
    if arr.dtype.kind in "OUS":
        _, index = np.unique(arr, return_inverse=True)
        return index.astype(np.float64)
    if arr.dtype == bool or np.issubdtype(arr.dtype, np.integer):
        return arr.astype(np.float64)
    decimals = spec.decimals if spec else 5
    fmt = "%.4e" if decimals >= 6 else f"%.{decimals + 1}f"
    return np.array([float(fmt % v) for v in arr.tolist()])


def _zstd(level: int) -> Callable[[np.ndarray, np.ndarray], int]:
    import zstandard

    c = zstandard.ZstdCompressor(level=level)
    return lambda ts, vs: (len(c.compress(np.diff(ts, prepend=ts[:1]).tobytes()))
                           + len(c.compress(vs.tobytes())))


def _zlib(ts: np.ndarray, vs: np.ndarray) -> int:
    return len(zlib.compress(np.diff(ts, prepend=ts[:1]).tobytes(), 6)) + \
        len(zlib.compress(vs.tobytes(), 6))


def _pcodec(ts: np.ndarray, vs: np.ndarray) -> int:
    return len(encode(ts, vs))


def main(hours: Annotated[float, typer.Option(help="Hours of telemetry generated.")] = 24.0,
         segments: Annotated[list[float] | None, typer.Option(
             help="Segment lengths in hours (repeat the option).")] = None) -> None:
    c0 = time.perf_counter()
    series = telemetry(hours)
    total = sum(len(t) for t, _ in series.values())
    print(f"{hours:g} h of telemetry: {len(series)} series, {total:,} values "
          f"(generated in {time.perf_counter() - c0:.1f} s)")
    codecs: dict[str, Callable[[np.ndarray, np.ndarray], int]] = {
        "pcodec (the store's block format)": _pcodec, "zstd -3, time deltas + raw floats": _zstd(3),
        "zstd -19, time deltas + raw floats": _zstd(19), "zlib -6, time deltas + raw floats": _zlib}
    for seg_h in segments or [1.0, 6.0, 24.0]:
        seg = int(seg_h * 3600 * NS)
        pieces = []
        for ts, vs in series.values():
            keys = ts // seg
            edges = np.flatnonzero(np.diff(keys)) + 1
            pieces += list(zip(np.split(ts, edges), np.split(vs, edges)))
        print(f"\nsegments of {seg_h:g} h: {len(pieces):,} blocks, "
              f"{total / len(pieces):,.0f} values a block on average")
        for name, size in codecs.items():
            c0 = time.perf_counter()
            nbytes = sum(size(ts, vs) for ts, vs in pieces)
            el = time.perf_counter() - c0
            print(f"  {name:38} {nbytes / total:6.3f} bytes/value  "
                  f"{total / el / 1e6:6.1f} M values/s encoded")
    from backend.store.blocks import decode

    encoded = [encode(ts, vs) for ts, vs in series.values()]
    c0 = time.perf_counter()
    for data in encoded:
        decode(data)
    print(f"\npcodec block decode (whole {hours:g} h per series): "
          f"{total / (time.perf_counter() - c0) / 1e6:.1f} M values/s")


if __name__ == "__main__":
    typer.run(main)
