"""Replay page (/replay): pick a satellite, parameters and a time range, then drag a cursor
or play it at 1x-600x; the overview's panels and the satellite page's tables are drawn at
the cursor from /latest?at=..., marked REPLAY beyond doubt. The chart fetches finer data
from /series when zoomed; the download streams /api/v1/export through the dashboard
(dashboard/download.py).

URL: /replay?satellite=&station=&parameter=&t=RFC3339 (alert emails; `at` also works, the
alerts page links with it), and &start=&end= for a range."""

from __future__ import annotations

import datetime as dt

import dash
from dash import Input, Output, Patch, State, callback, ctx, dcc, html
from dash.exceptions import PreventUpdate

from dashboard import api_client, charts, download, live, panels
from dashboard import parameters as pm
from dashboard.settings import get_settings
from dashboard.snapshot import format_time, parse_time, utc_now
from dashboard.widgets import (
    ids,
    live_frame,
    model_output,
    prefilled,
    register_live,
    state_tile,
    value_cell,
    waiting,
)

PAGE = "replay"
DETAIL = "replay-sat"  # the satellite page's tables, drawn at the cursor
SPEEDS = (1, 10, 60, 600)
RANGES = {"hour": dt.timedelta(hours=1), "day": dt.timedelta(days=1),
          "week": dt.timedelta(days=7)}
CURSOR_COLOUR = "#9b7cff"
EVENTS_BACK = dt.timedelta(days=200)  # past eclipses offered as quick ranges
ECLIPSE_AHEAD = dt.timedelta(days=200)  # far enough to find the next eclipse season
MAX_POINTS = 1000


def _time(text: str | None) -> dt.datetime | None:
    try:
        return parse_time(text) if text else None
    except ValueError:
        return None


def _short(t: str) -> str:
    """'2026-11-25T10:00:00.000Z' -> '2026-11-25T10:00:00Z' for the range inputs."""
    return t[:19] + "Z"


def chosen_key(mission: dict, sat: str, station: str, parameter: str) -> str | None:
    """The series a deep link names, as a series key; None when the mission has none."""
    p = mission["parameters"].get(parameter)
    if p is None:
        return None
    entity = p["entity"]
    if entity == "satellite":
        return pm.series_key(sat, None, parameter)
    if station not in mission["stations"]:
        return None
    return pm.series_key(sat if entity == "link" else None, station, parameter)


def layout(satellite: str = "", station: str = "", parameter: str = "", t: str = "",
           at: str = "", start: str = "", end: str = "", **_: str) -> html.Div:
    mission = api_client.mission()
    if mission is None:
        return waiting(get_settings().api_url)
    sat = satellite if satellite in mission["satellites"] else next(iter(mission["satellites"]))
    now = utc_now().replace(microsecond=0)
    centre, first, last = _time(t or at), _time(start), _time(end)
    if first and last and last > first:
        cursor = centre if centre and first <= centre <= last else first
    elif centre:
        half = dt.timedelta(minutes=30)
        first, last, cursor = centre - half, centre + half, centre
    else:
        first, last = now - RANGES["hour"], now
        cursor = first
    key = chosen_key(mission, sat, station, parameter)
    if key:
        chosen = [key]
    else:
        sub = pm.subsystems(mission, "satellite")[0][0]
        chosen = [pm.series_key(sat, None, k) for k in pm.headlines(mission, sub)
                  if "{n}" not in k and mission["parameters"][k]["type"] in ("float", "int")][:2]
    state = {"start": format_time(first), "end": format_time(last),
             "cursor": format_time(cursor), "speed": 60}
    stations = sorted(mission["stations"],
                      key=lambda s: mission["stations"][s]["role"] != "primary")
    with prefilled(live.tick(summary_fill({}), at=state["cursor"])):
        panels_now = [
            html.Div([panels.station_panel(PAGE, mission, s) for s in stations],
                      className="kz-row kz-row-2"),
            html.Div([panels.satellite_summary(PAGE, mission, s) for s in mission["satellites"]],
                     className="kz-row kz-row-2")]
    return live_frame(PAGE, [
        html.Div([html.Span("◀◀ REPLAY", className="kz-replay-word"),
                  html.Span(cursor_text(state), id="rp-cursor-text"),
                  html.Span("not live — historical telemetry", className="kz-sub")],
                 className="kz-replay-mark"),
        html.Div([
            dcc.Dropdown(id="rp-satellite", value=sat, clearable=False,
                         options=[{"label": s["name"], "value": k}
                                  for k, s in mission["satellites"].items()],
                         style={"width": "150px"}),
            dcc.Dropdown(id="rp-parameters", value=chosen, multi=True,
                         options=options_for(mission, sat, chosen),
                         placeholder="parameters to chart and export…",
                         style={"minWidth": "420px", "flex": "1"}),
            export_controls(),
        ], className="kz-controls"),
        html.Div([
            html.Label(["from ", dcc.Input(id="rp-start", type="text", debounce=True,
                                           value=_short(state["start"]),
                                           className="kz-time-input")]),
            html.Label(["to ", dcc.Input(id="rp-end", type="text", debounce=True,
                                         value=_short(state["end"]),
                                         className="kz-time-input")]),
            *[html.Button(f"Last {name}", id=f"rp-last-{name}", className="kz-button")
              for name in RANGES],
            dcc.Dropdown(id="rp-event", placeholder="a past eclipse or alert…",
                         style={"width": "320px"}),
        ], className="kz-controls"),
        html.Div([
            html.Button("◀ step back", id="rp-back", className="kz-button"),
            html.Button("▶ play", id="rp-play", className="kz-button"),
            html.Button("❙❙ pause", id="rp-pause", className="kz-button"),
            html.Button("step ▶", id="rp-step", className="kz-button"),
            dcc.RadioItems(id="rp-speed", value=60, inline=True, className="kz-controls",
                           options=[{"label": f" {s}x", "value": s} for s in SPEEDS]),
            html.Div(dcc.Slider(id="rp-slider", min=0, value=_offset(state), step=1,
                                max=_span(state), marks=None, updatemode="mouseup",
                                allow_direct_input=False),
                     style={"flex": "1", "minWidth": "500px"}),
        ], className="kz-controls"),
        dcc.Store(id="rp-state", data=state),
        dcc.Store(id="rp-eclipses"),
        dcc.Store(id="rp-chart-meta"),
        dcc.Store(id="rp-drawn"),
        dcc.Store(id="rp-playing", data=False),
        dcc.Interval(id="rp-clock", interval=1000, disabled=True),
        html.Div([html.Span("", id="rp-resolution", className="kz-sub")],
                 className="kz-chart-note"),
        dcc.Graph(id="rp-chart", className="kz-chart", style={"height": "330px"},
                  config={"displaylogo": False}),
        *panels_now,
        dcc.Store(id=ids("model", DETAIL, "m")),
        html.Div(id=ids("sink", DETAIL, "s"), hidden=True),
        html.Div(detail(mission, sat, state["cursor"]), id="rp-detail"),
    ], extra_class="kz-replay")


dash.register_page(__name__, path="/replay", name="Replay", title="KazSat · Replay", order=4,
                   layout=layout)


def _span(state: dict) -> int:
    return int((parse_time(state["end"]) - parse_time(state["start"])).total_seconds())


def _offset(state: dict) -> int:
    return int((parse_time(state["cursor"]) - parse_time(state["start"])).total_seconds())


def cursor_text(state: dict, playing: bool = False) -> str:
    cursor = state["cursor"]
    return f"{cursor[:10]}  {cursor[11:19]} UTC · {state['speed']}x" \
           f"{' · playing' if playing else ' · paused'}"


# ---- the satellite page's tables at the cursor ----------------------------------------


def detail_fill(sat: str) -> live.Builder:
    def fill(snap: live.Snapshot, model: live.Model) -> None:
        if sat in snap.mission["satellites"]:
            panels.satellite_detail_cells(snap, model, sat)
    return fill


def detail(mission: dict, sat: str, cursor: str) -> html.Section:
    """Every parameter of the satellite, by subsystem, and its links: the satellite page's
    tables, filled at the cursor."""
    with prefilled(live.tick(detail_fill(sat), at=cursor)):
        tiles = []
        for sub, info in pm.subsystems(mission, "satellite"):
            table = panels.transponder_table(DETAIL, mission, sat, sub) \
                or panels.subsystem_table(DETAIL, mission, sat, sub)
            tiles.append(state_tile(DETAIL, f"tile|{sat}|{sub}", info["name"], [
                table, html.Div(value_cell(DETAIL, f"alarms|{sat}|{sub}", size="sm"),
                                className="kz-alarms")]))
        tiles.append(state_tile(DETAIL, f"tile|{sat}|link", "Links",
                                [panels.link_table(DETAIL, mission, sat)]))
    return html.Section([
        html.Div(html.Span(f"{mission['satellites'][sat]['name']} · every parameter at the "
                           "cursor", className="kz-h2"), className="kz-panel-head"),
        html.Div(tiles, className="kz-detail-grid")], className="kz-panel kz-replay-detail")


@callback(Output("rp-detail", "children"), Input("rp-satellite", "value"),
          State("rp-state", "data"), prevent_initial_call=True)
def detail_for(sat: str, state: dict) -> object:
    mission = api_client.mission()
    if mission is None or sat not in mission["satellites"]:
        return dash.no_update
    try:
        return detail(mission, sat, state["cursor"])
    except api_client.ApiUnavailable:
        return dash.no_update


# ---- choices --------------------------------------------------------------------------


@callback(Output("rp-parameters", "options"), Input("rp-satellite", "value"),
          State("rp-parameters", "value"), prevent_initial_call=True)
def parameter_options(sat: str, chosen: list[str] | None) -> list[dict]:
    mission = api_client.mission()
    return options_for(mission, sat, chosen) if mission else dash.no_update


def options_for(mission: dict, sat: str, chosen: list[str] | None) -> list[dict]:
    """Every numeric series of the satellite, its links per station, and the stations'
    equipment; series already chosen stay offered."""
    out = []
    for entity in ("satellite", "link", "station"):
        for sub, info in pm.subsystems(mission, entity):
            for p in pm.parameters(mission, sub, sat if entity == "satellite" else None):
                if p["type"] not in ("float", "int"):
                    continue
                for sta in ([None] if entity == "satellite" else mission["stations"]):
                    where = mission["stations"][sta]["name"] + " · " if sta else ""
                    out.append({"label": f"{where}{info['name']} · {pm.label(p)}",
                                "value": pm.series_key(sat if entity != "station" else None,
                                                       sta, p["key"])})
    known = {o["value"] for o in out}
    out += [{"label": k.replace("|", " · ").strip(" ·"), "value": k}
            for k in chosen or [] if k not in known]
    return out


@callback(Output("rp-event", "options"), Input("rp-satellite", "value"))
def event_options(sat: str) -> list[dict]:
    """Past eclipses and alerts of the satellite, newest first, as quick ranges."""
    now = utc_now()
    out = []
    try:
        for e in api_client.eclipses(format_time(now - EVENTS_BACK), format_time(now)):
            if e.get("satellite") == sat and e.get("end", "") < format_time(now):
                out.append({"label": f"eclipse {e['start'][:16].replace('T', ' ')} UTC · "
                                     f"{round(e.get('duration_s', 0) / 60)} min",
                            "value": f"{e['start']}/{e['end']}", "t": e["start"]})
        for a in api_client.alerts("all", satellite=sat, limit=30).get("alerts", []):
            out.append({"label": f"alert {a['raised'][:16].replace('T', ' ')} UTC · "
                                 f"{a.get('severity', '')} {a['parameter']}",
                        "value": f"{a['raised']}/{a.get('cleared') or a['raised']}",
                        "t": a["raised"]})
    except api_client.ApiUnavailable:
        return dash.no_update
    out.sort(key=lambda o: o.pop("t"), reverse=True)
    return out[:60]


# ---- the replay state: range, cursor, speed; playing apart -----------------------------


@callback(Output("rp-playing", "data"), Input("rp-play", "n_clicks"),
          Input("rp-pause", "n_clicks"), prevent_initial_call=True)
def play_pause(play: int, pause: int) -> bool:
    """Playing is its own store, written only here (and at the end of the range): a clock
    step in flight when pause is clicked cannot start playing again."""
    return ctx.triggered_id == "rp-play"


@callback(Output("rp-clock", "disabled"), Input("rp-playing", "data"))
def clock_running(playing: bool) -> bool:
    return not playing


@callback(
    output=[Output("rp-state", "data"), Output("rp-playing", "data", allow_duplicate=True),
            Output("rp-slider", "max"), Output("rp-slider", "value"),
            Output("rp-start", "value"), Output("rp-end", "value")],
    inputs={"clock": Input("rp-clock", "n_intervals"), "play": Input("rp-play", "n_clicks"),
            "step": Input("rp-step", "n_clicks"),
            "back": Input("rp-back", "n_clicks"), "speed": Input("rp-speed", "value"),
            "slider": Input("rp-slider", "value"), "event": Input("rp-event", "value"),
            "start_text": Input("rp-start", "value"), "end_text": Input("rp-end", "value"),
            "last": [Input(f"rp-last-{name}", "n_clicks") for name in RANGES],
            "state": State("rp-state", "data"), "drawn": State("rp-drawn", "data"),
            "playing": State("rp-playing", "data")},
    prevent_initial_call=True)
def control(clock: int, play: int, step: int, back: int, speed: int,
            slider: float | None, event: str | None, start_text: str, end_text: str,
            last: list, state: dict, drawn: str | None, playing: bool) -> tuple:
    """Every control moves one thing: the replay state (range, cursor, speed). Playing
    steps only once the panels show the cursor, so that a slow machine plays slower
    rather than skipping frames; it stops at the end of the range."""
    if ctx.triggered_id == "rp-clock" and (not playing or drawn != state["cursor"]):
        raise PreventUpdate
    state = dict(state)
    start, end = parse_time(state["start"]), parse_time(state["end"])
    cursor = parse_time(state["cursor"])
    trigger = ctx.triggered_id
    state["speed"] = speed = int(speed or 60)
    if trigger == "rp-clock":
        cursor += dt.timedelta(seconds=speed)
    elif trigger == "rp-play":
        if cursor >= end:
            cursor = start  # play again from the start
    elif trigger in ("rp-step", "rp-back"):
        cursor += dt.timedelta(seconds=speed if trigger == "rp-step" else -speed)
    elif trigger == "rp-slider" and slider is not None:
        cursor = start + dt.timedelta(seconds=float(slider))
    elif trigger == "rp-event" and event:
        first, final = (parse_time(x) for x in str(event).split("/"))
        pad = max((final - first) * 0.25, dt.timedelta(minutes=10))
        start, end, cursor = first - pad, final + pad, first - pad
    elif trigger in ("rp-start", "rp-end"):
        first, final = _time(start_text), _time(end_text)
        if first and final and final > first:
            start, end = first, final
    elif isinstance(trigger, str) and trigger.startswith("rp-last-"):
        end = utc_now().replace(microsecond=0)
        start = end - RANGES[trigger.removeprefix("rp-last-")]
        cursor = start
    stop = dash.no_update
    if cursor >= end:
        cursor = end
        if trigger == "rp-clock":
            stop = False
    cursor = max(cursor, start)
    state.update(start=format_time(start), end=format_time(end), cursor=format_time(cursor))
    return (state, stop, _span(state), _offset(state),
            _short(state["start"]), _short(state["end"]))


@callback(Output("rp-eclipses", "data"), Input("rp-state", "data"),
          State("rp-eclipses", "data"))
def eclipses_for(state: dict, known: dict | None) -> object:
    """Eclipses around the range, per satellite, fetched when the range changes: the
    panels' 'next eclipse' or 'time left in this one' at the cursor."""
    span = [state["start"], state["end"]]
    if known and known.get("range") == span:
        return dash.no_update
    first = parse_time(state["start"]) - dt.timedelta(days=1)
    final = min(parse_time(state["end"]) + ECLIPSE_AHEAD, first + dt.timedelta(days=399))
    try:
        found = api_client.eclipses(format_time(first), format_time(final))
    except api_client.ApiUnavailable:
        return dash.no_update
    by_sat: dict[str, list] = {}
    for e in sorted(found, key=lambda e: e.get("start", "")):
        by_sat.setdefault(e.get("satellite", ""), []).append(
            {"start": e["start"], "end": e["end"]})
    return {"range": span, "by_sat": by_sat}


def summary_fill(eclipses: dict) -> live.Builder:
    """The overview's panels at the cursor, with each satellite's eclipse then."""
    def fill(snap: live.Snapshot, model: live.Model) -> None:
        t = snap.at or snap.now
        for station in snap.mission["stations"]:
            panels.station_cells(snap, model, station)
        for sat in snap.mission["satellites"]:
            panels.satellite_summary_cells(snap, model, sat)
            ahead = [e for e in eclipses.get(sat, []) if e["end"] > t]
            if sat in eclipses:
                panels.eclipse_cell(model, sat, ahead[0] if ahead else None, t)
            else:
                model.cell(f"eclipse|{sat}", "—", None)
    return fill


@callback(model_output(PAGE), Output(ids("model", DETAIL, "m"), "data"),
          Output("rp-cursor-text", "children"), Output("rp-drawn", "data"),
          Input("rp-state", "data"), Input("rp-eclipses", "data"),
          Input("rp-playing", "data"), State("rp-satellite", "value"))
def tick(state: dict, eclipses: dict | None, playing: bool, sat: str) -> tuple:
    """The panels and tables at the cursor: one /latest?at= request per cursor step."""
    cursor = state["cursor"]
    summary = live.tick(summary_fill((eclipses or {}).get("by_sat", {})), at=cursor)
    if "cells" in summary:  # the API counts open alerts now, not at the cursor: say nothing
        summary["cells"]["banner|alerts"] = ["", "u"]
    tables = live.tick(detail_fill(sat), at=cursor)  # the same answer, cached
    return summary, tables, cursor_text(state, bool(playing)), cursor


# ---- the chart ------------------------------------------------------------------------


def traces_for(mission: dict, keys: list[str]) -> tuple[list[pm.ChartRow], dict]:
    """Strips for the chosen series, and the traces of each strip."""
    traces = []
    for key in keys or []:
        sat, sta, parameter = key.split("|")
        p = mission["parameters"].get(parameter)
        if p is None or p["type"] not in ("float", "int"):
            continue
        name = pm.label(p) + (f" · {mission['stations'][sta]['name']}"
                              if sta in mission["stations"] else "")
        traces.append(charts.Trace(key, name, sat or None, sta or None, parameter))
    params = list({t.parameter: mission["parameters"][t.parameter] for t in traces}.values())
    rows = pm.chart_rows(params)
    traces_of = {i: [t for t in traces if t.parameter in {p["key"] for p in row.params}]
                 for i, row in enumerate(rows)}
    return rows, traces_of


def _zoom(relayout: dict | None) -> tuple[str, str] | bool | None:
    """The x range a relayout asks for; None for 'show it all'; False when it is about
    something else (a resize, a y zoom)."""
    if not relayout:
        return False
    if "xaxis.range[0]" in relayout and "xaxis.range[1]" in relayout:
        return _iso(relayout["xaxis.range[0]"]), _iso(relayout["xaxis.range[1]"])
    if isinstance(relayout.get("xaxis.range"), list) and len(relayout["xaxis.range"]) == 2:
        return _iso(relayout["xaxis.range"][0]), _iso(relayout["xaxis.range"][1])
    if relayout.get("xaxis.autorange"):
        return None
    return False


@callback(Output("rp-chart", "figure"), Output("rp-chart-meta", "data"),
          Output("rp-resolution", "children"),
          Input("rp-parameters", "value"), Input("rp-state", "data"),
          Input("rp-chart", "relayoutData"), State("rp-chart-meta", "data"))
def chart(keys: list[str], state: dict, relayout: dict | None, meta: dict | None) -> tuple:
    """The chosen series over the range with the alerts raised in it marked; zooming
    fetches finer data for what is shown; moving the cursor only moves its line."""
    mission = api_client.mission()
    nothing = dash.no_update, dash.no_update, dash.no_update
    if mission is None:
        return nothing
    span = [state["start"], state["end"]]
    if ctx.triggered_id == "rp-state" and meta and meta.get("range") == span:
        patch = Patch()
        patch["layout"]["shapes"][-1]["x0"] = state["cursor"]
        patch["layout"]["shapes"][-1]["x1"] = state["cursor"]
        return patch, dash.no_update, dash.no_update
    start, end = state["start"], state["end"]
    x_range = None
    if ctx.triggered_id == "rp-chart":
        zoom = _zoom(relayout)
        if zoom is False:
            return nothing
        if zoom:
            start, end = x_range = zoom
            if parse_time(end) <= parse_time(start):
                return nothing
    elif meta and meta.get("range") == span and meta.get("zoom"):
        start, end = x_range = tuple(meta["zoom"])  # new parameters: keep the zoom
    rows, traces_of = traces_for(mission, keys)
    resolution: dict[str, tuple[str, float | None]] = {}
    bands: dict[str, tuple[list, list]] = {}
    try:
        history = charts.load_history([t for ts in traces_of.values() for t in ts], start,
                                      end, MAX_POINTS, resolution, bands)
        alerts = charts.alerts_between(start, end)
    except api_client.ApiUnavailable:
        return nothing
    fig = charts.strip_figure(rows, traces_of, history, 0, x_range or (start, end), alerts,
                              bands)
    fig["layout"]["uirevision"] = "/".join(span)
    fig["layout"]["shapes"].append({
        "type": "line", "xref": "x", "yref": "paper", "x0": state["cursor"],
        "x1": state["cursor"], "y0": 0, "y1": 1, "line": {"color": CURSOR_COLOUR, "width": 2}})
    return fig, {"range": span, "zoom": list(x_range) if x_range else None}, \
        resolution_text(resolution, start, end, zoomed=bool(x_range))


def resolution_text(resolution: dict, start: str, end: str, zoomed: bool) -> str:
    """What the chart shows: raw samples, or buckets (mean line, min-max band) of which
    width."""
    kinds = set(resolution.values())
    if not kinds:
        return "no parameters chosen"
    shown = f"{start[:19].replace('T', ' ')} – {end[:19].replace('T', ' ')} UTC"
    if all(r == "samples" for r, _ in kinds):
        what = "raw samples"
    else:
        widths = sorted({b for r, b in kinds if r != "samples" and b})
        what = "mean and min–max of " + ", ".join(_duration(b) for b in widths) + " buckets"
    return f"{shown} · {what}{' · zoomed (double-click to show the whole range)' if zoomed else ''}"


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)} {unit}"
    return f"{seconds:.3g} s"


def _iso(value: str) -> str:
    """Plotly's axis range ('2026-11-25 10:00:00.5') as RFC 3339 UTC."""
    text = str(value).replace(" ", "T")
    return text if text.endswith("Z") else text + "Z"


# ---- export ---------------------------------------------------------------------------


def export_controls() -> html.Div:
    """Resolution and format of the download, and the link itself: a plain link to the
    dashboard's streaming route (dashboard/download.py), its query kept in step with the
    page's choices in the browser (assets/live.js: exportHref), not by a server round trip
    at every step of playback."""
    def choice(id_: str, options: dict[str, str], width: str) -> dcc.Dropdown:
        return dcc.Dropdown(id=id_, value=next(iter(options)), clearable=False,
                            searchable=False, style={"width": width},
                            options=[{"label": v, "value": k} for k, v in options.items()])

    return html.Div([
        html.Label("export"), choice("rp-export-resolution", download.RESOLUTIONS, "150px"),
        html.Label("as"), choice("rp-export-format", download.FORMATS, "110px"),
        html.A("⤓ Download", id="rp-download", className="kz-button kz-download")],
        className="kz-export")


dash.clientside_callback(dash.ClientsideFunction("kazsat", "exportHref"),
                         Output("rp-download", "href"), Output("rp-download", "className"),
                         Input("rp-parameters", "value"), Input("rp-state", "data"),
                         Input("rp-export-resolution", "value"),
                         Input("rp-export-format", "value"))


register_live(PAGE)
dash.clientside_callback(dash.ClientsideFunction("kazsat", "cells"),
                         Output(ids("sink", DETAIL, "s"), "children"),
                         Input(ids("model", DETAIL, "m"), "data"))
