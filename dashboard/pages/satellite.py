"""Satellite page (/satellite/<id>): every parameter by subsystem with its state, a strip
chart per subsystem over the last 15 minutes with its limits, the transponder table and the
satellite's links."""

from __future__ import annotations

import datetime as dt

import dash
from dash import MATCH, Input, Output, callback, dcc, html

from backend.settings import get_settings
from dashboard import api_client, charts, live, panels
from dashboard import parameters as pm
from dashboard.snapshot import format_time, utc_now
from dashboard.widgets import (
    ids,
    live_frame,
    model_output,
    prefilled,
    register_live,
    state_tile,
    strip_chart,
    tick_input,
    value_cell,
    waiting,
)

PAGE = "satellite"
WINDOW = dt.timedelta(minutes=15)


def layout(satellite_id: str = "", **_: str) -> html.Div:
    mission = api_client.mission()
    if mission is None:
        return waiting(get_settings().api_url)
    if satellite_id not in mission["satellites"]:
        return html.Div(f"No satellite {satellite_id!r} in the mission.", className="kz-empty")
    with prefilled(live.tick(fill_for(satellite_id))):
        return _frame(mission, satellite_id)


def _frame(mission: dict, satellite_id: str) -> html.Div:
    s = mission["satellites"][satellite_id]
    sections = []
    for sub, info in pm.subsystems(mission, "satellite"):
        table = panels.transponder_table(PAGE, mission, satellite_id, sub) \
            or panels.subsystem_table(PAGE, mission, satellite_id, sub)
        rows = pm.chart_rows(pm.parameters(mission, sub, satellite_id))
        body = [table, html.Div(value_cell(PAGE, f"alarms|{satellite_id}|{sub}", size="sm"),
                                className="kz-alarms")]
        sections.append(html.Section([
            state_tile(PAGE, f"tile|{satellite_id}|{sub}", info["name"], body),
            html.Div([strip_chart(PAGE, sub, charts.strip_height(len(rows))),
                      dcc.Store(id=ids("chart-req", PAGE, sub),
                                data={"satellite": satellite_id, "subsystem": sub})])
            if rows else html.Div(),
        ], id=sub, className="kz-subsystem"))
    sections.append(html.Section([
        state_tile(PAGE, f"tile|{satellite_id}|link", "Links",
                   [panels.link_table(PAGE, mission, satellite_id)])], className="kz-row"))
    return live_frame(PAGE, [
        html.Div([html.Span(s["name"], className="kz-h2"),
                  html.Span(f"{s['longitude_deg']:.1f}° E · {s['transponders']} transponders · "
                            f"{s['builder']}", className="kz-sub"),
                  html.Div([html.Span("Prime", className="kz-fig-label"),
                            value_cell(PAGE, f"primeby|{satellite_id}")], className="kz-inline")],
                 className="kz-panel-head"),
        *sections,
    ])


dash.register_page(__name__, path_template="/satellite/<satellite_id>", name="Satellite",
                   title="KazSat · Satellite",
                   order=1, layout=layout)


@callback(model_output(PAGE), tick_input(PAGE), Input("kz-url", "pathname"))
def tick(_: int, pathname: str) -> dict:
    return live.tick(fill_for((pathname or "").rstrip("/").rsplit("/", 1)[-1]))


def fill_for(sat: str) -> live.Builder:
    def fill(snap: live.Snapshot, model: live.Model) -> None:
        if sat in snap.mission["satellites"]:
            panels.satellite_detail_cells(snap, model, sat)
            panels.satellite_summary_cells(snap, model, sat)
    return fill


def subsystem_figure(mission: pm.Mission, sat: str, sub: str, start: str, end: str = "now",
                     max_points: int = 1000, x_range: tuple[str, str] | None = None) -> dict:
    """A subsystem's strip chart over [start, end), history from /series."""
    rows = pm.chart_rows(pm.parameters(mission, sub, sat))
    traces_of = {i: [charts.Trace(pm.series_key(sat, None, p["key"]),
                                  f"#{p['n']}" if p.get("template") else pm.label(p),
                                  sat, None, p["key"]) for p in row.params]
                 for i, row in enumerate(rows)}
    history = charts.load_history([t for ts in traces_of.values() for t in ts], start, end,
                                  max_points)
    window = WINDOW.total_seconds()
    return charts.strip_figure(rows, traces_of, history, window, x_range)


@callback(Output(ids("chart", PAGE, MATCH), "figure"), Input(ids("chart-req", PAGE, MATCH), "data"))
def load_chart(req: dict) -> dict:
    """Each chart's history, fetched once when the page opens; ticks extend it."""
    mission = api_client.mission()
    if not req or mission is None:
        return dash.no_update
    now = utc_now()
    try:
        return subsystem_figure(mission, req["satellite"], req["subsystem"],
                                format_time(now - WINDOW))
    except api_client.ApiUnavailable:
        return dash.no_update


register_live(PAGE, charts=True)
