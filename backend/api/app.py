"""The FastAPI application: lifespan, error shapes, routers, and the guards every request
passes (body size, unknown query parameters, CORS, security headers)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend import db_watch, files, metrics
from backend.api import (
    access,
    alerts,
    auth,
    cluster,
    eclipses,
    export,
    health,
    stream,
    telemetry,
    write,
)
from backend.api import metrics as metrics_route
from backend.api.deps import OrjsonResponse
from backend.devices import DeviceCookies
from backend.ratelimit import IngestLimiter, LoginThrottle
from backend.ratelimit_store import SqlStorage
from backend.services import build_services
from backend.settings import Settings, get_settings
from backend.store.base import StoreUnavailable
from backend.store.sql import SqlStore

log = logging.getLogger(__name__)
CODES = {400: "invalid", 401: "unauthorized", 403: "forbidden", 404: "not found", 409: "conflict",
         413: "request too large", 429: "too many requests", 503: "unavailable"}
MAX_ECHO = 200  # characters of a request's own text an error answer may repeat
WRITE_PATH = "/api/v2/write"  # streams its own body under max_body_bytes
SECURITY_HEADERS = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"no-referrer")]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db_watch.install(settings.db_call_timeout_s)
        app.state.services = build_services(settings)
        # Failed logins count in the database every API process on it shares.
        app.state.login_throttle = LoginThrottle.from_settings(
            SqlStorage(app.state.services.engine), settings)
        app.state.devices = DeviceCookies(
            settings.device_key or files.secret_file(settings.data_dir / "device_key"))
        app.state.proxy_secret = \
            settings.proxy_secret or files.secret_file(settings.data_dir / "proxy_secret")
        app.state.services.start_background()
        services = app.state.services
        state = metrics.StateCollector(services.engine, isinstance(services.store, SqlStore),
                                       lambda: health.workers(services))
        registry.register(state)
        log.info("API ready (database %s)", settings.sql_url_for_log())
        yield
        registry.unregister(state)
        app.state.services.close()

    app = FastAPI(title="KazSat ground-segment monitor", version="1.0", lifespan=lifespan,
                  dependencies=[Depends(known_query_only)])
    app.state.ingest_limiter = IngestLimiter(settings.ingest_rate_per_s, settings.ingest_burst)
    registry = app.state.metrics_registry = metrics.event_registry()
    app.include_router(auth.router)
    app.include_router(access.router)
    app.include_router(write.router)
    app.include_router(telemetry.router)
    app.include_router(stream.router)
    app.include_router(export.router)
    app.include_router(alerts.router)
    app.include_router(eclipses.router)
    app.include_router(cluster.router)
    app.include_router(health.router)
    app.include_router(metrics_route.router)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> OrjsonResponse:
        code = CODES.get(exc.status_code, "error")
        message = exc.detail if not isinstance(exc.detail, str) else capped(exc.detail)
        return OrjsonResponse({"code": code, "message": message}, status_code=exc.status_code,
                              headers=exc.headers)

    @app.exception_handler(write.RefusedBatch)
    async def refused(_: Request, exc: write.RefusedBatch) -> OrjsonResponse:
        e = exc.error
        message = f"line {e.line}: {e.message}" if e.line else e.message
        return OrjsonResponse({"code": "invalid", "message": capped(message), "line": e.line},
                              status_code=400)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> OrjsonResponse:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first.get("loc", ()))
        return OrjsonResponse({"code": "invalid",
                               "message": capped(f"{where}: {first.get('msg')}")},
                              status_code=400)

    @app.exception_handler(StoreUnavailable)
    @app.exception_handler(DBAPIError)
    @app.exception_handler(PoolTimeout)
    async def unavailable(request: Request, exc: Exception) -> OrjsonResponse:
        # Any database failure a request meets (disk full, server stopped, file unwritable)
        # is the database's state, not a bug: 503, and nothing half-stored. The reason names
        # hosts, ports, databases and files: it goes to the log, never to the caller.
        what = "telemetry store" if isinstance(exc, StoreUnavailable) else "database"
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        if read_only(exc):
            # A node that was primary and is a replica now (a switchover, a failover it
            # survived): its pooled connections go; new ones find the primary.
            request.app.state.services.engine.dispose()
        log.error("%s %s: the %s is unavailable: %s", request.method, request.url.path, what,
                  reason[0] if reason else type(exc).__name__)
        # A full disk is named, though: the writer's operator must free space, not wait.
        cause = "out of disk space" if health.disk_full(" ".join(reason)) else "unavailable"
        return OrjsonResponse({"code": "unavailable",
                               "message": f"the {what} is {cause}; try again shortly "
                                          "(the server log has the details)"},
                              status_code=503, headers={"Retry-After": "5"})

    @app.exception_handler(Exception)
    async def failed(request: Request, exc: Exception) -> OrjsonResponse:
        # A bug: the traceback to the log, a plain 500 to the caller (never its text).
        log.exception("%s %s failed", request.method, request.url.path)
        return OrjsonResponse({"code": "error", "message": "internal error (logged)"},
                              status_code=500)

    # Outermost last: security headers on every answer, CORS (only when origins are
    # configured; otherwise browsers keep other origins out), then the body limit.
    app.add_middleware(BodyLimit, limit=settings.max_json_bytes)
    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins,
                           allow_methods=["GET", "POST", "PUT", "DELETE"],
                           allow_headers=["Authorization", "Content-Type", "Content-Encoding"],
                           allow_credentials=False, max_age=600)
        log.info("CORS open to %s", ", ".join(settings.cors_origins))
    app.add_middleware(SecurityHeaders)
    metrics_route.instrumentator(registry).instrument(app)  # outermost: times all of it
    return app


def read_only(exc: BaseException) -> bool:
    """PostgreSQL's read_only_sql_transaction (25006): a write reached a replica."""
    while exc is not None:
        if getattr(exc, "sqlstate", None) == "25006":
            return True
        exc = exc.__cause__ or getattr(exc, "orig", None)  # type: ignore[assignment]
    return False


def capped(text: str) -> str:
    """An error message cut to MAX_ECHO characters: it may quote what the client sent."""
    return text if len(text) <= MAX_ECHO else f"{text[:MAX_ECHO]}… ({len(text)} characters)"


_known: dict[int, frozenset[str]] = {}


def known_query_only(request: Request) -> None:
    """400 for a query parameter the route does not take: a misspelt filter
    (?satelite=) must not silently answer for everything."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or route.path == WRITE_PATH:
        return  # InfluxDB clients may send parameters of their own
    known = _known.get(id(route))
    if known is None:
        known = _known[id(route)] = frozenset(_query_names(route.dependant))
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        expected = ", ".join(sorted(known)) or "none"
        raise HTTPException(400, f"unknown query parameter {unknown[0]!r} "
                                 f"(this route takes: {expected})")


def _query_names(dependant: Dependant) -> set[str]:
    names = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


class BodyLimit:
    """413 for a request body over `limit` bytes on every route but ingest, declared or
    streamed: JSON bodies here are small, and reading them whole first costs nothing."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] == WRITE_PATH or \
                scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            await self._too_large(scope, send)
            return
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.limit:
                await self._too_large(scope, send)
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, send: Send) -> None:
        response = OrjsonResponse({"code": "request too large",
                                   "message": f"body is over the {self.limit}-byte limit"},
                                  status_code=413)
        await response(scope, _no_receive, send)


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}


class SecurityHeaders:
    """nosniff, no framing, no referrer on every answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers)
