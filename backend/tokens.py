"""API tokens for machines and the dashboard: random, shown once, stored as SHA-256."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import Engine, select

from backend import db

ROLES = ("ingest", "viewer", "operator", "engineer")
# What each role may do. Reading is open to every human role; writing telemetry only to
# ingest tokens, so a leaked dashboard token cannot inject data.
# Every role may read the mission database: a writer must know what it may send.
PERMISSIONS = {
    "ingest": {"write", "mission"},
    "viewer": {"read", "mission"},
    "operator": {"read", "mission", "ack"},
    "engineer": {"read", "mission", "ack", "limits"},
}


@dataclass(frozen=True)
class Principal:
    name: str
    role: str

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


class TokenCache:
    """Verifies tokens against SQL, remembering answers briefly: ingest checks a token on
    every request and must not pay a query each time."""

    def __init__(self, engine: Engine, ttl_s: float = 30.0) -> None:
        self.engine = engine
        self.ttl_s = ttl_s
        self._seen: dict[str, tuple[float, Principal | None]] = {}

    def verify(self, token: str) -> Principal | None:
        digest = _digest(token)
        hit = self._seen.get(digest)
        if hit and time.monotonic() - hit[0] < self.ttl_s:
            return hit[1]
        t = db.tokens.c
        with db.reader(self.engine).connect() as conn:
            row = conn.execute(select(t.name, t.role).where(t.hash == digest,
                                                            t.revoked.is_(False))).first()
        principal = Principal(row.name, row.role) if row else None
        if len(self._seen) > 10_000:
            self._seen.clear()
        self._seen[digest] = (time.monotonic(), principal)
        return principal
