"""Sealed history: the compactor turns rows into compressed blocks per series and 6 h
segment; late and resent samples, damage and kills, on SQLite and PostgreSQL."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import func, select, text

from backend import db
from backend.mission import load_mission
from backend.retention import prune
from backend.series import SeriesRegistry
from backend.settings import Settings
from backend.store.base import NS, SEGMENT_S, Batch
from backend.store.sql import SqlStore
from tests.databases import STORES, database_url

SEG = SEGMENT_S * NS
T0 = 1_764_000_000 // SEGMENT_S * SEGMENT_S * NS  # a segment's start
DAY = 86_400 * NS


@pytest.fixture(params=STORES)
def store(request, tmp_path):
    with database_url(request.param, tmp_path) as url:
        engine = db.make_engine(url)
        db.upgrade(engine)
        s = SqlStore(engine, settle_s=3600)
        s.registry = SeriesRegistry(engine, load_mission(Settings().mission_file))
        yield s
        s.close()
        engine.dispose()


def sid(store, key="bus_voltage") -> int:
    return store.registry.find("kazsat-2", None, key).id


def count(store, table) -> int:
    with store.reader.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar()


def seconds(series: int, start: int, n: int, values) -> Batch:
    return Batch([series] * n, [start + i * NS for i in range(n)], list(values))


def test_compaction_seals_settled_segments_and_reads_are_unchanged(store):
    a, b = sid(store), sid(store, "battery_soc")
    rng = np.random.default_rng(3)
    # Full mantissas over most of the exponent range, a subnormal, integers past 2**53.
    values = rng.standard_normal(20_000) * 10.0 ** rng.integers(-300, 300, 20_000)
    values[:3] = 5e-324, 2.0**53 + 2, -(2.0**60)
    store.write(seconds(a, T0 + SEG - 10_000 * NS, 20_000, values.tolist()))  # two segments
    store.write(seconds(b, T0, 100, [float(i % 2) for i in range(100)]))  # a bool's 0/1
    before = (store.range(a, T0, T0 + 2 * SEG, 20_000), store.at(T0 + SEG + 5 * NS),
              list(store.export([a, b], T0, T0 + 2 * SEG, None)))
    now = T0 + 2 * SEG + 3600 * NS  # the second segment ended exactly settle_s ago
    assert store.compact(now_ns=now - 1) == 10_100  # only the first is settled
    assert count(store, db.blocks) == 2 and count(store, db.samples) == 10_000
    assert store.compact(now_ns=now) == 10_000
    assert count(store, db.blocks) == 3 and count(store, db.samples) == 0
    after = (store.range(a, T0, T0 + 2 * SEG, 20_000), store.at(T0 + SEG + 5 * NS),
             list(store.export([a, b], T0, T0 + 2 * SEG, None)))
    assert after == before
    got = np.array(after[0].values)
    assert np.array_equal(got.view(np.uint64), values.view(np.uint64))  # bit for bit
    assert store.compact(now_ns=now) == 0  # nothing left to seal


def test_late_and_resent_samples_into_a_sealed_segment(store):
    a = sid(store)
    store.write(seconds(a, T0, 100, [float(i) for i in range(100)]))
    store.compact(now_ns=T0 + 2 * SEG)
    # Resent: every sample is sealed already, the first values stand.
    assert len(store.write(seconds(a, T0, 100, [-1.0] * 100))) == 0
    # Late: between the sealed ones, kept as rows until the next compaction.
    late = Batch([a, a, a], [T0 + NS // 2, T0 + 50 * NS, T0 + 200 * NS], [0.5, -9.0, 200.0])
    assert store.write(late).times == [T0 + NS // 2, T0 + 200 * NS]
    assert count(store, db.samples) == 2
    r = store.range(a, T0, T0 + SEG, 1000)
    assert r.resolution == "raw" and len(r.times) == 102
    assert r.values[:3] == [0.0, 0.5, 1.0] and r.values[51] == 50.0
    assert store.at(T0 + NS) == {a: (T0 + NS, 1.0)} | {}
    assert store.compact(now_ns=T0 + 2 * SEG) == 102  # merged into the segment's block
    assert count(store, db.samples) == 0 and count(store, db.blocks) == 1
    assert store.range(a, T0, T0 + SEG, 1000).values == r.values
    b = store.range(a, T0, T0 + SEG, 2).buckets  # the rollups saw each sample once
    assert sum(b.count) == 102


def damage(store, series: int, seg_t: int) -> None:
    with store.engine.begin() as conn:
        data = conn.execute(text("SELECT data FROM blocks WHERE series_id = :s AND seg_t = :t"),
                            {"s": series, "t": seg_t}).scalar()
        broken = bytes(data[:40]) + bytes([data[40] ^ 0xFF]) + bytes(data[41:])
        conn.execute(text("UPDATE blocks SET data = :d WHERE series_id = :s AND seg_t = :t"),
                     {"d": broken, "s": series, "t": seg_t})


def test_a_damaged_block_is_reported_never_read(store, caplog):
    a, b = sid(store), sid(store, "battery_soc")
    store.write(seconds(a, T0 + SEG - 50 * NS, 100, [float(i) for i in range(100)]))
    store.write(seconds(b, T0, 10, [7.0] * 10))
    store.compact(now_ns=T0 + 3 * SEG)
    damage(store, a, T0)
    r = store.range(a, T0, T0 + 2 * SEG, 1000)
    assert r.values == [float(i) for i in range(50, 100)]  # the sound segment only
    assert [(d.series_id, d.start_ns, d.end_ns) for d in r.damaged] == [(a, T0, T0 + SEG)]
    assert "checksum" in r.damaged[0].reason
    assert "damaged block: series" in caplog.text
    buckets = store.range(a, T0 + SEG - 30 * NS, T0 + SEG + 30 * NS, 3)
    assert buckets.damaged and sum(buckets.buckets.count) > 0
    snap = store.at(T0 + SEG - 10 * NS)
    assert a not in snap and snap[b] == (T0 + 9 * NS, 7.0)  # unknown, never an older value
    assert store.at(T0 + SEG + 10 * NS)[a] == (T0 + SEG + 10 * NS, 60.0)
    exported = list(store.export([a, b], T0, T0 + 2 * SEG, None))
    assert len(exported) == 60
    checked, damaged = store.check_blocks()
    assert checked == 3 and [(d.series_id, d.start_ns) for d in damaged] == [(a, T0)]
    # A late sample for the damaged segment is kept as a row; the block is never rewritten.
    assert len(store.write(Batch([a], [T0 + 5 * NS], [5.5]))) == 1
    store.compact(now_ns=T0 + 3 * SEG)
    assert count(store, db.samples) == 1
    assert store.range(a, T0, T0 + SEG, 1000).values == [5.5]


def test_a_failed_compaction_leaves_rows_and_no_block(store):
    """A compaction that fails inside its transaction (the database refuses the block, as a
    kill or a full disk would end it) leaves that segment's rows whole and no block."""
    a, b = sid(store), sid(store, "battery_soc")
    store.write(seconds(a, T0, 100, [1.0] * 100))
    store.write(seconds(b, T0, 100, [2.0] * 100))
    with store.engine.begin() as conn:
        if store.engine.dialect.name == "sqlite":
            conn.exec_driver_sql(f"CREATE TRIGGER refuse BEFORE INSERT ON blocks WHEN "
                                 f"NEW.series_id = {b} BEGIN SELECT RAISE(ABORT, 'no'); END")
        else:
            conn.exec_driver_sql("CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN "
                                 f"IF NEW.series_id = {b} THEN RAISE EXCEPTION 'no'; END IF; "
                                 "RETURN NEW; END $$ LANGUAGE plpgsql")
            conn.exec_driver_sql("CREATE TRIGGER refuse BEFORE INSERT ON blocks "
                                 "FOR EACH ROW EXECUTE FUNCTION refuse()")
    with pytest.raises(Exception, match="no"):
        store.compact(now_ns=T0 + 2 * SEG)
    assert count(store, db.blocks) == 1 and count(store, db.samples) == 100  # a sealed, b rows
    assert store.range(b, T0, T0 + SEG, 1000).values == [2.0] * 100
    assert store.range(a, T0, T0 + SEG, 1000).values == [1.0] * 100


def test_retention_drops_whole_segments(store):
    a = sid(store)
    for day in range(3):  # a sample a minute for three days
        store.write(Batch([a] * 1440, [T0 + day * DAY + i * 60 * NS for i in range(1440)],
                          [float(i) for i in range(1440)]))
    store.compact(now_ns=T0 + 4 * DAY)
    assert count(store, db.blocks) == 12
    removed = prune(store.engine, {0: 1.5}, now_ns=T0 + 3 * DAY)
    assert removed["raw"] == 2 * 1440 - (T0 % DAY) // (60 * NS)  # up to the day edge
    with store.reader.connect() as conn:
        first = conn.execute(text("SELECT min(seg_t) FROM blocks")).scalar()
    assert first == (T0 + 2 * DAY) // DAY * DAY
    r = store.range(a, T0 + 2 * DAY + DAY // 2, T0 + 3 * DAY, 100_000)
    assert r.resolution == "raw" and len(r.times) == 720
    # The minute rollups of the dropped segments were written before their blocks went.
    gone = (T0 + DAY) // DAY * DAY
    r = store.range(a, gone, gone + 6 * 3600 * NS, 400)
    assert r.resolution == "1m" and sum(r.buckets.count) == 360
    assert r.buckets.min == r.buckets.max == [float((gone - T0) // (60 * NS) + i)
                                              for i in range(360)]


def test_the_api_answers_around_a_damaged_block_and_db_check_names_it(tmp_path, monkeypatch):
    from fastapi.testclient import TestClient
    from typer.testing import CliRunner

    from backend.api.app import create_app
    from backend.settings import get_settings
    from backend.timeutil import format_time
    from backend.tokens import create_token
    from kazsat.cli import app

    settings = Settings(data_dir=tmp_path / "data", compact_interval_s=0)
    with TestClient(create_app(settings)) as client:
        services = client.app.state.services
        store = services.store
        a = services.registry.find("kazsat-2", None, "bus_voltage").id
        store.write(seconds(a, T0 + SEG - 50 * NS, 100, [float(i) for i in range(100)]))
        store.compact(now_ns=T0 + 3 * SEG)
        damage(store, a, T0)
        token = create_token(services.engine, "viewer", "test")
        r = client.get("/api/v1/series", headers={"Authorization": f"Bearer {token}"},
                       params={"satellite": "kazsat-2", "parameter": "bus_voltage",
                               "start": format_time(T0), "end": format_time(T0 + 2 * SEG)})
    assert r.status_code == 200, r.text
    item = r.json()["series"][0]
    assert item["value"] == [float(i) for i in range(50, 100)]
    assert [(d["start"], d["end"]) for d in item["damaged"]] == [
        (format_time(T0), format_time(T0 + SEG))]
    get_settings.cache_clear()
    monkeypatch.setenv("KAZSAT_DATA_DIR", str(tmp_path / "data"))
    try:
        result = CliRunner().invoke(app, ["db", "check"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1, result.output
    assert "damaged kazsat-2/bus_voltage" in result.output
    assert "2 blocks checked, 1 damaged" in result.output


def test_db_upgrade_converts_rows_to_blocks_and_an_interrupted_pass_resumes(tmp_path,
                                                                              monkeypatch):
    """An existing database's rows become blocks; a pass stopped half-way (as a kill would
    stop it) leaves every sample readable, and the next goes on where it stopped."""
    from typer.testing import CliRunner

    from backend.settings import get_settings
    from kazsat.cli import app

    engine = db.make_engine(f"sqlite:///{tmp_path / 'kazsat.db'}")
    db.upgrade(engine)
    store = SqlStore(engine)
    store.registry = SeriesRegistry(engine, load_mission(Settings().mission_file))
    a, b = sid(store), sid(store, "battery_soc")
    for series in (a, b):  # two days a minute apart: eight segments each
        store.write(Batch([series] * 2880, [T0 + i * 60 * NS for i in range(2880)],
                          [float(i) for i in range(2880)]))
    expect = list(store.export([a, b], T0, T0 + 2 * DAY, None))
    seals = iter(range(4))  # four segments sealed, then stopped
    assert store.compact(stopping=lambda: next(seals, None) is None) == 4 * 360
    assert count(store, db.blocks) == 4 and count(store, db.samples) == 2 * 2880 - 4 * 360
    assert list(store.export([a, b], T0, T0 + 2 * DAY, None)) == expect
    get_settings.cache_clear()
    monkeypatch.setenv("KAZSAT_DATA_DIR", str(tmp_path))
    try:
        result = CliRunner().invoke(app, ["db", "upgrade"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert count(store, db.blocks) == 16 and count(store, db.samples) == 0
    assert list(store.export([a, b], T0, T0 + 2 * DAY, None)) == expect
    store.close()
