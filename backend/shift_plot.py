"""The shift report's plot: each satellite's battery state of charge over the shift (the
lowest of each bucket, so a dip is never averaged away), 640×240 PNG, drawn from the store
alone so a past shift draws the same."""

from __future__ import annotations

import io

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from backend.series import SeriesRegistry
from backend.store.base import NS, TelemetryStore

POINTS = 240  # buckets across the shift: enough for a 640-pixel plot


def battery_plot(store: TelemetryStore, registry: SeriesRegistry, start: int,
                 end: int) -> bytes:
    fig = Figure(figsize=(6.4, 2.4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for info in sorted(registry.select(parameters=["battery_soc"]),
                       key=lambda i: i.satellite or ""):
        r = store.range(info.id, start, end, POINTS)
        if r.values is not None:
            times, values = r.times, r.values
        elif r.buckets is not None:
            times, values = r.buckets.times, r.buckets.min
        else:
            continue
        if values:
            ax.plot([(t - start) / (3600 * NS) for t in times], values, linewidth=1,
                    label=info.satellite or "")
    ax.set_xlim(0, (end - start) / (3600 * NS))
    ax.set_xlabel("hours into the shift", fontsize=8)
    ax.set_ylabel("battery SoC, %", fontsize=8)
    ax.set_title("Battery state of charge (lowest per bucket)", fontsize=9, loc="left")
    ax.tick_params(labelsize=7)
    ax.grid(True, color="#dddddd", linewidth=0.5)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout(pad=0.4)
    out = io.BytesIO()
    fig.savefig(out, format="png", metadata={"Software": None})
    return out.getvalue()
