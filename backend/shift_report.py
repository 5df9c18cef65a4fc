"""The shift report, from the store alone (the same shift gives the same report whenever it
is asked): a shift runs from one change time to the next (`shift_changes`, local times in
`shift_timezone`, Asia/Almaty by default), and its report holds

- alerts: raised in the shift (by severity), acknowledged in it (by whom, how long after
  the raise), and still open at its end (how long, acknowledged by whom or not);
- the lowest battery state of charge of each satellite;
- Eb/N0 on each station's links: the lowest and the mean.

- each satellite's eclipses in the shift and the next (from the orbit).

Not yet in it: sun outages, manoeuvres, link availability, prime changes,
plots, the PDF and the email at each change.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select

from backend import db
from backend.mission import Mission
from backend.series import SeriesRegistry
from backend.settings import Settings
from backend.store.base import NS, TelemetryStore
from backend.timeutil import format_time
from orbit.eclipse import eclipse_intervals_ns

MAX_POINTS = 2000  # buckets per series for a shift's figures (their min and mean are exact)


def shift_of(settings: Settings, t: int) -> tuple[int, int]:
    """(start, end) in ns of the shift that `t` falls in."""
    zone = ZoneInfo(settings.shift_timezone)
    # Whole seconds, floored: t / NS as a float rounds the last nanosecond of a shift into
    # the next (changes fall on whole minutes, so seconds lose nothing).
    local = dt.datetime.fromtimestamp(t // NS, zone)
    changes = sorted(dt.time.fromisoformat(c) for c in settings.shift_changes)
    candidates = []
    for day in (local.date() - dt.timedelta(days=1), local.date(),
                local.date() + dt.timedelta(days=1)):
        candidates += [dt.datetime.combine(day, c, zone) for c in changes]
    starts = [c for c in candidates if c <= local]
    start = max(starts)
    end = min(c for c in candidates if c > start)
    return int(start.timestamp()) * NS, int(end.timestamp()) * NS


def recent(settings: Settings, now: int, count: int) -> list[dict[str, Any]]:
    """The shift in progress and the `count` before it, newest first, each with its bounds
    in UTC and a label in the shift's local time."""
    zone = ZoneInfo(settings.shift_timezone)
    out = []
    start, end = shift_of(settings, now)
    for _ in range(count + 1):
        a, b = (dt.datetime.fromtimestamp(x / NS, zone) for x in (start, end))
        label = f"{a:%Y-%m-%d %H:%M} to {b:%H:%M}" + (" (in progress)" if end > now else "")
        out.append({"start": format_time(start), "end": format_time(end), "label": label,
                    "done": end <= now})
        start, end = shift_of(settings, start - 1)
    return out


def report(engine: Engine, store: TelemetryStore, registry: SeriesRegistry, start: int,
           end: int, now: int, *, mission: Mission) -> dict[str, Any]:
    """The report of the shift [start, end); a shift not over yet is reported up to now."""
    until = min(end, now)
    a = db.alerts.c
    with db.reader(engine).connect() as conn:
        rows = conn.execute(select(db.alerts).where(
            a.raised_t < until, (a.cleared_t.is_(None)) | (a.cleared_t >= start))
            .order_by(a.raised_t, a.id)).all()
    raised = [r for r in rows if r.raised_t >= start]
    acked = [r for r in rows if r.acked_t is not None and start <= r.acked_t < until]
    still_open = [r for r in rows if r.cleared_t is None or r.cleared_t >= until]
    return {
        "start": format_time(start), "end": format_time(end), "until": format_time(until),
        "alerts": {
            "raised": len(raised),
            "raised_critical": sum(r.severity == "critical" for r in raised),
            "raised_warning": sum(r.severity == "warning" for r in raised),
            "acknowledged": [{"id": r.id, "alarm": _label(r), "by": r.acked_by,
                              "at": format_time(r.acked_t),
                              "after_min": round((r.acked_t - r.raised_t) / (60 * NS), 1)}
                             for r in acked],
            "open": [{"id": r.id, "alarm": _label(r), "severity": r.severity,
                      "open_min": round((until - r.raised_t) / (60 * NS), 1),
                      "acked_by": r.acked_by if r.acked_t is not None
                      and r.acked_t < until else None}
                     for r in still_open],
        },
        "battery_soc_min": {info.satellite: _stats(store, info.id, start, until)[0]
                            for info in registry.select(parameters=["battery_soc"])
                            if info.satellite},
        "ebn0_db": [{"station": info.station, "satellite": info.satellite,
                     **dict(zip(("min", "mean"), _stats(store, info.id, start, until),
                                strict=True))}
                    for info in registry.select(parameters=["ebn0_db"])],
        "eclipses": eclipses_around(mission, start, end),
    }


def eclipses_around(mission: Mission, start: int, end: int) -> list[dict[str, Any]]:
    """Each satellite's eclipses overlapping the shift [start, end) and the next one of the
    same length (predicted from the orbit: the shift after hands over during them), in time
    order."""
    after = 2 * end - start
    out = []
    for sat_id, sat in mission.satellites.items():
        for a, b in eclipse_intervals_ns(sat.longitude_deg, start, after):
            out.append({"satellite": sat_id, "start": format_time(a), "end": format_time(b),
                        "minutes": round((b - a) / (60 * NS), 1),
                        "shift": "this" if a < end else "next"})
    return sorted(out, key=lambda e: (e["start"], e["satellite"]))


def _stats(store: TelemetryStore, series_id: int, start: int,
           end: int) -> tuple[float | None, float | None]:
    """(lowest, mean) of a series' samples in [start, end); (None, None) without samples."""
    if end <= start:
        return None, None
    r = store.range(series_id, start, end, MAX_POINTS)
    if r.values is not None:
        if not r.values:
            return None, None
        return min(r.values), round(sum(r.values) / len(r.values), 3)
    b = r.buckets
    if b is None or not b.count or sum(b.count) == 0:
        return None, None
    total = sum(b.count)
    return min(b.min), round(sum(m * c for m, c in zip(b.mean, b.count, strict=True)) / total, 3)


def _label(r: Any) -> str:
    where = "/".join(x for x in (r.station, r.satellite) if x)
    what = r.parameter or ("telemetry" if r.kind == "stale" else r.kind)
    return f"{where} {what}".strip()


def local_label(settings: Settings, start: int, end: int) -> str:
    """'2026-12-07 20:00 to 08:00 (Asia/Almaty)'."""
    zone = ZoneInfo(settings.shift_timezone)
    a, b = (dt.datetime.fromtimestamp(x // NS, zone) for x in (start, end))
    return f"{a:%Y-%m-%d %H:%M} to {b:%H:%M} ({settings.shift_timezone})"


def compose_summary(r: dict[str, Any]) -> list[str]:
    """The alert counts of a report, a line each (the email's and the PDF's)."""
    a = r["alerts"]
    return [f"Alerts raised:     {a['raised']} ({a['raised_critical']} critical, "
            f"{a['raised_warning']} warning)",
            f"Acknowledged:      {len(a['acknowledged'])}",
            f"Still open at end: {len(a['open'])}"]
