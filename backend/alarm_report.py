"""The monthly alarm-system health report by email: once the month is over, its ISA-18.2
measures (backend/alarm_health.py) go to `report_email_to`, with a plot of the alarms per
10 minutes against the flood threshold.

A duty of the one API process that holds the cluster's duties (backend/duties.py), looking
once a minute. The message is the month's, once: its Message-ID names the month
(<alarm-health-2026-11@kazsat.local>) and the outbox holds each Message-ID once, so a
restart, a second look or the other site never sends it twice; the outbox delivers it like
every message (at least once, a repeat with the same Message-ID).
"""

from __future__ import annotations

import datetime as dt
import io
import logging
from email.utils import parseaddr
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError

from backend import db
from backend.alarm_health import measures
from backend.notify import report_html
from backend.settings import Settings
from backend.store.base import NS

log = logging.getLogger(__name__)


def last_month(now: int) -> tuple[str, int, int]:
    """('2026-11', start, end) of the month before the one `now` is in (UTC, ns)."""
    today = dt.datetime.fromtimestamp(now / NS, dt.UTC)
    end = dt.datetime(today.year, today.month, 1, tzinfo=dt.UTC)
    start = dt.datetime(end.year - (end.month == 1), (end.month - 2) % 12 + 1, 1,
                        tzinfo=dt.UTC)
    return f"{start:%Y-%m}", int(start.timestamp()) * NS, int(end.timestamp()) * NS


def send_monthly(engine: Engine, settings: Settings, now: int) -> str | None:
    """Queue last month's report unless it is queued already (or nobody is to get it); its
    Message-ID when queued now."""
    if not settings.report_email_to:
        return None
    month, start, end = last_month(now)
    domain = parseaddr(settings.email_sender)[1].rpartition("@")[2] or "kazsat.local"
    message_id = f"<alarm-health-{month}@{domain}>"
    o = db.outbox.c
    with db.reader(engine).connect() as conn:
        if conn.execute(select(o.id).where(o.message_id == message_id)).first() is not None:
            return None
    m = measures(engine, start, end, settings.flood_alarms, now)
    subject, text, body_html = compose(settings, month, m)
    try:
        with engine.begin() as conn:
            conn.execute(db.outbox.insert().values(
                message_id=message_id, alert_id=None, kind="report",
                recipients=",".join(settings.report_email_to), subject=subject,
                body_text=text, body_html=body_html, in_reply_to=None, event_t=end,
                throttle_key=None, created_t=now, attempts=0, next_attempt_t=now,
                plot_json=None, plot_png=plot(m)))
    except IntegrityError:
        return None  # queued meanwhile (a restart, the other site): once is enough
    log.info("alarm health report for %s queued to %s", month,
             ", ".join(settings.report_email_to))
    return message_id


def compose(settings: Settings, month: str, m: dict[str, Any]) -> tuple[str, str, str]:
    """(subject, text, HTML with PLOT_MARK where the plot goes)."""
    flood = m["flood"]
    within = flood["percent"] < 1.0
    subject = (f"Alarm health {month}: {m['alarms']} alarms, in flood {flood['percent']:g} % "
               f"of the time")
    lines = [f"The alarm system in {month} (UTC), measured as ISA-18.2 asks.", "",
             f"Alarms:            {m['alarms']}",
             f"Per 10 minutes:    {m['per_10min']['average']:g} on average, "
             f"{m['per_10min']['peak']} at the peak",
             f"Time in flood:     {flood['percent']:g} % ({flood['periods']} ten-minute "
             f"periods with more than {flood['threshold']} alarms; the target is under 1 %: "
             f"{'met' if within else 'NOT met'})",
             f"Chattering alarms: {len(m['chattering'])}",
             f"Stale alarms:      {len(m['stale'])} (open more than 24 h)",
             f"Standing shelved:  {len(m['shelved'])}", "", "Ten most frequent alarms:"]
    lines += [f"  {t['raised']:>5}  {t['percent']:>6g} %  {t['alarm']}" for t in m["top10"]]
    if m["chattering"]:
        lines += ["", "Chattering (raised 3 or more times within 60 s):"]
        lines += [f"  {c['raised']:>5}  {c['alarm']}" for c in m["chattering"]]
    if m["stale"]:
        lines += ["", "Stale:"]
        lines += [f"  alert {s['id']}: {s['alarm']} ({s['severity']}), open {s['open_h']:g} h"
                  for s in m["stale"]]
    url = f"{settings.public_dashboard_url.rstrip('/')}/alarm-health?month={month}"
    lines += ["", f"The month on the dashboard: {url}", ""]
    return subject, "\n".join(lines), report_html(subject, lines)


def plot(m: dict[str, Any]) -> bytes:
    """The month's alarm rate against the flood threshold, flooded blocks in red: 640×240."""
    fig = Figure(figsize=(6.4, 2.4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    # The busiest 10 minutes of each 6 hours: a month of 10-minute bars is too thin to see.
    counts, period_s = m["per_10min"]["counts"], m["per_10min"]["period_s"]
    per_block = max(1, 6 * 3600 // period_s)
    peaks = [max(counts[i:i + per_block]) for i in range(0, len(counts), per_block)]
    width = per_block * period_s / 86400
    starts = [1 + i * width for i in range(len(peaks))]
    colors = ["#b00020" if p > m["flood"]["threshold"] else "#1f4e79" for p in peaks]
    ax.bar(starts, peaks, width=width, align="edge", color=colors, linewidth=0)
    ax.axhline(m["flood"]["threshold"], color="#b00020", linestyle="--", linewidth=1)
    ax.set_xlim(1, 1 + len(peaks) * width)
    ax.set_xlabel("day of the month", fontsize=8)
    ax.set_ylabel("alarms / 10 min", fontsize=8)
    ax.set_title(f"{m['start'][:7]}: the busiest 10 minutes of each 6 hours "
                 f"(dashed: flood)", fontsize=9, loc="left")
    ax.tick_params(labelsize=7)
    ax.grid(True, color="#dddddd", linewidth=0.5)
    fig.tight_layout(pad=0.4)
    out = io.BytesIO()
    fig.savefig(out, format="png", metadata={"Software": None})
    return out.getvalue()
