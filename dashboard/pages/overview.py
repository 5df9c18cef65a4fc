"""Overview (/): both stations side by side, then both satellites' subsystem tiles."""

from __future__ import annotations

import datetime as dt

import dash
from dash import Input, Output, State, callback, dcc, html

from dashboard import api_client, live, monitor, panels
from dashboard.settings import get_settings
from dashboard.snapshot import Model, Snapshot, format_time, utc_now
from dashboard.widgets import (
    live_frame,
    model_output,
    prefilled,
    register_live,
    tick_input,
    waiting,
)

PAGE = "overview"
ECLIPSE_REFRESH_MS = 60_000


def layout(**_: str) -> html.Div:
    mission = api_client.mission()
    if mission is None:
        return waiting(get_settings().api_url)
    stations = sorted(mission["stations"],
                      key=lambda s: mission["stations"][s]["role"] != "primary")
    try:
        eclipses = next_eclipses()
    except api_client.ApiUnavailable:
        eclipses = {}
    with prefilled(live.tick(build(eclipses))):
        return _frame(mission, stations, eclipses)


def _frame(mission: dict, stations: list[str], eclipses: dict) -> html.Div:
    return live_frame(PAGE, [
        dcc.Store(id="ov-eclipses", data=eclipses),
        dcc.Interval(id="ov-eclipse-tick", interval=ECLIPSE_REFRESH_MS),
        monitor.strip(),
        html.Div([panels.station_panel(PAGE, mission, s) for s in stations],
                 className="kz-row kz-row-2"),
        html.Div([panels.satellite_summary(PAGE, mission, s) for s in mission["satellites"]],
                 className="kz-row kz-row-2"),
    ])


dash.register_page(__name__, path="/", name="Overview", title="KazSat · Overview",
                   order=0, layout=layout)


def build(eclipses: dict) -> live.Builder:
    def fill(snap: Snapshot, model: Model) -> None:
        for station in snap.mission["stations"]:
            panels.station_cells(snap, model, station)
        for sat in snap.mission["satellites"]:
            panels.satellite_summary_cells(snap, model, sat)
            panels.eclipse_cell(model, sat, eclipses.get(sat), snap.now)
    return fill


@callback(model_output(PAGE), tick_input(PAGE), State("ov-eclipses", "data"))
def tick(_: int, eclipses: dict | None) -> dict:
    return live.tick(build(eclipses or {}))


@callback(Output("ov-eclipses", "data"), Input("ov-eclipse-tick", "n_intervals"))
def refresh_eclipses(_: int) -> dict:
    """The current or next eclipse per satellite, refreshed each minute (not each tick)."""
    try:
        return next_eclipses()
    except api_client.ApiUnavailable:
        return dash.no_update


def next_eclipses() -> dict[str, dict]:
    """Per satellite, the eclipse it is in or the next one (the first paint shows it too)."""
    now = utc_now()
    found = api_client.eclipses(format_time(now), format_time(now + dt.timedelta(days=200)))
    out: dict[str, dict] = {}
    for e in sorted(found, key=lambda e: e.get("start", "")):
        sat = e.get("satellite")
        if sat and sat not in out and e.get("end", "") > format_time(now):
            out[sat] = {"start": e["start"], "end": e["end"]}
    return out


def live_page(path: str) -> live.LivePage | None:
    """The overview's live stream: every series (tiles show each subsystem's worst)."""
    if path.rstrip("/") != "":
        return None
    try:
        eclipses = next_eclipses()
    except api_client.ApiUnavailable:
        eclipses = {}
    return live.LivePage(build(eclipses), {})


register_live(PAGE)
live.register_stream(live_page)
