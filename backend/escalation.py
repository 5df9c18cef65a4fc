"""The escalation ladder at work: the steps an alert is owed, paged tier by tier while nobody
acknowledges it, and test pages that run a whole ladder at once.

- When an alert is raised (or escalated to a higher severity) and a ladder matches it
  (backend/ladder.py), one step per tier is written, due at the raise plus the tier's delay,
  in the transaction that records the alert: owed steps are as durable as the alert.
- Once a second the alarm server's tick (a duty of one API process: backend/duties.py)
  pages the steps that are due: each step's message goes into the outbox, and the step is
  marked paged, in one transaction. The outbox sends it at least once, a repeat with the
  same Message-ID; a crash before the commit leaves the step owed and nothing queued.
- Acknowledging or shelving the alert, its clearing, or an escalation (which starts the
  higher severity's ladder) stops the steps still owed, with the reason, in the same
  transaction. A shelved alert starts no ladder: shelving is a reaction.
- Back-filled breaches (older than alert_email_max_age_s) start no ladder.
- Several alerts due to the same people at the same tier in one tick (a flood) make one
  page listing them, not one page each.

No lock of its own: the alarm server calls it under its lock with the transaction in hand.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import replace
from email.utils import parseaddr
from typing import Any

from sqlalchemy import Connection, Row, func, select, update

from backend import audit, db, notify
from backend.alerts import OpenAlert
from backend.ladder import LadderConfig, Tier
from backend.limits import RANK
from backend.mission import Mission
from backend.settings import Settings, split_addresses
from backend.store.base import NS
from backend.timeutil import format_time

BATCH = 100  # steps paged per tick at most; the rest on the next
_ALERT_KINDS = ("raised", "escalated", "cleared")


class NoLadder(ValueError):
    """A test page for a severity and entity that no ladder covers."""


class Escalation:
    def __init__(self, settings: Settings, mission: Mission, config: LadderConfig) -> None:
        self.settings = settings
        self.mission = mission
        self.config = config

    # ---- the alarm server's changes ----------------------------------------------------------

    def start(self, conn: Connection, alert: OpenAlert, now: int) -> int:
        """Write the steps of the ladder that matches the alert; how many."""
        # updated_t: the sample time of the raise, or of the escalation being started for.
        if alert.shelved(now) or now - alert.updated_t > self.settings.alert_email_max_age_s * NS:
            return 0
        tiers = self.config.tiers_for(alert.severity, alert.satellite, alert.station)
        # Counted on the server clock (the tick's) from the raise or escalation.
        self._insert(conn, tiers, alert.severity, now, alert_id=alert.id)
        return len(tiers)

    def stop(self, conn: Connection, alert_id: int, reason: str, now: int) -> int:
        """Stop the alert's owed steps; how many were owed."""
        s = db.escalation_steps.c
        return conn.execute(update(db.escalation_steps).where(
            s.alert_id == alert_id, s.done_t.is_(None)).values(
            done_t=now, outcome="stopped", reason=reason)).rowcount

    def page_due(self, conn: Connection, opens: Iterable[OpenAlert],
                 now: int) -> tuple[list[int], bool]:
        """Page the steps due at `now` (or stop those whose alert no longer wants them): the
        ids of the alerts whose steps changed, and whether a message was queued."""
        s = db.escalation_steps.c
        due = conn.execute(select(db.escalation_steps).where(
            s.done_t.is_(None), s.due_t <= now).order_by(s.due_t, s.id).limit(BATCH)).all()
        if not due:
            return [], False
        by_id = {op.id: op for op in opens}
        changed: list[int] = []
        queued = False
        # The same people at the same tier for several alerts at once (a flood): one page.
        together: dict[tuple[str, int], list[tuple[Row[Any], OpenAlert]]] = {}
        for step in due:
            if step.alert_id is None:
                self._page(conn, step, None, now)
                queued = True
                continue
            changed.append(step.alert_id)
            op = by_id.get(step.alert_id)
            why = ("cleared" if op is None else "acknowledged" if op.acked else
                   "shelved" if op.shelved(now) else None)
            if why or op is None:
                self._done(conn, step.id, now, "stopped", why)
            else:
                together.setdefault((step.recipients, step.tier), []).append((step, op))
        for pages in together.values():
            if len(pages) == 1:
                self._page(conn, pages[0][0], pages[0][1], now)
            else:
                self._page_together(conn, pages, now)
            queued = True
        return list(dict.fromkeys(changed)), queued

    # ---- test pages --------------------------------------------------------------------------

    def send_test(self, conn: Connection, actor: str, role: str, severity: str,
                  entity: str | None, now: int) -> int:
        """Page every tier of the ladder for (severity, entity) at once with a test message;
        the test's id. NoLadder when none covers it."""
        tiers = self.config.tiers_for(severity, entity, entity)
        if not tiers:
            raise NoLadder(f"no escalation ladder covers {severity} alerts"
                           + (f" on {entity}" if entity else ""))
        s = db.escalation_steps.c
        test_id = int(conn.execute(select(func.coalesce(func.max(s.test_id), 0))).scalar_one()
                      ) + 1
        self._insert(conn, tiers, severity, now, test_id=test_id, entity=entity)
        audit.write(conn, actor, "escalation.test", f"escalation ladder ({severity}"
                    f"{', ' + entity if entity else ''})",
                    {"role": role, "test": test_id, "tiers": len(tiers)}, now)
        for step in conn.execute(select(db.escalation_steps).where(s.test_id == test_id)
                                 .order_by(s.tier)).all():
            self._page(conn, step, None, now)
        return test_id

    # ---- under the hood ----------------------------------------------------------------------

    def _insert(self, conn: Connection, tiers: list[Tier], severity: str, now: int,
                alert_id: int | None = None, test_id: int | None = None,
                entity: str | None = None) -> None:
        if not tiers:
            return
        conn.execute(db.escalation_steps.insert(), [
            {"alert_id": alert_id, "test_id": test_id, "severity": severity, "tier": i,
             "tiers": len(tiers), "after_s": tier.after_min * 60,
             "recipients": ",".join(tier.to),
             "due_t": now if test_id else now + tier.after_ns, "entity": entity,
             "done_t": None, "outcome": None, "reason": None, "message_id": None,
             "created_t": now}
            for i, tier in enumerate(tiers, 1)])

    def _done(self, conn: Connection, step_id: int, now: int, outcome: str,
              reason: str | None, message_id: str | None = None) -> None:
        conn.execute(update(db.escalation_steps).where(db.escalation_steps.c.id == step_id)
                     .values(done_t=now, outcome=outcome, reason=reason,
                             message_id=message_id))

    def _page(self, conn: Connection, step: Row[Any], alert: OpenAlert | None,
              now: int) -> None:
        to = split_addresses(step.recipients)
        if alert is None:
            mail = self._test_mail(step, to, now)
            in_reply_to = None
        else:
            in_reply_to = first_message(conn, alert.id)
            mail = self._alert_mail(step, alert, to, now, in_reply_to)
        conn.execute(db.outbox.insert().values(
            message_id=mail.message_id, alert_id=alert.id if alert else None,
            kind="test-page" if alert is None else "page", recipients=",".join(to),
            subject=mail.subject, body_text=mail.text, body_html=mail.html,
            in_reply_to=in_reply_to, event_t=now, throttle_key=None, created_t=now,
            attempts=0, next_attempt_t=now))
        self._done(conn, step.id, now, "paged", None, mail.message_id)

    def _page_together(self, conn: Connection, pages: list[tuple[Row[Any], OpenAlert]],
                       now: int) -> None:
        """One page for several alerts due to the same people at the same tier."""
        first = pages[0][0]
        to = split_addresses(first.recipients)
        pages.sort(key=lambda p: (-RANK[p[1].severity], p[1].raised_t, p[1].id))
        severity = pages[0][1].severity
        lines = [f"Tier {first.tier}: {len(pages)} alerts are not acknowledged. "
                 f"Acknowledge them to stop their ladders: {self._alerts_url()}", ""]
        for step, op in pages:
            tag, what = notify.subject_parts(self.mission, op.facts(op.raised_t), "raised")
            lines.append(f"  {tag:<8} {what}  (alert {op.id}, raised "
                         f"{format_time(op.raised_t)[11:19]} UTC, tier {step.tier} of "
                         f"{step.tiers})")
        lines += ["", "Times are UTC.", ""]
        subject = f"{severity.upper()} tier {first.tier}: {len(pages)} alerts unacknowledged"
        e = html.escape
        body_html = ("<html><body style='font-family:sans-serif'>"
                     f"<h2 style='color:#b00020'>{e(subject)}</h2>"
                     + "".join(f"<pre style='margin:0'>{e(x)}</pre>" if x.startswith("  ")
                               else f"<p>{e(x)}</p>" for x in lines if x)
                     + "</body></html>")
        message_id = (f"<alert-pages-{first.id}-{len(pages)}.{now // 1_000_000}@"
                      f"{self._domain()}>")
        conn.execute(db.outbox.insert().values(
            message_id=message_id, alert_id=None, kind="page", recipients=",".join(to),
            subject=subject, body_text="\n".join(lines), body_html=body_html,
            in_reply_to=None, event_t=now, throttle_key=None, created_t=now, attempts=0,
            next_attempt_t=now))
        for step, _ in pages:
            self._done(conn, step.id, now, "paged", None, message_id)

    def _alert_mail(self, step: Row[Any], alert: OpenAlert, to: list[str], now: int,
                    in_reply_to: str | None) -> notify.Email:
        facts = alert.facts(alert.raised_t)
        base = notify.compose(self.settings, self.mission, facts, "raised", 1, now, to,
                              in_reply_to)
        what = notify.subject_parts(self.mission, facts, "raised")[1]
        waited = _minutes(step.after_s)
        lead = (f"Tier {step.tier} of {step.tiers}: you are paged first for this alert."
                if step.after_s == 0 else
                f"Tier {step.tier} of {step.tiers}: nobody has acknowledged this alert "
                f"{waited} after it reached {step.severity}.")
        ack = f"Acknowledge it to stop the ladder: {self._alerts_url()}"
        return replace(
            base, message_id=f"<alert-{alert.id}-page-{step.id}.{now // 1_000_000}@"
                             f"{self._domain()}>",
            subject=f"{step.severity.upper()} tier {step.tier}: {what}",
            text=f"{lead}\n{ack}\n\n{base.text}",
            html=base.html.replace("<body style='font-family:sans-serif'>",
                                   "<body style='font-family:sans-serif'>"
                                   f"<p><b>{html.escape(lead)}</b><br>{html.escape(ack)}</p>",
                                   1))

    def _test_mail(self, step: Row[Any], to: list[str], now: int) -> notify.Email:
        entity = step.entity
        scope = f"{step.severity} alerts" + (f" on {self._name(entity)}" if entity else "")
        when = ("at once" if step.after_s == 0 else
                f"{_minutes(step.after_s)} after an alert is raised, if nobody has "
                f"acknowledged it by then")
        subject = f"TEST tier {step.tier}: {scope}"
        lines = [f"TEST PAGE {step.test_id}: no action is needed.", "",
                 f"This tests the escalation ladder for {scope}. You are tier {step.tier} of "
                 f"{step.tiers}: in a real alert you are paged {when}.",
                 f"Recipients of this tier: {', '.join(to)}.",
                 "", f"Sent {format_time(now)}. The delivery of each tier shows on "
                     f"{self._alerts_url()}", ""]
        e = html.escape
        body_html = ("<html><body style='font-family:sans-serif'>"
                     f"<h2 style='color:#1565c0'>Test page: {e(scope)}</h2>"
                     + "".join(f"<p>{e(line)}</p>" for line in lines if line)
                     + "</body></html>")
        return notify.Email(f"<page-test-{step.test_id}-tier-{step.tier}."
                            f"{now // 1_000_000}@{self._domain()}>", to, subject,
                            "\n".join(lines), body_html, now)

    def _name(self, entity: str) -> str:
        item = self.mission.satellites.get(entity) or self.mission.stations.get(entity)
        return item.name if item is not None else entity

    def _alerts_url(self) -> str:
        return f"{self.settings.public_dashboard_url.rstrip('/')}/alerts"

    def _domain(self) -> str:
        return parseaddr(self.settings.email_sender)[1].rpartition("@")[2] or "kazsat.local"


def first_message(conn: Connection, alert_id: int) -> str | None:
    """The Message-ID of the alert's first alert email: the thread its pages join."""
    o = db.outbox.c
    return conn.execute(select(o.message_id).where(
        o.alert_id == alert_id, o.kind.in_(_ALERT_KINDS)).order_by(o.id).limit(1)).scalar()


def steps_of(conn: Connection, alert_ids: list[int] | None = None,
             test_id: int | None = None) -> dict[int, list[dict[str, Any]]]:
    """Each alert's (or the test's, under its id) steps, in tier order, with the delivery
    of those paged: {"tier", "tiers", "after_min", "to", "due", "state" (owed, paged,
    stopped), "at", "reason", "message_id", "delivered", "delivery_error", "failed"}."""
    s, o = db.escalation_steps.c, db.outbox.c
    query = (select(db.escalation_steps, o.sent_t, o.failed_t, o.last_error)
             .outerjoin(db.outbox, o.message_id == s.message_id))
    if test_id is not None:
        query = query.where(s.test_id == test_id)
    elif alert_ids:
        query = query.where(s.alert_id.in_(alert_ids))
    else:
        return {}
    out: dict[int, list[dict[str, Any]]] = {}
    for r in conn.execute(query.order_by(s.id)):
        key = test_id if test_id is not None else r.alert_id
        out.setdefault(key, []).append({
            "tier": r.tier, "tiers": r.tiers, "severity": r.severity,
            "after_min": r.after_s / 60, "to": split_addresses(r.recipients),
            "due": format_time(r.due_t), "state": r.outcome or "owed",
            "at": format_time(r.done_t) if r.done_t is not None else None,
            "reason": r.reason, "entity": r.entity,
            "message_id": r.message_id,
            "delivered": format_time(r.sent_t) if r.sent_t is not None else None,
            "delivery_error": r.last_error if r.sent_t is None else None,
            "failed": r.failed_t is not None})
    return out


def _minutes(seconds: float) -> str:
    m = seconds / 60
    return f"{m:g} min" if m < 120 else f"{m / 60:g} h"
