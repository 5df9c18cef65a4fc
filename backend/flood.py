"""Alarm floods: when alarms come faster than one person can read them (ISA-18.2: more than
10 alarms in 10 minutes for one operator), alert email becomes a digest.

- In flood (alerts raised by more than `flood_alarms` distinct series or entities in the
  last `flood_window_s`, counted in the alerts table, so every API process and a restart
  agree; a chattering series counts once, its email is rate-limited already), a raise or
  escalation that would be emailed is written as a digest item instead, in the transaction
  that records the alert change, with the recipients it would have had.
- The alarm server's tick sends the items once the oldest has waited `flood_digest_s`: one
  message per set of recipients, listing its alarms grouped by satellite, station and
  subsystem, the most severe group first, each alarm with its state now. The message goes
  through the outbox like any other: durable, a repeat with the same Message-ID.
- A digested alert is emailed no more on its own: no cleared notice, and nothing owed.

No lock of its own: the alarm server calls it under its lock with its transaction.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any

from sqlalchemy import Connection, Row, func, select, update

from backend import db, notify
from backend.alerts import OpenAlert
from backend.limits import RANK
from backend.mission import Mission
from backend.settings import Settings, split_addresses
from backend.store.base import NS
from backend.timeutil import format_time


@dataclass(frozen=True)
class Flood:
    active: bool
    alarms: int  # raised in the window
    threshold: int
    window_s: float

    def as_dict(self) -> dict[str, Any]:
        return {"active": self.active, "alarms": self.alarms, "threshold": self.threshold,
                "window_s": self.window_s}


def flood(conn: Connection, settings: Settings, now: int) -> Flood:
    """Whether alarms are in flood at `now`: alerts raised in the window before it."""
    a = db.alerts.c
    since = now - int(settings.flood_window_s * NS)
    # Alarms from distinct sources (series, or entity for stale telemetry): a chattering
    # series is one alarm here, already held to one email per interval by the rate limit.
    count = len(conn.execute(select(a.kind, a.series_id, a.satellite, a.station).where(
        a.raised_t > since, a.raised_t <= now).distinct()).all())
    return Flood(count > settings.flood_alarms, count, settings.flood_alarms,
                 settings.flood_window_s)


def queue(conn: Connection, alert: OpenAlert, kind: str, to: list[str], event_t: int,
          now: int) -> None:
    """Put the alert's raise or escalation in the next digest instead of its own email."""
    conn.execute(db.digest_items.insert().values(
        alert_id=alert.id, kind=kind, severity=alert.severity, recipients=",".join(to),
        event_t=event_t, queued_t=now, message_id=None))


def digested(conn: Connection, alert_ids: list[int]) -> dict[int, str]:
    """The highest severity each alert had put in a digest (restoring the email state)."""
    d = db.digest_items.c
    out: dict[int, str] = {}
    if alert_ids:
        for alert_id, severity in conn.execute(select(d.alert_id, d.severity)
                                               .where(d.alert_id.in_(alert_ids))):
            if alert_id not in out or RANK[severity] > RANK[out[alert_id]]:
                out[alert_id] = severity
    return out


def send_due(conn: Connection, settings: Settings, mission: Mission, now: int) -> int:
    """Write the digests due at `now` to the outbox (the items' oldest has waited
    flood_digest_s); how many messages."""
    d, a = db.digest_items.c, db.alerts.c
    oldest = conn.execute(select(func.min(d.queued_t)).where(d.message_id.is_(None))).scalar()
    if oldest is None or now - oldest < settings.flood_digest_s * NS:
        return 0
    rows = conn.execute(
        select(d.id.label("item_id"), d.kind, d.recipients, d.event_t, db.alerts)
        .join(db.alerts, a.id == d.alert_id).where(d.message_id.is_(None))
        .order_by(d.id)).all()
    # Each address gets one digest of every alarm it would have been emailed.
    by_address: dict[str, list[Row[Any]]] = {}
    for row in rows:
        for address in split_addresses(row.recipients):
            by_address.setdefault(address, []).append(row)
    first = rows[0].item_id if rows else 0
    sent: dict[str, str] = {}
    for n, (address, items) in enumerate(by_address.items(), 1):
        mail = compose(settings, mission, items, [address], now, f"{first}-{n}")
        sent[address] = mail.message_id
        conn.execute(db.outbox.insert().values(
            message_id=mail.message_id, alert_id=None, kind="digest", recipients=address,
            subject=mail.subject, body_text=mail.text, body_html=mail.html,
            in_reply_to=None, event_t=now, throttle_key=None, created_t=now, attempts=0,
            next_attempt_t=now))
    # An item is done once in a digest (the first address's message names it).
    for address, items in by_address.items():
        conn.execute(update(db.digest_items).where(
            d.id.in_([r.item_id for r in items]), d.message_id.is_(None))
            .values(message_id=sent[address]))
    return len(by_address)


def group_key(mission: Mission, row: Row[Any]) -> tuple[str, str]:
    """(where, subsystem) an alarm is listed under: 'KazSat-2', 'Power'."""
    sat = mission.satellites[row.satellite].name if row.satellite else None
    sta = mission.stations[row.station].name if row.station else None
    where = f"{sta} → {sat}" if sat and sta else (sat or sta or "Monitor")
    p = mission.parameters.get(row.parameter or "")
    subsystem = (mission.subsystems[p.subsystem].name if p is not None else
                 "telemetry" if row.kind == "stale" else "monitor")
    return where, subsystem


def groups(mission: Mission, items: Sequence[Row[Any]]
           ) -> list[tuple[tuple[str, str], list[Row[Any]]]]:
    """Items grouped by (where, subsystem): the group with the most severe alarm first (then
    the larger, then by name); in a group, the most severe first, then the earliest."""
    out: dict[tuple[str, str], list[Row[Any]]] = {}
    for row in items:
        out.setdefault(group_key(mission, row), []).append(row)
    for rows in out.values():
        rows.sort(key=lambda r: (-RANK[r.severity], r.raised_t, r.id))
    return sorted(out.items(), key=lambda kv: (-max(RANK[r.severity] for r in kv[1]),
                                               -len(kv[1]), kv[0]))


def compose(settings: Settings, mission: Mission, items: Sequence[Row[Any]], to: list[str],
            now: int, serial: str) -> notify.Email:
    """The digest of `items` for `to`; its Message-ID is <digest-{serial}.{ms}@domain>."""
    critical = sum(r.severity == "critical" for r in items)
    grouped = groups(mission, items)
    top = grouped[0][0]
    count = len(items)
    subject = (f"FLOOD {count} alarm{'s' if count != 1 else ''}"
               + (f", {critical} critical" if critical else "")
               + f": {top[0]} {top[1]} ×{len(grouped[0][1])}"
               + (f" +{len(grouped) - 1} more" if len(grouped) > 1 else ""))
    first, last = min(r.raised_t for r in items), max(r.raised_t for r in items)
    intro = (f"Alarm flood: more than {settings.flood_alarms} alarms in "
             f"{settings.flood_window_s / 60:g} min. Alert email comes as digests (one every "
             f"{settings.flood_digest_s:g} s at most) until the flood ends. This one lists "
             f"{count} alarm{'s' if count != 1 else ''} raised {format_time(first)} to "
             f"{format_time(last)}, most severe first.")
    alerts_url = f"{settings.public_dashboard_url.rstrip('/')}/alerts"
    text_lines = [intro, ""]
    e = html.escape
    html_parts = [f"<html><body style='font-family:sans-serif'><h2 style='color:#b00020'>"
                  f"{e(subject)}</h2><p>{e(intro)}</p>"]
    for (where, subsystem), rows in grouped:
        text_lines.append(f"{where} · {subsystem} ({len(rows)})")
        html_parts.append(f"<h3>{e(where)} · {e(subsystem)} ({len(rows)})</h3><table>")
        for r in rows:
            cells = _line(mission, r)
            text_lines.append("  " + "  ".join(cells))
            color = "#b00020" if r.severity == "critical" else "#b36b00"
            html_parts.append(f"<tr style='color:{color}'>" + "".join(
                f"<td style='padding:1px 10px 1px 0'>{e(c)}</td>" for c in cells) + "</tr>")
        text_lines.append("")
        html_parts.append("</table>")
    footer = f"Acknowledge or shelve them on the dashboard: {alerts_url}. Times are UTC."
    text_lines += [footer, ""]
    html_parts.append(f"<p style='color:#555'>{e(footer)}</p></body></html>")
    domain = parseaddr(settings.email_sender)[1].rpartition("@")[2] or "kazsat.local"
    message_id = f"<digest-{serial}.{now // 1_000_000}@{domain}>"
    return notify.Email(message_id, to, subject, "\n".join(text_lines), "".join(html_parts),
                        now)


def _line(mission: Mission, r: Row[Any]) -> list[str]:
    """One alarm: severity, what, value, limit, raised, its state now."""
    value = notify.format_value(mission, r.parameter, r.value)
    state = (f"cleared {format_time(r.cleared_t)[11:19]}" if r.cleared_t is not None else
             f"acknowledged by {r.acked_by}" if r.acked_t is not None else "open")
    what = r.parameter or ("telemetry stopped" if r.kind == "stale" else r.kind)
    return [r.severity.upper(), what, value or "—", r.limit_text,
            format_time(r.raised_t)[11:19], state, f"alert {r.id}"]
