"""The shift report (/shift-report): a chosen shift's alerts raised, acknowledged and still
open, the lowest battery state of charge of each satellite and Eb/N0 per station link, from
GET /api/v1/shift-report. By default the last shift that ended; `?at=` (RFC 3339) picks the
shift that time falls in."""

from __future__ import annotations

import dash
from dash import Input, Output, callback, dcc, html

from dashboard import api_client, live
from dashboard.settings import get_settings
from dashboard.widgets import live_frame, model_output, register_live, tick_input, waiting

PAGE = "shift"


def layout(at: str = "", **_: str) -> html.Div:
    if api_client.mission() is None:
        return waiting(get_settings().api_url)
    try:
        listed = api_client.shifts()
    except api_client.ApiUnavailable:
        return html.Div("The API is unreachable.", className="kz-empty")
    options = [{"label": s["label"], "value": s["start"]} for s in listed["shifts"]]
    default = next(s["start"] for s in listed["shifts"] if s["done"])
    value = at if at else default
    if at and at not in {o["value"] for o in options}:
        options.append({"label": at, "value": at})
    return live_frame(PAGE, [
        html.Div([html.Span("Shift report", className="kz-h2"),
                  html.Label(f"Shift ({listed['timezone']})"),
                  dcc.Dropdown(id="sr-shift", options=options, value=value,
                               clearable=False, style={"width": "380px"})],
                 className="kz-panel-head kz-controls"),
        html.Div(id="sr-body", className="kz-panel"),
    ])


dash.register_page(__name__, path="/shift-report", name="Shift report",
                   title="KazSat · Shift report", order=6, layout=layout)


@callback(model_output(PAGE), tick_input(PAGE))
def tick(_: int) -> dict:
    return live.tick(lambda snap, model: None)  # the banner only


@callback(Output("sr-body", "children"), Input("sr-shift", "value"))
def show(at: str) -> list:
    try:
        r = api_client.shift_report(at)
    except api_client.ApiUnavailable:
        return [html.Div("The API is unreachable.", className="kz-empty")]
    except api_client.InvalidInput as exc:
        return [html.Div(f"Nothing to show: {exc}.", className="kz-empty")]
    return body(r)


def _t(stamp: str | None) -> str:
    return stamp[:16].replace("T", " ") if stamp else "—"


def _num(x: float | None, unit: str) -> str:
    return "no data" if x is None else f"{x:.1f} {unit}"


def body(r: dict) -> list:
    a = r["alerts"]
    until = "" if r["until"] == r["end"] else f", so far (to {_t(r['until'])})"
    summary = (f"{a['raised']} alerts raised ({a['raised_critical']} critical, "
               f"{a['raised_warning']} warning) · {len(a['acknowledged'])} acknowledged · "
               f"{len(a['open'])} open at the end")
    return [html.Div(f"{_t(r['start'])} to {_t(r['end'])} UTC{until}", id="sr-when",
                     className="kz-sub"),
            html.Div(summary, id="sr-summary", className="kz-sub"),
            _table("sr-acked", "Acknowledged in the shift",
                   ("Alert", "Alarm", "By", "At (UTC)", "After"),
                   [(x["id"], x["alarm"], x["by"], _t(x["at"]), f"{x['after_min']:g} min")
                    for x in a["acknowledged"]]),
            _table("sr-open", "Still open at the end of the shift",
                   ("Alert", "Alarm", "Severity", "Open for", "Acknowledged by"),
                   [(x["id"], x["alarm"], x["severity"], f"{x['open_min']:g} min",
                     x["acked_by"] or "nobody") for x in a["open"]]),
            _table("sr-battery", "Lowest battery state of charge", ("Satellite", "Lowest"),
                   [(sat, _num(v, "%")) for sat, v in sorted(r["battery_soc_min"].items())]),
            _table("sr-ebn0", "Eb/N0 per station link", ("Station", "Satellite", "Lowest",
                                                         "Mean"),
                   [(x["station"], x["satellite"] or "—", _num(x["min"], "dB"),
                     _num(x["mean"], "dB")) for x in r["ebn0_db"]]),
            _table("sr-eclipses", "Eclipses in this shift and the next",
                   ("Satellite", "Start (UTC)", "End (UTC)", "Minutes", "Shift"),
                   [(x["satellite"], _t(x["start"]), _t(x["end"]), f"{x['minutes']:g}",
                     x["shift"]) for x in r["eclipses"]])]


def _table(key: str, title: str, head: tuple, rows: list[tuple]) -> html.Div:
    return html.Div([
        html.Div(title, className="kz-h3"),
        html.Table([html.Thead(html.Tr([html.Th(h) for h in head])),
                    html.Tbody([html.Tr([html.Td(str(c)) for c in row]) for row in rows])],
                   className="kz-table") if rows else html.Div("None.", className="kz-sub"),
    ], id=key, className="kz-ah-section")


register_live(PAGE)
live.register_stream(lambda path: live.LivePage(lambda snap, model: None, {})
                     if path.rstrip("/") == "/shift-report" else None)
