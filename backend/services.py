"""Everything the running backend holds, built once at start from the settings."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from sqlalchemy import Engine, select

from backend import db, files
from backend.alert_archive import AlertArchive
from backend.alert_email import AlertMailer
from backend.alert_server import AlertServer
from backend.ingest import Ingestor
from backend.limits import LimitChecker
from backend.mission import Limits, Mission, load_mission
from backend.outbox import OutboxSender
from backend.retention import RetentionJob
from backend.series import SeriesRegistry
from backend.settings import Settings
from backend.stale import StaleWatch
from backend.store.base import TelemetryStore
from backend.store.sql import SqlStore
from backend.stream import StreamHub
from backend.stream_feed import LiveFeed, StateWatch, first_seq
from backend.ticker import Ticker
from backend.tokens import TokenCache

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    engine: Engine
    mission: Mission
    registry: SeriesRegistry
    store: TelemetryStore
    ingestor: Ingestor
    limits: LimitChecker
    tokens: TokenCache
    alerts: AlertServer
    sender: OutboxSender
    hub: StreamHub
    feed: LiveFeed
    ticker: Ticker | None = None
    retention: RetentionJob | None = None
    state_watch: StateWatch | None = None

    def start_background(self) -> None:
        """The alert-email sender, the once-a-second alert tick (stale telemetry), the
        live stream's state watch and the retention job; the API starts them, one-off
        commands do not."""
        self.sender.start()
        self.ticker = Ticker("alert-tick", self.alerts.tick, 1.0)
        self.ticker.start()
        self.state_watch = StateWatch(self.feed)
        self.state_watch.start()
        if isinstance(self.store, SqlStore) and self.settings.retention_interval_s > 0:
            self.retention = RetentionJob(self.engine, self.settings)
            self.retention.start()

    def close(self) -> None:
        if self.retention:
            self.retention.stop()
        if self.state_watch:
            self.state_watch.stop()
        if self.ticker:
            self.ticker.stop()
        self.sender.stop()
        self.store.close()
        self.engine.dispose()


def open_database(settings: Settings) -> Engine:
    if not settings.database_url:
        files.private_dir(settings.data_dir)
    engine = db.make_engine(settings.sql_url())
    db.upgrade(engine)
    return engine


def open_store(settings: Settings, engine: Engine, registry: SeriesRegistry) -> TelemetryStore:
    """The time-series store the settings choose; relational state stays in `engine`."""
    if settings.store == "influxdb":
        from backend.store.influx import InfluxStore

        return InfluxStore.from_settings(settings, registry)
    return SqlStore(engine, settings.clock_tolerance_s)


def build_services(settings: Settings) -> Services:
    mission = load_mission(settings.mission_file)
    engine = open_database(settings)
    registry = SeriesRegistry(engine, mission)
    store = open_store(settings, engine, registry)
    with db.reader(engine).connect() as conn:
        overrides = {r.parameter: Limits.model_validate_json(r.limits_json)
                     for r in conn.execute(select(db.limit_overrides))}
    checker = LimitChecker(registry.by_id, overrides, settings.clock_tolerance_s)
    sender = OutboxSender(engine, settings)
    # checking -> the alarm server -> its listeners (archive, email); stale telemetry is
    # checked on the server's tick.
    stale = (StaleWatch(mission, registry.by_id, settings.stale_alert_s, checker.newest_t)
             if settings.stale_alert_s > 0 else None)
    alerts = AlertServer(engine, mission, checker, AlertArchive(engine, mission),
                         AlertMailer(settings, mission, sender.wake), stale,
                         settings.stale_severity)
    latest = store.latest()
    checker.prime(latest, alerts.load())
    checker.listener = alerts.record
    # The live stream: updates numbered in this process (backend/stream_feed.py).
    hub = StreamHub(first_seq() - 1, settings.stream_buffer_events, settings.stream_queue_events,
                    settings.stream_max_per_user, settings.stream_max_total)
    feed = LiveFeed(hub, registry, checker, alerts, settings.clock_tolerance_s)
    feed.prime(latest, time.time_ns())
    alerts.on_change = feed.alerts_changed
    log.info("mission loaded: %d satellites, %d stations, %d parameters, %d series",
             len(mission.satellites), len(mission.stations), len(mission.parameters),
             len(registry.by_id))
    return Services(settings, engine, mission, registry, store,
                    Ingestor(mission, registry, settings), checker,
                    TokenCache(engine, idle_s=settings.session_idle_s), alerts, sender, hub,
                    feed)
