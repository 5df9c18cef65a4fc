"""The store contract: every time-series store passes the same suite: the SQL store on
SQLite and on PostgreSQL (a real server, a database made and dropped per test), and the
InfluxDB store on an InfluxDB 2.x named by KAZSAT_TEST_INFLUX_URL (a bucket per test).

Duplicates differ by store, and the suite says so: SQL keeps the first sample written for
a series and time and `write` returns only new samples; InfluxDB keeps the last and returns
every sample sent. Tests of SQL internals (triggers, rows) run on SQL only."""

from __future__ import annotations

import os
import threading
import uuid
from contextlib import contextmanager

import numpy as np
import pytest
from sqlalchemy import func, select

from backend import db
from backend.mission import load_mission
from backend.series import SeriesRegistry
from backend.settings import Settings
from backend.store.base import NS, Batch, StoreUnavailable
from backend.store.sql import SqlStore
from tests.compacting import CompactingStore
from tests.databases import database_url

T0 = 1_764_000_000 * NS
KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
INFLUX_ENV = ("KAZSAT_TEST_INFLUX_URL", "KAZSAT_TEST_INFLUX_TOKEN", "KAZSAT_TEST_INFLUX_ORG")


@contextmanager
def influx_bucket():
    """A new bucket on the test InfluxDB, deleted afterwards, as a store URL; skips saying
    why when none is configured (no InfluxDB runs on the development machine)."""
    if not all(os.environ.get(v) for v in INFLUX_ENV):
        pytest.skip("InfluxDB contract tests need " + ", ".join(INFLUX_ENV) +
                    " (an InfluxDB 2.x server, e.g. the one docker-compose.yml starts)")
    from urllib.parse import urlsplit

    from influxdb_client import InfluxDBClient

    server, token, org = (os.environ[v] for v in INFLUX_ENV)
    name = f"kazsat_test_{uuid.uuid4().hex[:12]}"
    with InfluxDBClient(url=server, token=token, org=org) as client:
        bucket = client.buckets_api().create_bucket(bucket_name=name, org=org)
        try:
            u = urlsplit(server)
            scheme = "influxdb+https" if u.scheme == "https" else "influxdb"
            yield f"{scheme}://{org}:{token}@{u.netloc}/{name}"
        finally:
            client.buckets_api().delete_bucket(bucket)


@pytest.fixture(params=[*KINDS, pytest.param("influxdb", marks=pytest.mark.influxdb)])
def url(request, tmp_path):
    if request.param == "influxdb":
        with influx_bucket() as u:
            yield u
        return
    with database_url(request.param, tmp_path) as u:
        yield u


def open_store(url: str, compacted: bool = False) -> tuple[SqlStore, SeriesRegistry]:
    if url.startswith("influxdb"):
        from backend.store.influx import InfluxStore

        # Relational state stays in SQL: a fresh registry numbers the mission's series the
        # same way every time, so a reopened store maps them alike.
        engine = db.make_engine("sqlite://")
        db.upgrade(engine)
        registry = SeriesRegistry(engine, load_mission(Settings().mission_file))
        return InfluxStore.from_url(url, registry), registry
    engine = db.make_engine(url)
    db.upgrade(engine)
    registry = SeriesRegistry(engine, load_mission(Settings().mission_file))
    return (CompactingStore(engine) if compacted else SqlStore(engine)), registry


def first_wins(store) -> bool:
    """SQL keeps the first sample of a series and time; InfluxDB the last."""
    return isinstance(store, SqlStore)


def sql_only(store) -> None:
    if not isinstance(store, SqlStore):
        pytest.skip("tests SQL internals (triggers, rows, the write cache)")


# "blocks": the SQL store sealing everything into compressed blocks after each write.
@pytest.fixture(params=["rows", "blocks"])
def layout(request, url):
    if request.param == "blocks" and url.startswith("influxdb"):
        pytest.skip("blocks are the SQL store's")
    return request.param


@pytest.fixture
def store(url, layout):
    s, registry = open_store(url, layout == "blocks")
    s.registry = registry
    yield s
    s.close()


def sid(store, key="bus_voltage", sat="kazsat-2", sta=None) -> int:
    return store.registry.find(sat, sta, key).id


def samples(series_id: int, start: int, count: int, step_s: float, value0: float = 0.0):
    t = [start + int(i * step_s * NS) for i in range(count)]
    return Batch([series_id] * count, t, [value0 + i for i in range(count)])


def count_rows(store, table) -> int:
    with store.reader.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar()


def test_write_then_latest_and_at(store):
    a, b = sid(store), sid(store, "battery_soc")
    stored = store.write(Batch([a, b, a], [T0, T0, T0 + NS], [100.0, 90.0, 101.0]))
    assert len(stored) == 3
    assert store.latest()[a] == (T0 + NS, 101.0) and store.latest()[b] == (T0, 90.0)
    snap = store.at(T0 + NS // 2)
    assert snap[a] == (T0, 100.0) and snap[b] == (T0, 90.0)


def test_sample_ahead_of_the_clock_is_stored_but_not_the_latest(store):
    """A sender whose clock runs a day ahead: its sample is kept for replay, but the
    latest values stay the present, and the present goes on moving them."""
    a = sid(store)
    store.write(Batch([a], [T0 + 86_000 * NS], [99.0]), now_ns=T0)
    assert store.latest(now_ns=T0) == {}
    assert store.at(T0 + 86_000 * NS)[a] == (T0 + 86_000 * NS, 99.0)
    store.write(Batch([a, a], [T0 - NS, T0 + 4 * NS], [30.0, 31.0]), now_ns=T0)  # 4 s: skew
    assert store.latest(now_ns=T0)[a] == (T0 + 4 * NS, 31.0)
    # A day on, the same time arrives as the present: stored once, and it is the latest.
    later = T0 + 86_000 * NS
    assert len(store.write(Batch([a, a], [later, later + NS], [99.0, 98.0]), now_ns=later)) \
        == (1 if first_wins(store) else 2)
    assert store.latest(now_ns=later + NS)[a] == (later + NS, 98.0)


def test_latest_row_ahead_of_the_clock_is_put_back(store):
    """A latest row a day ahead, as a version before the clock rule left it, is put back
    to the newest sample of the present the first time latest is read (at start)."""
    sql_only(store)
    if isinstance(store, CompactingStore):
        pytest.skip("deletes a sample's row by hand")
    a, b = sid(store), sid(store, "battery_soc")
    store.write(Batch([a, b], [T0, T0], [100.0, 90.0]), now_ns=T0)
    store.write(Batch([a, b], [T0 + 86_000 * NS] * 2, [105.0, 99.0]), now_ns=T0)
    with store.engine.begin() as conn:
        conn.execute(db.latest.update().values(t=T0 + 86_000 * NS, value=99.0))
        conn.execute(db.samples.delete().where(db.samples.c.series_id == b,
                                               db.samples.c.t == T0))
    reopened = SqlStore(store.engine)
    assert reopened.latest(now_ns=T0) == {a: (T0, 100.0)}  # b has no sample of the present
    with store.reader.connect() as conn:
        assert conn.execute(select(db.latest.c.series_id, db.latest.c.t)).all() == [(a, T0)]
    assert len(reopened.write(Batch([a], [T0 + NS], [101.0]), now_ns=T0)) == 1
    assert reopened.latest(now_ns=T0)[a] == (T0 + NS, 101.0)


def fail_inserts_of(store, value: float) -> None:
    """A trigger that makes the database itself refuse one row, in the middle of a batch."""
    with store.engine.begin() as conn:
        if store.engine.dialect.name == "sqlite":
            conn.exec_driver_sql(f"CREATE TRIGGER refuse BEFORE INSERT ON samples WHEN "
                                 f"NEW.value = {value} BEGIN SELECT RAISE(ABORT, 'refused'); END")
        else:
            conn.exec_driver_sql("CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN "
                                 f"IF NEW.value = {value} THEN RAISE EXCEPTION 'refused'; END IF; "
                                 "RETURN NEW; END $$ LANGUAGE plpgsql")
            conn.exec_driver_sql("CREATE TRIGGER refuse BEFORE INSERT ON samples "
                                 "FOR EACH ROW EXECUTE FUNCTION refuse()")


def test_batch_is_all_or_nothing(store):
    sql_only(store)  # InfluxDB: a failed request stores nothing, chunks are separate
    a = sid(store)
    store.write(samples(a, T0, 10, 1))
    before = [count_rows(store, t) for t in (db.samples, db.rollups)]
    fail_inserts_of(store, 107.0)
    bad = samples(a, T0 + 100 * NS, 10, 1, 100)  # its eighth row is 107
    with pytest.raises(StoreUnavailable, match="refused"):
        store.write(bad)
    assert [count_rows(store, t) for t in (db.samples, db.rollups)] == before
    assert store.latest()[a] == (T0 + 9 * NS, 9.0)
    assert len(store.write(samples(a, T0 + 100 * NS, 10, 1))) == 10  # and it recovers


def test_non_finite_values_are_refused(store):
    with pytest.raises(ValueError, match="finite"):
        store.write(Batch([sid(store)], [T0], [float("nan")]))


def test_late_out_of_order_and_resent_samples(store):
    a = sid(store)
    store.write(samples(a, T0 + 60 * NS, 60, 1, 100))
    late = store.write(Batch([a, a, a], [T0 + 5 * NS, T0 + 61 * NS, T0 + 5 * NS],
                             [7.0, -1.0, 8.0]))
    if first_wins(store):
        assert late.times == [T0 + 5 * NS]  # resent (61 s) and repeated (second 5 s) ignored
    else:  # every sample sent comes back; the last of a repeat is the one kept
        assert (late.times, late.values) == ([T0 + 5 * NS, T0 + 61 * NS], [8.0, -1.0])
    assert store.latest()[a] == (T0 + 119 * NS, 159.0)
    r = store.range(a, T0, T0 + 3600 * NS, 2)
    assert sum(r.buckets.count) == 61
    assert min(r.buckets.min) == (7.0 if first_wins(store) else -1.0)


@pytest.mark.parametrize(("span_s", "resolution", "bucketed"), [
    (600, "raw", False), (6 * 3600, "raw", True), (2 * 86_400, "1m", True),
    (30 * 86_400, "10m", True), (365 * 86_400, "1h", True), (3 * 365 * 86_400, "1d", True)])
def test_range_at_every_resolution(store, span_s, resolution, bucketed):
    a = sid(store)
    step = max(span_s / 20_000, 1)
    rng = np.random.default_rng(span_s)
    n = int(span_s / step)
    times = (T0 + (np.arange(n) * step * NS)).astype(np.int64)
    values = rng.normal(100, 1, n).round(4)
    for i in range(0, n, 5000):
        store.write(Batch([a] * len(times[i:i + 5000]), times[i:i + 5000].tolist(),
                          values[i:i + 5000].tolist()))
    start, end = T0 + 17 * NS, T0 + span_s * NS - 3 * NS  # edges off the bucket grid
    r = store.range(a, start, end, 500 if bucketed else 1000)
    assert (r.buckets is not None) == bucketed
    if isinstance(store, SqlStore):
        assert r.resolution == resolution
    else:  # InfluxDB names its query-time window instead of a rollup level
        assert (r.resolution == "raw") == (not bucketed)
    inside = (times >= start) & (times < end)
    if not bucketed:
        assert r.values == values[inside].tolist()
        return
    width = round(r.bucket_s * NS)
    keys = times[inside] // width * width
    for i, k in enumerate(r.buckets.times):
        v = values[inside][keys == k]
        assert (r.buckets.min[i], r.buckets.max[i], r.buckets.count[i]) == \
            (v.min(), v.max(), len(v))
        assert r.buckets.mean[i] == pytest.approx(v.mean(), rel=1e-9)
    assert sum(r.buckets.count) == int(inside.sum())


def test_export_raw_and_rollups(store):
    a, b = sid(store), sid(store, "battery_soc")
    store.write(samples(a, T0, 180, 1))
    store.write(samples(b, T0, 3, 60, 50))
    raw = list(store.export([b, a], T0, T0 + 3600 * NS, None))
    assert [r[0] for r in raw] == [b] * 3 + [a] * 180
    assert raw[0] == (b, T0, 50.0)
    minute = list(store.export([a], T0, T0 + 3600 * NS, 60))
    assert [(r[1], r[2], r[3], r[5]) for r in minute] == [
        (T0 + i * 60 * NS, 60.0 * i, 60.0 * i + 59, 60) for i in range(3)]


def test_concurrent_writers_and_readers(store):
    keys = ["bus_voltage", "battery_soc", "bus_current", "battery_voltage"]
    ids = [sid(store, k) for k in keys]
    errors: list[BaseException] = []

    def writer(series_id: int) -> None:
        try:
            for i in range(20):
                store.write(samples(series_id, T0 + i * 100 * NS, 100, 1))
        except BaseException as exc:
            errors.append(exc)

    def reader() -> None:
        try:
            for _ in range(40):
                store.latest()
                store.range(ids[0], T0, T0 + 2000 * NS, 100)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in ids]
    threads += [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for i in ids:
        r = store.range(i, T0, T0 + 2000 * NS, 10)
        assert sum(r.buckets.count) == 2000


def test_two_store_objects_on_one_database(url, layout):
    """A second writer (another process, say) must not make either lose or double data."""
    if url.startswith("influxdb"):
        pytest.skip("SQL's write cache; InfluxDB overwrites instead (see first_wins)")
    first, registry = open_store(url, layout == "blocks")
    second, _ = open_store(url, layout == "blocks")
    a = registry.find("kazsat-2", None, "bus_voltage").id
    first.write(samples(a, T0, 10, 1))
    assert len(second.write(samples(a, T0 + 5 * NS, 10, 1))) == 5  # 5 s .. 9 s exist already
    assert len(first.write(samples(a, T0, 20, 1))) == 5  # its cache was behind: reloads
    r = first.range(a, T0, T0 + 3600 * NS, 2)
    assert sum(r.buckets.count) == 20
    first.close()
    second.close()


def test_restart_keeps_everything(url, layout):
    store, registry = open_store(url, layout == "blocks")
    a = registry.find("kazsat-2", None, "bus_voltage").id
    store.write(samples(a, T0, 120, 1))
    store.close()
    again, _ = open_store(url, layout == "blocks")
    assert again.latest()[a] == (T0 + 119 * NS, 119.0)
    assert len(again.write(samples(a, T0, 121, 1))) == (1 if first_wins(again) else 121)
    assert sum(again.range(a, T0, T0 + 3600 * NS, 2).buckets.count) == 121
    again.close()
