"""Live pages by push: a browser's live page opens a WebSocket here (/live/stream?path=<page>)
and gets its cells as they change, within milliseconds of the API storing a sample.

The browser's leg is a WebSocket, not Server-Sent Events: a browser gives one site six HTTP/1.1
connections across all its tabs, and an open event stream holds one, so a seventh live tab
would stall every request of the site; WebSockets have a pool of their own (docs/architecture.md).
Messages are JSON: {"event": "model"|"session"|"fallback", "data": …}.

For each browser page this relays the API's live stream (GET /api/v1/stream), opened with
the logged-in person's session token (read from the signed session cookie; it never reaches
the browser), so the API applies that person's role and closes the stream when the session
ends. The stream's rows keep a /latest-shaped snapshot current; after each update the page's
own cell builder (the same one the 1 s poll uses: dashboard/live.py) draws its model, and
only the cells that changed since the last message go to the browser (assets/live.js
writes them as a tick's).

It runs on the event loop of the dashboard's ASGI server (dashboard/app.py), not on the
threads that serve Dash's requests, so a wall of open pages holds no thread. When the API
does not answer, the page is told "NOT LIVE — API unreachable since …" and this reconnects
every second, resuming where it was (Last-Event-ID). When the API refuses a stream (past
its limits) the browser is told to fall back to the 1 s poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import orjson
from flask import Flask
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from dashboard import api_client, live, session
from dashboard import parameters as pm
from dashboard.settings import get_settings
from dashboard.snapshot import Snapshot, format_time, utc_now

log = logging.getLogger(__name__)
PATH = "/live/stream"
# The API sends a heartbeat each second when nothing else: three seconds of silence is an
# API that stopped answering.
TIMEOUT = httpx.Timeout(connect=1.0, read=3.0, write=2.0, pool=2.0)
RETRY_S = 1.0  # between attempts while the API is unreachable
MISSION_REFRESH_S = 3.0  # the mission (effective limits) as often as the poll takes it
PAGE_REFRESH_S = 60.0  # a page's other inputs (the overview's eclipses)
# Close codes the page acts on (assets/live.js): sign in again; no live page at that path.
SIGN_IN, NO_PAGE = 4401, 4404
T = TypeVar("T")
Message = tuple[str, object]  # (event, data)


class SessionEnded(Exception):
    """The API refused the session (ended, logged out, user disabled)."""


class Refused(Exception):
    """The API refused the stream for another reason (its limits): poll instead."""


class LiveStreams:
    """The ASGI endpoint at PATH."""

    def __init__(self, server: Flask) -> None:
        self.server = server
        self._client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:  # made on the server's loop, at the first stream
            # Each open page holds one connection: the API's limits bound them, not httpx.
            self._client = httpx.AsyncClient(base_url=get_settings().api_url.rstrip("/"),
                                             timeout=TIMEOUT, limits=httpx.Limits(
                                                 max_connections=None,
                                                 max_keepalive_connections=20))
        return self._client

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        ws = WebSocket(scope, receive, send)
        origin = urlsplit(ws.headers.get("origin", "")).netloc
        if origin != ws.headers.get("host"):
            await ws.close(code=1008)  # before accepting: the handshake is refused (403)
            return
        await ws.accept()
        cookie = ws.cookies.get(self.server.config["SESSION_COOKIE_NAME"])
        token = session.cookie_token(self.server, cookie)
        if token is None:
            await ws.close(code=SIGN_IN)
            return
        path = ws.query_params.get("path", "")
        try:
            page = await as_user(token, live.live_page, path)
        except session.SessionExpired:
            await ws.close(code=SIGN_IN)
            return
        if page is None:
            await ws.close(code=NO_PAGE)
            return
        events = self.events(token, path, page)
        pump = asyncio.ensure_future(self._pump(ws, events))
        gone = asyncio.ensure_future(_closed(ws))
        done, _ = await asyncio.wait({pump, gone}, return_when=asyncio.FIRST_COMPLETED)
        for task in (pump, gone):
            task.cancel()
        await asyncio.gather(pump, gone, return_exceptions=True)
        await events.aclose()
        if pump in done and pump.exception() is None:  # said all it had: session, fallback
            with contextlib.suppress(RuntimeError, OSError, WebSocketDisconnect):
                await ws.close()

    @staticmethod
    async def _pump(ws: WebSocket, events: AsyncIterator[Message]) -> None:
        async for event, data in events:
            await ws.send_text(orjson.dumps({"event": event, "data": data}).decode())

    async def events(self, token: str, path: str, page: live.LivePage
                     ) -> AsyncIterator[Message]:
        """The browser's messages: `model` (changed cells, or the API notice), `session`
        (ended: sign in again), `fallback` (no stream to be had: poll)."""
        view = PageView(page)
        down_since: float | None = None
        while True:
            try:
                async for model in self.relay(token, path, view):
                    down_since = None
                    yield "model", model
                continue  # told to resync: at once, from where it was
            except (SessionEnded, session.SessionExpired):
                yield "session", {"message": "your session ended"}
                return
            except Refused as exc:
                log.warning("live stream for %s refused by the API (%s); the page polls",
                            path, exc)
                yield "fallback", {"message": str(exc)}
                return
            except (httpx.HTTPError, ConnectionError) as exc:
                if down_since is None:
                    down_since = time.time()
                    log.warning("live stream for %s: API unreachable (%s)", path,
                                type(exc).__name__)
                yield "model", {"down": live.down_notice(down_since)}
            await asyncio.sleep(RETRY_S)

    async def relay(self, token: str, path: str, view: PageView) -> AsyncIterator[dict]:
        """One connection to the API's stream: the page's changed cells after each of its
        messages. Returns when told to resync (the caller connects again at once)."""
        headers = {"Authorization": f"Token {token}"}
        if view.last_id is not None:
            headers["Last-Event-ID"] = str(view.last_id)
        async with self.client.stream("GET", "/api/v1/stream", params=view.page.params,
                                      headers=headers) as r:
            if r.status_code in (401, 403):
                raise SessionEnded
            if r.status_code == 429 or r.status_code == 404:
                await r.aread()
                raise Refused(f"HTTP {r.status_code}: {r.text[:200]}")
            if r.status_code != 200:
                raise ConnectionError(f"HTTP {r.status_code}")
            async for name, event_id, data in read_events(r):
                if event_id is not None:
                    view.last_id = event_id
                if name == "closed":
                    raise SessionEnded
                if name == "resync":
                    return
                if time.monotonic() >= view.refresh_at:
                    await view.refresh(token, path)
                changed = view.take(name, data)
                if changed:
                    yield changed


class PageView:
    """One browser page as the stream keeps it: a /latest-shaped snapshot, the cells last
    sent, and its inputs (mission, builder), refreshed now and then."""

    def __init__(self, page: live.LivePage) -> None:
        self.page = page
        self.mission: dict | None = None
        self.snap: Snapshot | None = None
        self.last_id: int | None = None
        self.shown: dict[str, tuple] = {}
        self.numbers: dict[str, int] = {}  # cell key -> its number on this connection
        self.refresh_at = 0.0  # monotonic: when the mission is fetched again
        self.page_at = time.monotonic() + PAGE_REFRESH_S

    async def refresh(self, token: str, path: str) -> None:
        mission = await as_user(token, api_client.mission)
        if mission is None:
            raise ConnectionError("mission not loaded")
        self.mission = mission
        if self.snap is not None:
            self.snap.mission = mission
        if time.monotonic() >= self.page_at:
            page = await as_user(token, live.live_page, path)
            self.page = page or self.page
            self.page_at = time.monotonic() + PAGE_REFRESH_S
        self.refresh_at = time.monotonic() + MISSION_REFRESH_S

    def take(self, name: str, data: Any) -> dict | None:
        """Apply one message of the API's stream; the page's changed cells, if any."""
        if name == "snapshot":
            assert self.mission is not None  # refreshed before the first message
            self.snap, self.shown, self.numbers = Snapshot(self.mission, data), {}, {}
        elif self.snap is None:
            return None
        elif name == "update":
            apply(self.snap, data)
        elif name != "heartbeat":
            return None  # refetch: its snapshot follows
        self.snap.now = format_time(utc_now())
        changed = changed_cells(live.model(self.page.build, self.snap), self.shown,
                                self.page.charts)
        return self.numbered(changed) if changed else None

    def numbered(self, model: dict) -> dict:
        """The model with each cell named by a number (`k` names the new ones), so that a
        changed value costs a few bytes, not its key's: {"k": {n: key}, "c": [[n, text,
        state(, time index, value)]], "times": [...]}; assets/live.js reads it back."""
        new: dict[str, str] = {}  # JSON's keys are text
        cells = []
        for key, entry in model["cells"].items():
            n = self.numbers.get(key)
            if n is None:
                n = self.numbers[key] = len(self.numbers)
                new[str(n)] = key
            cells.append([n, *entry])
        out: dict[str, Any] = {"c": cells}
        if new:
            out["k"] = new
        if model["times"]:
            out["times"] = model["times"]
        return out


def apply(snap: Snapshot, update: dict) -> None:
    """An update's rows and counts into the snapshot; a row older than the one in hand (an
    update the snapshot had already seen) is not taken."""
    for row in update.get("series", ()):
        key = pm.series_key(row["satellite"], row["station"], row["parameter"])
        held = snap.rows.get(key)
        if held is None or row["time"] >= held["time"]:
            snap.rows[key] = row
    if update.get("summary"):
        snap.summary = update["summary"]


def changed_cells(model: dict, shown: dict[str, tuple], charts: bool) -> dict | None:
    """The cells of `model` that differ from `shown` (updated to match), as a model of
    their own: text and state, with the point for chart traces on pages with charts."""
    cells, times = model["cells"], model["times"]
    out: dict[str, list] = {}
    out_times: list[str] = []
    index: dict[str, int] = {}
    for key, entry in cells.items():
        t = times[entry[2]] if charts and len(entry) > 3 else None
        seen = (entry[0], entry[1], t)
        if shown.get(key) == seen:
            continue
        shown[key] = seen
        if t is not None:
            if t not in index:
                index[t] = len(out_times)
                out_times.append(t)
            out[key] = [entry[0], entry[1], index[t], entry[3]]
        else:
            out[key] = entry[:2]
    return {"cells": out, "times": out_times} if out else None


async def read_events(r: httpx.Response) -> AsyncIterator[tuple[str, int | None, Any]]:
    """(event, id, data) of each Server-Sent Event of a response."""
    fields: dict[str, str] = {}
    async for line in r.aiter_lines():
        if line:
            key, _, value = line.partition(":")
            fields[key] = value.removeprefix(" ")
            continue
        if "event" in fields or "data" in fields:
            event_id = fields.get("id")
            yield (fields.get("event", "message"),
                   int(event_id) if event_id and event_id.isdigit() else None,
                   orjson.loads(fields["data"]) if fields.get("data") else None)
        fields = {}


async def _closed(ws: WebSocket) -> None:
    """Returns when the browser closes (it sends nothing else)."""
    while (await ws.receive())["type"] != "websocket.disconnect":
        pass


async def as_user(token: str, fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)` in a worker thread, its API calls made as the browser's user."""

    def run() -> T:
        with session.acting_as(token):
            return fn(*args)

    return await asyncio.to_thread(run)
