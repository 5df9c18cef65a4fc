"""Strip-chart figures: stacked strips sharing one UTC time axis, limits drawn as lines,
alerts marked at their raise time, and bucketed history drawn as its mean inside its min-max
envelope.

Each trace carries meta = [series key, max points] so the browser can extend it from the
tick model (assets/live.js) without the server redrawing the figure. Limit lines and alert
markers live in the layout, so refreshing them (`live_update`) leaves the traces alone.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import dash
import orjson

from dashboard import api_client
from dashboard import parameters as pm
from dashboard.snapshot import format_time, parse_time

COLOURS = ["#5ab0f0", "#c39bd3", "#7fd1b9", "#f0c674", "#e58f65", "#9aa5b1", "#6c8ebf",
           "#b5cea8"]
LIMIT_COLOUR = {"warning": "#f5a623", "critical": "#ff4d4f"}
ALERT_SYMBOL = {"warning": "▲", "critical": "✖"}  # colour is never the only signal
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
                 bands: dict[str, tuple[list, list]] | None = None,
                 ) -> dict[str, tuple[list, list]]:
    """Times and values per trace key: raw samples, or bucket means when the range is long
    (`resolution`, when given, receives per key ('samples', None) or the API's
    resolution and bucket width; `bands`, when given, each bucketed key's (min, max)).
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
                if bands is not None and "value" not in s:
                    bands[key] = (s["min"], s["max"])
                if resolution is not None:
                    resolution[key] = ("samples", None) if "value" in s \
                        else (s.get("resolution", ""), s.get("bucket_s"))
    return out


def strip_figure(rows: list[pm.ChartRow], traces_of: dict[int, list[Trace]],
                 history: dict[str, tuple[list, list]], window_s: float,
                 x_range: tuple[str, str] | None = None, alerts: Sequence[dict] = (),
                 bands: dict[str, tuple[list, list]] | None = None) -> dict:
    """A figure with one strip per row, the row's warning and critical limits as lines, a
    marker at each of `alerts` raised on one of its traces, and its traces; `window_s`
    bounds how many live points each trace keeps. A trace with (min, max) in `bands` has
    that envelope behind its line: a bucket's mean hides a spike, its max does not."""
    layout: dict = {
        "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)",
        "font": {"color": TEXT, "size": 13, "family": "Inter, Segoe UI, Roboto, sans-serif"},
        "margin": {"l": 64, "r": 16, "t": 22, "b": 42}, "showlegend": False,
        "hovermode": "x unified", "uirevision": "keep",
        "xaxis": {"type": "date", "gridcolor": GRID, "linecolor": GRID, "showspikes": True,
                  "spikecolor": TEXT, "spikethickness": 1},
        **decorations(rows, traces_of, alerts)}
    # The time axis hangs under the bottom strip.
    layout["xaxis"]["anchor"] = "y" if len(rows) <= 1 else f"y{len(rows)}"
    if x_range:
        layout["xaxis"]["range"] = list(x_range)
    data = []
    for i, (row, (bottom, top)) in enumerate(zip(rows, _domains(len(rows)), strict=True)):
        axis = _axis(i)
        layout["yaxis" if i == 0 else f"yaxis{i + 1}"] = {
            "domain": [bottom, top], "anchor": "x", "gridcolor": GRID,
            "zeroline": False, "title": {"text": row.unit, "standoff": 4},
            "nticks": 4, "automargin": True}
        for j, tr in enumerate(traces_of.get(i, [])):
            times, values = history.get(tr.key, ([], []))
            p = next(p for p in row.params if p["key"] == tr.parameter)
            keep = max(10, math.ceil(window_s / p["period_s"]) + 5)
            if bands and tr.key in bands:
                data += envelope(tr, times, *bands[tr.key], axis, row.unit,
                                 COLOURS[j % len(COLOURS)])
            data.append({
                "type": "scattergl" if len(times) > 2000 else "scatter", "mode": "lines",
                "x": list(times), "y": list(values), "name": tr.name, "yaxis": axis,
                "meta": [tr.key, keep], "line": {
                    "width": 1.6, "color": COLOURS[j % len(COLOURS)],
                    "dash": "dot" if tr.compare else "solid"},
                "hovertemplate": f"%{{y}} {row.unit}<extra>{tr.name}</extra>"})
    return {"data": data, "layout": layout}


def envelope(tr: Trace, times: list, low: list, high: list, axis: str, unit: str,
             colour: str) -> list[dict]:
    """The min-max band of a bucketed trace: its min line, then its max line filled down
    to it ('tonexty'). No meta: the live charts' extension (assets/live.js) leaves them be."""
    red, green, blue = (int(colour[k:k + 2], 16) for k in (1, 3, 5))
    common = {"type": "scatter", "mode": "lines", "x": list(times), "yaxis": axis,
              "line": {"width": 0.5, "color": f"rgba({red},{green},{blue},0.45)"}}
    return [
        {**common, "y": list(low), "name": f"{tr.name} min",
         "hovertemplate": f"min %{{y}} {unit}<extra></extra>"},
        {**common, "y": list(high), "name": f"{tr.name} max", "fill": "tonexty",
         "fillcolor": f"rgba({red},{green},{blue},0.22)",
         "hovertemplate": f"max %{{y}} {unit}<extra></extra>"}]


def _axis(i: int) -> str:
    return "y" if i == 0 else f"y{i + 1}"


def _domains(n: int) -> list[tuple[float, float]]:
    """(bottom, top) of each strip, top strip first."""
    gap = 0.35 / n if n > 1 else 0
    height = (1 - gap * (n - 1)) / max(n, 1)
    tops = [1 - i * (height + gap) for i in range(n)]
    return [(max(top - height, 0), top) for top in tops]


def decorations(rows: list[pm.ChartRow], traces_of: dict[int, list[Trace]],
                alerts: Sequence[dict] = ()) -> dict:
    """The layout's shapes and annotations: each strip's title and limit lines, and a
    marker (a line and the severity's symbol, details on hover) at the raise time of each
    alert on one of its traces."""
    shapes: list[dict] = []
    notes: list[dict] = []
    for i, (row, (_, top)) in enumerate(zip(rows, _domains(len(rows)), strict=True)):
        axis = _axis(i)
        notes.append({
            "text": row.title, "xref": "paper", "yref": "paper", "x": 0, "y": top,
            "xanchor": "left", "yanchor": "bottom", "showarrow": False,
            "font": {"size": 13, "color": "#d7dee8"}})
        for level, band in (row.limits or {}).items():
            for edge in ("low", "high"):
                value = (band or {}).get(edge)
                if value is None:
                    continue
                shapes.append({
                    "type": "line", "xref": "paper", "x0": 0, "x1": 1, "yref": axis,
                    "y0": value, "y1": value, "layer": "below",
                    "line": {"color": LIMIT_COLOUR[level], "width": 1.5,
                             "dash": "dash" if level == "warning" else "solid"}})
        traces = {tr.key: tr for tr in traces_of.get(i, [])}
        params = {p["key"]: p for p in row.params}
        for a in alerts:
            tr = traces.get(pm.series_key(a.get("satellite"), a.get("station"),
                                          a.get("parameter") or ""))
            if tr is None:
                continue
            colour = LIMIT_COLOUR.get(a["severity"], TEXT)
            name = f"alert {a['id']}"
            shapes.append({
                "type": "line", "name": name, "xref": "x", "x0": a["raised"],
                "x1": a["raised"], "yref": f"{axis} domain", "y0": 0, "y1": 1,
                "line": {"color": colour, "width": 1.5, "dash": "dot"}})
            value = pm.format_value(params[tr.parameter], a.get("value"))
            notes.append({
                "name": name, "text": ALERT_SYMBOL.get(a["severity"], "◆"), "xref": "x",
                "x": a["raised"], "yref": f"{axis} domain", "y": 1, "yanchor": "top",
                "showarrow": False, "font": {"size": 15, "color": colour},
                "hovertext": f"{a['severity'].upper()} alert · {tr.name} {value} {row.unit}"
                             f" ({a.get('limit') or ''}) · raised {a['raised'][11:19]} UTC"})
    return {"shapes": shapes, "annotations": notes}


def alerts_between(start: str, end: str | None = None) -> list[dict]:
    """Alerts raised in [start, end] (end: now); live charts share one answer per minute."""
    if end is None:
        since = parse_time(start).replace(second=0, microsecond=0)
        found = api_client.recent_alerts(format_time(since))
    else:
        found = api_client.alerts("all", start=start, end=end, limit=2000)["alerts"]
    return [a for a in found if a["raised"] >= start and (end is None or a["raised"] <= end)]


def live_update(drawn: dict | None, rows: list[pm.ChartRow], traces_of: dict[int, list[Trace]],
                alerts: Sequence[dict], draw: Callable[[], dict]) -> tuple[Any, dict]:
    """A live chart's (figure, what it shows): when only its limit lines or alert markers
    changed since `drawn`, a Patch of those, leaving the traces alone; when nothing did,
    no update; else (first draw, or a new limit split or merged strips) `draw()`."""
    deco = decorations(rows, traces_of, alerts)
    shows = {"strips": [[r.title, r.unit, [p["key"] for p in r.params]] for r in rows],
             "marks": hashlib.blake2b(orjson.dumps(deco), digest_size=8).hexdigest()}
    if drawn and drawn.get("strips") == shows["strips"]:
        if drawn.get("marks") == shows["marks"]:
            return dash.no_update, dash.no_update
        patch = dash.Patch()
        patch["layout"]["shapes"] = deco["shapes"]
        patch["layout"]["annotations"] = deco["annotations"]
        return patch, shows
    return draw(), shows


def strip_height(rows: int) -> int:
    return 40 + rows * STRIP_PX
