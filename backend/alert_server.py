"""The alarm server: the set of open alerts, their acknowledgements and shelves, and the
rules of an alert's life. Checking happens before it (backend.limits, backend.stale); what
a change leaves behind is its listeners' (backend.alert_archive writes the rows,
backend.alert_email the email), in one SQL transaction per batch of changes.

- A series' alert is raised when its state leaves nominal, escalated when it reaches a
  higher severity than before (the acknowledgement is reset: the operator acknowledged
  the lesser one), moved between warning and critical as the state moves, and cleared
  when the state is back to nominal. One open alert per series at most.
- Stale: one alert per satellite or station while its telemetry has stopped.
- Shelving silences a series (or entity) for a while: its alerts, open or raised during
  the shelf, send no email and do not count as unacknowledged until the shelf expires.
- Every operator or engineer action writes an audit row in the same transaction.
- The database refusing a change never fails an ingest: the changes wait, and `tick`
  tries again after reloading the open set from SQL.

Lock: the server's own `_lock` guards the open set, the shelves and the email policy's
state, and is held across each transaction, so memory and database move together. The
limit checker calls `record` under the checker's lock (transitions arrive in the order the
states moved); so the order is checker, then server, and under its lock the server reads
only the checker's lock-free `info` and `newest_t`. One API process owns a database.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from backend import db, notify
from backend.alert_archive import AlertArchive, Shelves
from backend.alert_email import AlertMailer
from backend.alerts import OpenAlert, alert_key, where
from backend.limits import RANK, LimitChecker, Transition
from backend.mission import Mission
from backend.stale import Entity, StaleWatch, Stopped
from backend.store.base import NS
from backend.timeutil import format_time

log = logging.getLogger(__name__)


class AlertServer:
    def __init__(self, engine: Engine, mission: Mission, checker: LimitChecker,
                 archive: AlertArchive, mailer: AlertMailer, stale: StaleWatch | None,
                 stale_severity: str) -> None:
        self.engine = engine
        self.mission = mission
        self.checker = checker
        self.archive = archive
        self.mailer = mailer
        self.stale = stale  # None: stopped telemetry raises no alert
        self.stale_severity = stale_severity
        self._lock = threading.RLock()
        self._open: dict[str, OpenAlert] = {}
        self._shelves: Shelves = {}
        self._backlog: list[Transition] = []
        self._dirty = False  # the open set in memory may differ from SQL: reload first
        # Told the ids of alerts changed by each committed transaction, outside the lock
        # (the live stream: backend.stream_feed.LiveFeed.alerts_changed).
        self.on_change: Callable[[list[int]], None] | None = None
        self._touched: list[int] = []  # alerts the transaction in hand changes

    # ---- start -------------------------------------------------------------------------------

    def load(self) -> dict[int, str]:
        """Read the open alerts, shelves and email state from SQL; return the open limit
        alerts' states by series, for LimitChecker.prime."""
        with self._lock:
            self._load()
            if self._open:
                log.info("%d open alerts restored", len(self._open))
            return {op.series_id: op.state for op in self._open.values()
                    if op.kind == "limit" and op.series_id is not None}

    def _load(self) -> None:
        with db.reader(self.engine).connect() as conn:
            opens, self._shelves = self.archive.load_open(conn, time.time_ns())
            self.mailer.load(conn, opens)
        self._open = {op.key: op for op in opens}
        self._dirty = False

    # ---- limit transitions -------------------------------------------------------------------

    def record(self, transitions: list[Transition]) -> None:
        """Record the alert changes of a checked batch, and their emails, in one
        transaction (the limit checker's listener). Never raises into ingest: when the
        database refuses, the changes wait and `tick` tries again."""
        now = time.time_ns()
        with self._lock:
            work, self._backlog = self._backlog + transitions, []
            mark = self.mailer.mark()
            self._touched = []
            try:
                if self._dirty:
                    self._load()
                queued = False
                with self.engine.begin() as conn:
                    for tr in work:
                        queued |= self._apply(conn, tr, now)
            except SQLAlchemyError as exc:
                self._backlog, self._dirty = work[-10_000:], True
                self.mailer.restore(mark)
                log.error("could not record %d alert changes (%s); retrying", len(work),
                          str(exc).splitlines()[0])
                return
            except Exception:  # a bug: never fail an ingest that is already stored
                self._dirty = True
                log.exception("could not record %d alert changes; dropped", len(work))
                return
            touched, self._touched = self._touched, []
        if queued:
            self.mailer.wake()
        self._changed(touched)

    def _changed(self, alert_ids: list[int]) -> None:
        """Tell `on_change` of committed changes; never raises into the caller."""
        if alert_ids and self.on_change is not None:
            try:
                self.on_change(alert_ids)
            except Exception:
                log.exception("could not pass on the changes of alerts %s", alert_ids)

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

    def _close(self, conn: Connection, op: OpenAlert, t: int) -> None:
        self.archive.cleared(conn, op.id, t)
        del self._open[op.key]
        self._touched.append(op.id)

    # ---- once a second: stale telemetry, owed email, retries ---------------------------------

    def tick(self, now: int | None = None) -> None:
        """Raise or clear stale alerts, send email that was held back and is due now,
        retry changes the database refused."""
        now = time.time_ns() if now is None else now
        if self._backlog or self._dirty:
            self.record([])
        stopped, resumed = self.stale.check(now) if self.stale else ([], [])
        queued = False
        with self._lock:
            mark = self.mailer.mark()
            self._touched = []
            try:
                queued |= self._stale_changes(stopped, resumed, now)
                if not self._dirty:  # else the open alerts in memory may be wrong
                    queued |= self._send_owed(now)
            except SQLAlchemyError as exc:
                self._dirty = True
                self.mailer.restore(mark)
                self._touched = []
                log.error("could not record a stale alert or an alert email (%s); retrying",
                          str(exc).splitlines()[0])
            touched, self._touched = self._touched, []
        if queued:
            self.mailer.wake()
        self._changed(touched)

    def _stale_changes(self, stopped: list[Stopped], resumed: list[Entity], now: int) -> bool:
        cleared = [self._open[e.key] for e in resumed if e.key in self._open]
        raised = [s for s in stopped if s.entity.key not in self._open]
        if not (cleared or raised):
            return False
        queued = False
        with self.engine.begin() as conn:
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

    def _send_owed(self, now: int) -> bool:
        """Email the open alerts whose raise or escalation was held back, now that it may
        go. Checked without a transaction: most ticks find nothing due."""
        due = self.mailer.due(self._open.values(), now, lambda op: self._clock(op, now))
        if not due:
            return False
        with self.engine.begin() as conn:
            for op, kind, t in due:
                # The replay link goes to the change the message reports, not to now.
                replay_t = op.raised_t if kind == "raised" else op.updated_t
                self.mailer.send(conn, op, kind, t, now, replay_t=replay_t)
        return True

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
        with self._lock:
            with self.engine.begin() as conn:
                row = self.archive.acknowledge(conn, alert_id, actor, role, comment, now)
            op = self._open.get(alert_key(row.kind, row.series_id, row.satellite, row.station))
            if op is not None and op.id == alert_id:
                op.acked = True
        log.info("alert %d acknowledged by %s: %s", alert_id, actor, comment or "-")
        self._changed([alert_id])
        return self.archive.get(alert_id)

    def shelve(self, alert_id: int, actor: str, role: str, minutes: int,
               comment: str) -> dict[str, Any]:
        """Shelve the alert's series (or entity) for `minutes`; 0 takes it off the shelf."""
        now = time.time_ns()
        until = now + minutes * 60 * NS if minutes else None
        with self._lock:
            with self.engine.begin() as conn:
                row = self.archive.shelve(conn, alert_id, actor, role, until, minutes,
                                          comment, now)
            key = alert_key(row.kind, row.series_id, row.satellite, row.station)
            if until:
                self._shelves[key] = (until, actor)
            else:
                self._shelves.pop(key, None)
            op = self._open.get(key)
            if op is not None and op.id == alert_id:
                op.shelved_until_t = until
        log.info("alert %d %s by %s%s: %s", alert_id, "shelved" if until else "unshelved",
                 actor, f" for {minutes} min" if until else "", comment or "-")
        self._changed([alert_id])
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

    def counts(self, now: int | None = None) -> dict[str, int]:
        """Open alerts; unacknowledged ones (shelved ones left out) by severity."""
        now = time.time_ns() if now is None else now
        with self._lock:
            opens = list(self._open.values())
        unacked = [op for op in opens if not op.acked and not op.shelved(now)]
        return {"unacknowledged": len(unacked),
                "unacknowledged_warning": sum(op.severity == "warning" for op in unacked),
                "unacknowledged_critical": sum(op.severity == "critical" for op in unacked),
                "active": len(opens)}

    def summary(self) -> dict[str, int]:
        """The block /latest adds to its summary."""
        c = self.counts()
        return {"unacknowledged": c["unacknowledged"],
                "warning": c["unacknowledged_warning"],
                "critical": c["unacknowledged_critical"]}
