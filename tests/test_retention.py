"""Retention on real SQLite and PostgreSQL: what a pass deletes and keeps, and range queries
over pruned periods answered from the rollups that remain."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from backend import db
from backend.retention import cutoffs, prune
from backend.store.base import NS, Batch
from tests.test_store_contract import KINDS, open_store

DAY = 86_400 * NS
H = 3600 * NS
D0 = 20_416 * DAY  # 2025-11-24T00:00Z, on a day edge
STEP = 10 * NS
NOW = D0 + 3 * DAY + 12 * H
# raw kept 1.5 days -> pruned before D0+2d; 1m kept 2.5 days -> before D0+1d; coarser forever
DAYS = {0: 1.5, 60: 2.5, 600: 0, 3600: 0, 86400: 0}


@pytest.fixture(params=["rows", "blocks"])
def layout(request):
    """"blocks": the store seals everything into blocks after each write."""
    return request.param


@pytest.fixture(params=KINDS)
def loaded(request, layout, tmp_path):
    """Three days of one series every 10 s (values 0, 1, 2, ...), then one retention pass
    in batches of 1,000 rows."""
    from tests.databases import database_url

    with database_url(request.param, tmp_path) as url:
        store, registry = open_store(url, layout == "blocks")
        sid = registry.find("kazsat-2", None, "bus_voltage").id
        times = np.arange(D0, D0 + 3 * DAY, STEP, dtype=np.int64)
        values = np.arange(len(times), dtype=np.float64)
        for i in range(0, len(times), 5000):
            store.write(Batch([sid] * len(times[i:i + 5000]), times[i:i + 5000].tolist(),
                              values[i:i + 5000].tolist()))
        removed = prune(store.engine, DAYS, NOW, batch_rows=1000)
        yield store, sid, times, values, removed, url
        store.close()


def count(store, table, *where) -> int:
    with store.reader.connect() as conn:
        return conn.execute(select(func.count()).select_from(table).where(*where)).scalar()


def raw_count(store, before: int | None = None) -> int:
    """Raw samples stored, as rows or in blocks (before a day edge: whole blocks)."""
    s, b = db.samples.c, db.blocks.c
    rows = count(store, db.samples, *([s.t < before] if before else []))
    with store.reader.connect() as conn:
        sealed = conn.execute(select(func.coalesce(func.sum(b.count), 0)).where(
            *([b.seg_t < before] if before else []))).scalar()
    return rows + sealed


def test_cutoffs_fall_on_day_edges_and_skip_forever():
    assert cutoffs(DAYS, NOW) == {0: D0 + 2 * DAY, 60: D0 + DAY}


def test_a_pass_deletes_what_is_past_its_period_and_keeps_the_rest(loaded):
    store, sid, times, _, removed, _ = loaded
    assert removed == {"raw": 2 * 8640, "1m": 1440}
    r = db.rollups.c
    assert raw_count(store) == 8640
    assert raw_count(store, D0 + 2 * DAY) == 0
    # Minute rollups as every read sees them (a sealed segment's come from its block).
    minutes = [row[1] for row in store.export([sid], 0, 2**62, 60)]
    assert len(minutes) == 2 * 1440 and min(minutes) == D0 + DAY
    assert count(store, db.rollups, r.level == 600) == 3 * 144  # kept forever
    assert store.latest()[sid] == (int(times[-1]), float(len(times) - 1))
    again = prune(store.engine, DAYS, NOW, batch_rows=1000)
    assert again == {"raw": 0, "1m": 0}


def expect(times, values, start, end, width):
    inside = (times >= start) & (times < end)
    keys = times[inside] // width * width
    return {int(k): (values[inside][keys == k].min(), values[inside][keys == k].max(),
                     int((keys == k).sum())) for k in np.unique(keys)}


def got(result):
    b = result.buckets
    return {t: (mn, mx, n) for t, mn, mx, n in zip(b.times, b.min, b.max, b.count)}


def test_range_beyond_raw_retention_answers_from_rollups(loaded):
    store, sid, times, values, _, _ = loaded
    # Before the fix this was "raw" with no samples: the raw probe found none.
    start, end = D0 + DAY + 5 * H + 3 * NS, D0 + DAY + 9 * H + 7 * NS
    r = store.range(sid, start, end, 100)
    assert r.resolution == "1m" and r.bucket_s == 180
    # The buckets are whole minutes: the first and last minute are not cut at start, end.
    assert got(r) == expect(times, values, D0 + DAY + 5 * H, D0 + DAY + 9 * H + 60 * NS,
                            180 * NS)


def test_range_straddling_the_raw_horizon_counts_every_sample(loaded):
    store, sid, times, values, _, _ = loaded
    # Before the fix: 1,080 raw samples after the horizon only, the 6 h before it lost.
    start, end = D0 + 2 * DAY - 6 * H + 17 * NS, D0 + 2 * DAY + 3 * H
    r = store.range(sid, start, end, 2000)
    assert r.resolution == "1m" and r.bucket_s == 60
    assert got(r) == expect(times, values, D0 + 2 * DAY - 6 * H, end, 60 * NS)
    assert sum(r.buckets.count) == 9 * 360


def test_range_where_minute_rollups_are_gone_uses_ten_minutes(loaded):
    store, sid, times, values, _, _ = loaded
    r = store.range(sid, D0 + 3 * H + NS, D0 + 5 * H, 50)
    assert r.resolution == "10m"
    assert got(r) == expect(times, values, D0 + 3 * H, D0 + 5 * H, round(r.bucket_s * NS))


def test_recent_ranges_are_still_raw(loaded):
    store, sid, times, *_ = loaded
    start = D0 + 2 * DAY + H
    r = store.range(sid, start, start + 600 * NS, 1000)
    assert r.resolution == "raw" and r.times == times[(times >= start) &
                                                      (times < start + 600 * NS)].tolist()


def kazsat(monkeypatch, url: str, *args: str, **env: str):
    """`kazsat ARGS` in this process against the store at url, with settings read afresh."""
    from backend.settings import get_settings
    from kazsat.cli import app

    get_settings.cache_clear()
    for name, value in {"KAZSAT_DATABASE_URL": url, **env}.items():
        monkeypatch.setenv(name, value)
    try:
        result = CliRunner().invoke(app, list(args))
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    return result


def test_kazsat_db_prune_runs_one_pass(loaded, monkeypatch):
    store, *_, url = loaded
    # 0.5 days, relative to today: all of it
    result = kazsat(monkeypatch, url, "db", "prune", KAZSAT_RETENTION_RAW_DAYS="0.5")
    assert "8,640 raw" in result.output
    assert raw_count(store) == 0


def test_rebuild_keeps_rollups_older_than_raw_and_rebuilds_the_rest(loaded, monkeypatch):
    """After retention, rollups are all that is left of old history: `kazsat db
    rebuild-rollups` recomputes only what raw samples still cover, in slices."""
    store, sid, *_, url = loaded
    r = db.rollups.c
    with store.reader.connect() as conn:
        before = {(x.level, x.bucket_t): (x.min, x.max, x.sum, x.count, x.first, x.last)
                  for x in conn.execute(db.rollups.select().where(r.series_id == sid))}
    with store.engine.begin() as conn:  # damage what raw still covers: the rebuild mends it
        conn.execute(db.rollups.update().where(r.bucket_t >= D0 + 2 * DAY).values(count=1))
    result = kazsat(monkeypatch, url, "db", "rebuild-rollups")
    assert "rollups rebuilt from 8,640 samples" in result.output
    with store.reader.connect() as conn:
        after = {(x.level, x.bucket_t): (x.min, x.max, x.sum, x.count, x.first, x.last)
                 for x in conn.execute(db.rollups.select().where(r.series_id == sid))}
    assert after == before
    assert count(store, db.rollups, r.level == 600, r.bucket_t < D0 + 2 * DAY) == 2 * 144


def test_value_at_a_time_before_the_raw_horizon_comes_from_rollups(loaded):
    store, sid, times, values, *_ = loaded
    inside = D0 + 2 * DAY + 35 * NS  # raw kept: the sample itself
    assert store.at(inside)[sid] == (D0 + 2 * DAY + 30 * NS, float(np.searchsorted(
        times, D0 + 2 * DAY + 30 * NS)))
    # Raw gone, minute rollups kept: the last sample of the newest minute that had ended.
    t = D0 + DAY + 12 * H + 35 * NS
    last = D0 + DAY + 12 * H - 10 * NS
    assert store.at(t)[sid] == (last, values[np.searchsorted(times, last)])
    # Minute rollups gone too: from the ten-minute level.
    t = D0 + 12 * H + 5 * 60 * NS
    last = D0 + 12 * H - 10 * NS
    assert store.at(t)[sid] == (last, values[np.searchsorted(times, last)])
