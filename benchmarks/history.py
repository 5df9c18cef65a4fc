"""History query latency: 1,000-bucket queries over 1 h .. 365 d, and snapshots.

Loads one 1 Hz parameter (KazSat-2 bus_voltage) for 30 days, then extends it to 365 days,
plus every other series of the mission hourly (so a snapshot reads every series), straight
into the store; then starts the API on that store and times, over HTTP:
  - GET /api/v1/series?max_points=1000 over 1 h, 1 d, 7 d, 30 d, 365 d at random offsets;
  - GET /api/v1/latest?at=<random time> (every series' value at that time).

    .venv/bin/python benchmarks/history.py                      # SQLite in a temp folder
    .venv/bin/python benchmarks/history.py --days 30            # skip the 365-day stage
    .venv/bin/python benchmarks/history.py --store-url postgresql+psycopg://postgres@127.0.0.1/postgres

With a PostgreSQL URL, the run gets a new database on that server, dropped afterwards.
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.progress import Progress

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from backend.services import build_services
from backend.settings import Settings
from backend.store.base import NS, Batch
from backend.timeutil import format_time
from benchmarks.scratch import scratch_database
from kazsat.stack import Stack

RANGES = {"1 h": 3600, "1 d": 86_400, "7 d": 7 * 86_400, "30 d": 30 * 86_400,
          "365 d": 365 * 86_400}


def load(settings: Settings, end_s: int, from_day: int, to_day: int) -> None:
    """Days [from_day, to_day) before end_s: bus_voltage at 1 Hz, the rest hourly."""
    services = build_services(settings)
    store, registry = services.store, services.registry
    main = registry.find("kazsat-2", None, "bus_voltage").id
    others = [s.id for s in registry.by_id.values() if s.id != main]
    rng = np.random.default_rng(from_day)
    chunk_s = 86_400 // 4
    with Progress() as progress:
        task = progress.add_task(f"loading days {from_day}-{to_day}",
                                 total=(to_day - from_day) * 86_400)
        # Oldest first, as a back-fill would arrive.
        for day_start in range(end_s - to_day * 86_400, end_s - from_day * 86_400, chunk_s):
            t = (np.arange(day_start, day_start + chunk_s, dtype=np.int64) * NS)
            v = 100 + 0.3 * np.sin(t / NS / 3600) + rng.normal(0, 0.05, t.size)
            hours = np.arange(day_start, day_start + chunk_s, 3600, dtype=np.int64) * NS
            sids = [main] * t.size + [s for s in others for _ in hours]
            times = t.tolist() + hours.tolist() * len(others)
            values = v.round(3).tolist() + [1.0] * (len(hours) * len(others))
            for i in range(0, len(times), 100_000):
                store.write(Batch(sids[i:i + 100_000], times[i:i + 100_000],
                                  values[i:i + 100_000]))
            progress.advance(task, chunk_s)
    if services.engine.dialect.name == "postgresql":
        # A running server's autovacuum analyses tables as they grow; a bulk load followed
        # at once by queries must do it by hand, or the planner scans instead of seeking.
        with services.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.exec_driver_sql("ANALYZE")
    services.close()


def measure(stack: Stack, end_s: int, days: int, repeats: int) -> dict[str, tuple[float, float]]:
    """p50 and p95 in ms per range name, and for 'snapshot'; printed as it goes."""
    rng = random.Random(1)
    out = {}
    with stack.client() as c:
        c.get("/api/v1/latest")  # warm the connection
        for name, span in RANGES.items():
            if span > days * 86_400:
                continue
            times = []
            for _ in range(repeats):
                stop = end_s - rng.randrange(0, days * 86_400 - span + 1)
                params = {"satellite": "kazsat-2", "parameter": "bus_voltage",
                          "start": format_time((stop - span) * NS), "end": format_time(stop * NS),
                          "max_points": 1000}
                t0 = time.perf_counter()
                r = c.get("/api/v1/series", params=params)
                times.append((time.perf_counter() - t0) * 1000)
                r.raise_for_status()
            s = r.json()["series"][0]
            out[name] = (statistics.median(times), percentile(times, 95))
            print(f"  {name:>6}  p50 {out[name][0]:7.1f} ms  p95 {out[name][1]:7.1f} ms   "
                  f"({len(s['time'])} buckets from {s['resolution']}, {s['bucket_s']} s wide)")
        times = []
        for _ in range(repeats):
            at = (end_s - rng.randrange(0, days * 86_400)) * NS
            t0 = time.perf_counter()
            r = c.get("/api/v1/latest", params={"at": format_time(at)})
            times.append((time.perf_counter() - t0) * 1000)
        out["snapshot"] = (statistics.median(times), percentile(times, 95))
        print(f"  snapshot of {len(r.json()['series'])} series at a random time: "
              f"p50 {out['snapshot'][0]:.1f} ms  p95 {out['snapshot'][1]:.1f} ms")
    return out


def percentile(values: list[float], p: float) -> float:
    return float(np.percentile(values, p))


def one_store(store_url: str, stages: list[int], end_s: int,
              repeats: int) -> dict[str, tuple[float, float]]:
    """Load each stage, measure over HTTP; the figures of the longest stage per range."""
    figures: dict[str, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory() as tmp, scratch_database(store_url) as store_url:
        data = Path(tmp) / "data"
        settings = Settings(data_dir=data, database_url=store_url)
        loaded = 0
        for stage in stages:
            t0 = time.perf_counter()
            load(settings, end_s, loaded, stage)
            print(f"{stage} days loaded into {store_name(store_url)} "
                  f"({time.perf_counter() - t0:.0f} s for days {loaded}-{stage}); "
                  f"1,000-bucket queries over HTTP, {repeats} each:")
            loaded = stage
            stack = Stack(data, extra_env={"KAZSAT_DATABASE_URL": store_url} if store_url else {})
            stack.start_api()
            try:
                figures.update(measure(stack, end_s, stage, repeats))
            finally:
                stack.stop()
    return figures


def store_name(url: str) -> str:
    return url.split("@")[-1].split("/")[0] if url else "SQLite (embedded)"


def main(days: str = "30,365",
         store_url: Annotated[list[str], typer.Option(
             help="a store to measure, repeatable: 'sqlite' (embedded) or a PostgreSQL URL; "
                  "several are printed side by side")] = ["sqlite"],  # noqa: B006
         repeats: int = 50) -> None:
    stages = [int(d) for d in days.split(",")]
    end_s = int(time.time()) // 3600 * 3600
    urls = ["" if u == "sqlite" else u for u in store_url]
    results = {url: one_store(url, stages, end_s, repeats) for url in urls}
    names = [*RANGES, "snapshot"]
    print(f"\np50 / p95 in ms {'':<4}" + "".join(f"{store_name(u)[:24]:>26}" for u in urls))
    for name in names:
        cells = [results[u].get(name) for u in urls]
        if any(cells):
            print(f"{name:<20}" + "".join(f"{f'{c[0]:.1f} / {c[1]:.1f}' if c else '-':>26}"
                                          for c in cells))
    for url in urls:
        r = results[url]
        if "365 d" in r and "1 d" in r:
            print(f"{store_name(url)}: 365 d p50 is {r['365 d'][0] / r['1 d'][0]:.2f}x the 1 d p50")


if __name__ == "__main__":
    typer.run(main)
