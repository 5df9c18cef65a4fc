"""Dependencies shared by the routes: the services, the caller, JSON responses, and the
request helpers that turn query parameters into times and series (400/404 saying why)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Annotated, Any

import orjson
from fastapi import Depends, HTTPException, Query, Request, Response

from backend.ratelimit import retry_after_header
from backend.series import SeriesInfo
from backend.services import Services
from backend.timeutil import parse_time
from backend.tokens import Principal


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services  # set by the app's lifespan
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def caller(request: Request) -> Principal:
    """The principal behind `Authorization: Token <token>` (or Bearer); 401 otherwise."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() not in ("token", "bearer") or not token.strip():
        raise HTTPException(401, "missing token: send 'Authorization: Token <token>'",
                            headers={"WWW-Authenticate": "Token"})
    principal = get_services(request).tokens.verify(token.strip())
    if principal is None:
        raise HTTPException(401, "invalid or revoked token", headers={"WWW-Authenticate": "Token"})
    return principal


def require(permission: str) -> Callable[[Principal], Principal]:
    def check(principal: Annotated[Principal, Depends(caller)]) -> Principal:
        if principal.must_change_password:
            raise HTTPException(403, "change the one-time password first "
                                     "(POST /api/v1/auth/password)")
        if not principal.may(permission):
            raise HTTPException(403, f"role {principal.role!r} may not {permission}")
        return principal

    return check


def ingest_writer(request: Request,
                  principal: Annotated[Principal, Depends(require("write"))]) -> Principal:
    """A writer within its request rate (per token); 429 with Retry-After beyond it."""
    token = request.headers.get("authorization", "").partition(" ")[2].strip()
    wait = request.app.state.ingest_limiter.take(hashlib.sha256(token.encode()).hexdigest())
    if wait is not None:
        raise HTTPException(429, "too many write requests for this token; retry later",
                            headers=retry_after_header(wait))
    return principal


Reader = Annotated[Principal, Depends(require("read"))]
Writer = Annotated[Principal, Depends(ingest_writer)]


class OrjsonResponse(Response):
    """JSON through orjson: about 15x FastAPI's default encoder here (docs/storage.md, HTTP)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


# ---- request helpers ------------------------------------------------------------------------

Entity = Annotated[str | None, Query(pattern=r"^[a-z0-9-]{1,32}$")]


def request_time(text: str, name: str) -> int:
    try:
        return parse_time(text, name)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None


def request_range(start: str, end: str) -> tuple[int, int]:
    """[start, end) of a request in ns; 400 unless end is after start."""
    start_ns, end_ns = request_time(start, "start"), request_time(end, "end")
    if end_ns <= start_ns:
        raise HTTPException(400, "end must be after start")
    return start_ns, end_ns


def find_series(services: Services, satellite: str | None, station: str | None,
                parameters: list[str]) -> list[SeriesInfo]:
    """The series named by a request, in its order, each once (a parameter named 200 times
    is read once, not 200 times); 404 naming the first that does not exist."""
    check_entities(services, satellite, station)
    found = []
    for key in dict.fromkeys(parameters):
        info = services.registry.find(satellite, station, key)
        if info is None:
            raise HTTPException(404, f"no series {label(satellite, station, key)}")
        found.append(info)
    return found


def check_entities(services: Services, satellite: str | None, station: str | None) -> None:
    if satellite is not None and satellite not in services.mission.satellites:
        raise HTTPException(404, f"unknown satellite {satellite!r}")
    if station is not None and station not in services.mission.stations:
        raise HTTPException(404, f"unknown station {station!r}")


def label(satellite: str | None, station: str | None, key: str) -> str:
    return "/".join(x for x in (station, satellite, key) if x)
