"""Shared widgets used by every page: value cell, state tile, banner, not-live notice, strip chart,
and the clientside wiring that brings a page's cells to life from its tick model.

Ids are pattern-matching dicts scoped by page ({"kz": kind, "page": page, "key": series key})
so one set of clientside callbacks per page fills every cell of that page.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from dash import ALL, ClientsideFunction, Input, Output, State, clientside_callback, dcc, html

TICK_MS = 1000
# Limits text and chart limit lines and alert markers: slow, and none of it in the tick.
SLOW_MS = 3000
# The words for each state; assets/live.js holds the same two maps for the ticks.
BADGE = {"n": "", "w": "▲ WARN", "c": "✖ CRIT", "s": "◌ STALE", "u": ""}
TILE_BADGE = {"n": "● OK", "w": "▲ WARNING", "c": "✖ CRITICAL", "s": "◌ STALE", "u": "— NO DATA"}

# A page drawn with the model of a tick it made itself shows values in its first paint,
# rather than dashes until the first tick returns.
_prefill: ContextVar[dict | None] = ContextVar("prefill", default=None)


@contextmanager
def prefilled(model: dict) -> Iterator[None]:
    token = _prefill.set(model.get("cells") or {})
    try:
        yield
    finally:
        _prefill.reset(token)


def initial(key: str, default: str = "—") -> tuple[str, str, str]:
    """(text, state code, badge) a cell starts with."""
    entry = (_prefill.get() or {}).get(key)
    if not entry:
        return default, "u", ""
    badge = (TILE_BADGE if key.startswith("tile|") else BADGE).get(entry[1], "")
    return entry[0], entry[1], badge


def ids(kind: str, page: str, key: str | Any) -> dict:
    return {"kz": kind, "page": page, "key": key}


def value_cell(page: str, key: str, unit: str = "", size: str = "md") -> html.Div:
    """A live value: number, unit, and a state badge in words (colour is never the only
    signal)."""
    text, code, badge = initial(key)
    return html.Div(
        [html.Span(text, id=ids("v", page, key), className="kz-num"),
         html.Span(unit, className="kz-unit") if unit else None,
         html.Span(badge, id=ids("vb", page, key), className="kz-badge")],
        id=ids("vc", page, key), className=f"kz-cell kz-{size} kz-{code}")


def param_row(page: str, key: str, label: str, unit: str, limits: str = "") -> html.Tr:
    """A table row: name, live value with unit and state, the limits it is checked against
    (kept current by live.register_limits)."""
    return html.Tr([html.Td(label, className="kz-label"),
                    html.Td(value_cell(page, key, unit)),
                    html.Td(limits, id=ids("lim", page, key), className="kz-limits")])


def state_tile(page: str, key: str, title: str, body: list, href: str | None = None) -> html.Div:
    """A tile coloured by the worst state inside it, with that state also in words."""
    _, code, badge = initial(key)
    head = [html.Span(title, className="kz-tile-title"),
            html.Span(badge, id=ids("vb", page, key), className="kz-badge")]
    header = dcc.Link(head, href=href, className="kz-tile-head") if href else \
        html.Div(head, className="kz-tile-head")
    return html.Div([header, html.Div(body, className="kz-tile-body")],
                    id=ids("vc", page, key), className=f"kz-tile kz-{code}")


def figure_line(page: str, key: str, label: str, unit: str = "") -> html.Div:
    """A headline figure inside a tile: label above, big value below."""
    return html.Div([html.Div(label, className="kz-fig-label"), value_cell(page, key, unit, "lg")],
                    className="kz-fig")


BANNER_PARTS = ("critical", "warning", "lock", "alerts", "stale", "all", "asof")


def banner(page: str) -> html.Div:
    """Counts of parameters in warning and critical, links out of lock, unacknowledged
    alerts; 'ALL NOMINAL' when there is nothing to say."""
    parts = [(f"banner|{part}", initial(f"banner|{part}", "")) for part in BANNER_PARTS]
    return html.Div([html.Div(html.Span(text, id=ids("v", page, key)),
                              id=ids("vc", page, key), className=f"kz-bpart kz-{code}")
                     for key, (text, code, _) in parts],
                    className="kz-banner", role="status")


def api_notice(page: str) -> html.Div:
    """Says the page is not live and since when; filled by assets/live.js alone."""
    return html.Div("", id=ids("down", page, "notice"), className="kz-down", role="alert",
                    hidden=True)


def live_frame(page: str, children: list, extra_class: str = "") -> html.Div:
    """A live page: banner, API notice, the tick and slow timers, the tick model store."""
    return html.Div([banner(page), api_notice(page),
                     dcc.Interval(id=ids("tick", page, "t"), interval=TICK_MS),
                     dcc.Store(id=ids("go", page, "t")),  # the timer, gated: tick_input
                     dcc.Interval(id=slow_id(page), interval=SLOW_MS),
                     dcc.Store(id=ids("model", page, "m")),
                     *children],
                    id=ids("frame", page, "f"), className=f"kz-frame {extra_class}")


def tick_input(page: str) -> Input:
    """What a page's tick callback runs on: the tick timer, passed on by assets/live.js only
    while no tick of the page is in flight. Dash holds back the clientside render while a
    tick is pending, so ticks slower than the timer, fired anyway, would starve it."""
    return Input(ids("go", page, "t"), "data")


def slow_id(page: str) -> str:
    # A plain id, not an ids() dict: Dash fires a MATCH callback (each chart's) from a
    # plain input, never from a dict one without wildcards.
    return f"kz-slow-{page}"


def slow_input(page: str) -> Input:
    return Input(slow_id(page), "n_intervals")


def model_output(page: str) -> Output:
    return Output(ids("model", page, "m"), "data")


def strip_chart(page: str, key: str, height: int, request: dict) -> html.Div:
    """A strip chart placeholder with what to draw in it (`request`, the "chart-req"
    store) and what it shows now (the "chart-drawn" store, for charts.live_update); the
    page fills its history once, ticks extend it."""
    return html.Div([
        dcc.Graph(id=ids("chart", page, key), className="kz-chart",
                  style={"height": f"{height}px"},
                  config={"displaylogo": False, "responsive": True,
                          "modeBarButtonsToRemove": ["lasso2d", "select2d"]}),
        dcc.Store(id=ids("chart-req", page, key), data=request),
        dcc.Store(id=ids("chart-drawn", page, key))])


def register_live(page: str, charts: bool = False) -> None:
    """Wire a page's tick model to its cells, API notice (and charts) in the browser: no
    server trip. assets/live.js writes the cells; charts extend through Dash's extendData."""
    model = Input(ids("model", page, "m"), "data")
    clientside_callback(ClientsideFunction("kazsat", "gate"), Output(ids("go", page, "t"), "data"),
                        Input(ids("tick", page, "t"), "n_intervals"))
    # render writes the cells, the notice and the frame's live state straight into the DOM
    # (so does the page's not-live watchdog); Dash needs an output, it is never set.
    clientside_callback(
        ClientsideFunction("kazsat", "render"),
        Output(ids("down", page, "notice"), "title"),
        model,
    )
    if charts:
        clientside_callback(
            ClientsideFunction("kazsat", "extend"),
            Output(ids("chart", page, ALL), "extendData"),
            model,
            State(ids("chart", page, ALL), "figure"),
        )
        # Fed by its stream, the page's chart points come on the tick timer instead.
        clientside_callback(
            ClientsideFunction("kazsat", "streamExtend"),
            Output(ids("chart", page, ALL), "extendData", allow_duplicate=True),
            Input(ids("tick", page, "t"), "n_intervals"),
            State(ids("chart", page, ALL), "figure"),
            prevent_initial_call=True,
        )


def waiting(url: str) -> html.Div:
    """Shown while the API has not answered yet at start; the page reloads itself."""
    return html.Div([html.H2("Waiting for the telemetry API"),
                     html.P(f"No answer yet from {url}. This page retries by itself."),
                     dcc.Interval(id="kz-wait", interval=3000),
                     html.Div(id="kz-wait-sink", hidden=True)], className="kz-waiting")


def limits_text(p: dict) -> str:
    """The limits a parameter is checked against, in its own unit and decimals."""
    parts = []
    limits = p.get("limits") or {}
    decimals = p.get("decimals", 2)
    for level, mark in (("warning", "W"), ("critical", "C")):
        band = limits.get(level)
        if not band:
            continue
        low, high = band.get("low"), band.get("high")
        fmt = (lambda v: f"{v:.1e}") if decimals >= 6 else (lambda v: f"{v:.{decimals}f}")
        if low is not None and high is not None:
            parts.append(f"{mark} {fmt(low)}…{fmt(high)}")
        elif low is not None:
            parts.append(f"{mark} ≥ {fmt(low)}")
        elif high is not None:
            parts.append(f"{mark} ≤ {fmt(high)}")
    for value, severity in (p.get("states") or {}).items():
        parts.append(f"{severity[0].upper()} if {value.replace('_', ' ')}")
    return "  ".join(parts)
