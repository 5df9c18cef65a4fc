"""The design choices of ingest and storage, measured again: each approach the design weighed
beside the one the code uses, timed in this process (docs/storage.md gives the figures).

    .venv/bin/python benchmarks/choices.py                     # every group
    .venv/bin/python benchmarks/choices.py --only parse --only json
    .venv/bin/python benchmarks/choices.py --range-days 30     # longer ranges, slower load

Groups: parse (line protocol to samples), sqlite (insert paths, rollup costs), ranges (raw
GROUP BY against the rollups), latest (last value of 500 series), json (response encoders).
Prints figures only; nothing is asserted. Times are the best (parse, sqlite) or the median
(queries, json) of a few runs, on an SQLite file in a temporary folder.
"""

from __future__ import annotations

import json
import re
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import orjson
import typer
from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel, TypeAdapter
from sqlalchemy import Engine, insert

from backend import db
from backend.ingest import Ingestor
from backend.lineprotocol import parse_lines
from backend.mission import load_mission
from backend.series import SeriesRegistry
from backend.settings import Settings
from backend.store.base import LEVELS_S, NS, Batch
from backend.store.sql import Columns, SqlStore, rollup_rows

GROUPS = ("parse", "sqlite", "ranges", "latest", "json")
LINES = 50_000
T0 = 1_767_225_600 * NS  # 2026-01-01T00:00Z


def best_s(fn: Callable[[], object], runs: int = 3) -> float:
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return min(out)


def median_ms(fn: Callable[[], object], runs: int = 7) -> float:
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return statistics.median(out)


def fresh_engine(folder: Path, name: str) -> Engine:
    engine = db.make_engine(f"sqlite:///{folder / name}")
    db.upgrade(engine)
    return engine


# ---- parse -------------------------------------------------------------------------------

ONE = "power,satellite=kazsat-2 bus_voltage={v} {t}"
TEN = ("link,station=akkol,satellite=kazsat-2 ebn0_db={v},beacon_level=-105.5,"
       "rain_attenuation=0.1,ber=1e-12,antenna_azimuth=160.5,antenna_elevation=28.8,"
       "slant_range=38713,frames_received=16i,frames_lost=0i,carrier_lock=true {t}")


def body(template: str) -> str:
    return "\n".join(template.format(v=100 + (i % 7) * 0.01, t=T0 + i * NS) for i in range(LINES))


def split_to_tuples(text: str) -> int:
    """The plain approach: every line to (measurement, tags, field, value, time) tuples."""
    out = []
    for line in text.split("\n"):
        key, fields, stamp = line.split(" ")
        measurement, *tags = key.split(",")
        tag_map = dict(t.split("=", 1) for t in tags)
        t = int(stamp)
        for item in fields.split(","):
            name, _, raw = item.partition("=")
            out.append((measurement, tag_map, name, raw, t))
    return len(out)


LINE_RE = re.compile(r"^([^ ]+) ([^ ]+) (\d+)$")
FIELD_RE = re.compile(r"([^,=]+)=([^,]+)")


def regex_per_line(text: str) -> int:
    out = []
    for line in text.split("\n"):
        m = LINE_RE.match(line)
        assert m
        measurement, *tags = m.group(1).split(",")
        t = int(m.group(3))
        out.extend((measurement, tags, k, v, t) for k, v in FIELD_RE.findall(m.group(2)))
    return len(out)


def group_parse(folder: Path) -> None:
    mission = load_mission(Settings().mission_file)
    engine = fresh_engine(folder, "parse.db")
    ingestor = Ingestor(mission, SeriesRegistry(engine, mission), 86_400)
    now = T0 + 10 * LINES * NS
    print("parse: field values per second (best of 3)")
    print(f"  {'approach':<62} {'1 field':>10} {'10 fields':>10}")
    bodies = {1: body(ONE), 10: body(TEN)}
    # The same lines with an escaped space in a tag value: only the full parser reads them.
    escaped = {n: b.replace("satellite=kazsat-2", "satellite=kazsat\\ 2")
               for n, b in bodies.items()}
    rows: list[tuple[str, Callable[[str], object], dict[int, str]]] = [
        ("str.split to full (measurement, tags, field, value, time)", split_to_tuples, bodies),
        ("ingest: str.split, series key cached -> (series id, t, value)",
         lambda b: ingestor.parse(b, "ns", now), bodies),
        ("a regular expression per line", regex_per_line, bodies),
        ("the full parser, lines with escapes", lambda b: list(parse_lines(b)), escaped),
    ]
    for name, fn, texts in rows:
        rates = [n * LINES / best_s(lambda fn=fn, t=texts[n]: fn(t)) for n in (1, 10)]
        print(f"  {name:<62} {rates[0] / 1e3:>8,.0f} k {rates[1] / 1e3:>8,.0f} k")


# ---- sqlite ------------------------------------------------------------------------------

SERIES, PER_TX, TXS = 50, 5_000, 40


def sample_batches() -> list[list[tuple[int, int, float]]]:
    """TXS transactions of PER_TX samples: SERIES series at 1 Hz, sorted by (series, t)."""
    per_series = PER_TX // SERIES
    out = []
    for k in range(TXS):
        t0 = T0 + k * per_series * NS
        out.append([(sid, t0 + i * NS, 100.0 + (i % 13) * 0.1)
                    for sid in range(1, SERIES + 1) for i in range(per_series)])
    return out


def group_sqlite(folder: Path) -> None:
    batches = sample_batches()
    total = PER_TX * TXS
    sql = "INSERT INTO samples (series_id, t, value) VALUES (?, ?, ?)"
    print(f"sqlite: rows per second, {PER_TX:,} rows a transaction, {total:,} rows "
          "(WAL, synchronous=FULL)")

    def plain_sqlite3(path: Path) -> None:
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("CREATE TABLE samples (series_id INTEGER, t INTEGER, value REAL, "
                     "PRIMARY KEY (series_id, t)) WITHOUT ROWID")
        for rows in batches:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(sql, rows)
            conn.execute("COMMIT")
        conn.close()

    def driver_tuples(engine: Engine) -> None:
        for rows in batches:
            with engine.begin() as conn:
                conn.exec_driver_sql(sql, rows)

    def core_dicts(engine: Engine) -> None:
        for rows in batches:
            with engine.begin() as conn:
                conn.execute(insert(db.samples),
                             [{"series_id": s, "t": t, "value": v} for s, t, v in rows])

    def store_rollups(engine: Engine, per_sample: bool) -> None:
        # The store's own rollup upsert (four levels), fed pre-aggregated rows or one per sample.
        store = SqlStore(engine)
        for rows in batches:
            cols = Columns.of(Batch(*(list(c) for c in zip(*rows, strict=True))))
            if per_sample:
                up = [(lv, s, t // (lv * NS) * lv * NS, v, v, v, 1, t, v, t, v)
                      for lv in LEVELS_S for s, t, v in rows]
            else:
                up = [r for lv in LEVELS_S for r in rollup_rows(cols, lv)]
            with engine.begin() as conn:
                conn.exec_driver_sql(sql, rows)
                conn.exec_driver_sql(store._sql_rollup, up)

    runs: list[tuple[str, Callable[[int], None]]] = [
        ("sqlite3 executemany, WITHOUT ROWID table keyed (series_id, t)",
         lambda i: plain_sqlite3(folder / f"plain{i}.db")),
        ("SQLAlchemy exec_driver_sql(sql, list of tuples)  [the store]",
         lambda i: driver_tuples(fresh_engine(folder, f"tuples{i}.db"))),
        ("SQLAlchemy execute(insert(table), list of dicts)",
         lambda i: core_dicts(fresh_engine(folder, f"dicts{i}.db"))),
        ("tuples + rollups at 4 levels, pre-aggregated per batch  [the store]",
         lambda i: store_rollups(fresh_engine(folder, f"agg{i}.db"), per_sample=False)),
        ("tuples + rollups at 4 levels, one upsert row per sample",
         lambda i: store_rollups(fresh_engine(folder, f"each{i}.db"), per_sample=True)),
    ]
    for name, fn in runs:
        times = []
        for i in range(2):
            start = time.perf_counter()
            fn(i)
            times.append(time.perf_counter() - start)
        print(f"  {name:<70} {total / min(times) / 1e3:>6,.0f} k")


# ---- ranges ------------------------------------------------------------------------------

def group_ranges(folder: Path, days: int) -> None:
    engine = fresh_engine(folder, "ranges.db")
    store = SqlStore(engine)
    sid, step = 1, 50_000
    n = days * 86_400
    print(f"ranges: loading one 1 Hz series, {days} days ({n:,} samples) through the store ...")
    for a in range(0, n, step):
        k = range(a, min(a + step, n))
        store.write(Batch([sid] * len(k), [T0 + i * NS for i in k],
                          [100.0 + (i % 97) * 0.01 for i in k]), now_ns=T0 + n * NS)
    raw_sql = ("SELECT (t - ?) / ? AS b, min(value), max(value), avg(value), count(*) "
               "FROM samples WHERE series_id = ? AND t >= ? AND t < ? GROUP BY b")
    print("  1,000 buckets of min/max/mean/count, median ms of 7")
    print(f"  {'range':>6} {'raw GROUP BY':>14} {'rollups [the store]':>20}  level used")
    with engine.connect() as conn:
        for span_d in (d for d in (1, 7, 30, 365) if d <= days):
            end = T0 + n * NS
            start = end - span_d * 86_400 * NS
            width = -(-(end - start) // 1000)
            raw = median_ms(lambda s=start, e=end, w=width: conn.exec_driver_sql(
                raw_sql, (s, w, sid, s, e)).all(), runs=3 if span_d > 7 else 7)
            result = store.range(sid, start, end, 1000)
            rolled = median_ms(lambda s=start, e=end: store.range(sid, s, e, 1000))
            print(f"  {span_d:>4} d {raw:>11,.1f} ms {rolled:>17,.1f} ms  {result.resolution}")


# ---- latest ------------------------------------------------------------------------------

def group_latest(folder: Path) -> None:
    engine = fresh_engine(folder, "latest.db")
    store = SqlStore(engine)
    series, per = 500, 200
    store.write(Batch([s for s in range(1, series + 1) for _ in range(per)],
                      [T0 + i * NS for _ in range(series) for i in range(per)],
                      [float(i) for _ in range(series) for i in range(per)]),
                now_ns=T0 + per * NS)
    print(f"latest: last value of {series} series ({per} samples each), median ms of 7")
    with engine.connect() as conn:
        queries = {
            "GROUP BY series with max(t), joined back":
                "SELECT s.series_id, s.t, s.value FROM samples s JOIN (SELECT series_id, "
                "max(t) AS t FROM samples GROUP BY series_id) m "
                "ON s.series_id = m.series_id AND s.t = m.t",
            "a correlated subquery per series (an index seek each)":
                "WITH x AS MATERIALIZED (SELECT series_id AS sid, (SELECT max(t) FROM samples "
                "WHERE samples.series_id = latest.series_id) AS t FROM latest) "
                "SELECT x.sid, s.t, s.value FROM x JOIN samples s "
                "ON s.series_id = x.sid AND s.t = x.t",
        }
        for name, sql in queries.items():
            ms = median_ms(lambda sql=sql: conn.exec_driver_sql(sql).all())
            print(f"  {name:<50} {ms:>8.2f} ms")
    print(f"  {'the latest table kept on ingest  [the store]':<50} "
          f"{median_ms(lambda: store.latest(T0 + per * NS)):>8.2f} ms")


# ---- json --------------------------------------------------------------------------------

class Row(BaseModel):
    series: str
    t: str
    value: float
    state: str


def group_json() -> None:
    rows = [{"series": f"kazsat-2||param_{i}", "t": "2026-11-25T12:00:00.000000000Z",
             "value": 100.0 + i / 7, "state": "nominal"} for i in range(1000)]
    models = [Row(**r) for r in rows]
    adapter = TypeAdapter(list[Row])
    print("json: an answer of 1,000 small objects, encoding only, median ms of 7")
    for name, fn in [
        ("FastAPI's default for plain dicts (jsonable_encoder, json.dumps)",
         lambda: json.dumps(jsonable_encoder(rows)).encode()),
        ("FastAPI's default for pydantic models", lambda: json.dumps(jsonable_encoder(models))),
        ("a pydantic model list (TypeAdapter.dump_json)", lambda: adapter.dump_json(models)),
        ("orjson.dumps of plain dicts  [the API's read routes]", lambda: orjson.dumps(rows)),
    ]:
        print(f"  {name:<66} {median_ms(fn):>8.2f} ms")


def main(only: Annotated[list[str], typer.Option(help=f"groups to run: {', '.join(GROUPS)}")]
         = [],  # noqa: B006
         range_days: Annotated[int, typer.Option(help="days loaded for the range group")] = 7,
         ) -> None:
    unknown = set(only) - set(GROUPS)
    if unknown:
        raise typer.BadParameter(f"unknown group {', '.join(sorted(unknown))}",
                                 param_hint="--only")
    chosen = only or list(GROUPS)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for group in chosen:
            if group == "parse":
                group_parse(folder)
            elif group == "sqlite":
                group_sqlite(folder)
            elif group == "ranges":
                group_ranges(folder, range_days)
            elif group == "latest":
                group_latest(folder)
            else:
                group_json()
            print()


if __name__ == "__main__":
    typer.run(main)
