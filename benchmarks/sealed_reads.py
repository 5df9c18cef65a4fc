"""Reads of one series from rows and from sealed blocks, in-process (no HTTP): 1,000-bucket
ranges, a raw hour, a raw export. Eight days of a 1 Hz series are written to a fresh SQLite
store and measured as rows, then sealed (every segment) and measured again. Prints figures,
asserts nothing:

    nice -n 10 .venv/bin/python benchmarks/sealed_reads.py
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from backend import db
from backend.store.base import NS, Batch
from backend.store.sql import SqlStore

DAY = 86_400 * NS
T0 = 1_764_000_000 // 86_400 * 86_400 * NS


def p50_ms(f: Callable[[], object], n: int = 15) -> float:
    times = []
    for _ in range(n):
        c0 = time.perf_counter()
        f()
        times.append((time.perf_counter() - c0) * 1000)
    return statistics.median(times)


def figures(store: SqlStore, tag: str) -> None:
    a = T0 + DAY // 2 + 17 * NS
    for name, span in (("1 h", 3600 * NS), ("1 d", DAY), ("7 d", 7 * DAY)):
        ms = p50_ms(lambda span=span: store.range(1, a, a + span, 1000))
        level = store.range(1, a, a + span, 1000).resolution
        print(f"{tag}: 1,000 buckets over {name}: p50 {ms:5.1f} ms ({level})")
    hour = T0 + 5 * 3600 * NS
    ms = p50_ms(lambda: store.range(1, hour, hour + 3600 * NS, 5000))
    print(f"{tag}: raw hour (3,600 samples): p50 {ms:5.1f} ms")
    c0 = time.perf_counter()
    n = sum(1 for _ in store.export([1], T0, T0 + 8 * DAY, None))
    print(f"{tag}: raw export of {n:,} values: {n / (time.perf_counter() - c0) / 1e6:.2f} M "
          "values/s")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        engine = db.make_engine(f"sqlite:///{Path(tmp) / 'kazsat.db'}")
        db.upgrade(engine)
        store = SqlStore(engine)
        rng = np.random.default_rng(0)
        for d in range(8):
            ts = np.arange(T0 + d * DAY, T0 + (d + 1) * DAY, NS)
            vs = np.round(28 + rng.standard_normal(len(ts)), 3)
            store.write(Batch([1] * len(ts), ts.tolist(), vs.tolist()))
        figures(store, "rows  ")
        store.compact(now_ns=2**62)
        figures(store, "sealed")
        store.close()


if __name__ == "__main__":
    main()
