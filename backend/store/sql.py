"""The SQL time-series store (SQLite, PostgreSQL) on SQLAlchemy Core.

Raw samples sit in `samples` keyed on (series_id, t); `rollups` holds min, max, sum, count,
first and last per series for each level in LEVELS_S, kept current in the same transaction
as the samples; `latest` holds each series' newest sample that was not ahead of the server
clock (beyond CLOCK_TOLERANCE_S) when it was written: a sample from a sender whose clock
runs ahead is stored, but never stands for the present. Hot paths use the driver's
executemany through `exec_driver_sql` with tuples: about 2.5x SQLAlchemy's insert() with
dicts on this machine (docs/storage.md, Writing to SQLite).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import psycopg
from psycopg.errors import UniqueViolation
from sqlalchemy import Connection, Engine, select, text
from sqlalchemy.exc import DBAPIError, OperationalError

from backend import db, db_watch
from backend.store.base import (
    CLOCK_TOLERANCE_S,
    LEVEL_NAMES,
    LEVELS_S,
    NS,
    SEGMENT_S,
    Batch,
    Buckets,
    DamagedSpan,
    RangeResult,
    StoreUnavailable,
    WriteHook,
)
from backend.store.blocks import BlockError, decode, encode

log = logging.getLogger(__name__)

# (min, max, sum, count) of the samples in a span.
Aggregate = tuple[float, float, float, int]
# (level, series_id, bucket_t, min, max, sum, count, first_t, first, last_t, last).
RollupRow = tuple[int, int, int, float, float, float, int, int, float, int, float]
SEGMENT_NS = SEGMENT_S * NS
# The finest rollup level. A sealed segment keeps none in the rollups table: they would take
# seven times its block's bytes (benchmarks/storage.py), and are computed from the block.
MINUTE_S = LEVELS_S[0]
# Raw history is read a few segments at a time (export, rollup rebuilds): memory stays flat.
WINDOW_NS = 4 * SEGMENT_NS
DEFAULT_SETTLE_S = 3600.0


class SqlStore:
    """`settle_s`: the compactor seals a segment once it ended that long ago; a sample older
    than half of it is checked against the blocks before it is stored (the write's "late"
    path), so no sample is ever both a row and in a block. 0 seals every segment that has
    ended; a negative value the running ones too (tests)."""

    def __init__(self, engine: Engine, clock_tolerance_s: float = CLOCK_TOLERANCE_S,
                 settle_s: float = DEFAULT_SETTLE_S) -> None:
        self.engine = engine
        self.tolerance_ns = int(clock_tolerance_s * NS)
        self.settle_ns = int(settle_s * NS)
        self.reader = db.reader(engine)
        self._sqlite = engine.dialect.name == "sqlite"
        self._lock = threading.Lock()  # one writer at a time in this process
        mark = "?" if engine.dialect.paramstyle == "qmark" else "%s"
        least, greatest = ("min", "max") if self._sqlite else ("LEAST", "GREATEST")
        self._sql_insert = (f"INSERT INTO samples (series_id, t, value) VALUES ({mark}, {mark}, "
                            f"{mark}) ON CONFLICT (series_id, t) DO NOTHING")
        self._sql_rollup = (
            "INSERT INTO rollups (level, series_id, bucket_t, min, max, sum, count, first_t, "
            f"first, last_t, last) VALUES ({', '.join([mark] * 11)}) "
            "ON CONFLICT (level, series_id, bucket_t) DO UPDATE SET "
            f"min = {least}(rollups.min, excluded.min), "
            f"max = {greatest}(rollups.max, excluded.max), "
            "sum = rollups.sum + excluded.sum, count = rollups.count + excluded.count, "
            "first = CASE WHEN excluded.first_t < rollups.first_t THEN excluded.first "
            "ELSE rollups.first END, "
            f"first_t = {least}(rollups.first_t, excluded.first_t), "
            "last = CASE WHEN excluded.last_t >= rollups.last_t THEN excluded.last "
            "ELSE rollups.last END, "
            f"last_t = {greatest}(rollups.last_t, excluded.last_t)")
        self._sql_stored = (f"SELECT t FROM samples WHERE series_id = {mark} AND t >= {mark} "
                            f"AND t <= {mark}")
        self._sql_latest = (
            f"INSERT INTO latest (series_id, t, value) VALUES ({mark}, {mark}, {mark}) "
            "ON CONFLICT (series_id) DO UPDATE SET t = excluded.t, value = excluded.value "
            "WHERE excluded.t > latest.t")
        # PostgreSQL: one statement per table for the whole batch, its columns passed as
        # arrays and unnested. A round trip per row (executemany, the late-sample path) ran
        # at 7 k values/s over loopback; RETURNING also tells which samples were new.
        self._sql_insert_pg = (
            "INSERT INTO samples (series_id, t, value) SELECT * FROM unnest(%s::integer[], "
            "%s::bigint[], %s::float8[]) ON CONFLICT (series_id, t) DO NOTHING "
            "RETURNING series_id, t, value")
        head, conflict = self._sql_rollup.split(" ON CONFLICT ", 1)
        self._sql_rollup_pg = (
            head.split(" VALUES ")[0] + " SELECT * FROM unnest(%s::integer[], %s::integer[], "
            "%s::bigint[], %s::float8[], %s::float8[], %s::float8[], %s::bigint[], %s::bigint[], "
            "%s::float8[], %s::bigint[], %s::float8[]) ON CONFLICT " + conflict)
        head, conflict = self._sql_latest.split(" ON CONFLICT ", 1)
        self._sql_latest_pg = (head.split(" VALUES ")[0] + " SELECT * FROM unnest(%s::integer[], "
                               "%s::bigint[], %s::float8[]) ON CONFLICT " + conflict)
        self._latest_t = self._load_latest_times()

    # ---- writing ------------------------------------------------------------------------

    def write(self, batch: Batch, now_ns: int | None = None,
              hook: WriteHook | None = None) -> Batch:
        """Store a batch in one transaction; return the samples that were new. `hook`, when
        given, takes part in that transaction: `begin` first, before anything is written,
        `stored` with the new samples before it commits; what it writes (limit states,
        alerts, their email) commits with the samples or not at all. On PostgreSQL every
        write transaction first takes one advisory lock, so writers in several API processes
        (the two sites) store and check batches one at a time, in the order they commit;
        SQLite's BEGIN IMMEDIATE does the same."""
        if not batch:
            return batch
        live_until = (time.time_ns() if now_ns is None else now_ns) + self.tolerance_ns
        cols = Columns.of(batch)
        with self._lock:
            try:
                try:
                    stored = self._write_once(cols, live_until, True, hook)
                except _StaleCache:
                    # Another process stored some of these, or a sample once ahead of the
                    # clock is sent again now as current: check each against the table.
                    self._latest_t = self._load_latest_times()
                    stored = self._write_once(cols, live_until, False, hook)
            except (OperationalError, DBAPIError, psycopg.Error) as exc:  # COPY: psycopg's own
                self._latest_t = self._load_latest_times_quietly()
                raise StoreUnavailable(_reason(exc)) from exc
            live = stored.take(stored.ts <= live_until)
            last = live.last_per_series()
            self._latest_t.ensure(int(live.sids.max(initial=0)))
            self._latest_t.t[live.sids[last]] = np.maximum(
                self._latest_t.t[live.sids[last]], live.ts[last])
        return stored.batch()

    def _write_once(self, cols: Columns, live_until: int, trust_cache: bool,
                    hook: WriteHook | None) -> Columns:
        """Samples, rollups and latest rows in one transaction. Samples after live_until
        are stored and rolled up but leave `latest` alone."""
        self._latest_t.ensure(int(cols.sids.max(initial=0)))
        fresh = np.zeros(len(cols.ts), dtype=bool)
        if trust_cache:  # newer than the series' latest and not ahead: nothing to look up
            # ... nor old enough that the compactor may have sealed its segment already.
            unsealed = time.time_ns() - self.settle_ns // 2
            fresh = ((cols.ts > self._latest_t.t[cols.sids]) & (cols.ts <= live_until)
                     & (cols.ts > unsealed))
        with self.engine.begin() as conn:
            db.write_lock(conn)
            if hook is not None:
                hook.begin(conn)
            if self._sqlite:
                stored = self._insert_samples(conn, cols, fresh)
            else:
                stored = self._insert_samples_pg(conn, cols, fresh)
            if len(stored.ts):
                # A sealed segment's minute rollups are computed from its block when read.
                minute = stored if fresh.all() else stored.take(
                    ~self._in_sealed_segments(conn, stored))
                rollups = [r for lv in LEVELS_S
                           for r in rollup_rows(minute if lv == MINUTE_S else stored, lv)]
                self._upsert_rollups(conn, rollups)
                live = stored.take(stored.ts <= live_until)
                if len(live.ts):
                    self._upsert_latest(conn, live)
                if hook is not None:
                    hook.stored(conn, stored.batch())
        return stored

    def _upsert_latest(self, conn: Connection, live: Columns) -> None:
        last = live.last_per_series()
        latest = (live.sids[last].tolist(), live.ts[last].tolist(), live.vs[last].tolist())
        if self._sqlite:
            conn.exec_driver_sql(self._sql_latest, list(zip(*latest)))
        else:
            conn.exec_driver_sql(self._sql_latest_pg, latest)

    def _upsert_rollups(self, conn: Connection, rows: list[RollupRow]) -> None:
        if self._sqlite:
            conn.exec_driver_sql(self._sql_rollup, rows)
        elif rows:
            conn.exec_driver_sql(self._sql_rollup_pg, tuple(map(list, zip(*rows))))

    def _insert_samples_pg(self, conn: Connection, cols: Columns,
                           fresh_mask: np.ndarray) -> Columns:
        """Insert what is new; return exactly the samples that were stored. Fresh samples
        (newer than their series' latest) go in by COPY, about twice the rate of an INSERT
        here; the rest (late, resent, ahead) by one INSERT … ON CONFLICT DO NOTHING
        RETURNING."""
        fresh = cols.take(fresh_mask)
        if len(fresh.ts):
            # The same transaction as the rest of the batch, on the driver's connection.
            driver = conn.connection.driver_connection
            assert driver is not None  # a connection in a transaction is checked out
            cursor = driver.cursor()
            try:
                with db_watch.watching(driver), \
                        cursor.copy("COPY samples (series_id, t, value) FROM STDIN") as copy:
                    for row in zip(fresh.sids.tolist(), fresh.ts.tolist(), fresh.vs.tolist()):
                        copy.write_row(row)
            except UniqueViolation:
                # Another process stored some of these: roll back, reload, sort them again.
                raise _StaleCache from None
            finally:
                cursor.close()
        if fresh_mask.all():
            return fresh
        late = cols.take(~fresh_mask)
        late = late.take(~self._in_blocks(conn, late))
        if not len(late.ts):
            return fresh
        rows = conn.exec_driver_sql(self._sql_insert_pg, (
            late.sids.tolist(), late.ts.tolist(), late.vs.tolist())).all()
        if not rows:
            return fresh
        return Columns.concat(fresh, Columns.of(Batch(*(list(c) for c in zip(*rows)))))

    def _insert_samples(self, conn: Connection, cols: Columns, fresh_mask: np.ndarray) -> Columns:
        """Insert what is new; return exactly the samples that were stored."""
        fresh = cols.take(fresh_mask)
        if len(fresh.ts):
            inserted = conn.exec_driver_sql(self._sql_insert, fresh.rows()).rowcount
            if inserted != len(fresh.ts):
                # Another process stored some of these: roll back, reload, sort them again.
                raise _StaleCache
        if fresh_mask.all():
            return fresh
        # Out-of-order (two writers in flight, a back-fill), resent or ahead samples: look up
        # which are stored already, one range query per series, and insert the rest at once.
        late = cols.take(~fresh_mask)
        new = late.take(~(self._stored_already(conn, late) | self._in_blocks(conn, late)))
        if len(new.ts):
            conn.exec_driver_sql(self._sql_insert, new.rows())
        return Columns.concat(fresh, new)

    def _stored_already(self, conn: Connection, cols: Columns) -> np.ndarray:
        """Which of these samples (sorted by series and time) are in the table already."""
        found = np.zeros(len(cols.ts), dtype=bool)
        edges = np.flatnonzero(cols.sids[1:] != cols.sids[:-1]) + 1
        for a, b in zip(np.concatenate(([0], edges)).tolist(),
                        np.concatenate((edges, [len(cols.ts)])).tolist()):
            stored = conn.exec_driver_sql(self._sql_stored, (
                int(cols.sids[a]), int(cols.ts[a]), int(cols.ts[b - 1]))).fetchall()
            if stored:
                found[a:b] = np.isin(cols.ts[a:b], [row[0] for row in stored])
        return found

    def _in_blocks(self, conn: Connection, cols: Columns) -> np.ndarray:
        """Which of these samples (sorted by series and time) are sealed in a block already.
        A block that fails to decode counts as holding none (the sample is kept as a row;
        the damage is reported wherever the block is read)."""
        found = np.zeros(len(cols.ts), dtype=bool)
        for a, b in _series_runs(cols.sids):
            sid, lo, hi = int(cols.sids[a]), int(cols.ts[a]), int(cols.ts[b - 1])
            for seg_t, data in conn.execute(_SQL_BLOCKS_OVER, {
                    "sid": sid, "a": lo, "b": hi + 1, "after": lo - SEGMENT_NS}):
                got = _decoded(sid, seg_t, data, [])
                if got is not None:
                    found[a:b] |= np.isin(cols.ts[a:b], got[0])
        return found

    def _in_sealed_segments(self, conn: Connection, cols: Columns) -> np.ndarray:
        """Which of these samples (sorted by series and time) fall in a segment with a block."""
        segs = cols.ts // SEGMENT_NS * SEGMENT_NS
        out = np.zeros(len(cols.ts), dtype=bool)
        for a, b in _series_runs(cols.sids):
            sealed = conn.execute(text(
                "SELECT seg_t FROM blocks WHERE series_id = :sid AND seg_t >= :a AND seg_t <= :b"),
                {"sid": int(cols.sids[a]), "a": int(segs[a]), "b": int(segs[b - 1])}).scalars()
            out[a:b] = np.isin(segs[a:b], list(sealed))
        return out

    def _load_latest_times(self) -> LatestTimes:
        with self.reader.connect() as conn:
            return LatestTimes(dict(conn.execute(select(db.latest.c.series_id, db.latest.c.t))
                                    .all()))

    def _load_latest_times_quietly(self) -> LatestTimes:
        try:
            return self._load_latest_times()
        except (OperationalError, DBAPIError):
            return self._latest_t

    # ---- reading ------------------------------------------------------------------------

    def latest(self, now_ns: int | None = None) -> dict[int, tuple[int, float]]:
        horizon = (time.time_ns() if now_ns is None else now_ns) + self.tolerance_ns
        with self._reading() as conn:
            rows = conn.execute(select(db.latest.c.series_id, db.latest.c.t, db.latest.c.value))
            out = {sid: (t, v) for sid, t, v in rows}
        ahead = [sid for sid, (t, _) in out.items() if t > horizon]
        if ahead:
            out.update(self._repair_latest(ahead, horizon))
            out = {sid: row for sid, row in out.items() if row[0] <= horizon}
        return out

    def _repair_latest(self, sids: list[int], horizon: int) -> dict[int, tuple[int, float]]:
        """Put latest rows ahead of the clock (left by a version that let any newer sample
        in) back to their series' newest sample up to `horizon`, or remove them when there
        is none. Returns the rows put back. The API does this when it starts."""
        lt = db.latest.c
        out = {}
        try:
            with self._lock, self.engine.begin() as conn:
                for sid in sids:
                    found = self._last_at(conn, sid, horizon)
                    where = (lt.series_id == sid, lt.t > horizon)
                    if found is None:
                        conn.execute(db.latest.delete().where(*where))
                    else:
                        t, value = found
                        conn.execute(db.latest.update().where(*where).values(t=t, value=value))
                        out[sid] = (t, value)
                    self._latest_t.ensure(sid)
                    self._latest_t.t[sid] = found[0] if found is not None else -1
        except (OperationalError, DBAPIError) as exc:
            raise StoreUnavailable(_reason(exc)) from exc
        log.warning("latest value of %d series was ahead of the server clock (a sample from "
                    "a clock running ahead, stored before such samples were kept out of the "
                    "present); put back to the newest sample up to now", len(sids))
        return out

    def _last_at(self, conn: Connection, sid: int, t_ns: int) -> tuple[int, float] | None:
        """One series' last (time, value) at or before t_ns, from rows and blocks."""
        s = db.samples.c
        row = conn.execute(select(s.t, s.value).where(s.series_id == sid, s.t <= t_ns)
                           .order_by(s.t.desc()).limit(1)).first()
        found = (row[0], row[1]) if row is not None else None
        block = conn.execute(_SQL_LAST_BLOCK, {"sid": sid, "at": t_ns}).first()
        if block is not None and (found is None or found[0] < block[1]):
            got = _decoded(sid, block[0], block[2], [])
            if got is not None:
                i = int(np.searchsorted(got[0], t_ns, "right")) - 1
                found = int(got[0][i]), float(got[1][i])
        return found

    def at(self, t_ns: int) -> dict[int, tuple[int, float]]:
        # One statement: an index seek per series for its last time at or before t_ns, then
        # one for the value there. MATERIALIZED keeps planners from flattening the subquery
        # into a scan of every sample (seen on SQLite: 2 s instead of 10 ms).
        sql = text("WITH x AS MATERIALIZED (SELECT id, (SELECT max(t) FROM samples "
                   "WHERE series_id = series.id AND t <= :at) AS t FROM series) "
                   "SELECT x.id, x.t, s.value FROM x JOIN samples s "
                   "ON s.series_id = x.id AND s.t = x.t")
        # Sealed history: per series the newest block with a sample at or before t_ns.
        sealed = text("WITH x AS MATERIALIZED (SELECT id, (SELECT max(seg_t) FROM blocks "
                      "WHERE series_id = series.id AND seg_t <= :at AND t_first <= :at) AS s "
                      "FROM series) SELECT x.id, b.seg_t, b.t_last, b.data FROM x "
                      "JOIN blocks b ON b.series_id = x.id AND b.seg_t = x.s")
        # Where retention removed raw samples, the last sample of the newest rollup bucket
        # that ended by then: the value at that time as closely as what is kept can tell.
        from_rollups = text(
            "WITH x AS MATERIALIZED (SELECT id, (SELECT max(bucket_t) FROM rollups "
            "WHERE level = :lv AND series_id = series.id AND bucket_t <= :at "
            "AND last_t <= :at) AS b FROM series) "
            "SELECT x.id, r.last_t, r.last FROM x JOIN rollups r "
            "ON r.level = :lv AND r.series_id = x.id AND r.bucket_t = x.b")
        with self._reading() as conn:
            pruned = dict(conn.execute(select(db.pruned.c.level, db.pruned.c.before_t)).all())
            level = complete_level(pruned, t_ns)
            if level:
                rows = conn.execute(from_rollups, {"at": t_ns, "lv": level})
                return {sid: (t, v) for sid, t, v in rows}
            out = {sid: (t, v) for sid, t, v in conn.execute(sql, {"at": t_ns})}
            for sid, seg_t, t_last, data in conn.execute(sealed, {"at": t_ns}):
                if sid in out and out[sid][0] > t_last:
                    continue  # a row after the whole block
                got = _decoded(sid, seg_t, data, [])
                if got is None:  # the value then is unknown: never an older one instead
                    out.pop(sid, None)
                    continue
                i = int(np.searchsorted(got[0], t_ns, "right")) - 1
                if sid not in out or out[sid][0] < got[0][i]:
                    out[sid] = (int(got[0][i]), float(got[1][i]))
            return out

    def range(self, series_id: int, start_ns: int, end_ns: int, max_points: int) -> RangeResult:
        s = db.samples.c
        damaged: list[DamagedSpan] = []
        with self._reading() as conn:
            pruned = dict(conn.execute(select(db.pruned.c.level, db.pruned.c.before_t)).all())
            finest = complete_level(pruned, start_ns)
            if finest == 0:
                rows = conn.execute(
                    select(s.t).where(s.series_id == series_id, s.t >= start_ns, s.t < end_ns)
                    .order_by(s.t).limit(max_points + 1)).all()
                # Blocks wholly inside the range count without decoding: a long range of
                # sealed history goes to the rollups at once.
                inside = conn.execute(text(
                    "SELECT coalesce(sum(count), 0) FROM blocks WHERE series_id = :sid "
                    "AND seg_t >= :a AND seg_t < :b AND t_first >= :a AND t_last < :b"),
                    {"sid": series_id, "a": start_ns, "b": end_ns}).scalar() or 0
                if len(rows) + inside <= max_points:
                    ts, vs = self._raw(conn, series_id, start_ns, end_ns, damaged)
                    if len(ts) <= max_points:
                        return RangeResult("raw", None, ts.tolist(), values=vs.tolist(),
                                           damaged=damaged)
            else:
                # Retention removed the raw samples (or a finer level) here: answer from the
                # finest level kept, in its whole buckets, never from what is left of raw.
                lv = finest * NS
                start_ns = start_ns // lv * lv
                end_lv = complete_level(pruned, end_ns - 1) * NS
                if end_lv:
                    end_ns = -(-end_ns // end_lv) * end_lv
            width, level = bucket_width(end_ns - start_ns, max_points, finest)
            buckets = self._buckets(conn, series_id, start_ns, end_ns, width, level, damaged)
        name = LEVEL_NAMES[level // NS] if level else "raw"
        return RangeResult(name, width / NS, buckets.times, buckets=buckets, damaged=damaged)

    def _raw(self, conn: Connection, sid: int, a: int, b: int,
             damaged: list[DamagedSpan]) -> tuple[np.ndarray, np.ndarray]:
        """One series' raw samples in [a, b), rows and blocks merged, in time order."""
        rows = conn.execute(text("SELECT t, value FROM samples WHERE series_id = :sid AND "
                                 "t >= :a AND t < :b ORDER BY t"),
                            {"sid": sid, "a": a, "b": b}).all()
        ts = [np.fromiter((r[0] for r in rows), np.int64, len(rows))]
        vs = [np.fromiter((r[1] for r in rows), np.float64, len(rows))]
        for seg_t, data in conn.execute(_SQL_BLOCKS_OVER,
                                        {"sid": sid, "a": a, "b": b, "after": a - SEGMENT_NS}):
            got = _decoded(sid, seg_t, data, damaged)
            if got is not None:
                lo, hi = np.searchsorted(got[0], [a, b])
                ts.append(got[0][lo:hi])
                vs.append(got[1][lo:hi])
        t, v = np.concatenate(ts), np.concatenate(vs)
        if len(rows) and len(ts) > 1:  # rows beside blocks: put them in time order
            order = np.argsort(t, kind="stable")
            t, v = t[order], v[order]
        return t, v

    def _raw_windows(self, conn: Connection, sid: int, a: int, b: int,
                     damaged: list[DamagedSpan]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """One series' raw samples in [a, b) a few segments at a time, in time order,
        skipping straight over stretches with no data."""
        while a < b:
            nxt = conn.execute(text(
                "SELECT (SELECT min(t) FROM samples WHERE series_id = :sid AND t >= :a "
                "AND t < :b), (SELECT min(t_first) FROM blocks WHERE series_id = :sid "
                "AND seg_t > :after AND seg_t < :b AND t_last >= :a)"),
                {"sid": sid, "a": a, "b": b, "after": a - SEGMENT_NS}).one()
            found = [t for t in nxt if t is not None]
            if not found:
                return
            start = max(a, min(found))
            end = min(b, start // SEGMENT_NS * SEGMENT_NS + WINDOW_NS)
            ts, vs = self._raw(conn, sid, start, end, damaged)
            if len(ts):
                yield ts, vs
            a = end

    def _buckets(self, conn: Connection, sid: int, start: int, end: int, width: int,
                 level: int, damaged: list[DamagedSpan]) -> Buckets:
        """Buckets [k*width, (k+1)*width) clipped to [start, end): whole buckets from one
        query on `level`, the partial first and last from finer levels, so all are exact."""
        first_whole = -(-start // width) * width
        last_whole = end // width * width
        parts: dict[int, Aggregate | None] = {}
        if first_whole < last_whole:
            for k, mn, mx, sm, n in self._grouped(conn, sid, first_whole, last_whole, width,
                                                  level, damaged):
                parts[k * width] = (mn, mx, sm, n)
        if start < min(first_whole, end):
            parts[start // width * width] = self._span(conn, sid, start, min(first_whole, end),
                                                       damaged)
        if max(last_whole, start) < end and last_whole >= first_whole:
            parts[last_whole] = self._span(conn, sid, last_whole, end, damaged)
        rows_at = {k: v for k, v in parts.items() if v is not None and v[3]}
        times = sorted(rows_at)
        rows = [rows_at[k] for k in times]
        return Buckets(times, [r[0] for r in rows], [r[1] for r in rows],
                       [r[2] / r[3] for r in rows], [int(r[3]) for r in rows])

    def _grouped(self, conn: Connection, sid: int, a: int, b: int, width: int,
                 level: int, damaged: list[DamagedSpan]) -> list[tuple[Any, ...]]:
        if level == 0:  # buckets narrower than a minute: from raw samples, rows and blocks
            ts, vs = self._raw(conn, sid, a, b, damaged)
            if not len(ts):
                return []
            keys = ts // width
            starts = np.concatenate(([0], np.flatnonzero(keys[1:] != keys[:-1]) + 1))
            counts = np.diff(np.concatenate((starts, [len(ts)])))
            return list(zip(keys[starts].tolist(), np.minimum.reduceat(vs, starts).tolist(),
                            np.maximum.reduceat(vs, starts).tolist(),
                            np.add.reduceat(vs, starts).tolist(), counts.tolist()))
        if level == MINUTE_S * NS:
            grouped: dict[int, list[Any]] = {}
            for r in self._minute_rows(conn, sid, a, b, damaged):
                g = grouped.setdefault(r[0] // width, [r[1], r[2], 0.0, 0])
                g[0], g[1], g[2], g[3] = min(g[0], r[1]), max(g[1], r[2]), g[2] + r[3], g[3] + r[4]
            return [(k, *g) for k, g in sorted(grouped.items())]
        sql = ("SELECT bucket_t / :w AS k, min(min), max(max), sum(sum), "
               "CAST(sum(count) AS BIGINT) "
               "FROM rollups WHERE level = :lvl AND series_id = :sid AND bucket_t >= :a "
               "AND bucket_t < :b GROUP BY k ORDER BY k")
        params = {"w": width, "lvl": level // NS, "sid": sid, "a": a, "b": b}
        return [tuple(r) for r in conn.execute(text(sql), params)]

    def _span(self, conn: Connection, sid: int, a: int, b: int,
              damaged: list[DamagedSpan]) -> Aggregate | None:
        """(min, max, sum, count) over [a, b) exactly: the coarsest level's whole buckets
        inside, the edges left over from finer levels (one statement), down to raw."""
        selects: list[str] = []
        params: dict[str, int] = {"sid": sid}
        pieces: list[tuple[Any, ...]] = []
        for i, (level_s, lo, hi) in enumerate(span_pieces(a, b, LEVELS_S)):
            if level_s == MINUTE_S:
                rows = self._minute_rows(conn, sid, lo, hi, damaged)
                if rows:
                    pieces.append((min(r[1] for r in rows), max(r[2] for r in rows),
                                   sum(r[3] for r in rows), sum(r[4] for r in rows)))
            elif level_s:
                selects.append(
                    "SELECT min(min), max(max), sum(sum), CAST(sum(count) AS BIGINT) FROM rollups "
                    f"WHERE level = :l{i} AND series_id = :sid AND bucket_t >= :a{i} "
                    f"AND bucket_t < :b{i}")
                params[f"l{i}"], params[f"a{i}"], params[f"b{i}"] = level_s, lo, hi
            else:
                _, vs = self._raw(conn, sid, lo, hi, damaged)
                if len(vs):
                    pieces.append((float(vs.min()), float(vs.max()), float(vs.sum()), len(vs)))
        if selects:
            pieces += [tuple(r) for r in conn.execute(text(" UNION ALL ".join(selects)),
                                                      params)]
        return _combine(pieces)

    def _minute_rows(self, conn: Connection, sid: int, a: int, b: int,
                     damaged: list[DamagedSpan]) -> list[tuple[Any, ...]]:
        """One series' minute rollups (bucket_t, min, max, sum, count, first_t, first,
        last_t, last) with bucket_t in [a, b): from the rollups table, and for sealed
        segments computed from their blocks and rows."""
        sealed = list(conn.execute(text(
            "SELECT seg_t FROM blocks WHERE series_id = :sid AND seg_t > :after AND seg_t < :b "
            "ORDER BY seg_t"), {"sid": sid, "after": a - SEGMENT_NS, "b": b}).scalars())
        rows = [tuple(r) for r in conn.execute(text(
            "SELECT bucket_t, min, max, sum, count, first_t, first, last_t, last FROM rollups "
            "WHERE level = :lv AND series_id = :sid AND bucket_t >= :a AND bucket_t < :b "
            "ORDER BY bucket_t"), {"lv": MINUTE_S, "sid": sid, "a": a, "b": b})]
        if not sealed:
            return rows
        width = MINUTE_S * NS
        for seg_t in sealed:
            lo, hi = max(a, seg_t), min(b, seg_t + SEGMENT_NS)
            ts, vs = self._raw(conn, sid, lo // width * width, -(-hi // width) * width,
                               damaged)
            if len(ts):
                cols = Columns(np.full(len(ts), sid, np.int64), ts, vs)
                rows += [r[2:] for r in rollup_rows(cols, MINUTE_S) if lo <= r[2] < hi]
        rows.sort(key=lambda r: int(r[0]))
        return rows

    def export(self, series_ids: list[int], start_ns: int, end_ns: int,
               level_s: int | None) -> Iterator[tuple[Any, ...]]:
        for sid in series_ids:
            with self._reading() as conn:
                if level_s is None:
                    damaged: list[DamagedSpan] = []
                    for ts, vs in self._raw_windows(conn, sid, start_ns, end_ns, damaged):
                        yield from zip([sid] * len(ts), ts.tolist(), vs.tolist())
                    continue
                if level_s == MINUTE_S:  # a month at a time: sealed ones come from blocks
                    damaged = []
                    w = start_ns
                    while w < end_ns:
                        nxt = conn.execute(text(
                            "SELECT (SELECT min(bucket_t) FROM rollups WHERE level = :lv AND "
                            "series_id = :sid AND bucket_t >= :w), (SELECT min(seg_t) FROM "
                            "blocks WHERE series_id = :sid AND seg_t > :after)"),
                            {"lv": MINUTE_S, "sid": sid, "w": w,
                             "after": w - SEGMENT_NS}).one()
                        if all(t is None for t in nxt):
                            break  # skip straight over months with nothing
                        w = max(w, min(t for t in nxt if t is not None))
                        upto = min(end_ns, w + 30 * 86_400 * NS)
                        yield from ((sid, t, mn, mx, sm / n, n, first, last)
                                    for t, mn, mx, sm, n, _, first, _, last in self._minute_rows(
                                        conn, sid, w, upto, damaged))
                        w = upto
                    continue
                sql = ("SELECT series_id, bucket_t, min, max, sum / count, count, first, last "
                       "FROM rollups WHERE level = :lvl AND series_id = :sid "
                       "AND bucket_t >= :a AND bucket_t < :b ORDER BY bucket_t")
                params = {"lvl": level_s, "sid": sid, "a": start_ns, "b": end_ns}
                result = conn.execution_options(stream_results=True, yield_per=5000).execute(
                    text(sql), params)
                yield from (tuple(r) for r in result)

    def rebuild_rollups(self, progress: Callable[[int, int], None] | None = None) -> int:
        """Recompute every rollup from raw samples, series by series, each in one transaction.

        Only buckets that raw samples still cover are rebuilt: where retention has pruned
        raw samples (the `pruned` table's raw horizon), the rollups are all that is left of
        that history and stay as they are. Samples (rows and blocks) are read a few segments
        at a time, so memory stays flat for any length of history (a window's rollups merge
        into the last ones by upsert)."""
        with self.reader.connect() as conn:
            sids = list(conn.execute(select(db.series.c.id)).scalars())
            horizon = conn.execute(select(db.pruned.c.before_t).where(
                db.pruned.c.level == 0)).scalar() or 0
        # Per level, the first bucket that lies wholly inside what raw samples cover.
        starts = {lv: -(-horizon // (lv * NS)) * lv * NS for lv in LEVELS_S}
        since = min(starts.values())
        written = 0
        with self._lock:
            for i, sid in enumerate(sids):
                with self.engine.begin() as conn:
                    for lv, first in starts.items():
                        conn.execute(db.rollups.delete().where(
                            db.rollups.c.series_id == sid, db.rollups.c.level == lv,
                            db.rollups.c.bucket_t >= first))
                    written += self._rollups_from_samples(conn, sid, since, starts)
                if progress:
                    progress(i + 1, len(sids))
        return written

    def _rollups_from_samples(self, conn: Connection, sid: int, since: int,
                              starts: dict[int, int]) -> int:
        read = 0
        damaged: list[DamagedSpan] = []
        sealed = np.array(list(conn.execute(text(
            "SELECT seg_t FROM blocks WHERE series_id = :sid"), {"sid": sid}).scalars()),
            dtype=np.int64)  # their minute rollups are computed from the blocks when read
        for ts, vs in self._raw_windows(conn, sid, since, 2**62, damaged):
            unsealed = ~np.isin(ts // SEGMENT_NS * SEGMENT_NS, sealed)
            for lv, first in starts.items():
                keep = (ts >= first) & (unsealed if lv == MINUTE_S else True)
                if keep.any():
                    cols = Columns(np.full(int(keep.sum()), sid, np.int64), ts[keep], vs[keep])
                    self._upsert_rollups(conn, list(rollup_rows(cols, lv)))
            read += len(ts)
        return read

    # ---- sealing history into blocks ----------------------------------------------------

    def compact(self, now_ns: int | None = None,
                stopping: Callable[[], bool] = lambda: False,
                progress: Callable[[int, int, int], None] | None = None) -> int:
        """Seal every segment that ended settle_s before now into one block per series (rows
        merged into the segment's block when it has one: late samples); return how many
        samples were sealed. Each (series, segment) in its own transaction under the
        writers' lock: a kill leaves each whole or untouched, never half a block, and the
        next pass goes on from there. `progress(series done, series, samples sealed)`."""
        now_ns = time.time_ns() if now_ns is None else now_ns
        horizon = (now_ns - self.settle_ns) // SEGMENT_NS * SEGMENT_NS
        sids: list[int] = []
        with self.reader.connect() as conn:  # the series with rows: an index seek each
            while (sid := conn.execute(text("SELECT min(series_id) FROM samples WHERE "
                                            "series_id > :sid"),
                                       {"sid": sids[-1] if sids else -1}).scalar()) is not None:
                sids.append(int(sid))
        sealed = 0
        for done, sid in enumerate(sids):
            after = -(2**62)
            while not stopping():
                with self.reader.connect() as conn:
                    first = conn.execute(text(
                        "SELECT min(t) FROM samples WHERE series_id = :sid AND t >= :after "
                        "AND t < :h"), {"sid": sid, "after": after, "h": horizon}).scalar()
                if first is None:
                    break
                seg_t = first // SEGMENT_NS * SEGMENT_NS
                sealed += self._seal(sid, seg_t)
                after = seg_t + SEGMENT_NS
                if progress:
                    progress(done, len(sids), sealed)
            if progress:
                progress(done + 1, len(sids), sealed)
        return sealed

    def _seal(self, sid: int, seg_t: int) -> int:
        try:
            with self._lock, self.engine.begin() as conn:
                db.write_lock(conn)
                ts, vs = self._raw_rows(conn, sid, seg_t, seg_t + SEGMENT_NS)
                if not len(ts):
                    return 0
                old = conn.execute(text("SELECT data FROM blocks WHERE series_id = :sid AND "
                                        "seg_t = :seg"), {"sid": sid, "seg": seg_t}).scalar()
                if old is not None:
                    got = _decoded(sid, seg_t, old, [])
                    if got is None:  # never rewrite what cannot be read: the rows stay
                        return 0
                    # The block's samples came first: a row at the same time never stands.
                    merged = Columns.of(Batch([0] * (len(got[0]) + len(ts)),
                                              np.concatenate((got[0], ts)).tolist(),
                                              np.concatenate((got[1], vs)).tolist()))
                    ts, vs = merged.ts, merged.vs
                    conn.execute(text("DELETE FROM blocks WHERE series_id = :sid AND "
                                      "seg_t = :seg"), {"sid": sid, "seg": seg_t})
                conn.execute(db.blocks.insert().values(
                    series_id=sid, seg_t=seg_t, t_first=int(ts[0]), t_last=int(ts[-1]),
                    count=len(ts), data=encode(ts, vs)))
                conn.execute(text("DELETE FROM samples WHERE series_id = :sid AND t >= :a "
                                  "AND t < :b"), {"sid": sid, "a": seg_t, "b": seg_t + SEGMENT_NS})
                conn.execute(text("DELETE FROM rollups WHERE level = :lv AND series_id = :sid "
                                  "AND bucket_t >= :a AND bucket_t < :b"),
                             {"lv": MINUTE_S, "sid": sid, "a": seg_t, "b": seg_t + SEGMENT_NS})
                return len(ts)
        except (OperationalError, DBAPIError) as exc:
            raise StoreUnavailable(_reason(exc)) from exc

    def _raw_rows(self, conn: Connection, sid: int, a: int, b: int
                  ) -> tuple[np.ndarray, np.ndarray]:
        rows = conn.execute(text("SELECT t, value FROM samples WHERE series_id = :sid AND "
                                 "t >= :a AND t < :b ORDER BY t"),
                            {"sid": sid, "a": a, "b": b}).all()
        return (np.fromiter((r[0] for r in rows), np.int64, len(rows)),
                np.fromiter((r[1] for r in rows), np.float64, len(rows)))

    def check_blocks(self, progress: Callable[[int, int], None] | None = None
                     ) -> tuple[int, list[DamagedSpan]]:
        """Decode every block, one at a time, and compare it with its row's first and last
        time and count: (blocks checked, the damaged ones)."""
        with self.reader.connect() as conn:
            keys = conn.execute(text("SELECT series_id, seg_t, t_first, t_last, count "
                                     "FROM blocks ORDER BY series_id, seg_t")).all()
        damaged: list[DamagedSpan] = []
        with self.reader.connect() as conn:
            for i, (sid, seg_t, t_first, t_last, count) in enumerate(keys, start=1):
                data = conn.execute(text("SELECT data FROM blocks WHERE series_id = :sid AND "
                                         "seg_t = :seg"), {"sid": sid, "seg": seg_t}).scalar()
                if data is None:  # retention dropped it meanwhile
                    continue
                got = _decoded(sid, seg_t, data, damaged)
                if got is not None and (
                        len(got[0]) != count or int(got[0][0]) != t_first
                        or int(got[0][-1]) != t_last or t_first < seg_t
                        or t_last >= seg_t + SEGMENT_NS):
                    damaged.append(DamagedSpan(
                        sid, seg_t, seg_t + SEGMENT_NS,
                        f"holds {len(got[0])} samples from {int(got[0][0])} to "
                        f"{int(got[0][-1])}; its row says {count} from {t_first} to {t_last}"))
                if progress:
                    progress(i, len(keys))
        return len(keys), damaged

    def close(self) -> None:
        self.engine.dispose()

    def _reading(self) -> Connection:
        """A read-only connection that sees one snapshot for all its statements (SQLite's
        read transaction does; PostgreSQL needs REPEATABLE READ), so a compaction committing
        meanwhile never shows a sample twice (a row, then in its block) or not at all."""
        try:
            conn = self.reader.connect()
            if not self._sqlite:
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            return conn
        except (OperationalError, DBAPIError) as exc:
            raise StoreUnavailable(_reason(exc)) from exc


ROWS_PER_BUCKET = 20
# A series' blocks that may hold samples in [:a, :b) (:after = :a minus a segment: the
# segment that holds :a starts after it), in time order.
_SQL_BLOCKS_OVER = text(
    "SELECT seg_t, data FROM blocks WHERE series_id = :sid AND seg_t > :after AND seg_t < :b "
    "AND t_last >= :a AND t_first < :b ORDER BY seg_t")
# A series' newest block with a sample at or before :at.
_SQL_LAST_BLOCK = text(
    "SELECT seg_t, t_last, data FROM blocks WHERE series_id = :sid AND seg_t <= :at "
    "AND t_first <= :at ORDER BY seg_t DESC LIMIT 1")


def _decoded(sid: int, seg_t: int, data: bytes,
             damaged: list[DamagedSpan]) -> tuple[np.ndarray, np.ndarray] | None:
    """A block's (times, values), or None when it fails to decode: then it is logged and
    added to `damaged` with its series and segment, and never read as data."""
    try:
        return decode(bytes(data))
    except BlockError as exc:
        span = DamagedSpan(sid, seg_t, seg_t + SEGMENT_NS, str(exc))
        log.error("damaged block: series %d, %s to %s: %s", sid, _iso(seg_t),
                  _iso(span.end_ns), exc)
        damaged.append(span)
        return None


def _iso(t_ns: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t_ns // NS))


def _series_runs(sids: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of each series' run in an array sorted by series."""
    edges = np.flatnonzero(sids[1:] != sids[:-1]) + 1
    return list(zip(np.concatenate(([0], edges)).tolist(),
                    np.concatenate((edges, [len(sids)])).tolist()))


class _StaleCache(Exception):
    """The in-memory latest times were behind the database."""


def bucket_width(span_ns: int, max_points: int, finest_s: int = 0) -> tuple[int, int]:
    """(bucket width, rollup level) in ns for at most max_points buckets over span_ns.

    The width is a whole multiple of the level, so bucket edges fall on rollup edges and
    every aggregate is exact. Of the levels no wider than a bucket, take the finest that
    reads at most ROWS_PER_BUCKET rows per bucket on average: finer levels round the width
    up by less, so the answer comes closer to max_points buckets. Levels finer than
    finest_s (pruned by retention) are not used: then buckets are at least that wide."""
    need = -(-span_ns // max(max_points - 1, 1))
    fitting = [s * NS for s in LEVELS_S if finest_s <= s and s * NS <= need]
    if not fitting:
        if finest_s:
            return finest_s * NS, finest_s * NS  # one row of the finest level kept per bucket
        return max(need, 1), 0  # narrower than the finest level: from raw samples
    level = next((lv for lv in fitting if span_ns // lv <= ROWS_PER_BUCKET * max_points),
                 fitting[-1])
    return -(-need // level) * level, level


def span_pieces(a: int, b: int, levels: tuple[int, ...]) -> list[tuple[int, int, int]]:
    """[a, b) cut into (level in seconds, or 0 for raw, start, end) pieces: the coarsest
    level's whole buckets inside, then each leftover edge from the finer levels."""
    for i in range(len(levels) - 1, -1, -1):
        w = levels[i] * NS
        lo, hi = -(-a // w) * w, b // w * w
        if lo < hi:
            finer = levels[:i]
            return [(levels[i], lo, hi), *span_pieces(a, lo, finer), *span_pieces(hi, b, finer)]
    return [(0, a, b)] if a < b else []


def complete_level(pruned: dict[int, int], t_ns: int) -> int:
    """The finest resolution (0 for raw, else a level in seconds) that retention has not
    pruned at t_ns; `pruned` maps a level to the time before which it is gone."""
    for level in (0, *LEVELS_S):
        if pruned.get(level, -1) <= t_ns:
            return level
    return LEVELS_S[-1]


def rollup_rows(cols: Columns, level_s: int) -> list[RollupRow]:
    """Per (series, bucket) aggregates of samples sorted by (series, time), as upsert rows."""
    sids, ts, vs = cols.sids, cols.ts, cols.vs
    if not len(ts):
        return []
    width = level_s * NS
    buckets = ts // width * width
    edge = np.flatnonzero((sids[1:] != sids[:-1]) | (buckets[1:] != buckets[:-1])) + 1
    starts = np.concatenate(([0], edge))
    ends = np.concatenate((edge, [len(ts)])) - 1
    return list(zip(
        [level_s] * len(starts), sids[starts].tolist(), buckets[starts].tolist(),
        np.minimum.reduceat(vs, starts).tolist(), np.maximum.reduceat(vs, starts).tolist(),
        np.add.reduceat(vs, starts).tolist(), (ends - starts + 1).tolist(),
        ts[starts].tolist(), vs[starts].tolist(), ts[ends].tolist(), vs[ends].tolist()))


@dataclass
class Columns:
    """Samples as numpy columns sorted by (series, time), each (series, time) once: the
    order of the samples table's key, so inserts walk the B-tree forward."""

    sids: np.ndarray
    ts: np.ndarray
    vs: np.ndarray

    @classmethod
    def of(cls, batch: Batch) -> Columns:
        sids = np.asarray(batch.series_ids, dtype=np.int64)
        ts = np.asarray(batch.times, dtype=np.int64)
        vs = np.asarray(batch.values, dtype=np.float64)
        if not np.isfinite(vs).all():
            raise ValueError("sample values must be finite numbers")
        order = np.lexsort((ts, sids))  # stable: repeats keep their arrival order
        cols = cls(sids[order], ts[order], vs[order])
        repeat = (cols.sids[1:] == cols.sids[:-1]) & (cols.ts[1:] == cols.ts[:-1])
        if repeat.any():  # the same sample twice in one batch: the first one stands
            cols = cols.take(np.concatenate(([True], ~repeat)))
        return cols

    @classmethod
    def concat(cls, a: Columns, b: Columns) -> Columns:
        return cls.of(Batch(*(np.concatenate((x, y)).tolist()
                              for x, y in ((a.sids, b.sids), (a.ts, b.ts), (a.vs, b.vs)))))

    def take(self, mask: np.ndarray) -> Columns:
        return Columns(self.sids[mask], self.ts[mask], self.vs[mask])

    def rows(self) -> list[tuple[int, int, float]]:
        return list(zip(self.sids.tolist(), self.ts.tolist(), self.vs.tolist()))

    def last_per_series(self) -> np.ndarray:
        """Index of each series' newest sample."""
        return np.concatenate((np.flatnonzero(self.sids[1:] != self.sids[:-1]),
                               [len(self.sids) - 1])) if len(self.sids) else np.array([], int)

    def batch(self) -> Batch:
        return Batch(self.sids.tolist(), self.ts.tolist(), self.vs.tolist())


class LatestTimes:
    """Each series' newest stored time, indexed by series id: one numpy lookup tells which
    samples of a batch are new (the common case) and which are late or resent."""

    def __init__(self, known: dict[int, int]) -> None:
        self.t = np.full(max(known, default=0) + 1, -1, dtype=np.int64)
        for sid, t in known.items():
            self.t[sid] = t

    def ensure(self, sid: int) -> None:
        if sid >= len(self.t):
            self.t = np.concatenate((self.t, np.full(sid + 1 - len(self.t), -1, np.int64)))


def _combine(pieces: list[tuple[Any, ...]]) -> Aggregate | None:
    pieces = [p for p in pieces if p and p[3]]
    if not pieces:
        return None
    return (min(p[0] for p in pieces), max(p[1] for p in pieces),
            sum(p[2] for p in pieces), sum(p[3] for p in pieces))


def _reason(exc: Exception) -> str:
    text = str(getattr(exc, "orig", exc)).splitlines()[0]
    return f"the store is unavailable: {text}"
