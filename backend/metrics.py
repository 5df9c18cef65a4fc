"""Prometheus metrics for the people who run the monitor (prometheus-client), served at
GET /metrics (backend/api/metrics.py) to a token of the role `metrics`.

Two kinds: counters and histograms of what happens (ingest, logins, retention), bumped where
it happens and kept in this process; and gauges of the state (open alerts, the outbox, the
database, rollups, sessions, background workers), read from the database at each scrape by
`StateCollector`, so two API processes on one database report the same state. Names and
meanings: docs/deployment.md, "Metrics"; docs/grafana-dashboard.json draws them.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select

from backend import db
from backend.store.base import LEVEL_NAMES, LEVELS_S

NS = 10**9
# Answers to POST /api/v2/write by status: "accepted", or why the batch was refused.
OUTCOMES = {204: "accepted", 400: "invalid", 401: "unauthorized", 403: "forbidden",
            413: "too_large", 429: "rate_limited", 500: "error", 503: "unavailable"}

INGEST_BATCHES = Counter("kazsat_ingest_batches", "Ingest requests by outcome: accepted, or "
                         "the reason the batch was refused", ["outcome"], registry=None)
INGEST_SECONDS = Histogram("kazsat_ingest_duration_seconds", "Time from receiving an ingest "
                           "request to answering it, accepted batches only",
                           buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
                           registry=None)
INGEST_VALUES = Counter("kazsat_ingest_values", "Field values in accepted ingest batches",
                        registry=None)
INGEST_STORED = Counter("kazsat_ingest_samples_stored", "Samples stored as new (a sample "
                        "already stored, resent, is not)", registry=None)
LOGIN_FAILURES = Counter("kazsat_login_failures", "Failed logins: wrong_password (a wrong "
                         "name or password, 401) or throttled (refused while a lock-out "
                         "holds, 429)", ["reason"], registry=None)
RETENTION_RUNS = Counter("kazsat_retention_runs", "Passes of the retention job by outcome",
                         ["outcome"], registry=None)
RETENTION_DELETED = Counter("kazsat_retention_rows_deleted", "Rows retention deleted, per "
                            "resolution (raw samples, rollup levels)", ["resolution"],
                            registry=None)
RETENTION_LAST_SUCCESS = Gauge("kazsat_retention_last_success_timestamp_seconds",
                               "When the retention job last finished a pass", registry=None)
# Every known label value from the start, at 0: a series that appears only at its first
# event would hide that event from rate() and increase().
for _outcome in sorted(set(OUTCOMES.values())):
    INGEST_BATCHES.labels(_outcome)
for _reason in ("wrong_password", "throttled"):
    LOGIN_FAILURES.labels(_reason)
for _outcome in ("ok", "failed"):
    RETENTION_RUNS.labels(_outcome)
for _resolution in ("raw", *LEVEL_NAMES.values()):
    RETENTION_DELETED.labels(_resolution)
EVENTS = (INGEST_BATCHES, INGEST_SECONDS, INGEST_VALUES, INGEST_STORED, LOGIN_FAILURES,
          RETENTION_RUNS, RETENTION_DELETED, RETENTION_LAST_SUCCESS)


def retention_ran(removed: dict[str, int] | None) -> None:
    """A retention pass ended: `removed` rows per resolution, or None when it failed."""
    if removed is None:
        RETENTION_RUNS.labels("failed").inc()
        return
    RETENTION_RUNS.labels("ok").inc()
    for resolution, rows in removed.items():
        RETENTION_DELETED.labels(resolution).inc(rows)
    RETENTION_LAST_SUCCESS.set_to_current_time()


class StateCollector(Collector):
    """Gauges read at each scrape: a few indexed queries on the SQL database."""

    def __init__(self, engine: Engine, sql_store: bool, workers: Callable[[], list[str]],
                 clock: Callable[[], float] = time.time) -> None:
        self.engine = db.reader(engine)
        self.sql_store = sql_store
        self.workers = workers
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        now = self.clock()
        yield from self._alerts()
        yield from self._outbox(now)
        yield self._database_size()
        if self.sql_store:
            yield from self._telemetry(now)
        yield self._sessions(now)
        running = {t.name for t in threading.enumerate() if t.is_alive()}
        up = GaugeMetricFamily("kazsat_worker_up", "Background workers of this API process: 1 "
                               "running, 0 stopped (GET /healthz fails then)", labels=["worker"])
        for name in self.workers():
            up.add_metric([name], 1.0 if name in running else 0.0)
        yield up

    def _alerts(self) -> Iterable[Metric]:
        a = db.alerts.c
        with self.engine.connect() as conn:
            rows = conn.execute(select(a.severity, a.acked_by.is_not(None), func.count())
                                .where(a.cleared_t.is_(None))
                                .group_by(a.severity, a.acked_by.is_not(None))).all()
        family = GaugeMetricFamily("kazsat_alerts_open", "Open alerts by severity and whether "
                                   "acknowledged", labels=["severity", "acknowledged"])
        counts = {(sev, ack): 0 for sev in ("warning", "critical") for ack in (False, True)}
        for severity, acked, count in rows:
            counts[(severity, bool(acked))] = counts.get((severity, bool(acked)), 0) + count
        for (severity, acked), count in sorted(counts.items()):
            family.add_metric([severity, "yes" if acked else "no"], float(count))
        return [family]

    def _outbox(self, now: float) -> Iterable[Metric]:
        o = db.outbox.c
        waiting = o.sent_t.is_(None) & o.failed_t.is_(None)
        with self.engine.connect() as conn:
            backlog, oldest = conn.execute(select(func.count(), func.min(o.created_t))
                                           .where(waiting)).one()
            failed = conn.execute(select(func.count()).where(o.failed_t.is_not(None))).scalar()
        yield GaugeMetricFamily("kazsat_outbox_backlog", "Alert emails waiting to be sent",
                                value=float(backlog))
        yield GaugeMetricFamily("kazsat_outbox_oldest_unsent_age_seconds", "Age of the oldest "
                                "alert email waiting to be sent (0: none waits)",
                                value=max(0.0, now - oldest / NS) if oldest else 0.0)
        yield GaugeMetricFamily("kazsat_outbox_failed", "Alert emails the SMTP server refused "
                                "for good (never retried)", value=float(failed or 0))

    def _database_size(self) -> Metric:
        """PostgreSQL's own count of the database's bytes; SQLite's file with its WAL."""
        if self.engine.dialect.name == "postgresql":
            with self.engine.connect() as conn:
                size = float(conn.execute(select(func.pg_database_size(
                    func.current_database()))).scalar_one())
        else:
            path = Path(self.engine.url.database or "")
            size = float(sum(os.path.getsize(f) for f in
                             (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if f.is_file()))
        return GaugeMetricFamily("kazsat_database_size_bytes", "Size of the SQL database "
                                 "(samples and rollups too with the SQL store)", value=size)

    def _telemetry(self, now: float) -> Iterable[Metric]:
        """How old the newest sample is, and how far each rollup level's newest bucket is
        behind it for that series (0 while rollups are written with their samples)."""
        latest, rollups = db.latest.c, db.rollups.c
        age = GaugeMetricFamily("kazsat_newest_sample_age_seconds", "Time since the newest "
                                "stored sample of any series (telemetry stopped: it grows)")
        lag = GaugeMetricFamily("kazsat_rollup_lag_seconds", "Newest sample's time minus the "
                                "end of its series' newest rollup bucket that holds it, per "
                                "level", labels=["level"])
        with self.engine.connect() as conn:
            newest = conn.execute(select(latest.series_id, latest.t)
                                  .order_by(latest.t.desc()).limit(1)).first()
            if newest is not None:
                series_id, newest_t = newest.tuple()
                age.add_metric([], max(0.0, now - newest_t / NS))
                for level in LEVELS_S:
                    last_t = conn.execute(select(rollups.last_t).where(
                        rollups.level == level, rollups.series_id == series_id)
                        .order_by(rollups.bucket_t.desc()).limit(1)).scalar()
                    if last_t is not None:  # none: the level is empty (nothing to lag)
                        lag.add_metric([LEVEL_NAMES[level]], max(0.0, (newest_t - last_t) / NS))
        return [age, lag]

    def _sessions(self, now: float) -> Metric:
        s = db.sessions.c
        with self.engine.connect() as conn:
            count = conn.execute(select(func.count()).where(s.expires_t > int(now * NS)))
            return GaugeMetricFamily("kazsat_sessions_open", "Login sessions not past their "
                                     "lifetime", value=float(count.scalar_one()))


def event_registry() -> CollectorRegistry:
    """A registry for one app, holding the process's event metrics; the app adds its
    StateCollector once its database is open."""
    registry = CollectorRegistry()
    for metric in EVENTS:
        registry.register(metric)
    return registry
