"""How healthy the alarm system is, in the ISA-18.2 measures, over a period, from the alerts
table alone (the same period gives the same figures whenever it is asked):

- alarms per 10 minutes (one operator position: every alarm reaches the one console): the
  average, the peak, and each 10-minute period's count (for the plot);
- time in flood: the share of 10-minute periods with more than `flood_alarms` alarms
  (ISA-18.2: a healthy system is in flood under 1 % of the time);
- the 10 most frequent alarms (by source: series, or entity for stale telemetry) and their
  share of all alarms;
- chattering alarms: sources raised 3 or more times within 60 seconds;
- stale alarms: open for more than 24 hours at the end of the period;
- standing shelved alarms: open and on a shelf at the end of the period (shelves are kept
  only as they are now, so for a past period this is what is still shelved from it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, select

from backend import db
from backend.store.base import NS
from backend.timeutil import format_time

PERIOD_NS = 600 * NS  # ISA-18.2's 10 minutes
CHATTER_COUNT, CHATTER_NS = 3, 60 * NS
STALE_NS = 24 * 3600 * NS


@dataclass(frozen=True)
class _Alarm:
    id: int
    source: tuple[str, str | None, str | None, str | None]  # kind, satellite, station, param
    severity: str
    raised_t: int
    cleared_t: int | None
    shelved_until_t: int | None


def measures(engine: Engine, start: int, end: int, flood_alarms: int,
             now: int | None = None) -> dict[str, Any]:
    """The measures over [start, end) (ns). Stale and shelved alarms are those at the
    period's end, or at `now` when the period ends later (this month)."""
    at = end if now is None else min(end, now)
    a = db.alerts.c
    with db.reader(engine).connect() as conn:
        rows = conn.execute(select(a.id, a.kind, a.satellite, a.station, a.parameter,
                                   a.severity, a.raised_t, a.cleared_t, a.shelved_until_t)
                            .where(a.raised_t < end,
                                   (a.cleared_t.is_(None)) | (a.cleared_t >= start))
                            .order_by(a.raised_t, a.id)).all()
    alarms = [_Alarm(r.id, (r.kind, r.satellite, r.station, r.parameter), r.severity,
                     r.raised_t, r.cleared_t, r.shelved_until_t) for r in rows]
    raised = [x for x in alarms if x.raised_t >= start]
    periods = max(1, -(-(end - start) // PERIOD_NS))
    counts = [0] * periods
    for x in raised:
        counts[(x.raised_t - start) // PERIOD_NS] += 1
    flooded = sum(c > flood_alarms for c in counts)
    by_source: dict[tuple[str, str | None, str | None, str | None], list[int]] = {}
    for x in raised:
        by_source.setdefault(x.source, []).append(x.raised_t)
    top = sorted(by_source.items(), key=lambda kv: (-len(kv[1]), _label(kv[0])))[:10]
    chattering = []
    for source, times in by_source.items():
        bursts = sum(1 for i in range(len(times) - CHATTER_COUNT + 1)
                     if times[i + CHATTER_COUNT - 1] - times[i] <= CHATTER_NS)
        if bursts:
            chattering.append({"alarm": _label(source), **_source(source),
                               "raised": len(times), "bursts": bursts})
    chattering.sort(key=lambda c: (-c["raised"], c["alarm"]))
    open_at_end = [x for x in alarms
                   if x.raised_t < at and (x.cleared_t is None or x.cleared_t > at)]
    stale = [{"id": x.id, "alarm": _label(x.source), **_source(x.source),
              "severity": x.severity, "raised": format_time(x.raised_t),
              "open_h": round((at - x.raised_t) / (3600 * NS), 1)}
             for x in open_at_end if at - x.raised_t > STALE_NS]
    shelved = [{"id": x.id, "alarm": _label(x.source), **_source(x.source),
                "severity": x.severity, "shelved_until": format_time(x.shelved_until_t)}
               for x in open_at_end if x.shelved_until_t is not None
               and x.shelved_until_t > at]
    total = len(raised)
    return {
        "start": format_time(start), "end": format_time(end), "open_at": format_time(at),
        "alarms": total,
        "per_10min": {"average": round(total / periods, 3), "peak": max(counts),
                      "counts": counts, "period_s": PERIOD_NS // NS},
        "flood": {"threshold": flood_alarms, "periods": flooded,
                  "percent": round(100 * flooded / periods, 3)},
        "top10": [{"alarm": _label(s), **_source(s), "raised": len(t),
                   "percent": round(100 * len(t) / total, 2)} for s, t in top],
        "chattering": chattering,
        "stale": stale,
        "shelved": shelved,
    }


def _label(source: tuple[str, str | None, str | None, str | None]) -> str:
    """'kazsat-2 bus_voltage', 'akkol/kazsat-3 ebn0_db', 'kokterek telemetry', 'cluster'."""
    kind, satellite, station, parameter = source
    where = "/".join(x for x in (station, satellite) if x)
    what = parameter or ("telemetry" if kind == "stale" else kind)
    return f"{where} {what}".strip()


def _source(source: tuple[str, str | None, str | None, str | None]) -> dict[str, Any]:
    kind, satellite, station, parameter = source
    return {"kind": kind, "satellite": satellite, "station": station, "parameter": parameter}
