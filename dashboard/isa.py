"""The alarm system's ISA-18.2 measures in words and a figure, for the alarm-health page
(dashboard/pages/alarm_health.py), from GET /api/v1/alarm-health."""

from __future__ import annotations

import datetime as dt

import plotly.graph_objects as go

FLOOD_TARGET_PERCENT = 1.0  # ISA-18.2: in flood under 1 % of the time


def months(today: dt.date, count: int = 12) -> list[str]:
    """'2026-12', '2026-11', ... the last `count` months, this one first."""
    out, year, month = [], today.year, today.month
    for _ in range(count):
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return out


def summary(m: dict) -> tuple[str, bool]:
    """The month in one line, and whether time in flood is within the ISA-18.2 target."""
    flood = m["flood"]
    ok = flood["percent"] < FLOOD_TARGET_PERCENT
    return (f"{m['alarms']} alarms · {m['per_10min']['average']:g} per 10 min on average, "
            f"{m['per_10min']['peak']} at the peak · in flood (more than "
            f"{flood['threshold']} in 10 min) {flood['percent']:g} % of the time "
            f"({'within' if ok else 'above'} the ISA-18.2 target of "
            f"{FLOOD_TARGET_PERCENT:g} %)"), ok


def rate_figure(m: dict) -> go.Figure:
    """Alarms in each 10-minute period of the month, with the flood threshold."""
    start = dt.datetime.fromisoformat(m["start"].replace("Z", "+00:00"))
    step = dt.timedelta(seconds=m["per_10min"]["period_s"])
    counts = m["per_10min"]["counts"]
    x = [start + i * step for i in range(len(counts))]
    fig = go.Figure(go.Bar(x=x, y=counts, name="alarms per 10 min", marker_color="#38c6f4"))
    fig.add_hline(y=m["flood"]["threshold"], line_dash="dash", line_color="#ff4d4f",
                  annotation_text="flood", annotation_position="top left")
    fig.update_layout(template="plotly_dark", margin={"l": 40, "r": 10, "t": 10, "b": 30},
                      paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)",
                      bargap=0, showlegend=False, yaxis_title="alarms / 10 min")
    return fig
