"""Bytes on disk per stored value: N days of full simulated telemetry into a fresh store.

Both satellites, both stations and all links at their full rates, as `kazsat simulate
--backfill` sends them: generated an hour at a time, formatted as line protocol, parsed by
the API's own ingest (so values are what the store really holds) and written to the SQL
store in-process, oldest first; the compactor seals each segment as it settles. At the end
everything is sealed, and the database measured: on SQLite the file after a checkpoint and a
VACUUM; on PostgreSQL the telemetry tables with their indexes and TOAST (samples, blocks,
rollups, latest, series) after VACUUM FULL. Rollups and indexes included.

    nice -n 10 .venv/bin/python benchmarks/storage.py --days 1
    nice -n 10 .venv/bin/python benchmarks/storage.py --days 3 --store sqlite
    .venv/bin/python benchmarks/storage.py --days 1 --store postgres \\
        --postgres-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres

Prints figures, asserts nothing (target: at most 1.5 bytes a value on SQLite, 2 on PostgreSQL).
"""

from __future__ import annotations

import datetime as dt
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from backend import db
from backend.ingest import Ingestor
from backend.mission import load_mission
from backend.series import SeriesRegistry
from backend.settings import Settings
from backend.store.base import NS, SEGMENT_S, Batch
from backend.store.sql import SqlStore
from orbit.geometry import to_ns
from simulator.lineprotocol import batches
from simulator.model import Model

HOUR = 3600 * NS
TELEMETRY_TABLES = ("samples", "blocks", "rollups", "latest", "series")


def load(url: str, days: float) -> tuple[SqlStore, int, float]:
    """Back-fill `days` ending at the last whole hour into the store at url, sealing as it
    goes and everything at the end; (store, values stored, seconds)."""
    settings = Settings()
    mission = load_mission(settings.mission_file)
    engine = db.make_engine(url)
    db.upgrade(engine)
    registry = SeriesRegistry(engine, mission)
    ingestor = Ingestor(mission, registry, settings)
    store = SqlStore(engine, settings.clock_tolerance_s, settings.compact_settle_s)
    end = to_ns(dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0))
    start = end - int(days * 86_400 * NS)
    model = Model(mission.document(), seed=0, start_ns=start)
    stored = 0
    c0 = time.perf_counter()
    for a in range(start, end, HOUR):
        merged = Batch()
        for body, _ in batches(model.generate(a, min(a + HOUR, end)), model.catalogue.params,
                               20_000):
            part = ingestor.parse(body, now_ns=end)
            merged.series_ids += part.series_ids
            merged.times += part.times
            merged.values += part.values
        stored += len(store.write(merged, now_ns=end))
        if (a + HOUR) % (SEGMENT_S * NS) == 0:  # a segment ended: the compactor's pass
            store.compact(now_ns=a + HOUR + store.settle_ns)
        done = (a + HOUR - start) / (end - start)
        print(f"\r  {done:6.1%}  {stored:,} values", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    store.compact(now_ns=2**62)  # the last, still running segment too
    return store, stored, time.perf_counter() - c0


def sqlite_bytes(store: SqlStore, path: Path) -> tuple[int, int, dict[str, int]]:
    """(file bytes after a WAL checkpoint, after VACUUM, the largest tables and indexes
    after it), on the driver's connection: these must run outside a transaction."""
    raw = store.engine.raw_connection()
    try:
        conn = raw.driver_connection
        assert conn is not None
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        before = path.stat().st_size
        conn.execute("VACUUM")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        tables = dict(conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name "
                                   "ORDER BY 2 DESC LIMIT 6").fetchall())
    finally:
        raw.close()
    return before, path.stat().st_size, tables


def postgres_bytes(store: SqlStore) -> dict[str, int]:
    """Each telemetry table's bytes with its indexes and TOAST, after VACUUM FULL."""
    out = {}
    with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in TELEMETRY_TABLES:
            conn.exec_driver_sql(f"VACUUM FULL {table}")
            out[table] = conn.execute(text("SELECT pg_total_relation_size(:t)"),
                                      {"t": table}).scalar() or 0
    return out


def report(kind: str, stored: int, seconds: float, sizes: dict[str, int]) -> None:
    print(f"{kind}: {stored:,} values back-filled in {seconds:,.0f} s "
          f"({stored / seconds:,.0f} values/s, in-process, compaction included)")
    for name, nbytes in sizes.items():
        print(f"  {name:38} {nbytes / 1e6:10,.1f} MB  {nbytes / stored:6.3f} bytes/value")


def main(days: Annotated[float, typer.Option(help="Simulated days back-filled.")] = 1.0,
         store: Annotated[list[str] | None, typer.Option(
             help="sqlite and/or postgres (repeat the option; default both)")] = None,
         postgres_url: Annotated[str | None, typer.Option(
             envvar="KAZSAT_TEST_POSTGRES_URL",
             help="a PostgreSQL server: a database is made on it and dropped after")] = None,
         ) -> None:
    kinds = store or ["sqlite", "postgres"]
    if "sqlite" in kinds:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "kazsat.db"
            s, stored, el = load(f"sqlite:///{path}", days)
            before, after, tables = sqlite_bytes(s, path)
            report("SQLite", stored, el, {"database file (after checkpoint)": before,
                                          "database file (after VACUUM)": after,
                                          **{f"  of which {k}": v for k, v in tables.items()}})
            s.close()
    if "postgres" in kinds:
        if not postgres_url:
            print("PostgreSQL: skipped (give --postgres-url or KAZSAT_TEST_POSTGRES_URL)")
            return
        admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
        name = f"kazsat_storage_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            from sqlalchemy.engine import make_url

            url = make_url(postgres_url).set(database=name).render_as_string(
                hide_password=False)
            s, stored, el = load(url, days)
            sizes = postgres_bytes(s)
            report("PostgreSQL", stored, el, {**{f"table {k} (indexes, TOAST)": v
                                                  for k, v in sizes.items()},
                                               "telemetry tables in all": sum(sizes.values())})
            s.close()
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.dispose()


if __name__ == "__main__":
    typer.run(main)
