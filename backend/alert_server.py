"""The alarm server: the set of open alerts, their acknowledgements and shelves, and the
rules of an alert's life. Checking happens before it (backend.limits, backend.stale); what
a change leaves behind is its listeners' (backend.alert_archive writes the rows,
backend.alert_email the email), in one SQL transaction per change.

- A series' alert is raised when its state leaves nominal, escalated when it reaches a
  higher severity than before (the acknowledgement is reset: the operator acknowledged
  the lesser one), moved between warning and critical as the state moves, and cleared
  when the state is back to nominal. One open alert per series at most.
- Stale: one alert per satellite or station while its telemetry has stopped.
- Shelving silences a series (or entity) for a while: its alerts, open or raised during
  the shelf, send no email and do not count as unacknowledged until the shelf expires.
- Every operator or engineer action writes an audit row in the same transaction.

The state is the database's, shared by every API process on it (the two sites): a batch is
stored, checked and its alerts and email recorded in one transaction (`ingest`, through the
store's write hook), and every other change runs in `transaction`. Each takes the
cluster-wide write lock first and reloads this process's copy when another process changed
the state since (backend/alert_sync.py), so a breach is raised once whichever site ingests
it, and an acknowledgement or shelf at one site holds at the other. A batch whose alerts
cannot be recorded is not stored either: the writer is told 503 and sends it again.

Lock: the server's `_lock` guards this process's copy (the checker's states, the open set,
the shelves, the email policy's state) and is held across each transaction, taken before
the database's lock, so memory and database move together.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from sqlalchemy import Connection, Engine, select

from backend import db, flood, notify
from backend.alert_archive import AlertArchive, Shelves
from backend.alert_email import AlertMailer
from backend.alert_sync import Generation
from backend.alerts import AlertNotFound, OpenAlert, alert_key, where
from backend.escalation import Escalation, NoLadder, steps_of
from backend.limits import RANK, LimitChecker, Transition
from backend.mission import Limits, Mission
from backend.stale import Entity, StaleWatch, Stopped
from backend.store.base import NS, Batch, TelemetryStore
from backend.store.sql import SqlStore
from backend.timeutil import format_time

log = logging.getLogger(__name__)
# Each series' newest checked sample, read in the transaction in hand: the SQL store's
# `latest` table, or the InfluxDB store's answer.
LatestReader = Callable[[Connection], dict[int, tuple[int, float]]]


class AlertServer:
    def __init__(self, engine: Engine, mission: Mission, checker: LimitChecker,
                 archive: AlertArchive, mailer: AlertMailer, stale: StaleWatch | None,
                 stale_severity: str, latest: LatestReader,
                 escalation: Escalation | None = None) -> None:
        self.engine = engine
        self.mission = mission
        self.checker = checker
        self.archive = archive
        self.mailer = mailer
        self.stale = stale  # None: stopped telemetry raises no alert
        self.stale_severity = stale_severity
        self.escalation = escalation  # None: no ladder (backend/escalation.py)
        mailer.limit_set = self._limit_set
        self.generation = Generation()
        self._latest = latest
        self._lock = threading.RLock()
        self._open: dict[str, OpenAlert] = {}
        self._shelves: Shelves = {}
        # Told the ids of alerts changed by each committed transaction, outside the lock
        # (the live stream: backend.stream_feed.LiveFeed.alerts_changed).
        self.on_change: Callable[[list[int]], None] | None = None
        self._touched: list[int] = []  # alerts the transaction in hand changes

    # ---- this process's copy of the state ----------------------------------------------------

    def refresh(self) -> None:
        """Bring the copy up to date for a read (the banner, each series' state): a
        reload when another process changed the state since this one last looked."""
        reader = db.reader(self.engine)
        with reader.connect() as conn:
            if self.generation.stale(conn) is None:
                return
        with self._lock, reader.connect() as conn:
            generation = Generation.read(conn)
            self._reload(conn)
            self.generation.loaded(generation)

    def _reload(self, conn: Connection) -> None:
        t = db.limit_states.c
        states = conn.execute(select(t.series_id, t.state, t.count_warning, t.count_critical,
                                     t.since_warning, t.since_critical)).all()
        overrides = {r.parameter: Limits.model_validate_json(r.limits_json)
                     for r in conn.execute(select(db.limit_overrides))}
        self.checker.load(self._latest(conn), [tuple(r) for r in states], overrides)
        opens, self._shelves = self.archive.load_open(conn, time.time_ns())
        self.mailer.load(conn, opens)
        self._open = {op.key: op for op in opens}

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """The one way to change the alarm state other than ingest: under this process's
        lock and the cluster-wide one, on a copy current as of the transaction. A change
        calls `self.generation.advance(conn)`."""
        with self._lock:
            self._touched = []
            try:
                with self.engine.begin() as conn:
                    self._begin(conn)
                    yield conn
                    self.checker.persist(conn)
            except BaseException:
                self.generation.failed()
                raise
            self.generation.committed()
            touched, self._touched = self._touched, []
        self._changed(touched)

    def _begin(self, conn: Connection) -> None:
        db.write_lock(conn)
        if self.generation.sync(conn):
            self._reload(conn)

    # ---- ingest: store, check and record in one transaction ----------------------------------

    def ingest(self, store: TelemetryStore, batch: Batch,
               now: int) -> tuple[Batch, list[Transition]]:
        """Store a batch, check its new samples and record the alert changes and their
        email, all in one transaction; return the samples that were new and the state
        changes they made. With the InfluxDB store the samples go first and the rest
        follows in its own transaction."""
        check = _Check(self, now)
        with self._lock:
            self._touched = []
            try:
                if isinstance(store, SqlStore):
                    stored = store.write(batch, now, hook=check)
                else:
                    stored = store.write(batch, now)
                    with self.engine.begin() as conn:
                        check.begin(conn)
                        check.stored(conn, stored)
            except BaseException:
                self.generation.failed()
                raise
            self.generation.committed()
            touched, self._touched = self._touched, []
        if check.queued:
            self.mailer.wake()
        self._changed(touched)
        return stored, check.transitions

    def _changed(self, alert_ids: list[int]) -> None:
        """Tell `on_change` of committed changes; never raises into the caller."""
        if alert_ids and self.on_change is not None:
            try:
                self.on_change(alert_ids)
            except Exception:
                log.exception("could not pass on the changes of alerts %s", alert_ids)

    def _check(self, conn: Connection, batch: Batch, now: int) -> tuple[list[Transition], bool]:
        """Check stored samples; record what they change. The state changes, and whether
        email was queued."""
        queued = False
        transitions = self.checker.observe(batch, now)
        for tr in transitions:
            queued |= self._apply(conn, tr, now)
        self.checker.persist(conn)
        self.generation.advance(conn)  # the newest samples moved, if nothing else
        return transitions, queued

    def _apply(self, conn: Connection, tr: Transition, now: int) -> bool:
        info = self.checker.info(tr.series_id)
        op = self._open.get(alert_key("limit", tr.series_id, None, None))
        label = f"{where(info.satellite, info.station)} {info.parameter.key}"
        value = notify.format_value(self.mission, info.parameter.key, tr.value)
        if tr.new == "nominal":
            if op is None:
                return False
            self._close(conn, op, tr.t)
            log.info("alert %d cleared: %s back within limits (%s)", op.id, label, value)
            # The notice reports the value that cleared it; the row keeps the worst one.
            return self.mailer.send(conn, replace(op, value=tr.value), "cleared", tr.t, now,
                                    cleared_t=tr.t)
        if op is None:
            op = OpenAlert(0, "limit", tr.series_id, info.satellite, info.station,
                           info.parameter.key, tr.new, tr.new, tr.value, tr.limit, tr.t, tr.t)
            self._raise(conn, op, now)
            log.warning("alert %d raised: %s %s %s (%s)%s", op.id, tr.new.upper(), label,
                        value, tr.limit, " [shelved]" if op.shelved(now) else "")
            return self.mailer.send(conn, op, "raised", tr.t, now)
        if RANK[tr.new] > RANK[op.state]:
            op.value, op.limit = tr.value, tr.limit  # the row keeps the worst value
        escalated = RANK[tr.new] > RANK[op.severity]
        op.state, op.updated_t = tr.new, tr.t
        if escalated:
            op.severity, op.acked = tr.new, False
        self.archive.moved(conn, op, escalated)
        self._touched.append(op.id)
        if escalated and self.escalation is not None:
            # The lesser severity's ladder gives way to this one's, from its first tier.
            self.escalation.stop(conn, op.id, f"escalated to {op.severity}", now)
            self.escalation.start(conn, op, now)
        if not escalated:
            log.info("alert %d now %s: %s", op.id, tr.new, label)
            return False
        log.warning("alert %d escalated to %s: %s %s (%s)", op.id, tr.new.upper(), label,
                    value, tr.limit)
        return self.mailer.send(conn, op, "escalated", tr.t, now)

    def _raise(self, conn: Connection, op: OpenAlert, now: int) -> None:
        """Open a new alert: born shelved when its series (or entity) is on a shelf."""
        shelf = self._shelves.get(op.key)
        if shelf and shelf[0] > now:
            op.shelved_until_t = shelf[0]
        op.id = self.archive.raised(conn, op, shelf[1] if shelf else None)
        self._open[op.key] = op
        self._touched.append(op.id)
        if self.escalation is not None:
            self.escalation.start(conn, op, now)

    def _close(self, conn: Connection, op: OpenAlert, t: int) -> None:
        self.archive.cleared(conn, op.id, t)
        if self.escalation is not None:
            self.escalation.stop(conn, op.id, "cleared", t)
        del self._open[op.key]
        self._touched.append(op.id)

    # ---- once a second, at one site: stale telemetry, owed email -----------------------------

    def tick(self, now: int | None = None) -> None:
        """Raise or clear stale alerts, send email that was held back and is due now, page
        the escalation steps due and send the flood digests due. A
        duty of one site at a time (backend/duties.py): the stale watch judges arrival on
        this process's clock."""
        now = time.time_ns() if now is None else now
        mark = self.stale.mark() if self.stale else None
        try:
            with self.transaction() as conn:
                stopped, resumed = self.stale.check(now) if self.stale else ([], [])
                queued = self._stale_changes(conn, stopped, resumed, now)
                queued |= self._send_owed(conn, now)
                queued |= self._page_due(conn, now)
                queued |= flood.send_due(conn, self.mailer.settings, self.mission, now) > 0
        except BaseException:
            if self.stale and mark is not None:
                self.stale.restore(mark)  # what it saw change is told again next time
            raise
        if queued:
            self.mailer.wake()

    def _stale_changes(self, conn: Connection, stopped: list[Stopped], resumed: list[Entity],
                       now: int) -> bool:
        cleared = [self._open[e.key] for e in resumed if e.key in self._open]
        raised = [s for s in stopped if s.entity.key not in self._open]
        if not (cleared or raised):
            return False
        self.generation.advance(conn)
        queued = False
        for op in cleared:
            self._close(conn, op, now)
            log.info("alert %d cleared: %s telemetry resumed", op.id,
                     where(op.satellite, op.station))
            queued |= self.mailer.send(conn, op, "cleared", now, now, cleared_t=now,
                                       replay_t=op.raised_t)
        for s in raised:
            e, sev = s.entity, self.stale_severity
            op = OpenAlert(0, "stale", None, e.satellite, e.station, None, sev, "stale",
                           None, f"no new sample for {e.window_s:g} s", now, now)
            self._raise(conn, op, now)
            log.warning("alert %d raised: %s %s telemetry stopped: no new sample for %g s "
                        "(newest sample %s)", op.id, sev.upper(),
                        where(e.satellite, e.station), e.window_s,
                        format_time(s.newest_t))
            queued |= self.mailer.send(conn, op, "raised", now, now, replay_t=s.newest_t)
        return queued

    # ---- the monitor's own: redundancy between the sites (backend/cluster.py) -----------------

    def cluster_alert(self, limit_text: str | None, severity: str = "warning") -> None:
        """Raise the monitor's "redundancy lost" alert with this text (once: nothing when it
        is open), or clear it (None)."""
        now = time.time_ns()
        with self.transaction() as conn:
            op = self._open.get(alert_key("cluster", None, None, None))
            if limit_text is None:
                if op is None:
                    return
                self.generation.advance(conn)
                self._close(conn, op, now)
                log.warning("alert %d cleared: redundancy restored", op.id)
                queued = self.mailer.send(conn, op, "cleared", now, now, cleared_t=now)
            else:
                if op is not None:
                    return
                self.generation.advance(conn)
                op = OpenAlert(0, "cluster", None, None, None, None, severity, severity, None,
                               limit_text, now, now)
                self._raise(conn, op, now)
                log.warning("alert %d raised: %s %s", op.id, severity.upper(), limit_text)
                queued = self.mailer.send(conn, op, "raised", now, now)
        if queued:
            self.mailer.wake()

    def _send_owed(self, conn: Connection, now: int) -> bool:
        """Email the open alerts whose raise or escalation was held back, now that it may
        go."""
        due = self.mailer.due(self._open.values(), now, lambda op: self._clock(op, now))
        if not due:
            return False
        self.generation.advance(conn)
        for op, kind, t in due:
            # The replay link goes to the change the message reports, not to now.
            replay_t = op.raised_t if kind == "raised" else op.updated_t
            self.mailer.send(conn, op, kind, t, now, replay_t=replay_t)
        return True

    def _page_due(self, conn: Connection, now: int) -> bool:
        """Page the escalation steps due now; True when a message was queued."""
        if self.escalation is None:
            return False
        changed, queued = self.escalation.page_due(conn, self._open.values(), now)
        if changed:
            self.generation.advance(conn)  # the alerts' rows show their ladders
            self._touched.extend(changed)
        return queued

    def send_test_page(self, actor: str, role: str, severity: str,
                       entity: str | None) -> dict[str, Any]:
        """Page every tier of the ladder for (severity, entity) with a test message now;
        the test and its steps (escalation.NoLadder when no ladder covers it)."""
        if self.escalation is None:
            raise NoLadder("no escalation ladder is configured (KAZSAT_ESCALATION_FILE)")
        now = time.time_ns()
        with self.transaction() as conn:
            test_id = self.escalation.send_test(conn, actor, role, severity, entity, now)
        self.mailer.wake()
        log.info("test page %d sent by %s through the %s ladder%s", test_id, actor, severity,
                 f" of {entity}" if entity else "")
        return self.test_page(test_id)

    def test_page(self, test_id: int) -> dict[str, Any]:
        """A test page's steps with each tier's delivery."""
        with db.reader(self.engine).connect() as conn:
            steps = steps_of(conn, test_id=test_id).get(test_id)
        if not steps:
            raise AlertNotFound(test_id)
        return {"test": test_id, "steps": steps,
                "delivered": all(st["delivered"] for st in steps)}

    def _limit_set(self, conn: Connection, parameter: str) -> tuple[Limits, str] | None:
        """A numeric parameter's limits in force, and whose: 'warning 98–102 V, critical
        97–103 V (mission default)' or '(override by erlan since ...)'."""
        p = self.mission.parameters.get(parameter)
        if p is None or p.type not in ("float", "int"):
            return None
        limits = self.checker.effective_limits(p)
        source = "mission default"
        if parameter in self.checker.overrides:
            o = db.limit_overrides.c
            row = conn.execute(select(o.changed_by, o.changed_t)
                               .where(o.parameter == parameter)).first()
            if row is not None:
                source = f"override by {row.changed_by} since {format_time(row.changed_t)}"
        return limits, f"{notify.limit_set_text(limits, p.unit)} ({source})"

    def _clock(self, op: OpenAlert, now: int) -> int:
        """The time an alert's rate limit is counted on, as when it was raised: its
        series' newest sample for a limit alert (the breach held until then), the
        server clock for a stale one."""
        if op.kind == "limit" and op.series_id is not None:
            return self.checker.newest_t([op.series_id])
        return now

    # ---- operator actions --------------------------------------------------------------------

    def acknowledge(self, alert_id: int, actor: str, role: str, comment: str) -> dict[str, Any]:
        now = time.time_ns()
        with self.transaction() as conn:
            row = self.archive.acknowledge(conn, alert_id, actor, role, comment, now)
            self.generation.advance(conn)
            self._touched.append(alert_id)
            op = self._open.get(alert_key(row.kind, row.series_id, row.satellite, row.station))
            if op is not None and op.id == alert_id:
                op.acked = True
            if self.escalation is not None:
                self.escalation.stop(conn, alert_id, f"acknowledged by {actor}", now)
        log.info("alert %d acknowledged by %s: %s", alert_id, actor, comment or "-")
        return self.archive.get(alert_id)

    def shelve(self, alert_id: int, actor: str, role: str, minutes: int,
               comment: str) -> dict[str, Any]:
        """Shelve the alert's series (or entity) for `minutes`; 0 takes it off the shelf."""
        now = time.time_ns()
        until = now + minutes * 60 * NS if minutes else None
        with self.transaction() as conn:
            row = self.archive.shelve(conn, alert_id, actor, role, until, minutes,
                                      comment, now)
            self.generation.advance(conn)
            self._touched.append(alert_id)
            key = alert_key(row.kind, row.series_id, row.satellite, row.station)
            if until:
                self._shelves[key] = (until, actor)
                if self.escalation is not None:
                    self.escalation.stop(conn, alert_id, f"shelved by {actor}", now)
            else:
                self._shelves.pop(key, None)
            op = self._open.get(key)
            if op is not None and op.id == alert_id:
                op.shelved_until_t = until
        log.info("alert %d %s by %s%s: %s", alert_id, "shelved" if until else "unshelved",
                 actor, f" for {minutes} min" if until else "", comment or "-")
        return self.archive.get(alert_id)

    # ---- reading: rows from the archive, counts from memory ------------------------------------

    def get(self, alert_id: int) -> dict[str, Any]:
        return self.archive.get(alert_id)

    def list_alerts(self, status: str = "active", satellite: str | None = None,
                    station: str | None = None, severity: str | None = None,
                    start_ns: int | None = None, end_ns: int | None = None,
                    limit: int = 200) -> list[dict[str, Any]]:
        return self.archive.list_alerts(status, satellite, station, severity, start_ns,
                                        end_ns, limit)

    def flood(self, now: int | None = None) -> dict[str, Any]:
        """Whether alarms are in flood now (backend/flood.py), and how many in the window."""
        now = time.time_ns() if now is None else now
        with db.reader(self.engine).connect() as conn:
            return flood.flood(conn, self.mailer.settings, now).as_dict()

    def counts(self, now: int | None = None) -> dict[str, int]:
        """Open alerts; unacknowledged ones (shelved ones left out) by severity."""
        now = time.time_ns() if now is None else now
        self.refresh()
        with self._lock:
            opens = list(self._open.values())
        unacked = [op for op in opens if not op.acked and not op.shelved(now)]
        return {"unacknowledged": len(unacked),
                "unacknowledged_warning": sum(op.severity == "warning" for op in unacked),
                "unacknowledged_critical": sum(op.severity == "critical" for op in unacked),
                "active": len(opens)}

    def open_alerts(self) -> dict[int, tuple[str, str, bool, int | None]]:
        """Each open alert's (state, severity, acknowledged, shelved until), by id: what a
        reader compares to see which alerts another process changed."""
        with self._lock:
            return {op.id: (op.state, op.severity, op.acked, op.shelved_until_t)
                    for op in self._open.values()}

    def summary(self) -> dict[str, int]:
        """The block /latest adds to its summary."""
        c = self.counts()
        return {"unacknowledged": c["unacknowledged"],
                "warning": c["unacknowledged_warning"],
                "critical": c["unacknowledged_critical"]}


class _Check:
    """The alarm server's part in a store's write transaction (backend.store.base.WriteHook)."""

    def __init__(self, server: AlertServer, now: int) -> None:
        self.server, self.now = server, now
        self.transitions: list[Transition] = []
        self.queued = False

    def begin(self, conn: Connection) -> None:
        self.server._begin(conn)

    def stored(self, conn: Connection, batch: Batch) -> None:
        self.transitions, self.queued = self.server._check(conn, batch, self.now)
