"""Access management over HTTP, for engineers: API tokens (list, revoke) and login
lock-outs (clear). The CLI does the same (`kazsat token …`, `kazsat user unlock`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Request

from backend import audit, tokens
from backend.api.deps import OrjsonResponse, ServicesDep, require
from backend.ratelimit import LoginThrottle
from backend.timeutil import format_time
from backend.tokens import Principal

router = APIRouter(prefix="/api/v1", tags=["access"], default_response_class=OrjsonResponse)
Engineer = Annotated[Principal, Depends(require("access"))]
TokenId = Annotated[int, Path(ge=1, le=2**53, description="token id (GET /api/v1/tokens)")]
UserName = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$", description="user name")]


def describe(info: tokens.TokenInfo) -> dict[str, Any]:
    return {"id": info.id, "name": info.name, "role": info.role,
            "created": format_time(info.created_t), "revoked": info.revoked}


@router.get("/tokens")
def list_tokens(services: ServicesDep, _: Engineer) -> OrjsonResponse:
    """Every API token: id, name, role, when made, whether revoked (never the token)."""
    return OrjsonResponse({"tokens": [describe(t) for t in tokens.list_tokens(services.engine)]})


@router.post("/tokens/{token_id}/revoke")
def revoke_token(token_id: TokenId, services: ServicesDep, who: Engineer) -> OrjsonResponse:
    """Revoke an API token for good: refused at once here, within 5 s by other processes."""
    try:
        info = tokens.revoke_token(services.engine, token_id, who.name)
    except LookupError as exc:
        raise HTTPException(404, str(exc)) from None
    services.tokens.revoked()
    return OrjsonResponse(describe(info))


@router.post("/auth/locks/{name}/clear")
def clear_lock(name: UserName, request: Request, services: ServicesDep,
               who: Engineer) -> OrjsonResponse:
    """Clear every login lock-out on a user name (from every address): the person may try
    again at once. Audited."""
    throttle: LoginThrottle = request.app.state.login_throttle
    cleared = throttle.clear(name)
    with services.engine.begin() as conn:
        audit.write(conn, who.name, "login.unlock", f"user {name}", {"cleared": cleared})
    return OrjsonResponse({"name": name, "cleared": cleared})
