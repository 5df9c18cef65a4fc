"""The FastAPI application: lifespan, error shapes, routers."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DBAPIError

from backend.api import alerts, export, telemetry, write
from backend.api.deps import OrjsonResponse
from backend.services import build_services
from backend.settings import Settings, get_settings
from backend.store.base import StoreUnavailable

log = logging.getLogger(__name__)
CODES = {400: "invalid", 401: "unauthorized", 403: "forbidden", 404: "not found", 409: "conflict",
         413: "request too large", 503: "unavailable"}


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.services = build_services(settings)
        app.state.services.start_background()
        log.info("API ready (store %s)", settings.sql_url().split("?")[0])
        yield
        app.state.services.close()

    app = FastAPI(title="KazSat ground-segment monitor", version="1.0", lifespan=lifespan)
    app.include_router(write.router)
    app.include_router(telemetry.router)
    app.include_router(export.router)
    app.include_router(alerts.router)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict:
        return {"status": "ok"}

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> OrjsonResponse:
        code = CODES.get(exc.status_code, "error")
        return OrjsonResponse({"code": code, "message": exc.detail}, status_code=exc.status_code,
                              headers=exc.headers)

    @app.exception_handler(write.RefusedBatch)
    async def refused(_: Request, exc: write.RefusedBatch) -> OrjsonResponse:
        e = exc.error
        message = f"line {e.line}: {e.message}" if e.line else e.message
        return OrjsonResponse({"code": "invalid", "message": message, "line": e.line},
                              status_code=400)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> OrjsonResponse:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first.get("loc", ()))
        return OrjsonResponse({"code": "invalid", "message": f"{where}: {first.get('msg')}"},
                              status_code=400)

    @app.exception_handler(StoreUnavailable)
    @app.exception_handler(DBAPIError)
    async def unavailable(request: Request, exc: Exception) -> OrjsonResponse:
        # Any database failure a request meets (disk full, server stopped, file unwritable)
        # is the database's state, not a bug: 503 with the reason, and nothing half-stored.
        reason = str(exc) if isinstance(exc, StoreUnavailable) else \
            f"the database is unavailable: {str(getattr(exc, 'orig', exc)).splitlines()[0]}"
        log.error("%s %s: %s", request.method, request.url.path, reason)
        return OrjsonResponse({"code": "unavailable", "message": reason}, status_code=503,
                              headers={"Retry-After": "5"})

    return app
