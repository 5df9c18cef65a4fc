"""Alarm-system health (/alarm-health): the ISA-18.2 measures over a chosen month (UTC),
from GET /api/v1/alarm-health: alarms per 10 minutes against the flood threshold, time in
flood, the ten most frequent, chattering, stale and standing shelved alarms."""

from __future__ import annotations

import datetime as dt

import dash
from dash import Input, Output, callback, dcc, html

from dashboard import api_client, isa, live
from dashboard.settings import get_settings
from dashboard.widgets import live_frame, model_output, register_live, tick_input, waiting

PAGE = "health"


def layout(month: str = "", **_: str) -> html.Div:
    if api_client.mission() is None:
        return waiting(get_settings().api_url)
    choices = isa.months(dt.datetime.now(dt.UTC).date())
    return live_frame(PAGE, [
        html.Div([html.Span("Alarm-system health", className="kz-h2"),
                  html.Label("Month (UTC)"),
                  dcc.Dropdown(id="ah-month", options=choices,
                               value=month if month in choices else choices[0],
                               clearable=False, style={"width": "140px"})],
                 className="kz-panel-head kz-controls"),
        html.Div(id="ah-body", className="kz-panel"),
    ])


dash.register_page(__name__, path="/alarm-health", name="Alarm health",
                   title="KazSat · Alarm health", order=5, layout=layout)


@callback(model_output(PAGE), tick_input(PAGE))
def tick(_: int) -> dict:
    return live.tick(lambda snap, model: None)  # the banner only


@callback(Output("ah-body", "children"), Input("ah-month", "value"))
def show(month: str) -> list:
    try:
        m = api_client.alarm_health(month)
    except api_client.ApiUnavailable:
        return [html.Div("The API is unreachable.", className="kz-empty")]
    except api_client.InvalidInput as exc:
        return [html.Div(f"Nothing to show: {exc}.", className="kz-empty")]
    return body(m)


def body(m: dict) -> list:
    summary, ok = isa.summary(m)
    at = m["open_at"][:16].replace("T", " ")
    return [html.Div(summary, id="ah-summary",
                     className="kz-sub" if ok else "kz-sub kz-ah-bad"),
            dcc.Graph(id="ah-rate", figure=isa.rate_figure(m), config={"displaylogo": False},
                      style={"height": "260px"}),
            _table("Ten most frequent alarms", ("Alarm", "Raised", "Share"),
                   [(t["alarm"], t["raised"], f"{t['percent']:g} %") for t in m["top10"]]),
            _table("Chattering (raised 3 or more times within 60 s)",
                   ("Alarm", "Raised", "Bursts"),
                   [(c["alarm"], c["raised"], c["bursts"]) for c in m["chattering"]]),
            _table(f"Stale (open more than 24 h at {at} UTC)",
                   ("Alert", "Alarm", "Severity", "Raised", "Open"),
                   [(s["id"], s["alarm"], s["severity"], s["raised"][:16].replace("T", " "),
                     f"{s['open_h']:g} h") for s in m["stale"]]),
            _table(f"Standing shelved (at {at} UTC)",
                   ("Alert", "Alarm", "Severity", "Shelved until"),
                   [(s["id"], s["alarm"], s["severity"],
                     s["shelved_until"][:16].replace("T", " ")) for s in m["shelved"]])]


def _table(title: str, head: tuple, rows: list[tuple]) -> html.Div:
    return html.Div([
        html.Div(title, className="kz-h3"),
        html.Table([html.Thead(html.Tr([html.Th(h) for h in head])),
                    html.Tbody([html.Tr([html.Td(str(c)) for c in r]) for r in rows])],
                   className="kz-table") if rows else html.Div("None.", className="kz-sub"),
    ], className="kz-ah-section")


register_live(PAGE)
live.register_stream(lambda path: live.LivePage(lambda snap, model: None, {})
                     if path.rstrip("/") == "/alarm-health" else None)
