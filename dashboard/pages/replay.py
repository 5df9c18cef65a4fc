"""Replay page (/replay): pick a satellite, parameters and a time range, then drag a cursor
or play it at 1x-600x; the overview's panels and the satellite's tables are drawn at the
cursor from /latest?at=..., marked REPLAY beyond doubt. The chart fetches finer data from
/series when zoomed; CSV comes from /api/v1/export.

URL: /replay?satellite=&station=&parameter=&at=RFC3339 (the alerts page links here)."""

from __future__ import annotations

import datetime as dt

import dash
from dash import Input, Output, Patch, State, callback, ctx, dcc, html

from backend.settings import get_settings
from dashboard import api_client, charts, live, panels
from dashboard import parameters as pm
from dashboard.snapshot import format_time, parse_time, utc_now
from dashboard.widgets import live_frame, model_output, register_live, waiting

PAGE = "replay"
SPEEDS = (1, 10, 60, 600)
RANGES = {"hour": dt.timedelta(hours=1), "day": dt.timedelta(days=1),
          "week": dt.timedelta(days=7)}
CURSOR_COLOUR = "#9b7cff"


def layout(satellite: str = "", station: str = "", parameter: str = "", at: str = "",
           **_: str) -> html.Div:
    mission = api_client.mission()
    if mission is None:
        return waiting(get_settings().api_url)
    sat = satellite if satellite in mission["satellites"] else next(iter(mission["satellites"]))
    now = utc_now().replace(microsecond=0)
    try:
        centre = parse_time(at) if at else None
    except ValueError:
        centre = None
    if centre:
        half = dt.timedelta(minutes=30)
        start, end, cursor = centre - half, centre + half, centre
    else:
        start, end, cursor = now - RANGES["hour"], now, now - RANGES["hour"]
    chosen = [parameter] if parameter in mission["parameters"] else \
        [k for k in pm.headlines(mission, "power") if "{n}" not in k][:2]
    state = {"start": format_time(start), "end": format_time(end), "cursor": format_time(cursor),
             "playing": False, "speed": 60, "station": station or None}
    stations = sorted(mission["stations"],
                      key=lambda s: mission["stations"][s]["role"] != "primary")
    return live_frame(PAGE, [
        html.Div([html.Span("◀◀ REPLAY", className="kz-replay-word"),
                  html.Span("", id="rp-cursor-text"),
                  html.Span("not live — historical telemetry", className="kz-sub")],
                 className="kz-replay-mark"),
        html.Div([
            dcc.Dropdown(id="rp-satellite", value=sat, clearable=False,
                         options=[{"label": s["name"], "value": k}
                                  for k, s in mission["satellites"].items()],
                         style={"width": "150px"}),
            dcc.Dropdown(id="rp-parameters", value=chosen, multi=True,
                         style={"minWidth": "420px", "flex": "1"}),
            *[html.Button(f"Last {name}", id=f"rp-last-{name}", className="kz-button")
              for name in RANGES],
            dcc.Dropdown(id="rp-event", placeholder="a past eclipse or alert…",
                         style={"width": "300px"}),
            html.Button("Download CSV", id="rp-csv", className="kz-button"),
            dcc.Download(id="rp-download"),
        ], className="kz-controls"),
        html.Div([
            html.Button("◀ step back", id="rp-back", className="kz-button"),
            html.Button("▶ play", id="rp-play", className="kz-button"),
            html.Button("❙❙ pause", id="rp-pause", className="kz-button"),
            html.Button("step ▶", id="rp-step", className="kz-button"),
            dcc.RadioItems(id="rp-speed", value=60, inline=True, className="kz-controls",
                           options=[{"label": f" {s}x", "value": s} for s in SPEEDS]),
            html.Div(dcc.Slider(id="rp-slider", min=0, max=1, value=0, step=1, marks=None,
                                updatemode="mouseup", allow_direct_input=False),
                     style={"flex": "1", "minWidth": "500px"}),
            html.Span("", id="rp-status", className="kz-sub"),
        ], className="kz-controls"),
        dcc.Store(id="rp-state", data=state),
        dcc.Interval(id="rp-clock", interval=1000, disabled=True),
        dcc.Graph(id="rp-chart", className="kz-chart", style={"height": "330px"},
                  config={"displaylogo": False}),
        html.Div([panels.station_panel(PAGE, mission, s) for s in stations],
                 className="kz-row kz-row-2"),
        html.Div([panels.satellite_summary(PAGE, mission, s) for s in mission["satellites"]],
                 className="kz-row kz-row-2"),
    ], extra_class="kz-replay")


dash.register_page(__name__, path="/replay", name="Replay", title="KazSat · Replay", order=4,
                   layout=layout)


@callback(Output("rp-parameters", "options"), Input("rp-satellite", "value"))
def parameter_options(sat: str) -> list[dict]:
    mission = api_client.mission() or {"parameters": {}, "subsystems": {}}
    out = []
    for sub, info in pm.subsystems(mission, "satellite"):
        for p in pm.parameters(mission, sub, sat):
            if p["type"] in ("float", "int"):
                out.append({"label": f"{info['name']} · {pm.label(p)}", "value": p["key"]})
    return out


@callback(Output("rp-event", "options"), Input("rp-satellite", "value"))
def event_options(sat: str) -> list[dict]:
    """Past eclipses and alerts of the satellite, as quick ranges."""
    now = utc_now()
    out = []
    try:
        for e in api_client.eclipses(format_time(now - dt.timedelta(days=60)), format_time(now)):
            if e.get("satellite") == sat and e.get("end", "") < format_time(now):
                out.append({"label": f"eclipse {e['start'][:16].replace('T', ' ')}",
                            "value": f"{e['start']}/{e['end']}"})
        for a in api_client.alerts("all", satellite=sat, limit=30).get("alerts", []):
            out.append({"label": f"alert {a['raised'][:16].replace('T', ' ')} {a['parameter']}",
                        "value": f"{a['raised']}/{a.get('cleared') or a['raised']}"})
    except api_client.ApiUnavailable:
        return dash.no_update
    return out[-60:]


@callback(Output("rp-state", "data"), Output("rp-clock", "disabled"),
          Output("rp-slider", "max"), Output("rp-slider", "value"),
          Input("rp-clock", "n_intervals"), Input("rp-play", "n_clicks"),
          Input("rp-pause", "n_clicks"), Input("rp-step", "n_clicks"),
          Input("rp-back", "n_clicks"), Input("rp-speed", "value"),
          Input("rp-slider", "value"), Input("rp-event", "value"),
          *[Input(f"rp-last-{name}", "n_clicks") for name in RANGES],
          State("rp-state", "data"))
def control(*args: object) -> tuple:
    """Every control moves one thing: the replay state (range, cursor, speed, playing)."""
    state = dict(args[-1])
    start, end = parse_time(state["start"]), parse_time(state["end"])
    cursor = parse_time(state["cursor"])
    trigger = ctx.triggered_id
    speed = int(args[5] or 60)
    state["speed"] = speed
    if trigger == "rp-clock":
        cursor += dt.timedelta(seconds=speed)
    elif trigger == "rp-play":
        state["playing"] = True
    elif trigger == "rp-pause":
        state["playing"] = False
    elif trigger in ("rp-step", "rp-back"):
        cursor += dt.timedelta(seconds=speed if trigger == "rp-step" else -speed)
    elif trigger == "rp-slider" and args[6] is not None:
        cursor = start + dt.timedelta(seconds=float(args[6]))
    elif trigger == "rp-event" and args[7]:
        first, last = (parse_time(x) for x in str(args[7]).split("/"))
        pad = max((last - first) * 0.25, dt.timedelta(minutes=10))
        start, end, cursor = first - pad, last + pad, first - pad
    elif isinstance(trigger, str) and trigger.startswith("rp-last-"):
        end = utc_now().replace(microsecond=0)
        start = end - RANGES[trigger.removeprefix("rp-last-")]
        cursor = start
    if cursor >= end:
        cursor, state["playing"] = end, False
    cursor = max(cursor, start)
    state.update(start=format_time(start), end=format_time(end), cursor=format_time(cursor))
    span = int((end - start).total_seconds())
    offset = int((cursor - start).total_seconds())
    return state, not state["playing"], span, offset


@callback(model_output(PAGE), Output("rp-cursor-text", "children"), Input("rp-state", "data"))
def tick(state: dict) -> tuple:
    """The panels at the cursor: one /latest?at= request per step of the cursor."""
    def fill(snap: live.Snapshot, model: live.Model) -> None:
        for station in snap.mission["stations"]:
            panels.station_cells(snap, model, station)
        for sat in snap.mission["satellites"]:
            panels.satellite_summary_cells(snap, model, sat)
            model.cell(f"eclipse|{sat}", "—", None)

    cursor = state["cursor"]
    text = f"{cursor[:10]}  {cursor[11:19]} UTC · {state['speed']}x" \
           f"{' · playing' if state.get('playing') else ' · paused'}"
    return live.tick(fill, at=cursor), text


@callback(Output("rp-chart", "figure"), Input("rp-satellite", "value"),
          Input("rp-parameters", "value"), Input("rp-state", "data"),
          Input("rp-chart", "relayoutData"), State("rp-chart", "figure"))
def chart(sat: str, keys: list[str], state: dict, relayout: dict | None,
          figure: dict | None) -> object:
    """The chosen parameters over the range; zooming fetches finer data for what is shown;
    moving the cursor only moves its line."""
    mission = api_client.mission()
    if mission is None:
        return dash.no_update
    if ctx.triggered_id == "rp-state" and figure and figure.get("data") and \
            figure["layout"].get("meta") == [state["start"], state["end"]]:
        patch = Patch()
        patch["layout"]["shapes"][-1]["x0"] = state["cursor"]
        patch["layout"]["shapes"][-1]["x1"] = state["cursor"]
        return patch
    start, end = state["start"], state["end"]
    x_range = None
    if ctx.triggered_id == "rp-chart":
        if not relayout or "xaxis.range[0]" not in relayout:
            if relayout and relayout.get("xaxis.autorange"):
                x_range = None
            else:
                return dash.no_update
        else:
            start, end = (_iso(relayout["xaxis.range[0]"]), _iso(relayout["xaxis.range[1]"]))
            x_range = (start, end)
    params = [mission["parameters"][k] for k in (keys or []) if k in mission["parameters"]]
    rows = pm.chart_rows(params)
    traces_of = {i: [charts.Trace(pm.series_key(sat, None, p["key"]), pm.label(p), sat, None,
                                  p["key"]) for p in row.params] for i, row in enumerate(rows)}
    try:
        history = charts.load_history([t for ts in traces_of.values() for t in ts], start, end)
    except api_client.ApiUnavailable:
        return dash.no_update
    fig = charts.strip_figure(rows, traces_of, history, 0, x_range)
    fig["layout"]["meta"] = [state["start"], state["end"]]
    fig["layout"]["uirevision"] = f"{state['start']}/{state['end']}"
    fig["layout"]["shapes"].append({
        "type": "line", "xref": "x", "yref": "paper", "x0": state["cursor"],
        "x1": state["cursor"], "y0": 0, "y1": 1, "line": {"color": CURSOR_COLOUR, "width": 2}})
    return fig


def _iso(value: str) -> str:
    """Plotly's axis range ('2026-11-25 10:00:00.5') as RFC 3339 UTC."""
    text = str(value).replace(" ", "T")
    return text if text.endswith("Z") else text + "Z"


@callback(Output("rp-download", "data"), Output("rp-status", "children"),
          Input("rp-csv", "n_clicks"), State("rp-satellite", "value"),
          State("rp-parameters", "value"), State("rp-state", "data"),
          prevent_initial_call=True)
def download(_: int, sat: str, keys: list[str], state: dict) -> tuple:
    params = [("satellite", sat), ("start", state["start"]), ("end", state["end"])]
    params += [("parameter", k) for k in keys or []]
    try:
        body = api_client.export_csv(params)
    except api_client.ApiUnavailable:
        return dash.no_update, "The API is unreachable."
    if body is None:
        return dash.no_update, "CSV export is not served by this API yet."
    name = f"{sat}_{state['start'][:19]}_{state['end'][:19]}.csv".replace(":", "")
    return dcc.send_bytes(body, name), ""


register_live(PAGE)
