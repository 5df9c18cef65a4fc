"""Station page (/station/<id>): the station's equipment and its link to each satellite over
the last hour, with the other station's same figures overlaid on request."""

from __future__ import annotations

import datetime as dt

import dash
from dash import MATCH, Input, Output, State, callback, ctx, dcc, html

from dashboard import api_client, charts, live, panels
from dashboard import parameters as pm
from dashboard.settings import get_settings
from dashboard.snapshot import format_time, utc_now
from dashboard.widgets import (
    ids,
    limits_text,
    live_frame,
    model_output,
    param_row,
    prefilled,
    register_live,
    slow_id,
    slow_input,
    state_tile,
    strip_chart,
    tick_input,
    waiting,
)

PAGE = "station"
WINDOW = dt.timedelta(hours=1)


def _equipment(mission: pm.Mission) -> list[dict]:
    return [p for sub, _ in pm.subsystems(mission, "station") for p in pm.parameters(mission, sub)]


def layout(station_id: str = "", **_: str) -> html.Div:
    mission = api_client.mission()
    if mission is None:
        return waiting(get_settings().api_url)
    if station_id not in mission["stations"]:
        return html.Div(f"No station {station_id!r} in the mission.", className="kz-empty")
    with prefilled(live.tick(fill)):
        return _frame(mission, station_id)


def _frame(mission: dict, station_id: str) -> html.Div:
    st = mission["stations"][station_id]
    others = [s for s in mission["stations"] if s != station_id]
    equipment = html.Table(html.Tbody([
        param_row(PAGE, pm.series_key(None, station_id, p["key"]), pm.label(p), p.get("unit", ""),
                  limits_text(p)) for p in _equipment(mission)]), className="kz-table")
    eq_rows = pm.chart_rows(_equipment(mission))
    sections = [html.Section([
        state_tile(PAGE, f"tile|{station_id}", "Equipment", [equipment]),
        _chart(station_id, "equipment", len(eq_rows)),
    ], className="kz-subsystem")]
    link_params = pm.parameters(mission, "link")
    link_rows = pm.chart_rows(link_params)
    for sat, s in mission["satellites"].items():
        table = html.Table(html.Tbody([
            param_row(PAGE, pm.series_key(sat, station_id, p["key"]), pm.label(p),
                      p.get("unit", ""), limits_text(p)) for p in link_params]),
            className="kz-table")
        sections.append(html.Section([
            html.Div([html.Div([html.Span(f"Link → {s['name']}", className="kz-h3"),
                                panels.prime_badge(PAGE, station_id, sat)],
                               className="kz-link-head"),
                      state_tile(PAGE, f"tile|{station_id}|{sat}", "Link", [table])]),
            _chart(station_id, sat, len(link_rows)),
        ], className="kz-subsystem"))
    return live_frame(PAGE, [
        html.Div([html.Span(st["name"], className="kz-h2"),
                  html.Span(st["role"].upper(), className=f"kz-role kz-role-{st['role']}"),
                  html.Span(f"{st['region']} · {st['latitude_deg']:.1f}° N "
                            f"{st['longitude_deg']:.1f}° E", className="kz-sub"),
                  dcc.Checklist(id="st-compare", className="kz-controls",
                                options=[{"label": f" overlay {mission['stations'][o]['name']}"
                                          " (dotted)", "value": o} for o in others],
                                value=[], inline=True)],
                 className="kz-panel-head"),
        *sections,
    ])


dash.register_page(__name__, path_template="/station/<station_id>", name="Station",
                   title="KazSat · Station",
                   order=2, layout=layout)


def _chart(station: str, what: str, rows: int) -> html.Div:
    return strip_chart(PAGE, what, charts.strip_height(rows), {"station": station, "what": what})


@callback(model_output(PAGE), tick_input(PAGE))
def tick(_: int) -> dict:
    return live.tick(fill)


def fill(snap: live.Snapshot, model: live.Model) -> None:
    # Both stations: the compared one's traces extend from the same tick.
    for station in snap.mission["stations"]:
        panels.station_cells(snap, model, station)
        for sat in snap.mission["satellites"]:
            for p in pm.parameters(snap.mission, "link"):
                model.series(snap, pm.series_key(sat, station, p["key"]))


@callback(Output(ids("chart", PAGE, MATCH), "figure"),
          Output(ids("chart-drawn", PAGE, MATCH), "data"),
          Input(ids("chart-req", PAGE, MATCH), "data"), Input("st-compare", "value"),
          slow_input(PAGE), State(ids("chart-drawn", PAGE, MATCH), "data"))
def load_chart(req: dict, compare: list[str], _: int, drawn: dict | None) -> tuple:
    """A chart's last hour for this station, and for the compared ones dotted; on the slow
    timer its limit lines and alert markers follow the API's."""
    mission = api_client.mission()
    if not req or mission is None:
        return dash.no_update, dash.no_update
    station, what = req["station"], req["what"]
    sat = None if what == "equipment" else what
    params = _equipment(mission) if sat is None else pm.parameters(mission, "link")
    rows = pm.chart_rows(params)
    names = mission["stations"]
    traces_of = {i: [charts.Trace(pm.series_key(sat, st, p["key"]),
                                  f"{names[st]['name']} {pm.label(p)}", sat, st, p["key"],
                                  compare=st != station)
                     for st in [station, *(compare or [])] for p in row.params]
                 for i, row in enumerate(rows)}
    start = format_time(utc_now() - WINDOW)

    def draw() -> dict:
        history = charts.load_history([t for ts in traces_of.values() for t in ts], start)
        return charts.strip_figure(rows, traces_of, history, WINDOW.total_seconds(),
                                   alerts=alerts)

    try:
        alerts = charts.alerts_between(start)
        return charts.live_update(drawn if ctx.triggered_id == slow_id(PAGE) else None,
                                  rows, traces_of, alerts, draw)
    except api_client.ApiUnavailable:
        return dash.no_update, dash.no_update


def live_page(path: str) -> live.LivePage | None:
    """A station page's live stream: every series (both stations' links are drawn)."""
    head, _, station = path.rstrip("/").rpartition("/")
    return live.LivePage(fill, {}, charts=True) if head == "/station" and station else None


register_live(PAGE, charts=True)
live.register_stream(live_page)
live.register_limits(PAGE)
