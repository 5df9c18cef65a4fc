"""Alert email: who gets it, what it says, how often, and the MIME message for SMTP.

A message is composed once, when its alert changes, and stored whole in the outbox
(backend.outbox sends it). Its Message-ID and Date are fixed then too, so a message sent
again after a crash is the same message and mail clients fold the copy.
"""

from __future__ import annotations

import datetime as dt
import email.policy
import html
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import Row

from backend.mission import Limits, Mission
from backend.settings import Settings, split_addresses
from backend.timeutil import format_time

KINDS = ("raised", "escalated", "cleared")
# Where an alert email's HTML shows its plot (backend/alert_plot.py), when it has one.
PLOT_MARK = "<!--kazsat-plot-->"
# Headers on one line up to SMTP's 998 characters: folded at 78, a subject too long for
# the first line starts its second with a space that some clients keep ("  [KazSat ...").
HEADERS_UNFOLDED = email.policy.default.clone(max_line_length=998)


@dataclass(frozen=True)
class AlertFacts:
    """What a message reports about an alert."""

    id: int
    kind: str  # limit | stale | cluster
    satellite: str | None
    station: str | None
    parameter: str | None
    severity: str
    state: str
    value: float | None
    limit: str
    raised_t: int
    updated_t: int
    cleared_t: int | None = None
    event_t: int = 0  # the sample time the message is about (the replay link's t)


@dataclass(frozen=True)
class Email:
    message_id: str
    recipients: list[str]
    subject: str
    text: str
    html: str
    created_t: int
    in_reply_to: str | None = None


def recipients(settings: Settings, severity: str, satellite: str | None,
               station: str | None) -> list[str]:
    """email_to, plus email_to_critical for critical, plus email_to_entity entries named
    by the satellite or station ("kazsat-2") or with the severity ("akkol:critical")."""
    out = list(settings.email_to)
    if severity == "critical":
        out += settings.email_to_critical
    for entity in (satellite, station):
        if entity:
            out += split_addresses(settings.email_to_entity.get(entity, ""))
            out += split_addresses(settings.email_to_entity.get(f"{entity}:{severity}", ""))
    return list(dict.fromkeys(out))  # each once, in order


def message_id(settings: Settings, alert_id: int, kind: str, n: int, created_t: int) -> str:
    """<alert-12-raised-1.1764072000123@kazsat.local>: the alert, what happened, the
    message's number for the alert, and its creation time in ms, which keeps ids apart
    across databases that reuse alert numbers."""
    domain = parseaddr(settings.email_sender)[1].rpartition("@")[2] or "kazsat.local"
    return f"<alert-{alert_id}-{kind}-{n}.{created_t // 1_000_000}@{domain}>"


def replay_url(settings: Settings, facts: AlertFacts) -> str:
    query = {k: v for k, v in (("satellite", facts.satellite), ("station", facts.station),
                               ("parameter", facts.parameter)) if v}
    query["t"] = format_time(facts.event_t or facts.raised_t)
    return f"{settings.public_dashboard_url.rstrip('/')}/replay?{urlencode(query, safe=':')}"


def compose(settings: Settings, mission: Mission, facts: AlertFacts, kind: str, n: int,
            created_t: int, to: list[str], in_reply_to: str | None = None,
            suppressed: int = 0, limit_set: str | None = None) -> Email:
    """The message for an alert that was raised, escalated or cleared. `limit_set`: the
    parameter's limits in force and where they come from. The HTML holds PLOT_MARK where
    the plot goes, if the outbox row carries one (`to_mime`)."""
    where = _where(mission, facts)
    p = mission.parameters.get(facts.parameter or "")
    value = format_value(mission, facts.parameter, facts.value)
    if facts.kind == "stale":
        what = "telemetry"
        headline = {"cleared": f"{where}: telemetry resumed"}.get(
            kind, f"{where}: telemetry stopped ({facts.limit})")
    elif facts.kind == "cluster":
        where = "Monitor"
        headline = {"cleared": "Monitor: redundancy restored (both sites' databases in step)"
                    }.get(kind, f"Monitor: {facts.limit}")
    else:
        what = facts.parameter or ""
        headline = {"raised": f"{where} {what} {value}: {facts.limit}",
                    "escalated": f"{where} {what} {value}: {facts.limit} "
                                 f"(escalated to {facts.severity})",
                    "cleared": f"{where} {what} back within limits ({value})"}[kind]
    subject = " ".join(subject_parts(mission, facts, kind))

    rows: list[tuple[str, str]] = []
    if facts.satellite:
        rows.append(("Satellite", f"{mission.satellites[facts.satellite].name} "
                                  f"({facts.satellite})"))
    if facts.station:
        rows.append(("Station", f"{mission.stations[facts.station].name} ({facts.station})"))
    if p is not None:
        subsystem = mission.subsystems[p.subsystem].name
        rows.append(("Parameter", f"{p.key}: {p.description} ({subsystem}"
                                  f"{', ' + p.unit if p.unit else ''})"))
        rows.append(("Value", value))
    elif facts.kind == "cluster":
        rows.append(("Parameter", "the monitor's own database replication between the sites"))
    else:
        rows.append(("Parameter", "all telemetry of this " +
                     ("satellite" if facts.satellite else "station")))
    rows.append(("Limit", facts.limit))
    if limit_set:
        rows.append(("Limit set", limit_set))
    rows += [("Severity", facts.severity),
             ("State", "cleared" if kind == "cleared" else facts.state),
             ("Raised", format_time(facts.raised_t)), ("Updated", format_time(facts.updated_t))]
    if facts.cleared_t is not None:
        rows.append(("Cleared", format_time(facts.cleared_t)))
    link = replay_url(settings, facts)
    rows.append(("Replay", link))
    note = (f"{suppressed} more crossing{'s' if suppressed != 1 else ''} of this limit were "
            f"not emailed since the last message (at most one per "
            f"{settings.alert_email_interval_s:g} s per parameter and severity)."
            if suppressed else "")
    footer = (f"Alert {facts.id}. Times are UTC. Acknowledge or shelve it on the dashboard: "
              f"{settings.public_dashboard_url.rstrip('/')}/alerts")

    width = max(len(k) for k, _ in rows) + 2
    text = "\n".join([headline, ""] +
                     [f"{k + ':':<{width}}{v}" for k, v in rows] +
                     (["", note] if note else []) + ["", footer, ""])
    e = html.escape
    color = {"critical": "#b00020", "warning": "#b36b00"}.get(facts.severity, "#1b5e20")
    color = "#1b5e20" if kind == "cleared" else color
    cells = "".join(
        f"<tr><th align='left' style='padding:2px 12px 2px 0'>{e(k)}</th><td>"
        + (f"<a href='{e(v)}'>replay at {e(format_time(facts.event_t or facts.raised_t))}"
           "</a>" if k == "Replay" else e(v)) + "</td></tr>" for k, v in rows)
    body_html = (f"<html><body style='font-family:sans-serif'>"
                 f"<h2 style='color:{color}'>{e(headline)}</h2>"
                 f"{PLOT_MARK}<table>{cells}</table>"
                 + (f"<p>{e(note)}</p>" if note else "") +
                 f"<p style='color:#555'>{e(footer)}</p></body></html>")
    return Email(message_id(settings, facts.id, kind, n, created_t), to, subject, text,
                 body_html, created_t, in_reply_to)


def subject_parts(mission: Mission, facts: AlertFacts, kind: str) -> tuple[str, str]:
    """A subject a phone's lock screen shows whole, in two parts: ('CRITICAL', 'KazSat-2
    Bus voltage 104.40 V > 103 V'), ('Cleared', 'KazSat-2 Bus voltage 100.00 V'),
    ('WARNING', 'Akkol → KazSat-3 telemetry stopped'). The sender's name says KazSat."""
    tag = "Cleared" if kind == "cleared" else facts.severity.upper()
    where = _where(mission, facts)
    if facts.kind == "stale":
        return tag, f"{where} telemetry {'resumed' if kind == 'cleared' else 'stopped'}"
    if facts.kind == "cluster":
        return tag, ("Monitor: redundancy restored" if kind == "cleared" else
                     f"Monitor: {facts.limit}")
    p = mission.parameters.get(facts.parameter or "")
    label = (p.label or p.key) if p is not None else (facts.parameter or "")
    value = format_value(mission, facts.parameter, facts.value)
    if kind == "cleared":
        return tag, f"{where} {label} {value}".strip()
    return tag, f"{where} {label} {value} {_bound(facts.limit)}".strip()


def _bound(limit: str) -> str:
    """'critical high 103 V' -> '> 103 V', 'warning low 8 dB' -> '< 8 dB', 'expected
    true' -> '(expected true)', 'critical state' -> ''."""
    words = limit.split(" ", 2)
    if len(words) == 3 and words[1] in ("high", "low"):
        return f"{'>' if words[1] == 'high' else '<'} {words[2]}"
    return f"({limit})" if limit.startswith("expected") else ""


def plot_title(mission: Mission, facts: AlertFacts) -> str:
    """'KazSat-2 bus_voltage: the hour before 12:00:02 UTC'."""
    return (f"{_where(mission, facts)} {facts.parameter}: the hour before "
            f"{format_time(facts.event_t)[11:19]} UTC")


def limit_set_text(limits: Limits, unit: str) -> str:
    """'warning 98–102 V, critical 97–103 V', 'warning low 100 W' (one side only)."""
    parts = []
    for severity in ("warning", "critical"):
        band = getattr(limits, severity)
        if band is None or (band.low is None and band.high is None):
            continue
        u = f" {unit}" if unit else ""
        if band.low is not None and band.high is not None:
            parts.append(f"{severity} {band.low:g}–{band.high:g}{u}")
        elif band.low is not None:
            parts.append(f"{severity} low {band.low:g}{u}")
        else:
            parts.append(f"{severity} high {band.high:g}{u}")
    return ", ".join(parts) or "none"


def format_value(mission: Mission, parameter: str | None, value: float | None) -> str:
    p = mission.parameters.get(parameter or "")
    if p is None or value is None:
        return "" if value is None else f"{value:g}"
    decoded = p.decode(value)
    if isinstance(decoded, bool):
        return "true" if decoded else "false"
    if isinstance(decoded, str):
        return decoded
    number = f"{decoded:.{p.decimals}f}" if p.type == "float" else str(decoded)
    return f"{number} {p.unit}".strip()


def _where(mission: Mission, facts: AlertFacts) -> str:
    sat = mission.satellites[facts.satellite].name if facts.satellite else None
    sta = mission.stations[facts.station].name if facts.station else None
    return f"{sta} → {sat}" if sat and sta else (sat or sta or "")


def to_mime(row: Row[Any], sender: str, plot_png: bytes | None = None) -> EmailMessage:
    """The MIME message of an outbox row (subject, bodies, Message-ID, Date as stored), with
    its plot (the row's, or `plot_png` just rendered) as an inline image of the HTML part,
    and its PDF attachment if it has one."""
    msg = EmailMessage(policy=HEADERS_UNFOLDED)
    msg["From"] = sender
    msg["To"] = ", ".join(split_addresses(row.recipients))
    msg["Subject"] = row.subject
    msg["Date"] = format_datetime(dt.datetime.fromtimestamp(row.created_t / 1e9, dt.UTC))
    msg["Message-ID"] = row.message_id
    if row.in_reply_to:
        msg["In-Reply-To"] = row.in_reply_to
        msg["References"] = row.in_reply_to
    msg["Auto-Submitted"] = "auto-generated"
    if row.alert_id is not None:
        msg["X-KazSat-Alert"] = str(row.alert_id)
    msg.set_content(row.body_text)
    body_html = row.body_html
    png = plot_png or row.plot_png
    if png:
        cid = "plot." + row.message_id.strip("<>")
        body_html = body_html.replace(
            PLOT_MARK, f"<p><img src='cid:{cid}' width='640' height='240' alt='the last hour "
                       f"with its limits'></p>")
        msg.add_alternative(body_html, subtype="html")
        html_part = next(part for part in msg.iter_parts()
                         if part.get_content_type() == "text/html")
        assert isinstance(html_part, EmailMessage)
        html_part.add_related(png, maintype="image", subtype="png", cid=f"<{cid}>",
                              filename="last-hour.png")
    else:
        msg.add_alternative(body_html.replace(PLOT_MARK, ""), subtype="html")
    if row.attachment_pdf:
        msg.add_attachment(row.attachment_pdf, maintype="application", subtype="pdf",
                           filename=row.attachment_name or "report.pdf")
    return msg


@dataclass
class Throttle:
    """At most one message per key (series or entity, and severity) per interval, on the
    time of the samples that raised them: a parameter flapping across a limit gets one
    message per interval, and that message counts the crossings it stands for. A change
    held back is not dropped: backend.alert_email sends it once `ready` if still open."""

    interval_ns: int
    last: dict[str, int] = field(default_factory=dict)
    suppressed: dict[str, int] = field(default_factory=dict)

    def ready(self, key: str, t: int) -> bool:
        """Whether a message for key at t would be allowed; counts nothing."""
        last = self.last.get(key)
        return last is None or t - last >= self.interval_ns

    def allow(self, key: str, t: int) -> tuple[bool, int]:
        """(send?, crossings suppressed since the last message for this key)."""
        if not self.ready(key, t):
            self.suppressed[key] = self.suppressed.get(key, 0) + 1
            return False, 0
        self.last[key] = t
        return True, self.suppressed.pop(key, 0)


def report_html(subject: str, lines: list[str]) -> str:
    """A report email's HTML from its plain-text lines: indented lines as preformatted rows,
    the others as paragraphs, the plot (PLOT_MARK) under the heading."""
    e = html.escape
    return ("<html><body style='font-family:sans-serif'>"
            f"<h2>{e(subject)}</h2>{PLOT_MARK}"
            + "".join(f"<pre style='margin:0'>{e(line)}</pre>" if line.startswith("  ")
                      else f"<p style='margin:4px 0'>{e(line)}</p>"
                      for line in lines if line)
            + "</body></html>")
