"""The shift report by email at each shift change: once a shift is over, its report
(backend/shift_report.py) goes to `shift_report_email_to`.

A duty of the one API process that holds the cluster's duties (backend/duties.py), looking
once a minute. The message is the shift's, once: its Message-ID names the shift's start
(<shift-report-20261208T0300Z@kazsat.local>) and the outbox holds each Message-ID once, so a
restart, a second look or the other site never sends it twice; the outbox delivers it like
every message (at least once, a repeat with the same Message-ID). Only the last shift that
ended is sent: after a long outage the shifts missed are on the page, not in the mailbox.
"""

from __future__ import annotations

import datetime as dt
import logging
from email.utils import parseaddr
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError

from backend import db
from backend.mission import Mission
from backend.notify import report_html
from backend.series import SeriesRegistry
from backend.settings import Settings
from backend.shift_pdf import render
from backend.shift_plot import battery_plot
from backend.shift_report import compose_summary, local_label, report, shift_of
from backend.store.base import NS, TelemetryStore

log = logging.getLogger(__name__)


def last_shift(settings: Settings, now: int) -> tuple[int, int]:
    """(start, end) in ns of the last shift that ended by `now`."""
    current, _ = shift_of(settings, now)
    return shift_of(settings, current - 1)


def send_shift(engine: Engine, store: TelemetryStore, registry: SeriesRegistry,
               mission: Mission, settings: Settings, now: int) -> str | None:
    """Queue the last ended shift's report unless it is queued already (or nobody is to
    get it); its Message-ID when queued now."""
    if not settings.shift_report_email_to:
        return None
    start, end = last_shift(settings, now)
    domain = parseaddr(settings.email_sender)[1].rpartition("@")[2] or "kazsat.local"
    stamp = dt.datetime.fromtimestamp(start // NS, dt.UTC)
    name = f"{stamp:%Y%m%dT%H%MZ}"
    message_id = f"<shift-report-{name}@{domain}>"
    o = db.outbox.c
    with db.reader(engine).connect() as conn:
        if conn.execute(select(o.id).where(o.message_id == message_id)).first() is not None:
            return None
    r = report(engine, store, registry, start, end, now, mission=mission)
    png = battery_plot(store, registry, start, end)
    subject, text, body_html = compose(settings, r, start, end)
    try:
        with engine.begin() as conn:
            conn.execute(db.outbox.insert().values(
                message_id=message_id, alert_id=None, kind="report",
                recipients=",".join(settings.shift_report_email_to), subject=subject,
                body_text=text, body_html=body_html, in_reply_to=None, event_t=end,
                throttle_key=None, created_t=now, attempts=0, next_attempt_t=now,
                plot_json=None, plot_png=png, attachment_name=f"shift-report-{name}.pdf",
                attachment_pdf=render(f"Shift report {local_label(settings, start, end)}", r,
                                      png)))
    except IntegrityError:
        return None  # queued meanwhile (a restart, the other site): once is enough
    log.info("shift report for %s queued to %s", r["start"],
             ", ".join(settings.shift_report_email_to))
    return message_id


def _num(x: float | None, unit: str) -> str:
    return "no data" if x is None else f"{x:.1f} {unit}"


def compose(settings: Settings, r: dict[str, Any], start: int,
            end: int) -> tuple[str, str, str]:
    """(subject, text, HTML with PLOT_MARK where the plot goes) of a shift's report."""
    a = r["alerts"]
    label = local_label(settings, start, end)
    subject = (f"Shift report {label}: {a['raised']} alerts raised, "
               f"{len(a['open'])} still open")
    lines = [f"The shift {label}, {r['start'][:16]}Z to {r['end'][:16]}Z.", "",
             *compose_summary(r)]
    if a["acknowledged"]:
        lines += ["", "Acknowledged in the shift:"]
        lines += [f"  alert {x['id']}: {x['alarm']}, by {x['by']} after "
                  f"{x['after_min']:g} min" for x in a["acknowledged"]]
    if a["open"]:
        lines += ["", "Still open at the end of the shift:"]
        lines += [f"  alert {x['id']}: {x['alarm']} ({x['severity']}), open "
                  f"{x['open_min']:g} min, "
                  + (f"acknowledged by {x['acked_by']}" if x["acked_by"] else "not acknowledged")
                  for x in a["open"]]
    lines += ["", "Lowest battery state of charge:"]
    lines += [f"  {sat}: {_num(v, '%')}" for sat, v in sorted(r["battery_soc_min"].items())]
    lines += ["", "Eb/N0 per station link (lowest, mean):"]
    lines += [f"  {x['station']} / {x['satellite'] or '-'}: {_num(x['min'], 'dB')}, "
              f"{_num(x['mean'], 'dB')}" for x in r["ebn0_db"]]
    lines += ["", "Eclipses in this shift and the next:"]
    lines += [f"  {x['satellite']}: {x['start'][:16]}Z to {x['end'][:16]}Z, "
              f"{x['minutes']:g} min ({x['shift']} shift)" for x in r["eclipses"]] \
        or ["  none"]
    url = f"{settings.public_dashboard_url.rstrip('/')}/shift-report?at={r['start']}"
    lines += ["", f"The shift on the dashboard: {url}", ""]
    return subject, "\n".join(lines), report_html(subject, lines)
