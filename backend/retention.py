"""Retention: drop raw samples and rollups older than each resolution's period.

Sealed raw history goes a whole block (series and 6 h segment) at a time.

Deletes go a series and a few thousand rows at a time, each in its own short transaction,
so ingest (which needs the write lock on SQLite) waits milliseconds at most. Before a level
is pruned, the `pruned` table records the time before which it is gone, so range queries
there answer from the next coarser level instead of from what is left (backend/store/sql.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import numpy as np
from sqlalchemy import Connection, Engine, select, text

from backend import db, metrics
from backend.settings import Settings
from backend.store.base import LEVEL_NAMES, LEVELS_S, NS, SEGMENT_S
from backend.store.blocks import BlockError, decode
from backend.store.sql import Columns, rollup_rows
from backend.ticker import Ticker

log = logging.getLogger(__name__)
DAY_NS = 86_400 * NS
BATCH_ROWS = 5000
BATCH_BLOCKS = 50  # sealed segments (about a million samples of a 1 Hz series)


def cutoffs(days: dict[int, float], now_ns: int) -> dict[int, int]:
    """Per level (0 for raw), the time before which it is pruned: on a day edge, so every
    coarser bucket that straddles it is whole. Levels kept forever (0 days) are left out."""
    return {level: (now_ns - int(d * DAY_NS)) // DAY_NS * DAY_NS
            for level, d in days.items() if d > 0}


def prune(engine: Engine, days: dict[int, float], now_ns: int | None = None,
          batch_rows: int = BATCH_ROWS,
          stopping: Callable[[], bool] = lambda: False) -> dict[str, int]:
    """One pass: rows removed per resolution name ("raw", "1m", ...)."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    with engine.connect() as conn:
        sids = list(conn.execute(select(db.series.c.id).order_by(db.series.c.id)).scalars())
    removed: dict[str, int] = {}
    for level, before in sorted(cutoffs(days, now_ns).items()):
        name = LEVEL_NAMES.get(level, "raw")
        with engine.begin() as conn:  # mark first: queries stop reading this level there
            conn.execute(text(
                "INSERT INTO pruned (level, before_t) VALUES (:level, :before) "
                "ON CONFLICT (level) DO UPDATE SET before_t = excluded.before_t "
                "WHERE excluded.before_t > pruned.before_t"), {"level": level, "before": before})
        removed[name] = 0
        for sid in sids:
            while level == 0 and not stopping():  # before the rows: see _delete_blocks
                n, blocks = _delete_blocks(engine, sid, before, BATCH_BLOCKS)
                removed[name] += n
                if blocks < BATCH_BLOCKS:
                    break
            while not stopping():
                n = _delete_some(engine, level, sid, before, batch_rows)
                removed[name] += n
                if n < batch_rows:
                    break
        if removed[name]:
            log.info("retention: removed %d %s rows older than %s", removed[name],
                     "raw sample" if level == 0 else f"{name} rollup",
                     time.strftime("%Y-%m-%d", time.gmtime(before // NS)))
    return removed


def _delete_some(engine: Engine, level: int, sid: int, before: int, limit: int) -> int:
    """Delete up to `limit` of one series' oldest rows before `before`: find the time of the
    limit-th row with an index seek, then delete below it (portable: no DELETE ... LIMIT)."""
    if level == 0:
        table, t, where = "samples", "t", "series_id = :sid"
    else:
        table, t, where = "rollups", "bucket_t", "level = :level AND series_id = :sid"
    params = {"sid": sid, "level": level, "before": before, "n": limit}
    with engine.begin() as conn:
        upto = conn.execute(text(
            f"SELECT {t} FROM {table} WHERE {where} AND {t} < :before ORDER BY {t} "
            "LIMIT 1 OFFSET :n"), params).scalar()
        params["upto"] = before if upto is None else upto
        return conn.execute(text(f"DELETE FROM {table} WHERE {where} AND {t} < :upto"),
                            params).rowcount


def _delete_blocks(engine: Engine, sid: int, before: int, limit: int) -> tuple[int, int]:
    """Drop up to `limit` of one series' oldest sealed segments before `before` (a day edge,
    so whole segments: SEGMENT_S divides a day); return (samples, blocks) removed. A sealed
    segment has no minute rollups in the table (they are computed from it when read): they
    are written first, from the block and the segment's rows, in the same transaction, so
    the minute level outlives raw as its own retention says."""
    params = {"sid": sid, "before": before, "n": limit}
    with engine.begin() as conn:
        upto = conn.execute(text(
            "SELECT seg_t FROM blocks WHERE series_id = :sid AND seg_t < :before ORDER BY seg_t "
            "LIMIT 1 OFFSET :n"), params).scalar()
        params["upto"] = before if upto is None else upto
        where = "WHERE series_id = :sid AND seg_t < :upto"
        samples = 0
        for seg_t, data in conn.execute(text(f"SELECT seg_t, data FROM blocks {where}"),
                                        params).all():
            samples += _minute_rollups_of(conn, sid, seg_t, data)
        blocks = conn.execute(text(f"DELETE FROM blocks {where}"), params).rowcount
    return samples, blocks


def _minute_rollups_of(conn: Connection, sid: int, seg_t: int, data: bytes) -> int:
    """Write a sealed segment's minute rollups (block and rows); return its samples."""
    try:
        ts, vs = decode(bytes(data))
    except BlockError as exc:
        log.error("retention drops a damaged block (series %d at %d): %s", sid, seg_t, exc)
        ts, vs = np.zeros(0, np.int64), np.zeros(0)
    rows = conn.execute(text("SELECT t, value FROM samples WHERE series_id = :sid AND t >= :a "
                             "AND t < :b"), {"sid": sid, "a": seg_t,
                                             "b": seg_t + SEGMENT_S * NS}).all()
    if rows:
        ts = np.concatenate((ts, np.array([r[0] for r in rows], np.int64)))
        vs = np.concatenate((vs, np.array([r[1] for r in rows], np.float64)))
        order = np.argsort(ts, kind="stable")
        ts, vs = ts[order], vs[order]
    if len(ts):
        cols = Columns(np.full(len(ts), sid, np.int64), ts, vs)
        conn.execute(text(
            "INSERT INTO rollups (level, series_id, bucket_t, min, max, sum, count, first_t, "
            "first, last_t, last) VALUES (:lv, :sid, :b, :mn, :mx, :sm, :n, :ft, :f, :lt, :l) "
            "ON CONFLICT (level, series_id, bucket_t) DO UPDATE SET min = excluded.min, "
            "max = excluded.max, sum = excluded.sum, count = excluded.count, "
            "first_t = excluded.first_t, first = excluded.first, last_t = excluded.last_t, "
            "last = excluded.last"),
            [dict(zip(("lv", "sid", "b", "mn", "mx", "sm", "n", "ft", "f", "lt", "l"), r))
             for r in rollup_rows(cols, LEVELS_S[0])])
    return len(ts) - len(rows)


class RetentionJob:
    """Prunes in a daemon thread once soon after start and then every interval (a duty of
    one API process in the cluster: backend/duties.py)."""

    name = "retention"

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine, self.settings = engine, settings
        # The first pass after 10 s: let start-up (and a back-fill) begin first.
        self._ticker = Ticker("retention", self._prune, settings.retention_interval_s,
                              first_s=10.0)

    def start(self) -> None:
        kept = ", ".join(f"{LEVEL_NAMES.get(lv, 'raw')} {f'{d:g} days' if d else 'forever'}"
                         for lv, d in self.settings.retention_days().items())
        log.info("retention every %g s: %s", self.settings.retention_interval_s, kept)
        self._ticker.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._ticker.stop(timeout_s)

    def _prune(self) -> None:
        try:
            removed = prune(self.engine, self.settings.retention_days(),
                            stopping=self._ticker.stopping)
        except Exception:
            metrics.retention_ran(None)
            raise
        metrics.retention_ran(removed)
