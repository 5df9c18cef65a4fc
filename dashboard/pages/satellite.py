"""Satellite page (/satellite/<id>): every parameter by subsystem with its state, a strip
chart per subsystem over the last 15 minutes with its limits, the transponder table and the
satellite's links."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import dash
from dash import MATCH, Input, Output, State, callback, ctx, html

from dashboard import api_client, charts, live, panels
from dashboard import parameters as pm
from dashboard.settings import get_settings
from dashboard.snapshot import format_time, utc_now
from dashboard.widgets import (
    ids,
    live_frame,
    model_output,
    prefilled,
    register_live,
    slow_id,
    slow_input,
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
            strip_chart(PAGE, sub, charts.strip_height(len(rows)),
                        {"satellite": satellite_id, "subsystem": sub})
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


def subsystem_traces(mission: pm.Mission, sat: str, sub: str
                     ) -> tuple[list[pm.ChartRow], dict[int, list[charts.Trace]]]:
    """A subsystem's strips (by its effective limits) and the traces of each."""
    rows = pm.chart_rows(pm.parameters(mission, sub, sat))
    traces_of = {i: [charts.Trace(pm.series_key(sat, None, p["key"]),
                                  f"#{p['n']}" if p.get("template") else pm.label(p),
                                  sat, None, p["key"]) for p in row.params]
                 for i, row in enumerate(rows)}
    return rows, traces_of


def subsystem_figure(mission: pm.Mission, sat: str, sub: str, start: str,
                     alerts: Sequence[dict] = ()) -> dict:
    """A subsystem's strip chart since `start`, history from /series."""
    rows, traces_of = subsystem_traces(mission, sat, sub)
    history = charts.load_history([t for ts in traces_of.values() for t in ts], start)
    return charts.strip_figure(rows, traces_of, history, WINDOW.total_seconds(),
                               alerts=alerts)


@callback(Output(ids("chart", PAGE, MATCH), "figure"),
          Output(ids("chart-drawn", PAGE, MATCH), "data"),
          Input(ids("chart-req", PAGE, MATCH), "data"), slow_input(PAGE),
          State(ids("chart-drawn", PAGE, MATCH), "data"))
def load_chart(req: dict, _: int, drawn: dict | None) -> tuple:
    """Each chart's history, fetched once when the page opens (ticks extend it); on the
    slow timer its limit lines and alert markers follow the API's."""
    mission = api_client.mission()
    if not req or mission is None:
        return dash.no_update, dash.no_update
    sat, sub = req["satellite"], req["subsystem"]
    start = format_time(utc_now() - WINDOW)
    try:
        alerts = charts.alerts_between(start)
        return charts.live_update(
            drawn if ctx.triggered_id == slow_id(PAGE) else None,
            *subsystem_traces(mission, sat, sub), alerts,
            lambda: subsystem_figure(mission, sat, sub, start, alerts=alerts))
    except api_client.ApiUnavailable:
        return dash.no_update, dash.no_update


def live_page(path: str) -> live.LivePage | None:
    """A satellite page's live stream: the satellite's series (its links' too)."""
    head, _, sat = path.rstrip("/").rpartition("/")
    if head != "/satellite" or not sat:
        return None
    return live.LivePage(fill_for(sat), {"satellite": sat}, charts=True)


register_live(PAGE, charts=True)
live.register_stream(live_page)
live.register_limits(PAGE)
