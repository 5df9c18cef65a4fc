"""The Dash application: the shell every page shares (title, navigation, UTC clock) and
`run`, which `python -m dashboard` calls."""

from __future__ import annotations

import logging

import dash
import httpx
import uvicorn
from a2wsgi import WSGIMiddleware
from dash import ALL, ClientsideFunction, Dash, Input, Output, State, dcc, html
from starlette.types import ASGIApp, Receive, Scope, Send

from dashboard import api_client, download, session, stream
from dashboard.settings import get_settings

log = logging.getLogger(__name__)
# Threads serve Dash's requests (the rest queue): each page has a callback or two in flight
# at once (its slow timers; its 1 s tick when it polls), and a download holds its thread
# while it streams. Live streams hold none: they run on the server's event loop.
THREADS = 16
# A stop waits this long for requests in hand; live streams never end by themselves.
GRACE_S = 3


def nav_links(mission: dict | None) -> list[tuple[str, str]]:
    """(label, href) of every page, satellites and stations taken from the mission."""
    links = [("Overview", "/")]
    if mission:
        links += [(s["name"], f"/satellite/{sid}") for sid, s in mission["satellites"].items()]
        links += [(s["name"], f"/station/{sid}") for sid, s in mission["stations"].items()]
    return [*links, ("Alerts", "/alerts"), ("Replay", "/replay"),
            ("Alarm health", "/alarm-health"), ("Shift report", "/shift-report")]


def shell() -> html.Div:
    """The frame around every page; a function so that a page load after the API came up
    shows the full navigation."""
    links = nav_links(api_client.mission())
    return html.Div([
        dcc.Location(id="kz-url"),
        html.Header([
            html.Div([html.Span("KAZSAT", className="kz-brand-strong"),
                      html.Span("ground segment", className="kz-brand-light")],
                     className="kz-brand"),
            html.Nav([dcc.Link(text, href=href, id={"kz": "nav", "key": href},
                               className="kz-nav-link") for text, href in links],
                     className="kz-nav"),
            html.Div("", id="kz-clock", className="kz-clock"),  # set by assets/live.js
            user_box(),
        ], className="kz-header"),
        html.Main(dash.page_container, className="kz-main"),
    ], className="kz-app")


def user_box() -> html.Div:
    """Who is logged in, their role, and the way out (a plain link: a full page load)."""
    user = session.user() or {"name": "", "role": ""}
    return html.Div([html.Span(user["name"], id="kz-user-name"),
                     html.Span(user["role"], id="kz-user-role", className="kz-user-role"),
                     html.A("Password", href="/password", id="kz-password"),
                     html.A("Log out", href="/logout", id="kz-logout")], className="kz-user")


def create_app() -> Dash:
    app = Dash(__name__, use_pages=True, pages_folder="", title="KazSat monitor",
               update_title=None, suppress_callback_exceptions=True)
    # Page modules register themselves with dash.register_page; imported here, after the
    # app exists, rather than discovered from the folder, so they import as a package.
    from dashboard.pages import (  # noqa: F401
        alarm_health,
        alerts,
        overview,
        replay,
        satellite,
        shift_report,
        station,
    )

    app.layout = shell
    app.clientside_callback(ClientsideFunction("kazsat", "nav"),
                            Output({"kz": "nav", "key": ALL}, "className"),
                            Input("kz-url", "pathname"),
                            State({"kz": "nav", "key": ALL}, "href"))
    download.install(app.server)
    session.install(app)
    return app


def asgi(app: Dash) -> ASGIApp:
    """The dashboard as one ASGI application: the live pages' WebSockets (dashboard/stream.py)
    on the event loop, every other request to Dash's Flask server in a pool of THREADS."""
    wsgi = WSGIMiddleware(app.server, workers=THREADS)  # type: ignore[arg-type]
    streams = stream.LiveStreams(app.server)

    async def serve(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"] == stream.PATH:
            await streams(scope, receive, send)
        else:
            await wsgi(scope, receive, send)

    return serve


def run(host: str, port: int) -> None:
    """Serve the dashboard until SIGINT or SIGTERM (uvicorn's handling of both: requests in
    hand get GRACE_S); the mission is fetched from the API now, or at the first page load
    once the API answers."""
    # Per-request logs of the HTTP client would drown the useful ones.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    api_url = get_settings().api_url
    try:
        httpx.get(f"{api_url.rstrip('/')}/healthz", timeout=2).raise_for_status()
    except httpx.HTTPError:
        log.warning("API at %s not answering yet; pages will wait for it", api_url)
    log.info("dashboard on http://%s:%d (%d threads for Dash, live streams on the event "
             "loop), API at %s", host, port, THREADS, api_url)
    # proxy_headers off: the browser's address is the peer's (it is passed on to the API's
    # login limits), never what a local process writes in X-Forwarded-For.
    uvicorn.run(asgi(create_app()), host=host, port=port, log_level="warning",
                access_log=False, proxy_headers=False, lifespan="off",
                timeout_graceful_shutdown=GRACE_S)
    log.info("dashboard stopped")
