"""The small plot an alert email carries: the series over the hour before the breach, with
the limit lines in force when it was raised, rendered server-side as a PNG (matplotlib's Agg
backend: no display, no browser, nothing downloaded).

The outbox sender renders it once, just before the first attempt to send the message, from
what the store holds (not in the ingest transaction, which holds the write lock), and keeps
the PNG in the outbox row: a message sent again is the same message.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
from dataclasses import dataclass
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from backend.mission import Limits, Mission
from backend.store.base import NS, TelemetryStore

log = logging.getLogger(__name__)
WINDOW_S = 3600  # the hour before the breach
AFTER_S = 60  # and a minute after it, when the store has it
MAX_POINTS = 720
COLORS = {"critical": "#b00020", "warning": "#d98200", "line": "#1f4e79", "event": "#555555"}


@dataclass(frozen=True)
class PlotSpec:
    """What to plot, fixed when the message is composed (stored as JSON in the outbox)."""

    series_id: int
    parameter: str
    title: str
    event_t: int  # the breach: a marker, and the window's end (plus AFTER_S)
    limits: dict[str, Any]  # Limits.model_dump() as in force then

    def as_json(self) -> dict[str, Any]:
        return {"series_id": self.series_id, "parameter": self.parameter, "title": self.title,
                "event_t": self.event_t, "limits": self.limits}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PlotSpec:
        return cls(int(data["series_id"]), str(data["parameter"]), str(data["title"]),
                   int(data["event_t"]), dict(data["limits"]))


class Plotter:
    """Renders a PlotSpec from the store's samples."""

    def __init__(self, store: TelemetryStore, mission: Mission) -> None:
        self.store = store
        self.mission = mission

    def __call__(self, spec: PlotSpec) -> bytes:
        start = spec.event_t - WINDOW_S * NS
        result = self.store.range(spec.series_id, start, spec.event_t + AFTER_S * NS,
                                  MAX_POINTS)
        if result.values is not None:
            times, values = result.times, result.values
        elif result.buckets is not None:
            times, values = result.buckets.times, result.buckets.mean
        else:
            times, values = [], []
        p = self.mission.parameters[spec.parameter]
        return render(times, [float(p.decode(v)) for v in values],
                      Limits.model_validate(spec.limits), p.unit, spec.title, spec.event_t)


def render(times: list[int], values: list[float], limits: Limits, unit: str, title: str,
           event_t: int) -> bytes:
    """A 640×240 PNG: the values, the limit lines (dashed warning, solid critical), a
    marker at the breach. Deterministic for the same input."""
    fig = Figure(figsize=(6.4, 2.4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    # x in minutes from the breach; ticks at whole 10 minutes of UTC, labelled HH:MM.
    when = [(t - event_t) / (60 * NS) for t in times]
    ax.plot(when, values, color=COLORS["line"], linewidth=1.4, drawstyle="steps-post")
    for severity, style in (("warning", "--"), ("critical", "-")):
        band = getattr(limits, severity)
        for side in ("low", "high"):
            bound = getattr(band, side) if band is not None else None
            if bound is not None:
                ax.axhline(bound, color=COLORS[severity], linestyle=style, linewidth=1.1)
                ax.annotate(f"{severity} {side} {bound:g}", xy=(0.0, bound),
                            xycoords=("axes fraction", "data"), xytext=(4, 0),
                            textcoords="offset points", ha="left", va="center",
                            fontsize=7, color=COLORS[severity],
                            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none",
                                  "alpha": 0.85})
    ax.axvline(0.0, color=COLORS["event"], linestyle=":", linewidth=1)
    ax.set_xlim(-WINDOW_S / 60, AFTER_S / 60)
    first = (event_t - WINDOW_S * NS) // (600 * NS) * 600 * NS + 600 * NS
    ticks = list(range(first, event_t + AFTER_S * NS, 600 * NS))
    ax.set_xticks([(t - event_t) / (60 * NS) for t in ticks],
                  [_utc(t).strftime("%H:%M") for t in ticks])
    ax.set_title(title, fontsize=9, loc="left")
    ax.set_ylabel(unit, fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(True, color="#dddddd", linewidth=0.5)
    fig.tight_layout(pad=0.4)
    out = io.BytesIO()
    # No metadata: the same plot is the same bytes on any day.
    fig.savefig(out, format="png", metadata={"Software": None})
    return out.getvalue()


def _utc(t_ns: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(t_ns / NS, dt.UTC)
