"""Everything the running backend holds, built once at start from the settings."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from sqlalchemy import Engine, select

from backend import db, files
from backend.alarm_report import send_monthly
from backend.alert_archive import AlertArchive
from backend.alert_email import AlertMailer
from backend.alert_plot import Plotter
from backend.alert_server import AlertServer, LatestReader
from backend.cluster import ClusterView, ClusterWatch
from backend.duties import Duties, Duty
from backend.escalation import Escalation
from backend.ingest import Ingestor
from backend.ladder import load_ladder
from backend.limits import LimitChecker
from backend.mission import Mission, load_mission
from backend.outbox import OutboxSender
from backend.retention import RetentionJob
from backend.series import SeriesRegistry
from backend.settings import Settings
from backend.shift_email import send_shift
from backend.stale import StaleWatch
from backend.store.base import TelemetryStore
from backend.store.compactor import Compactor
from backend.store.sql import SqlStore
from backend.stream import StreamHub
from backend.stream_feed import LiveFeed, OtherWriters, StateWatch, first_seq
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
    cluster: ClusterView | None = None  # the two-site deployment's health (docs/cluster.md)
    duties: Duties | None = None
    live: list[Duty] = field(default_factory=list)  # the live stream's own, in every process

    def start_background(self) -> None:
        """The cluster's duties (backend/duties.py): the alert-email sender, the
        once-a-second alert tick (stale telemetry, email owed, escalation steps due, flood
        digests), the monthly alarm-health report and the shift report at each shift change
        (when someone is to get them), the retention job and the compactor
        (backend/store/compactor.py), run by the one API process that holds them; and in
        every API process the live stream's watches (states gone stale, what other
        processes changed). The API starts them, one-off commands do not."""
        work: list[Duty] = [self.sender, Ticker("alert-tick", self.alerts.tick, 1.0)]
        if self.settings.report_email_to:
            work.append(Ticker("alarm-report", self._monthly_report, 60.0, first_s=5.0))
        if self.settings.shift_report_email_to:
            work.append(Ticker("shift-report", self._shift_report, 60.0, first_s=5.0))
        if isinstance(self.store, SqlStore) and self.settings.retention_interval_s > 0:
            work.append(RetentionJob(self.engine, self.settings))
        if isinstance(self.store, SqlStore) and self.settings.compact_interval_s > 0:
            work.append(Compactor(self.store, self.settings))
        if self.cluster is not None:
            work.append(ClusterWatch(self.cluster, self.alerts.cluster_alert,
                                     lambda: self.alerts.cluster_alert(None),
                                     self.settings.cluster_watch_s))
        if self.cluster is not None:
            self.cluster.start()
        self.duties = Duties(self.engine, work)
        self.duties.start()
        self.live = [StateWatch(self.feed)]
        if self.engine.dialect.name == "postgresql":  # other API processes may write
            self.live.append(OtherWriters(self.engine, self.alerts, self.feed,
                                          self.store.latest))
        for job in self.live:
            job.start()

    def _monthly_report(self) -> None:
        """Queue last month's alarm-health report once (backend/alarm_report.py)."""
        if send_monthly(self.engine, self.settings, time.time_ns()):
            self.sender.wake()

    def _shift_report(self) -> None:
        """Queue the last ended shift's report once (backend/shift_email.py)."""
        if send_shift(self.engine, self.store, self.registry, self.mission, self.settings,
                      time.time_ns()):
            self.sender.wake()

    def close(self) -> None:
        for job in self.live:
            job.stop()
        if self.duties:
            self.duties.stop()
        if self.cluster is not None:
            self.cluster.stop()
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
    return SqlStore(engine, settings.clock_tolerance_s, settings.compact_settle_s)


def build_services(settings: Settings) -> Services:
    mission = load_mission(settings.mission_file)
    # The escalation ladder, checked before anything starts: a mistake stops the API.
    ladder = load_ladder(settings.escalation_file, mission)
    engine = open_database(settings)
    registry = SeriesRegistry(engine, mission)
    store = open_store(settings, engine, registry)
    checker = LimitChecker(registry.by_id, {}, settings.clock_tolerance_s)
    sender = OutboxSender(engine, settings)
    sender.plotter = Plotter(store, mission)
    # checking -> the alarm server -> its listeners (archive, email); stale telemetry is
    # checked on the server's tick. The state is the database's (backend/alert_server.py).
    stale = (StaleWatch(mission, registry.by_id, settings.stale_alert_s, checker.newest_t)
             if settings.stale_alert_s > 0 else None)
    alerts = AlertServer(engine, mission, checker, AlertArchive(engine, mission),
                         AlertMailer(settings, mission, sender.wake), stale,
                         settings.stale_severity, latest_reader(store),
                         Escalation(settings, mission, ladder) if ladder.ladders else None)
    latest = store.latest()  # first: puts back latest rows a wrong clock left ahead of now
    alerts.refresh()
    if alerts.counts()["active"]:
        log.info("%d open alerts restored", alerts.counts()["active"])
    # The live stream: updates numbered in this process (backend/stream_feed.py).
    hub = StreamHub(first_seq() - 1, settings.stream_buffer_events, settings.stream_queue_events,
                    settings.stream_max_per_user, settings.stream_max_total)
    feed = LiveFeed(hub, registry, checker, alerts, settings.clock_tolerance_s)
    feed.prime(latest, time.time_ns())
    alerts.on_change = feed.alerts_changed
    log.info("mission loaded: %d satellites, %d stations, %d parameters, %d series",
             len(mission.satellites), len(mission.stations), len(mission.parameters),
             len(registry.by_id))
    cluster = (ClusterView(engine, settings.sites, settings.site, settings.cluster_watch_s)
               if settings.sites else None)
    return Services(settings, engine, mission, registry, store,
                    Ingestor(mission, registry, settings), checker,
                    TokenCache(engine, idle_s=settings.session_idle_s), alerts, sender, hub,
                    feed, cluster)


def latest_reader(store: TelemetryStore) -> LatestReader:
    """How the alarm server reads each series' newest sample inside its transaction: the
    SQL store's `latest` table, or what the InfluxDB store answers."""
    if isinstance(store, SqlStore):
        lt = db.latest.c
        return lambda conn: {sid: (t, v) for sid, t, v in conn.execute(
            select(lt.series_id, lt.t, lt.value))}
    return lambda _conn: store.latest()
