"""The audit log: who did what to alerts and limits, and when. Rows are never changed."""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import Connection, Engine, select

from backend import db
from backend.timeutil import format_time


def write(conn: Connection, actor: str, action: str, target: str, detail: dict[str, Any],
          t_ns: int | None = None) -> None:
    """Add a row inside the caller's transaction, so the action and its record commit
    together."""
    conn.execute(db.audit.insert().values(
        t=t_ns if t_ns is not None else time.time_ns(), actor=actor, action=action,
        target=target, detail=json.dumps(detail, sort_keys=True)))


def read(engine: Engine, start_ns: int | None = None, end_ns: int | None = None,
         action: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    """Newest first: [{"id", "time", "actor", "action", "target", "detail"}]."""
    a = db.audit.c
    query = select(db.audit).order_by(a.id.desc()).limit(limit)
    if start_ns is not None:
        query = query.where(a.t >= start_ns)
    if end_ns is not None:
        query = query.where(a.t < end_ns)
    if action:
        query = query.where(a.action == action)
    with db.reader(engine).connect() as conn:
        rows = conn.execute(query).mappings()  # (Row.t is SQLAlchemy's own: use a mapping)
        return [{"id": r["id"], "time": format_time(r["t"]), "actor": r["actor"],
                 "action": r["action"], "target": r["target"], "detail": json.loads(r["detail"])}
                for r in rows]
