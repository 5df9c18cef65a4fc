"""GET /api/v1/stream: the live stream, as Server-Sent Events (README "Live stream").

A subscriber names the series it wants as /latest does (satellite, station, and any number
of `parameter`s; none: everything) with a viewer, operator or engineer token or session,
checked as every read route checks it. Its stream then carries:

- `snapshot` (id: the update number it is current to): /latest's answer for those series,
  with the whole system's banner counts; first, unless it resumes;
- `update` (id: its number): `series`, rows of series whose newest sample or state changed
  (as /latest's rows); `alerts` changed (as /alerts' rows); `summary` when the counts moved;
- `heartbeat` when a second passed without an update (id: the last update number, when
  everything up to it has been sent);
- `refetch` before a fresh snapshot, when a reconnect's `Last-Event-ID` is no longer held;
- `resync`, then the end, when the subscriber fell too far behind: reconnect with the last
  id seen;
- `closed`, then the end, when the token was revoked or the session ended.

Updates are never held for a slow subscriber: backend.stream drops it instead.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from backend import status
from backend.api.deps import Entity, Reader, ServicesDep, check_entities
from backend.series import SeriesInfo
from backend.services import Services
from backend.stream import Filter, Lagged, StreamRefused, Subscription, message
from backend.timeutil import format_time

router = APIRouter(prefix="/api/v1", tags=["stream"])
log = logging.getLogger(__name__)
HEADERS = [(b"content-type", b"text/event-stream; charset=utf-8"),
           (b"cache-control", b"no-store"), (b"x-accel-buffering", b"no")]


@router.get("/stream", response_class=Response,
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "the stream (see the module's description)"},
                       401: {"description": "no or wrong token"},
                       403: {"description": "a role that may not read"},
                       404: {"description": "an unknown satellite, station or parameter"},
                       429: {"description": "past the live-stream limit per user or in all"}})
async def stream(request: Request, services: ServicesDep, who: Reader,
                 satellite: Entity = None, station: Entity = None,
                 parameter: Annotated[list[str] | None, Query(max_length=1000)] = None,
                 last_event_id: Annotated[str | None, Header()] = None) -> Response:
    """Server-Sent Events: new samples, state changes, alerts and banner counts as they
    are stored, for the series asked for. Resumes after `Last-Event-ID`."""
    check_entities(services, satellite, station)
    for key in parameter or ():
        if key not in services.mission.parameters:
            raise HTTPException(404, f"unknown parameter {key[:64]!r}")
    after = None
    if last_event_id and last_event_id.strip():
        if not last_event_id.strip().isascii() or not last_event_id.strip().isdigit():
            raise HTTPException(400, "Last-Event-ID must be the id of an update (digits)")
        after = int(last_event_id.strip())
    infos = services.registry.select(satellite, station, parameter)
    selected = None if not (satellite or station or parameter) else \
        frozenset(i.id for i in infos)
    f = Filter(selected, satellite, station, frozenset(parameter) if parameter else None)
    try:
        sub = services.hub.subscribe(who.name, f, after)
    except StreamRefused as exc:
        log.warning("live stream refused to %s: %s", who.name, exc)
        raise HTTPException(429, str(exc), headers={"Retry-After": "30"}) from None
    try:
        snapshot = None
        if after is None or sub.refetch:  # read after subscribing: no update falls between
            snapshot = await run_in_threadpool(live_snapshot, services, infos)
    except BaseException:
        services.hub.unsubscribe(sub)
        raise
    token = request.headers.get("authorization", "").partition(" ")[2].strip()
    log.info("live stream opened for %s (%s; %d open)", who.name,
             _describe(satellite, station, parameter, after), services.hub.count())
    return EventStream(services, sub, token, snapshot)


def live_snapshot(services: Services, infos: list[SeriesInfo]) -> dict[str, Any]:
    """/latest's answer for `infos`, with the banner counts of every series."""
    now = time.time_ns()
    samples = services.store.latest(now)
    every = status.series_rows(services.registry, services.limits, samples,
                               list(services.registry.by_id.values()), now)
    wanted = {(i.satellite, i.station, i.parameter.key) for i in infos}
    rows = [r for r in every if (r["satellite"], r["station"], r["parameter"]) in wanted]
    return {"now": format_time(now), "at": None, "series": rows,
            "summary": {**status.summarize(every), "alerts": services.alerts.summary()}}


class Stalled(Exception):
    """The subscriber took no data for stream_send_timeout_s."""


class EventStream(Response):
    """The stream's ASGI answer: runs until the client goes, falls behind or stalls, or its
    token stops being good; its subscription ends with it."""

    def __init__(self, services: Services, sub: Subscription, token: str,
                 snapshot: dict[str, Any] | None) -> None:
        super().__init__(media_type="text/event-stream")
        self.services, self.sub, self.token, self.snapshot = services, sub, token, snapshot

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
            run = asyncio.ensure_future(self._run(send))
            gone = asyncio.ensure_future(_disconnected(receive))
            done, _ = await asyncio.wait({run, gone}, return_when=asyncio.FIRST_COMPLETED)
            for task in (run, gone):
                task.cancel()
            await asyncio.gather(run, gone, return_exceptions=True)
            if run in done and run.exception() is None:  # it ended by itself: say so
                await self._send(send, b"", more=False)
        except (Stalled, OSError):
            pass  # the client is gone or stuck: nothing more to tell it
        finally:
            self.services.hub.unsubscribe(self.sub)
            log.info("live stream of %s closed", self.sub.who)

    async def _run(self, send: Send) -> None:
        settings = self.services.settings
        hub, sub = self.services.hub, self.sub
        if self.snapshot is not None:
            if sub.refetch:
                await self._send(send, message("refetch", {
                    "message": "the position asked for is no longer held; a snapshot follows"}))
            await self._send(send, message("snapshot", self.snapshot, sub.since))
            self.snapshot = None
        checked = time.monotonic()
        while True:
            try:
                update = await sub.next(settings.stream_recheck_s)
            except Lagged:
                await self._send(send, message("resync", {
                    "message": f"more than {hub.queue_events} updates behind: reconnect with "
                               "the last id seen (Last-Event-ID)"}))
                return
            if update is not None:
                data = update.wire(sub.filter)
                if data:
                    await self._send(send, data)
            else:
                await self._send(send, message("heartbeat", {"now": format_time(time.time_ns())},
                                               hub.position(sub)))
            if time.monotonic() - checked >= settings.stream_recheck_s:
                checked = time.monotonic()
                principal = await run_in_threadpool(self.services.tokens.verify, self.token)
                if principal is None or principal.must_change_password \
                        or not principal.may("read"):
                    log.info("live stream of %s closed: its token or session is no longer "
                             "good", sub.who)
                    await self._send(send, message("closed", {
                        "code": "unauthorized",
                        "message": "the session ended or the token was revoked"}))
                    return

    async def _send(self, send: Send, data: bytes, more: bool = True) -> None:
        timeout = self.services.settings.stream_send_timeout_s
        try:
            async with asyncio.timeout(timeout):  # not wait_for: see Subscription.next
                await send({"type": "http.response.body", "body": data, "more_body": more})
        except TimeoutError:
            log.warning("live stream of %s dropped: it took no data for %g s", self.sub.who,
                        timeout)
            raise Stalled from None


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def _describe(satellite: str | None, station: str | None, parameters: list[str] | None,
              after: int | None) -> str:
    what = "/".join(x for x in (station, satellite) if x) or "every entity"
    if parameters:
        what += f", {len(parameters)} parameters"
    return what + (f", resuming after {after}" if after is not None else "")
