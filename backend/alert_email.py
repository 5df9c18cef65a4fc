"""Alert email policy: which alert change is emailed to whom and when, and the outbox row
that carries it (backend.outbox sends it; backend.notify composes it).

- Nobody is paged while an alert is shelved, for history (a change older than
  `alert_email_max_age_s`: a back-fill), or with a cleared notice for an alert that was
  never emailed.
- At most one raise or escalation per series (or entity) and severity per
  `alert_email_interval_s` (notify.Throttle); the next message counts the crossings held back.
- In an alarm flood a raise or escalation goes into the next digest instead of its own
  message (backend/flood.py).
- Email held back (rate limit, shelf) is owed, not dropped: an alert still open when the
  interval is over and the shelf is off gets its raise or escalation emailed then (`due`),
  so on-call's last word on a breach that holds is never an older "cleared".

No lock of its own: only the alarm server calls it, under the server's lock, with the
connection of the transaction that records the change.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, func, select

from backend import db, flood, notify
from backend.alert_plot import PlotSpec
from backend.alerts import OpenAlert
from backend.limits import RANK
from backend.mission import Limits, Mission
from backend.settings import Settings
from backend.store.base import NS

log = logging.getLogger(__name__)


@dataclass
class _Mailed:
    """What the outbox holds for one open alert."""

    messages: int = 0  # outbox rows written for it: numbers the next Message-ID
    first_message_id: str | None = None  # the thread the next messages reply to
    emailed: str | None = None  # the highest severity a raise or escalation emailed
    held: str | None = None  # the throttle key that counted it as a suppressed crossing


class AlertMailer:
    def __init__(self, settings: Settings, mission: Mission,
                 on_queued: Callable[[], None] | None = None) -> None:
        self.settings = settings
        self.mission = mission
        self.on_queued = on_queued  # wakes the outbox sender
        self._throttle = notify.Throttle(int(settings.alert_email_interval_s * NS))
        self._mailed: dict[int, _Mailed] = {}  # by open alert id
        # A parameter's limits in force and their source ("mission default", "override by
        # erlan since ..."), read in the transaction in hand; the alarm server's.
        self.limit_set: Callable[[Connection, str], tuple[Limits, str] | None] | None = None
        self._said: set[str] = set()

    def load(self, conn: Connection, opens: list[OpenAlert]) -> None:
        """Restore from the outbox what was emailed for the open alerts, and the rate
        limits' last message times (the outbox is the truth: a failed write is forgotten)."""
        o = db.outbox.c
        ids = [op.id for op in opens]
        self._mailed = {i: _Mailed() for i in ids}
        if ids:
            for alert_id, count, first in conn.execute(
                    select(o.alert_id, func.count(), func.min(o.id))
                    .where(o.alert_id.in_(ids), o.kind.in_(notify.KINDS))
                    .group_by(o.alert_id)):
                mailed = self._mailed[alert_id]
                mailed.messages = count
                mailed.first_message_id = conn.execute(
                    select(o.message_id).where(o.id == first)).scalar()
            for alert_id, throttle_key in conn.execute(
                    select(o.alert_id, o.throttle_key).where(
                        o.alert_id.in_(ids), o.kind.in_(("raised", "escalated")))):
                _emailed(self._mailed[alert_id], throttle_key.rpartition(":")[2])
            for alert_id, severity in flood.digested(conn, ids).items():
                _emailed(self._mailed[alert_id], severity)
        self._throttle.last = dict(conn.execute(
            select(o.throttle_key, func.max(o.event_t)).where(o.throttle_key.is_not(None))
            .group_by(o.throttle_key)).all())

    def mark(self) -> tuple[dict[str, int], dict[str, int]]:
        """The rate limits' state, to `restore` when the transaction is rolled back."""
        return dict(self._throttle.last), dict(self._throttle.suppressed)

    def restore(self, mark: tuple[dict[str, int], dict[str, int]]) -> None:
        self._throttle.last, self._throttle.suppressed = mark

    def wake(self) -> None:
        """After the commit: the sender finds the new rows at once."""
        if self.on_queued:
            self.on_queued()

    def send(self, conn: Connection, alert: OpenAlert, kind: str, event_t: int, now: int,
             cleared_t: int | None = None, replay_t: int | None = None) -> bool:
        """Queue the message for this change (raised, escalated, cleared), unless nobody is
        to get it or it is rate-limited (then it is owed: see `due`). True when queued."""
        mailed = self._mailed.setdefault(alert.id, _Mailed())
        if kind == "cleared":
            self._mailed.pop(alert.id)  # the alert is closed: nothing more is owed
        to = self._recipients(alert, mailed, kind, event_t, now)
        if not to:
            return False
        if kind != "cleared" and flood.flood(conn, self.settings, now).active:
            # In flood: the next digest carries it (backend/flood.py).
            flood.queue(conn, alert, kind, to, event_t, now)
            _emailed(mailed, alert.severity)
            mailed.held = None
            return False
        throttle_key, suppressed = None, 0
        if kind != "cleared":
            throttle_key = f"{alert.key}:{alert.severity}"
            allowed, suppressed = self._throttle.allow(throttle_key, event_t)
            if not allowed:
                mailed.held = throttle_key
                log.info("alert %d: email held back (at most one per %g s for %s); sent "
                         "when the interval is over if the alert is still open", alert.id,
                         self.settings.alert_email_interval_s, throttle_key)
                return False
            if mailed.held == throttle_key:
                suppressed -= 1  # its own crossing, counted when it was held back
        n = mailed.messages + 1
        facts = alert.facts(replay_t or event_t, cleared_t)
        limits = (self.limit_set(conn, alert.parameter)
                  if self.limit_set and alert.kind == "limit" and alert.parameter else None)
        mail = notify.compose(self.settings, self.mission, facts, kind, n, now, to,
                              mailed.first_message_id, suppressed,
                              limits[1] if limits else None)
        plot = None
        if limits is not None and alert.series_id is not None and alert.parameter:
            plot = json.dumps(PlotSpec(alert.series_id, alert.parameter,
                                       notify.plot_title(self.mission, facts),
                                       facts.event_t, limits[0].model_dump()).as_json())
        conn.execute(db.outbox.insert().values(plot_json=plot,
            message_id=mail.message_id, alert_id=alert.id, kind=kind,
            recipients=",".join(to), subject=mail.subject, body_text=mail.text,
            body_html=mail.html, in_reply_to=mailed.first_message_id, event_t=event_t,
            throttle_key=throttle_key, created_t=now, attempts=0, next_attempt_t=now))
        mailed.messages = n
        mailed.first_message_id = mailed.first_message_id or mail.message_id
        if throttle_key:
            _emailed(mailed, alert.severity)
            mailed.held = None
        return True

    def due(self, opens: Iterable[OpenAlert], now: int,
            clock: Callable[[OpenAlert], int]) -> list[tuple[OpenAlert, str, int]]:
        """(alert, raised | escalated, time) for the open alerts whose raise or escalation
        was held back and may go now: its interval over on `clock(alert)` (the time its
        rate limit counts on), no shelf on, someone to tell."""
        out = []
        for alert in opens:
            mailed = self._mailed.setdefault(alert.id, _Mailed())
            kind, t = _owed(alert, mailed), clock(alert)
            if (kind and self._throttle.ready(f"{alert.key}:{alert.severity}", t)
                    and self._recipients(alert, mailed, kind, t, now)):
                out.append((alert, kind, t))
        return out

    def _recipients(self, alert: OpenAlert, mailed: _Mailed, kind: str, event_t: int,
                    now: int) -> list[str]:
        s = self.settings
        if alert.shelved(now):
            return []
        if kind == "cleared":
            if not (s.notify_cleared and mailed.messages):
                return []
        elif now - event_t > s.alert_email_max_age_s * NS:
            return []  # history (a back-fill): the alert is recorded, nobody is paged
        to = notify.recipients(s, alert.severity, alert.satellite, alert.station)
        if not to and "no-recipients" not in self._said:
            self._said.add("no-recipients")
            log.warning("alert email is off: no recipients configured (KAZSAT_EMAIL_TO, "
                        "KAZSAT_EMAIL_TO_CRITICAL, KAZSAT_EMAIL_TO_ENTITY)")
        return to


def _owed(alert: OpenAlert, mailed: _Mailed) -> str | None:
    """The message the alert's severity is still owed: raised, escalated, or None."""
    if mailed.emailed is None:
        return "raised"
    return "escalated" if RANK[alert.severity] > RANK[mailed.emailed] else None


def _emailed(mailed: _Mailed, severity: str) -> None:
    if mailed.emailed is None or RANK[severity] > RANK[mailed.emailed]:
        mailed.emailed = severity
