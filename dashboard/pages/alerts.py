"""Alerts page (/alerts): the alert list with filters, acknowledge and shelve (offered to
operators and engineers only; the API checks the role anyway), where each alert's escalation
ladder stands, a link from each alert into replay at its time, and for engineers a test page
through the escalation ladder with each tier's delivery."""

from __future__ import annotations

from urllib.parse import urlencode

import dash
import httpx
from dash import ALL, Input, Output, State, callback, ctx, dcc, html

from dashboard import alert_groups, api_client, live, session
from dashboard import escalation as esc
from dashboard import parameters as pm
from dashboard.settings import get_settings
from dashboard.widgets import live_frame, model_output, register_live, tick_input, waiting

PAGE = "alerts"
LIST_REFRESH_MS = 5000  # the list is not per tick: the banner already counts open alerts
SEVERITY = {"critical": ("✖ CRITICAL", "kz-c"), "warning": ("▲ WARNING", "kz-w")}


def layout(status: str = "active", satellite: str = "", station: str = "", severity: str = "",
           **_: str) -> html.Div:
    """Filters can come from the URL (/alerts?status=all&satellite=kazsat-2) to bookmark."""
    mission = api_client.mission()
    if mission is None:
        return waiting(get_settings().api_url)

    def options(items: dict) -> list[dict]:
        return [{"label": "any", "value": ""}] + [
            {"label": v["name"], "value": k} for k, v in items.items()]

    return live_frame(PAGE, [
        html.Div([
            html.Span("Alerts", className="kz-h2"),
            _filter("al-status", "Status", [{"label": s, "value": s} for s in
                                            ("active", "acknowledged", "cleared", "all")],
                    status if status in ("active", "acknowledged", "cleared", "all") else "active"),
            _filter("al-satellite", "Satellite", options(mission["satellites"]),
                    satellite if satellite in mission["satellites"] else ""),
            _filter("al-station", "Station", options(mission["stations"]),
                    station if station in mission["stations"] else ""),
            _filter("al-severity", "Severity", [{"label": "any", "value": ""},
                                                {"label": "critical", "value": "critical"},
                                                {"label": "warning", "value": "warning"}],
                    severity if severity in ("critical", "warning") else ""),
        ], className="kz-panel-head kz-controls"),
        # Kept in the page (hidden) for a viewer: the act callback names them as State.
        html.Div([
            dcc.Input(id="al-comment", placeholder="comment for acknowledge / shelve",
                      className="kz-input", debounce=False, style={"width": "420px"}),
            html.Label("shelve for"),
            dcc.Dropdown(id="al-minutes", options=[{"label": f"{m} min", "value": m}
                                                   for m in (15, 60, 240, 1440)],
                         value=60, clearable=False, style={"width": "130px"}),
            html.Span("", id="al-result", className="kz-sub"),
        ], className="kz-controls", style=None if session.may("ack") else {"display": "none"}),
        _test_page_controls(mission),
        dcc.Interval(id="al-refresh", interval=LIST_REFRESH_MS),
        dcc.Store(id="al-changed", data=0),
        html.Div(id="al-flood", className="kz-flood", style={"display": "none"}),
        html.Div(id="al-list", className="kz-panel"),
    ])


def _test_page_controls(mission: dict) -> html.Div:
    """An engineer sends a test page through a ladder and watches each tier delivered
    (hidden from other roles, kept in the page: the callbacks name them)."""
    entities = [{"label": "any satellite or station", "value": ""}] + [
        {"label": v["name"], "value": k}
        for kind in ("satellites", "stations") for k, v in mission[kind].items()]
    return html.Div([
        html.Label("Escalation ladder test"),
        dcc.Dropdown(id="al-test-severity", options=["critical", "warning"], value="critical",
                     clearable=False, style={"width": "120px"}),
        dcc.Dropdown(id="al-test-entity", options=entities, value="", clearable=False,
                     style={"width": "220px"}),
        html.Button("Send test page", id="al-test-send", className="kz-button"),
        html.Span("", id="al-test-result", className="kz-sub"),
        dcc.Store(id="al-test-id", data=None),
        dcc.Interval(id="al-test-poll", interval=1000, disabled=True),
    ], className="kz-controls", style=None if session.may("limits") else {"display": "none"})


def _filter(id_: str, label: str, options: list[dict], value: str) -> html.Div:
    return html.Div([html.Label(label),
                     dcc.Dropdown(id=id_, options=options, value=value, clearable=False,
                                  style={"width": "170px"})], className="kz-inline")


dash.register_page(__name__, path="/alerts", name="Alerts", title="KazSat · Alerts",
                   order=3, layout=layout)


@callback(model_output(PAGE), tick_input(PAGE))
def tick(_: int) -> dict:
    return live.tick(lambda snap, model: None)  # the banner only


@callback(Output("al-list", "children"), Output("al-flood", "children"),
          Output("al-flood", "style"), Input("al-refresh", "n_intervals"),
          Input("al-status", "value"), Input("al-satellite", "value"),
          Input("al-station", "value"), Input("al-severity", "value"),
          Input("al-changed", "data"))
def alert_list(_: int, status: str, satellite: str, station: str, severity: str,
               __: int) -> tuple:
    """The list; in an alarm flood, a banner above it and the list grouped by satellite or
    station and subsystem, most severe first (as the flood's email digests)."""
    mission = api_client.mission()
    try:
        body = api_client.alerts(status, satellite or None, station or None, severity or None)
    except api_client.ApiUnavailable:
        return dash.no_update, dash.no_update, dash.no_update
    banner = alert_groups.flood_text(body.get("flood") or {})
    shown = {} if banner else {"display": "none"}
    alerts = body.get("alerts", [])
    if not alerts:
        return [html.Div("No alerts match.", className="kz-empty")], banner, shown
    columns = ("Severity", "Where", "Parameter", "Value", "Limit", "Raised", "State",
               "Acknowledged", "Escalation", "")
    acts = session.may("ack")
    if banner:
        rows = []
        for (where, subsystem), members in alert_groups.grouped(mission, alerts):
            rows.append(html.Tr(html.Td(f"{where} · {subsystem} ({len(members)})",
                                        colSpan=len(columns)), className="kz-group"))
            rows += [_row(mission, a, acts) for a in members]
    else:
        rows = [_row(mission, a, acts) for a in alerts]
    return [html.Table([html.Thead(html.Tr([html.Th(h) for h in columns])), html.Tbody(rows)],
                       className="kz-table kz-alerts")], banner, shown


def _row(mission: dict | None, a: dict, acts: bool = False) -> html.Tr:
    text, cls = SEVERITY.get(a.get("severity"), (str(a.get("severity", "")).upper(), "kz-u"))
    p = (mission or {}).get("parameters", {}).get(a.get("parameter"), {})
    value = "—" if a.get("value") is None else (  # None: a stale alert, no sample at all
        f"{pm.format_value(p, a['value']) if p else a['value']} {p.get('unit', '')}".strip())
    where = " · ".join(_name(mission, kind, a.get(kind)) for kind in ("satellite", "station")
                       if a.get(kind))
    query = {k: a[k] for k in ("satellite", "station", "parameter") if a.get(k)}
    query["at"] = a.get("raised", "")
    acked = f"{a.get('acked_by') or ''} {_utc(a['acked_at'])[11:]}" if a.get("acked_at") else ""
    if a.get("ack_comment"):
        acked += f" — {a['ack_comment']}"
    if a.get("shelved_until"):
        acked += f" (shelved until {a['shelved_until'][11:16]} UTC)"
    buttons = [] if a.get("state") == "cleared" or not acts else [
        ack_button(a),
        html.Button("Shelve", id={"kz": "shelve", "key": str(a["id"])}, className="kz-button")]
    return html.Tr([
        html.Td(html.Span(text, className=f"kz-badge-text {cls}")),
        html.Td(where), html.Td(pm.label(p) if p else a.get("parameter") or "all telemetry"),
        html.Td(value), html.Td(a.get("limit") or ""),
        html.Td(_utc(a.get("raised"))),
        html.Td(a.get("state", "")), html.Td(acked or "—"),
        html.Td(esc.ladder_text(a.get("escalation") or []) or "—", className="kz-sub"),
        html.Td([*buttons, dcc.Link("Replay ▸", href=f"/replay?{urlencode(query)}",
                                    className="kz-button")], className="kz-actions"),
    ], className=f"kz-alert-{a.get('severity', '')}")


def ack_button(a: dict) -> html.Button:
    """Acknowledge, or, once done, a flat '✓ Acknowledged' that no one takes for a button
    still to press (disabled too: the callback ignores it anyway)."""
    done = bool(a.get("acked_at"))
    return html.Button("✓ Acknowledged" if done else "Acknowledge",
                       id={"kz": "ack", "key": str(a["id"])}, disabled=done,
                       className="kz-button kz-done" if done else "kz-button")


def _utc(t: str | None) -> str:
    """'2026-11-25T10:00:01.250Z' -> '2026-11-25 10:00:01 UTC'."""
    return f"{t[:19].replace('T', ' ')} UTC" if t else ""


def _name(mission: dict | None, kind: str, ident: str) -> str:
    return ((mission or {}).get(f"{kind}s", {}).get(ident) or {}).get("name", ident)


@callback(Output("al-result", "children"), Output("al-changed", "data"),
          Input({"kz": "ack", "key": ALL}, "n_clicks"),
          Input({"kz": "shelve", "key": ALL}, "n_clicks"),
          State("al-comment", "value"), State("al-minutes", "value"),
          State("al-changed", "data"), prevent_initial_call=True)
def act(acks: list, shelves: list, comment: str | None, minutes: int, changed: int) -> tuple:
    """Acknowledge or shelve the alert whose button was pressed, as the logged-in user."""
    if not ctx.triggered_id or not any(acks + shelves):
        return dash.no_update, dash.no_update
    try:
        # The button's key and the minutes come from the browser: whole numbers or nothing.
        alert_id = api_client.whole_number(ctx.triggered_id["key"], "alert id")
        if ctx.triggered_id["kz"] == "ack":
            api_client.acknowledge(alert_id, comment or "")
            done = f"Alert {alert_id} acknowledged."
        else:
            shelf = api_client.whole_number(minutes, "shelve minutes")
            api_client.shelve(alert_id, shelf, comment or "")
            done = f"Alert {alert_id} shelved for {shelf} min."
    except api_client.InvalidInput as exc:
        return f"Nothing was changed: {exc}.", dash.no_update
    except api_client.ApiUnavailable:
        done = "The API is unreachable; nothing was changed."
    except httpx.HTTPStatusError as exc:
        done = f"Refused by the API ({exc.response.status_code}): " \
               f"{exc.response.json().get('message', '') if exc.response.content else ''}"
    return done, (changed or 0) + 1


@callback(Output("al-test-result", "children", allow_duplicate=True),
          Output("al-test-id", "data"), Output("al-test-poll", "disabled", allow_duplicate=True),
          Input("al-test-send", "n_clicks"), State("al-test-severity", "value"),
          State("al-test-entity", "value"), prevent_initial_call=True)
def send_test_page(clicks: int | None, severity: str, entity: str) -> tuple:
    """Send the test page; the poll below follows its delivery."""
    if not clicks:
        return dash.no_update, dash.no_update, dash.no_update
    try:
        test = api_client.send_test_page(severity, entity or None)
    except api_client.InvalidInput as exc:
        return f"Nothing was sent: {exc}.", None, True
    except api_client.ApiUnavailable:
        return "The API is unreachable; nothing was sent.", None, True
    except httpx.HTTPStatusError as exc:
        return (f"Refused by the API ({exc.response.status_code}): "
                f"{exc.response.json().get('message', '') if exc.response.content else ''}",
                None, True)
    return esc.test_text(test), test["test"], False


@callback(Output("al-test-result", "children"), Output("al-test-poll", "disabled"),
          Input("al-test-poll", "n_intervals"), State("al-test-id", "data"),
          prevent_initial_call=True)
def follow_test_page(_: int, test_id: int | None) -> tuple:
    """Each tier's delivery as the outbox reports it; the poll stops once all arrived."""
    if test_id is None:
        return dash.no_update, True
    try:
        test = api_client.test_page(test_id)
    except (api_client.ApiUnavailable, api_client.InvalidInput):
        return dash.no_update, False
    except httpx.HTTPStatusError:
        return dash.no_update, True
    return esc.test_text(test), bool(test.get("delivered"))


register_live(PAGE)
# The banner only; the list refreshes on its own timer.
live.register_stream(lambda path: live.LivePage(lambda snap, model: None, {})
                     if path.rstrip("/") == "/alerts" else None)
