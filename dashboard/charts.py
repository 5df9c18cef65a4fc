"""Strip-chart figures: stacked strips sharing one UTC time axis, limits drawn as lines.

Each trace carries meta = [series key, max points] so the browser can extend it from the
tick model (assets/live.js) without the server redrawing the figure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from dashboard import api_client
from dashboard import parameters as pm

COLOURS = ["#5ab0f0", "#c39bd3", "#7fd1b9", "#f0c674", "#e58f65", "#9aa5b1", "#6c8ebf",
           "#b5cea8"]
LIMIT_COLOUR = {"warning": "#f5a623", "critical": "#ff4d4f"}
STRIP_PX = 96
TEXT = "#aab4c0"
GRID = "#1f2833"


@dataclass
class Trace:
    """One line: a series key, its label, and whether it belongs to a compared station."""

    key: str
    name: str
    satellite: str | None
    station: str | None
    parameter: str
    compare: bool = False


def load_history(traces: list[Trace], start: str, end: str = "now", max_points: int = 1000,
                 resolution: dict[str, tuple[str, float | None]] | None = None,
                 ) -> dict[str, tuple[list, list]]:
    """Times and values per trace key: raw samples, or bucket means when the range is long
    (`resolution`, when given, receives per key ('samples', None) or the API's
    resolution and bucket width).
    Requests group by entity, 20 parameters at a time (the API's cap)."""
    groups: dict[tuple, list[str]] = {}
    for t in traces:
        groups.setdefault((t.satellite, t.station), []).append(t.parameter)
    out: dict[str, tuple[list, list]] = {}
    for (sat, sta), keys in groups.items():
        for i in range(0, len(keys), 20):
            body = api_client.series(keys[i:i + 20], start, end, satellite=sat, station=sta,
                                     max_points=max_points)
            for s in body["series"]:
                values = s.get("value") if "value" in s else s.get("mean")
                key = pm.series_key(s["satellite"], s["station"], s["parameter"])
                out[key] = (s["time"], values)
                if resolution is not None:
                    resolution[key] = ("samples", None) if "value" in s \
                        else (s.get("resolution", ""), s.get("bucket_s"))
    return out


def strip_figure(rows: list[pm.ChartRow], traces_of: dict[int, list[Trace]],
                 history: dict[str, tuple[list, list]], window_s: float,
                 x_range: tuple[str, str] | None = None) -> dict:
    """A figure with one strip per row, the row's warning and critical limits as dashed
    lines, and its traces; `window_s` bounds how many live points each trace keeps."""
    n = len(rows)
    gap = 0.35 / max(n, 1) if n > 1 else 0
    height = (1 - gap * (n - 1)) / max(n, 1)
    layout: dict = {
        "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)",
        "font": {"color": TEXT, "size": 13, "family": "Inter, Segoe UI, Roboto, sans-serif"},
        "margin": {"l": 64, "r": 16, "t": 22, "b": 42}, "showlegend": False,
        "hovermode": "x unified", "uirevision": "keep",
        "xaxis": {"type": "date", "gridcolor": GRID, "linecolor": GRID, "showspikes": True,
                  "spikecolor": TEXT, "spikethickness": 1},
        "shapes": [], "annotations": []}
    # The time axis hangs under the bottom strip.
    layout["xaxis"]["anchor"] = "y" if n <= 1 else f"y{n}"
    if x_range:
        layout["xaxis"]["range"] = list(x_range)
    data = []
    for i, row in enumerate(rows):
        axis = "y" if i == 0 else f"y{i + 1}"
        top = 1 - i * (height + gap)
        layout["yaxis" if i == 0 else f"yaxis{i + 1}"] = {
            "domain": [max(top - height, 0), top], "anchor": "x", "gridcolor": GRID,
            "zeroline": False, "title": {"text": row.unit, "standoff": 4},
            "nticks": 4, "automargin": True}
        layout["annotations"].append({
            "text": row.title, "xref": "paper", "yref": "paper", "x": 0, "y": top,
            "xanchor": "left", "yanchor": "bottom", "showarrow": False,
            "font": {"size": 13, "color": "#d7dee8"}})
        for level, band in (row.limits or {}).items():
            for edge in ("low", "high"):
                value = (band or {}).get(edge)
                if value is None:
                    continue
                layout["shapes"].append({
                    "type": "line", "xref": "paper", "x0": 0, "x1": 1, "yref": axis,
                    "y0": value, "y1": value, "layer": "below",
                    "line": {"color": LIMIT_COLOUR[level], "width": 1.5,
                             "dash": "dash" if level == "warning" else "solid"}})
        for j, tr in enumerate(traces_of.get(i, [])):
            times, values = history.get(tr.key, ([], []))
            p = next(p for p in row.params if p["key"] == tr.parameter)
            keep = max(10, math.ceil(window_s / p["period_s"]) + 5)
            data.append({
                "type": "scattergl" if len(times) > 2000 else "scatter", "mode": "lines",
                "x": list(times), "y": list(values), "name": tr.name, "yaxis": axis,
                "meta": [tr.key, keep], "line": {
                    "width": 1.6, "color": COLOURS[j % len(COLOURS)],
                    "dash": "dot" if tr.compare else "solid"},
                "hovertemplate": f"%{{y}} {row.unit}<extra>{tr.name}</extra>"})
    return {"data": data, "layout": layout}


def strip_height(rows: int) -> int:
    return 40 + rows * STRIP_PX
