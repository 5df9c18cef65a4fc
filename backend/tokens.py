"""API tokens for machines, and the check of every token a request brings: an API token or
a person's session token (backend/users.py) resolves to a Principal with a role."""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine, select, update

from backend import audit, db, users

log = logging.getLogger(__name__)
# How long a running API trusts its cached answer about an API token: a revoked token is
# refused within this many seconds (sessions: session_ttl_s, the same).
TOKEN_RECHECK_S = 5.0

ROLES = ("ingest", "viewer", "operator", "engineer", "metrics")
# What each role may do. Reading is open to every human role; writing telemetry only to
# ingest tokens, so a leaked dashboard token cannot inject data.
# Every role may read the mission database: a writer must know what it may send.
PERMISSIONS = {
    "ingest": {"write", "mission"},
    "viewer": {"read", "mission"},
    "operator": {"read", "mission", "ack"},
    "engineer": {"read", "mission", "ack", "limits", "access", "metrics"},  # access: tokens,
    # lock-outs; metrics: GET /metrics. A metrics token (Prometheus) reads that alone.
    "metrics": {"metrics"},
}


@dataclass(frozen=True)
class Principal:
    name: str
    role: str
    # For a person's session: the session token's digest, when it ends, and whether the
    # user must replace a one-time password before doing anything else.
    session: str | None = field(default=None, repr=False)
    expires_t: int | None = None
    must_change_password: bool = False

    def may(self, permission: str) -> bool:
        return permission in PERMISSIONS.get(self.role, set())


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(engine: Engine, role: str, name: str) -> str:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    token = f"ksat_{secrets.token_urlsafe(32)}"
    with engine.begin() as conn:
        conn.execute(db.tokens.insert().values(hash=_digest(token), role=role, name=name,
                                               created_at=time.time_ns(), revoked=False))
    return token


@dataclass(frozen=True)
class TokenInfo:
    id: int
    name: str
    role: str
    created_t: int
    revoked: bool


def list_tokens(engine: Engine) -> list[TokenInfo]:
    """Every API token (never the token itself: only its digest is stored), oldest first."""
    t = db.tokens.c
    with db.reader(engine).connect() as conn:
        rows = conn.execute(select(t.id, t.name, t.role, t.created_at, t.revoked)
                            .order_by(t.id)).all()
    return [TokenInfo(r.id, r.name, r.role, r.created_at, bool(r.revoked)) for r in rows]


def revoke_token(engine: Engine, token_id: int, actor: str) -> TokenInfo:
    """Revoke an API token for good, audited; a running API refuses it within
    TOKEN_RECHECK_S. LookupError when there is no such token."""
    t = db.tokens.c
    with engine.begin() as conn:
        row = conn.execute(select(t.id, t.name, t.role, t.created_at, t.revoked)
                           .where(t.id == token_id)).first()
        if row is None:
            raise LookupError(f"no API token {token_id}")
        if not row.revoked:
            conn.execute(update(db.tokens).where(t.id == token_id).values(revoked=True))
            audit.write(conn, actor, "token.revoke", f"token {row.id}",
                        {"name": row.name, "role": row.role})
    log.info("API token %d (%s, %s) revoked", row.id, row.name, row.role)
    return TokenInfo(row.id, row.name, row.role, row.created_at, True)


@dataclass
class _LiveSession:
    session: users.Session
    checked_t: int  # when SQL was last asked (disabled user, logout elsewhere)
    last_seen_t: int  # last use, in memory
    written_t: int  # last_seen_t as SQL has it


class TokenCache:
    """Verifies tokens against SQL, remembering answers briefly: ingest checks a token on
    every request and each open dashboard polls every second, neither may pay a query each
    time. API tokens are re-read every `ttl_s` (one revoked from the CLI is refused within
    that); session tokens every `session_ttl_s` (a user disabled from the CLI is out within
    that), their expiry is checked on every request, and their last use is written at most
    once a minute. `forget` drops a session at once (logout); `revoked` an API token."""

    def __init__(self, engine: Engine, ttl_s: float = TOKEN_RECHECK_S, idle_s: float = 1800.0,
                 session_ttl_s: float = TOKEN_RECHECK_S,
                 clock: Callable[[], int] = time.time_ns) -> None:
        self.engine = engine
        self.ttl_ns = int(ttl_s * 1e9)
        self.idle_s = idle_s
        self.session_ttl_ns = int(session_ttl_s * 1e9)
        self.touch_ns = min(users.TOUCH_EVERY_NS, int(idle_s * 1e9 / 4))
        self.clock = clock
        self._seen: dict[str, tuple[int, Principal | None]] = {}
        self._sessions: dict[str, _LiveSession] = {}

    def forget(self, token_digest: str) -> None:
        self._sessions.pop(token_digest, None)

    def revoked(self) -> None:
        """An API token was revoked in this process: ask SQL again for every token."""
        self._seen.clear()

    def _session(self, token: str) -> Principal | None:
        digest = _digest(token)
        now = self.clock()
        live = self._sessions.get(digest)
        if live is None or now - live.checked_t >= self.session_ttl_ns:
            found = users.find_session(self.engine, digest, self.idle_s, now)
            if found is None:
                self._sessions.pop(digest, None)
                return None
            seen = max(found.last_seen_t, live.last_seen_t if live else 0)
            if len(self._sessions) > 10_000:
                self._sessions.clear()
            live = self._sessions[digest] = _LiveSession(found, now, seen, found.last_seen_t)
        if now >= live.session.expires_t or now - live.last_seen_t >= self.idle_s * 1e9:
            self._sessions.pop(digest, None)
            return None
        live.last_seen_t = now
        if now - live.written_t >= self.touch_ns:
            users.touch_session(self.engine, digest, now)
            live.written_t = now
        user = live.session.user
        return Principal(user.name, user.role, digest, live.session.expires_t,
                         user.must_change_password)

    def verify(self, token: str) -> Principal | None:
        if token.startswith(users.SESSION_PREFIX):
            return self._session(token)
        digest = _digest(token)
        now = self.clock()
        hit = self._seen.get(digest)
        if hit and 0 <= now - hit[0] < self.ttl_ns:  # a clock stepped back asks again
            return hit[1]
        t = db.tokens.c
        with db.reader(self.engine).connect() as conn:
            row = conn.execute(select(t.name, t.role).where(t.hash == digest,
                                                            t.revoked.is_(False))).first()
        principal = Principal(row.name, row.role) if row else None
        if len(self._seen) > 10_000:
            self._seen.clear()
        self._seen[digest] = (now, principal)
        return principal
