"""Alerts: limit transitions and stopped telemetry become alert rows, and alert emails
become outbox rows in the same SQL transaction; operators acknowledge and shelve them.

- A series' alert is raised when its state leaves nominal, escalated when it reaches a
  higher severity than before (the acknowledgement is reset: the operator acknowledged
  the lesser one), moved between warning and critical as the state moves, and cleared
  when the state is back to nominal. One open alert per series at most.
- Stale: one alert per satellite or station (not one per parameter) when no new sample
  of any of its series has arrived for `stale_alert_s` (at least `stale_periods` of its
  fastest parameter). A station owns its link series. Arrival is judged on the wall clock
  at each tick, so back-filled or late samples count as telemetry flowing; an entity
  with no sample at all since the database was created is not watched.
- Shelving silences a series (or entity) for a while: its alerts, open or raised during
  the shelf, send no email and do not count as unacknowledged until the shelf expires.
- Email held back (rate limit, shelf) is owed, not dropped: an alert still open when the
  interval is over and the shelf is off gets its raise or escalation emailed then (`tick`),
  so on-call's last word on a breach that holds is never an older "cleared".
- Every operator or engineer action writes an audit row in the same transaction.

Open alerts are kept in memory too (there are few), so counts cost no query: /latest is
polled every second by each dashboard. One API process owns a database.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from sqlalchemy import Connection, Engine, Row, and_, func, or_, select, update
from sqlalchemy.exc import SQLAlchemyError

from backend import audit, db, notify
from backend.limits import RANK, LimitChecker, Transition
from backend.mission import Mission
from backend.series import SeriesInfo
from backend.settings import Settings
from backend.store.base import NS
from backend.timeutil import format_time

log = logging.getLogger(__name__)

STATUSES = ("active", "unacknowledged", "acknowledged", "shelved", "cleared", "all")
SEVERITIES = ("warning", "critical")


class AlertNotFound(KeyError):
    pass


class AlertConflict(ValueError):
    """The action does not apply to the alert as it is now (409)."""


@dataclass
class _Open:
    """An open alert, as held in memory."""

    id: int
    kind: str  # limit | stale
    series_id: int | None
    satellite: str | None
    station: str | None
    parameter: str | None
    severity: str
    state: str
    value: float | None
    limit: str
    raised_t: int
    updated_t: int
    acked: bool = False
    shelved_until_t: int | None = None
    messages: int = 0  # outbox rows written for it: numbers the next Message-ID
    first_message_id: str | None = None
    emailed: str | None = None  # the highest severity a raise or escalation emailed
    held: str | None = None  # the throttle key that counted it as a suppressed crossing

    @property
    def key(self) -> str:
        return _key(self.kind, self.series_id, self.satellite, self.station)

    @property
    def owed(self) -> str | None:
        """The message its severity is still owed: raised, escalated, or None."""
        if self.emailed is None:
            return "raised"
        return "escalated" if RANK[self.severity] > RANK[self.emailed] else None

    def shelved(self, now: int) -> bool:
        return self.shelved_until_t is not None and self.shelved_until_t > now


def _key(kind: str, series_id: int | None, satellite: str | None, station: str | None) -> str:
    """What shelves and rate limits are counted under: the series, or the entity."""
    return f"series:{series_id}" if kind == "limit" else f"entity:{satellite or station}"


class AlertBook:
    def __init__(self, engine: Engine, mission: Mission, series: dict[int, SeriesInfo],
                 checker: LimitChecker, settings: Settings,
                 on_queued: Callable[[], None] | None = None) -> None:
        self.engine = engine
        self.mission = mission
        self.checker = checker
        self.settings = settings
        self.on_queued = on_queued  # wakes the outbox sender
        self._open: dict[str, _Open] = {}
        self._shelves: dict[str, tuple[int, str]] = {}
        self._throttle = notify.Throttle(int(settings.alert_email_interval_s * NS))
        self._backlog: list[Transition] = []
        self._dirty = False
        self._said: set[str] = set()
        self._seen: dict[str, tuple[int, int]] = {}  # entity key -> (newest sample t, when)
        self._entities: list[tuple[str, str | None, str | None, list[int], float]] = []
        for sat in mission.satellites:
            self._add_entity(sat, None, [i for i in series.values()
                                         if i.satellite == sat and i.station is None])
        for sta in mission.stations:
            self._add_entity(None, sta, [i for i in series.values() if i.station == sta])

    def _add_entity(self, sat: str | None, sta: str | None, infos: list[SeriesInfo]) -> None:
        if infos:
            window = max(self.settings.stale_alert_s,
                         min(i.parameter.stale_after_s for i in infos))
            self._entities.append((_key("stale", None, sat, sta), sat, sta,
                                   [i.id for i in infos], window))

    # ---- start -----------------------------------------------------------------------------

    def load(self) -> dict[int, str]:
        """Read open alerts, active shelves and rate-limit times from SQL; return the open
        alerts' states by series, for LimitChecker.prime."""
        now = time.time_ns()
        a, o = db.alerts.c, db.outbox.c
        with db.reader(self.engine).connect() as conn:
            opens = {}
            for r in conn.execute(select(db.alerts).where(a.cleared_t.is_(None))
                                  .order_by(a.id)):
                op = _Open(r.id, r.kind, r.series_id, r.satellite, r.station, r.parameter,
                           r.severity, r.state, r.value, r.limit_text, r.raised_t,
                           r.updated_t, r.acked_t is not None, r.shelved_until_t)
                opens[op.key] = op
            by_id = {op.id: op for op in opens.values()}
            if by_id:
                for alert_id, count, first in conn.execute(
                        select(o.alert_id, func.count(), func.min(o.id))
                        .where(o.alert_id.in_(list(by_id))).group_by(o.alert_id)):
                    by_id[alert_id].messages = count
                    by_id[alert_id].first_message_id = conn.execute(
                        select(o.message_id).where(o.id == first)).scalar()
                for alert_id, throttle_key in conn.execute(
                        select(o.alert_id, o.throttle_key).where(
                            o.alert_id.in_(list(by_id)), o.kind != "cleared")):
                    _emailed(by_id[alert_id], throttle_key.rpartition(":")[2])
            shelves = {}
            for r in conn.execute(select(a.kind, a.series_id, a.satellite, a.station,
                                         a.shelved_until_t, a.shelved_by)
                                  .where(a.shelved_until_t > now).order_by(a.id)):
                shelves[_key(r.kind, r.series_id, r.satellite, r.station)] = (
                    r.shelved_until_t, r.shelved_by or "")
            last = dict(conn.execute(select(o.throttle_key, func.max(o.event_t))
                                     .where(o.throttle_key.is_not(None))
                                     .group_by(o.throttle_key)).all())
        self._open, self._shelves = opens, shelves
        self._throttle.last = last  # the outbox is the truth: a failed write is forgotten
        self._dirty = False
        if opens:
            log.info("%d open alerts restored", len(opens))
        return {op.series_id: op.state for op in opens.values() if op.kind == "limit"}

    # ---- recording -------------------------------------------------------------------------

    def record(self, transitions: list[Transition]) -> None:
        """Write the alert changes of a checked batch, and their emails, in one transaction.
        Called by LimitChecker.observe under its lock; never raises into ingest: when the
        database refuses, the changes wait and `tick` tries again."""
        now = time.time_ns()
        with self.checker.lock:
            work, self._backlog = self._backlog + transitions, []
            saved = dict(self._throttle.last), dict(self._throttle.suppressed)
            try:
                if self._dirty:
                    self.load()
                queued = False
                with self.engine.begin() as conn:
                    for tr in work:
                        queued |= self._apply(conn, tr, now)
            except SQLAlchemyError as exc:
                self._backlog, self._dirty = work[-10_000:], True
                self._throttle.last, self._throttle.suppressed = saved
                log.error("could not record %d alert changes (%s); retrying", len(work),
                          str(exc).splitlines()[0])
                return
            except Exception:  # a bug: never fail an ingest that is already stored
                self._dirty = True
                log.exception("could not record %d alert changes; dropped", len(work))
                return
        if queued and self.on_queued:
            self.on_queued()

    def _apply(self, conn: Connection, tr: Transition, now: int) -> bool:
        info = self.checker.info(tr.series_id)
        key = _key("limit", tr.series_id, None, None)
        op = self._open.get(key)
        a = db.alerts.c
        label = f"{_where(info.satellite, info.station)} {info.parameter.key}"
        if tr.new == "nominal":
            if op is None:
                return False
            conn.execute(update(db.alerts).where(a.id == op.id).values(
                state="cleared", cleared_t=tr.t, updated_t=tr.t))
            del self._open[key]
            log.info("alert %d cleared: %s back within limits (%s)", op.id, label,
                     notify.format_value(self.mission, op.parameter, tr.value))
            # The notice reports the value that cleared it; the row keeps the worst one.
            return self._email(conn, replace(op, value=tr.value), "cleared", tr.t, now,
                               cleared_t=tr.t)
        if op is None:
            op = _Open(0, "limit", tr.series_id, info.satellite, info.station,
                       info.parameter.key, tr.new, tr.new, tr.value, tr.limit, tr.t, tr.t)
            shelf = self._shelves.get(key)
            if shelf and shelf[0] > now:
                op.shelved_until_t = shelf[0]
            op.id = conn.execute(db.alerts.insert().values(
                kind="limit", series_id=op.series_id, satellite=op.satellite,
                station=op.station, parameter=op.parameter, severity=op.severity,
                state=op.state, value=op.value, limit_text=op.limit, raised_t=op.raised_t,
                updated_t=op.updated_t, shelved_until_t=op.shelved_until_t,
                shelved_by=shelf[1] if op.shelved_until_t else None)).inserted_primary_key[0]
            self._open[key] = op
            log.warning("alert %d raised: %s %s %s (%s)%s", op.id, tr.new.upper(), label,
                        notify.format_value(self.mission, op.parameter, tr.value), tr.limit,
                        " [shelved]" if op.shelved(now) else "")
            return self._email(conn, op, "raised", tr.t, now)
        values: dict = {"state": tr.new, "updated_t": tr.t}
        if RANK[tr.new] > RANK[op.state]:
            values.update(value=tr.value, limit_text=tr.limit)
        escalated = RANK[tr.new] > RANK[op.severity]
        if escalated:
            values.update(severity=tr.new, acked_by=None, acked_t=None, ack_comment=None)
        conn.execute(update(db.alerts).where(a.id == op.id).values(**values))
        op.state, op.updated_t = tr.new, tr.t
        op.value, op.limit = values.get("value", op.value), values.get("limit_text", op.limit)
        if not escalated:
            log.info("alert %d now %s: %s", op.id, tr.new, label)
            return False
        op.severity, op.acked = tr.new, False
        log.warning("alert %d escalated to %s: %s %s (%s)", op.id, tr.new.upper(), label,
                    notify.format_value(self.mission, op.parameter, tr.value), tr.limit)
        return self._email(conn, op, "escalated", tr.t, now)

    def _email(self, conn: Connection, op: _Open, kind: str, event_t: int, now: int,
               cleared_t: int | None = None, replay_t: int | None = None) -> bool:
        """Queue the message for this change, unless `_recipients` finds none or it is
        rate-limited (then it is owed, and `tick` sends it when the interval is over)."""
        s = self.settings
        to = self._recipients(op, kind, event_t, now)
        if not to:
            return False
        throttle_key, suppressed = None, 0
        if kind != "cleared":
            throttle_key = f"{op.key}:{op.severity}"
            allowed, suppressed = self._throttle.allow(throttle_key, event_t)
            if not allowed:
                op.held = throttle_key
                log.info("alert %d: email held back (at most one per %g s for %s); sent "
                         "when the interval is over if the alert is still open", op.id,
                         s.alert_email_interval_s, throttle_key)
                return False
            if op.held == throttle_key:
                suppressed -= 1  # its own crossing, counted when it was held back
        facts = notify.AlertFacts(op.id, op.kind, op.satellite, op.station, op.parameter,
                                  op.severity, op.state, op.value, op.limit, op.raised_t,
                                  op.updated_t, cleared_t, replay_t or event_t)
        n = op.messages + 1
        mail = notify.compose(s, self.mission, facts, kind, n, now, to, op.first_message_id,
                              suppressed)
        conn.execute(db.outbox.insert().values(
            message_id=mail.message_id, alert_id=op.id, kind=kind, recipients=",".join(to),
            subject=mail.subject, body_text=mail.text, body_html=mail.html,
            in_reply_to=op.first_message_id, event_t=event_t, throttle_key=throttle_key,
            created_t=now, attempts=0, next_attempt_t=now))
        op.messages = n
        op.first_message_id = op.first_message_id or mail.message_id
        if throttle_key:
            _emailed(op, op.severity)
            op.held = None
        return True

    def _recipients(self, op: _Open, kind: str, event_t: int, now: int) -> list[str]:
        """Who gets this change's message: nobody while shelved, for history (too old to
        page anyone), or for a cleared notice of an alert that was never emailed."""
        s = self.settings
        if op.shelved(now):
            return []
        if kind == "cleared":
            if not (s.notify_cleared and op.messages):
                return []
        elif now - event_t > s.alert_email_max_age_s * NS:
            return []  # history (a back-fill): the alert is recorded, nobody is paged
        to = notify.recipients(s, op.severity, op.satellite, op.station)
        if not to:
            self._say_once("no-recipients", "alert email is off: no recipients configured "
                           "(KAZSAT_EMAIL_TO, KAZSAT_EMAIL_TO_CRITICAL, KAZSAT_EMAIL_TO_ENTITY)")
        return to

    # ---- staleness and retries ---------------------------------------------------------------

    def tick(self, now: int | None = None) -> None:
        """Once a second: raise or clear stale alerts, send email that was held back and
        is due now, retry changes the database refused."""
        now = time.time_ns() if now is None else now
        if self._backlog or self._dirty:
            self.record([])
        queued = False
        with self.checker.lock:
            try:
                if self.settings.stale_alert_s > 0:
                    queued |= self._watch_stale(now)
                if not self._dirty:  # else the open alerts in memory may be wrong
                    queued |= self._send_owed(now)
            except SQLAlchemyError as exc:
                self._dirty = True
                log.error("could not record a stale alert or an alert email (%s); retrying",
                          str(exc).splitlines()[0])
        if queued and self.on_queued:
            self.on_queued()

    def _watch_stale(self, now: int) -> bool:
        queued = False
        for key, sat, sta, sids, window in self._entities:
            newest = self.checker.newest_t(sids)
            seen = self._seen.get(key)
            if seen is None or newest != seen[0]:
                self._seen[key] = (newest, now)
                op = self._open.get(key)
                if op is not None and seen is not None:
                    queued |= self._clear_stale(op, now)
            elif newest >= 0 and now - seen[1] > window * NS and key not in self._open:
                queued |= self._raise_stale(key, sat, sta, newest, window, now)
        return queued

    def _send_owed(self, now: int) -> bool:
        """Email the open alerts whose raise or escalation was held back (rate limit or
        shelf) once their interval is over and no shelf is on. Checked without a
        transaction: most ticks find nothing due."""
        due = []
        for op in self._open.values():
            kind, t = op.owed, self._clock(op, now)
            if (kind and self._throttle.ready(f"{op.key}:{op.severity}", t)
                    and self._recipients(op, kind, t, now)):
                due.append((op, kind, t))
        if not due:
            return False
        with self.engine.begin() as conn:
            for op, kind, t in due:
                # The replay link goes to the change the message reports, not to now.
                replay_t = op.raised_t if kind == "raised" else op.updated_t
                self._email(conn, op, kind, t, now, replay_t=replay_t)
        return True

    def _clock(self, op: _Open, now: int) -> int:
        """The time an alert's rate limit is counted on, as when it was raised: its
        series' newest sample for a limit alert (the breach held until then), the
        server clock for a stale one."""
        return self.checker.newest_t([op.series_id]) if op.kind == "limit" else now

    def _raise_stale(self, key: str, sat: str | None, sta: str | None, newest: int,
                     window: float, now: int) -> bool:
        sev = self.settings.stale_severity
        op = _Open(0, "stale", None, sat, sta, None, sev, "stale", None,
                   f"no new sample for {window:g} s", now, now)
        shelf = self._shelves.get(key)
        if shelf and shelf[0] > now:
            op.shelved_until_t = shelf[0]
        with self.engine.begin() as conn:
            op.id = conn.execute(db.alerts.insert().values(
                kind="stale", series_id=None, satellite=sat, station=sta, parameter=None,
                severity=sev, state="stale", value=None, limit_text=op.limit, raised_t=now,
                updated_t=now, shelved_until_t=op.shelved_until_t,
                shelved_by=shelf[1] if op.shelved_until_t else None)).inserted_primary_key[0]
            self._open[key] = op
            log.warning("alert %d raised: %s %s telemetry stopped: no new sample for %g s "
                        "(newest sample %s)", op.id, sev.upper(), _where(sat, sta), window,
                        format_time(newest))
            return self._email(conn, op, "raised", now, now, replay_t=newest)

    def _clear_stale(self, op: _Open, now: int) -> bool:
        with self.engine.begin() as conn:
            conn.execute(update(db.alerts).where(db.alerts.c.id == op.id).values(
                state="cleared", cleared_t=now, updated_t=now))
            del self._open[op.key]
            log.info("alert %d cleared: %s telemetry resumed", op.id,
                     _where(op.satellite, op.station))
            return self._email(conn, op, "cleared", now, now, cleared_t=now,
                               replay_t=op.raised_t)

    # ---- operator actions --------------------------------------------------------------------

    def acknowledge(self, alert_id: int, actor: str, role: str, comment: str) -> dict:
        now = time.time_ns()
        with self.checker.lock:
            with self.engine.begin() as conn:
                row = self._row(conn, alert_id)
                if row.acked_t is not None:
                    raise AlertConflict(f"alert {alert_id} was already acknowledged by "
                                        f"{row.acked_by} at {format_time(row.acked_t)}")
                conn.execute(update(db.alerts).where(db.alerts.c.id == alert_id).values(
                    acked_by=actor, acked_t=now, ack_comment=comment))
                audit.write(conn, actor, "alert.ack", self._target(row),
                            {"role": role, "comment": comment, "severity": row.severity,
                             "state": row.state}, now)
            op = self._open.get(_key(row.kind, row.series_id, row.satellite, row.station))
            if op is not None and op.id == alert_id:
                op.acked = True
        log.info("alert %d acknowledged by %s: %s", alert_id, actor, comment or "-")
        return self.get(alert_id)

    def shelve(self, alert_id: int, actor: str, role: str, minutes: int, comment: str) -> dict:
        """Shelve the alert's series (or entity) for `minutes`; 0 takes it off the shelf."""
        now = time.time_ns()
        until = now + minutes * 60 * NS if minutes else None
        with self.checker.lock:
            with self.engine.begin() as conn:
                row = self._row(conn, alert_id)
                conn.execute(update(db.alerts).where(db.alerts.c.id == alert_id).values(
                    shelved_until_t=until, shelved_by=actor if until else None))
                audit.write(conn, actor, "alert.shelve" if until else "alert.unshelve",
                            self._target(row), {"role": role, "comment": comment,
                                                "minutes": minutes}, now)
            key = _key(row.kind, row.series_id, row.satellite, row.station)
            if until:
                self._shelves[key] = (until, actor)
            else:
                self._shelves.pop(key, None)
            op = self._open.get(key)
            if op is not None and op.id == alert_id:
                op.shelved_until_t = until
        log.info("alert %d %s by %s%s: %s", alert_id, "shelved" if until else "unshelved",
                 actor, f" for {minutes} min" if until else "", comment or "-")
        return self.get(alert_id)

    def _row(self, conn: Connection, alert_id: int) -> Row:
        row = conn.execute(select(db.alerts).where(db.alerts.c.id == alert_id)).first()
        if row is None:
            raise AlertNotFound(alert_id)
        if row.cleared_t is not None:
            raise AlertConflict(f"alert {alert_id} cleared at {format_time(row.cleared_t)}")
        return row

    @staticmethod
    def _target(row: object) -> str:
        what = row.parameter or "telemetry"
        return f"alert {row.id} ({_where(row.satellite, row.station)} {what})"

    # ---- reading -------------------------------------------------------------------------

    def counts(self, now: int | None = None) -> dict[str, int]:
        """Open alerts; unacknowledged ones (shelved ones left out) by severity."""
        now = time.time_ns() if now is None else now
        with self.checker.lock:
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

    def get(self, alert_id: int) -> dict:
        with db.reader(self.engine).connect() as conn:
            row = conn.execute(select(db.alerts).where(db.alerts.c.id == alert_id)).first()
        if row is None:
            raise AlertNotFound(alert_id)
        return self._out(row, time.time_ns())

    def list_alerts(self, status: str = "active", satellite: str | None = None,
             station: str | None = None, severity: str | None = None,
             start_ns: int | None = None, end_ns: int | None = None,
             limit: int = 200) -> list[dict]:
        """Newest first. start/end select alerts open at some time in [start, end)."""
        now = time.time_ns()
        a = db.alerts.c
        open_ = a.cleared_t.is_(None)
        shelved = and_(a.shelved_until_t.is_not(None), a.shelved_until_t > now)
        where = {
            "active": [open_],
            "unacknowledged": [open_, a.acked_t.is_(None), ~shelved],
            "acknowledged": [open_, a.acked_t.is_not(None)],
            "shelved": [open_, shelved],
            "cleared": [a.cleared_t.is_not(None)],
            "all": [],
        }[status]
        if satellite:
            where.append(a.satellite == satellite)
        if station:
            where.append(a.station == station)
        if severity:
            where.append(a.severity == severity)
        if start_ns is not None:
            where.append(or_(open_, a.cleared_t >= start_ns))
        if end_ns is not None:
            where.append(a.raised_t < end_ns)
        query = select(db.alerts).where(*where).order_by(a.raised_t.desc(), a.id.desc())
        with db.reader(self.engine).connect() as conn:
            return [self._out(r, now) for r in conn.execute(query.limit(limit))]

    def _out(self, r: object, now: int) -> dict:
        p = self.mission.parameters.get(r.parameter or "")
        value = None
        if r.value is not None:
            value = p.decode(r.value) if p is not None else r.value
        shelved = r.shelved_until_t if r.shelved_until_t and r.shelved_until_t > now else None
        return {"id": r.id, "kind": r.kind, "satellite": r.satellite, "station": r.station,
                "parameter": r.parameter, "subsystem": p.subsystem if p else None,
                "severity": r.severity, "state": r.state, "value": value,
                "limit": r.limit_text, "raised": format_time(r.raised_t),
                "updated": format_time(r.updated_t),
                "cleared": format_time(r.cleared_t) if r.cleared_t is not None else None,
                "acked_by": r.acked_by,
                "acked_at": format_time(r.acked_t) if r.acked_t is not None else None,
                "ack_comment": r.ack_comment,
                "shelved_until": format_time(shelved) if shelved else None}

    def _say_once(self, key: str, message: str) -> None:
        if key not in self._said:
            self._said.add(key)
            log.warning(message)


def _where(satellite: str | None, station: str | None) -> str:
    return "/".join(x for x in (station, satellite) if x)


def _emailed(op: _Open, severity: str) -> None:
    if op.emailed is None or RANK[severity] > RANK[op.emailed]:
        op.emailed = severity


class Ticker:
    """A daemon thread calling `fn` every `interval_s` until stopped."""

    def __init__(self, name: str, fn: Callable[[], None], interval_s: float) -> None:
        self._fn, self._interval = fn, interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._fn()
            except Exception:
                log.exception("%s failed; continuing", self._thread.name)
