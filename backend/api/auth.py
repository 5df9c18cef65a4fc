"""People log in here and get a session token, sent afterwards like an API token
(`Authorization: Token …` or `Bearer …`); every route checks its role the same way."""

from __future__ import annotations

import ipaddress
import logging
import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from backend import users
from backend.api.deps import OrjsonResponse, ServicesDep, caller
from backend.devices import DeviceCookies
from backend.metrics import LOGIN_FAILURES
from backend.ratelimit import LoginThrottle, retry_after_header
from backend.timeutil import format_time
from backend.tokens import PERMISSIONS, Principal

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1/auth", tags=["auth"], default_response_class=OrjsonResponse)
NO_STORE = {"Cache-Control": "no-store"}
PROXY_HEADER = "x-kazsat-proxy"  # holds the proxy secret (settings.proxy_secret)
WRONG = "wrong user name or password"  # the same for an unknown name: names are not told


class LoginBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=users.MAX_PASSWORD_LENGTH)
    # The device cookie a previous login here answered with (the dashboard keeps it).
    device: str | None = Field(default=None, max_length=512)


class PasswordBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    old: str = Field(min_length=1, max_length=users.MAX_PASSWORD_LENGTH)
    new: str = Field(min_length=1, max_length=users.MAX_PASSWORD_LENGTH)


def client_address(request: Request) -> str:
    """The address failed logins are counted under: the peer's, or, when the peer is a
    trusted proxy that shows the proxy secret (the dashboard), the last address it put in
    X-Forwarded-For. Anyone else's X-Forwarded-For is ignored: a local process could
    otherwise pick a fresh address for every guess."""
    peer = request.client.host if request.client else "unknown"
    forwarded = request.headers.get("x-forwarded-for", "")
    if forwarded and trusted(peer, request.app.state.services.settings.trusted_proxies) \
            and secrets.compare_digest(request.headers.get(PROXY_HEADER, "").encode(),
                                       request.app.state.proxy_secret.encode()):
        return forwarded.split(",")[-1].strip() or peer
    return peer


def trusted(peer: str, proxies: list[str]) -> bool:
    """Whether the peer is one of the addresses or networks (CIDR, e.g. a compose network)
    listed."""
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    for entry in proxies:
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            log.warning("trusted_proxies: %r is neither an address nor a network", entry)
    return False


def throttle(request: Request) -> LoginThrottle:
    login_throttle: LoginThrottle = request.app.state.login_throttle  # State holds Any
    return login_throttle


Caller = Annotated[Principal, Depends(caller)]


def describe(p: Principal) -> dict[str, Any]:
    """Who a caller is and what their role may do (the dashboard shows only what they may)."""
    return {"name": p.name, "role": p.role, "kind": "session" if p.session else "token",
            "expires": format_time(p.expires_t) if p.expires_t else None,
            "must_change_password": p.must_change_password,
            "permissions": sorted(PERMISSIONS.get(p.role, ()))}


@router.post("/login", responses={401: {"description": WRONG},
                                  429: {"description": "too many failed logins; Retry-After"}})
def login(body: LoginBody, request: Request, services: ServicesDep) -> OrjsonResponse:
    """A session token for a user name and password, and a device cookie to bring to the
    next login (`device`). 401 for a wrong name or password alike; 429 after too many
    failures for the name or from the address, unless the device cookie shows this client
    logged in as the name before (README "Security")."""
    address = client_address(request)
    limiter = throttle(request)
    devices: DeviceCookies = request.app.state.devices
    device = devices.check(body.device, body.username)
    wait = limiter.retry_after(body.username, address, device)
    if wait is not None:
        log.warning("login for %r from %s%s refused: too many failed attempts (wait %.0f s)",
                    body.username, address, " (known device)" if device else "", wait)
        LOGIN_FAILURES.labels("throttled").inc()
        raise HTTPException(429, f"too many failed logins; try again in {wait:.0f} s",
                            headers=retry_after_header(wait))
    user = users.authenticate(services.engine, body.username, body.password)
    if user is None:
        limiter.failed(body.username, address, device)
        LOGIN_FAILURES.labels("wrong_password").inc()
        log.warning("login failed for %r from %s", body.username, address)
        raise HTTPException(401, WRONG, headers={"WWW-Authenticate": "Token"})
    limiter.succeeded(body.username, address, device)
    settings = services.settings
    users.expire_sessions(services.engine, settings.session_idle_s)
    token, session = users.open_session(services.engine, user, settings.session_max_s)
    log.info("user %s (%s) logged in from %s", user.name, user.role, address)
    return OrjsonResponse({"token": token, "name": user.name, "role": user.role,
                           "expires": format_time(session.expires_t),
                           "must_change_password": user.must_change_password,
                           "device": devices.issue(user.name)},
                          headers=NO_STORE)


@router.post("/logout", status_code=204, response_class=Response)
def logout(who: Caller, services: ServicesDep) -> Response:
    """End the session whose token the request carries."""
    if who.session is None:
        raise HTTPException(400, "an API token does not log out; revoke it instead")
    users.close_session(services.engine, who.session)
    services.tokens.forget(who.session)
    log.info("user %s logged out", who.name)
    return Response(status_code=204)


@router.get("/me")
def me(who: Caller) -> OrjsonResponse:
    """Who the token belongs to: name, role, session or API token, expiry, and the
    permissions of the role (read, mission, ack, limits, access, write)."""
    return OrjsonResponse(describe(who), headers=NO_STORE)


@router.post("/password")
def change_password(body: PasswordBody, who: Caller, request: Request,
                    services: ServicesDep) -> OrjsonResponse:
    """Replace the logged-in user's password (the one-time one too). The user's other
    sessions end; this one stays."""
    if who.session is None:
        raise HTTPException(400, "log in as a user to change a password")
    # Wrong current passwords count per session, like a device cookie's failures: the
    # session proves a login, so strangers guessing at the name cannot block the change.
    address, session = client_address(request), f"session:{who.session}"
    wait = throttle(request).retry_after(who.name, address, session)
    if wait is not None:
        raise HTTPException(429, f"too many failed attempts; try again in {wait:.0f} s",
                            headers=retry_after_header(wait))
    try:
        users.change_password(services.engine, who.name, body.old, body.new,
                              services.settings.password_min_length, keep_session=who.session)
    except users.PasswordRejected as exc:
        raise HTTPException(400, str(exc)) from None
    except users.UserError as exc:  # the current password is wrong: counts as a failure
        throttle(request).failed(who.name, address, session)
        raise HTTPException(400, str(exc)) from None
    services.tokens.forget(who.session)
    return OrjsonResponse({**describe(who), "must_change_password": False}, headers=NO_STORE)
