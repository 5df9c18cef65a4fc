"""Probes for process managers and load balancers, open without a token.

- GET /healthz, liveness: the process answers and the background workers that keep alarms
  going (the alert tick, the email sender, the retention job when on) still run. 503 means
  restart the process; a database outage is not that (a restart would not mend it).
- GET /readyz, readiness: the SQL database takes a committed write and the telemetry store
  answers a read. 503 means send no traffic here for now. The answer names only the kind of
  failure per check (unreachable, out of disk space, failing); hosts, ports, database and
  file names stay in the log.
"""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Callable

from fastapi import APIRouter
from sqlalchemy import update
from sqlalchemy.exc import DBAPIError

from backend import db
from backend.api.deps import OrjsonResponse, ServicesDep
from backend.services import Services
from backend.store.base import StoreUnavailable

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"], default_response_class=OrjsonResponse)
_DISK_FULL = ("disk is full", "no space left", "could not extend file", "diskfull")


def disk_full(reason: str) -> bool:
    """SQLite's SQLITE_FULL, the OS's ENOSPC and PostgreSQL's 53100, as their texts say."""
    text = reason.lower()
    return any(words in text for words in _DISK_FULL)


def failure_kind(exc: BaseException) -> str:
    reason = str(getattr(exc, "orig", None) or exc)
    if disk_full(reason):
        return "out of disk space"
    if (isinstance(exc, DBAPIError) and exc.connection_invalidated) or \
            "connect" in reason.lower():
        return "unreachable"
    return "failing"


def workers(services: Services) -> list[str]:
    """The threads that must run: the duty lock's watch (PostgreSQL) and, in the process
    that holds the cluster's duties, each duty (backend/duties.py)."""
    duties = services.duties
    if duties is None:
        return []
    watch = [] if services.engine.dialect.name == "sqlite" else ["duties"]
    return watch + ([d.name for d in duties.duties] if duties.holding else [])


@router.get("/healthz")
def healthz(services: ServicesDep) -> OrjsonResponse:
    """Liveness: 200 {"status": "ok"} while the background workers run; else 503 naming
    the stopped ones."""
    running = {t.name for t in threading.enumerate() if t.is_alive()}
    stopped = [name for name in workers(services) if name not in running]
    if stopped:
        log.error("liveness: background workers stopped: %s", ", ".join(stopped))
        return OrjsonResponse({"status": "failing", "stopped": stopped}, status_code=503)
    return OrjsonResponse({"status": "ok"})


@router.get("/readyz")
def readyz(services: ServicesDep) -> OrjsonResponse:
    """Readiness: 200 when the database takes a write and the store answers; else 503 with
    the kind of failure per check ({"database": "out of disk space", "store": "ok"})."""
    checks = {"database": _check(_database_writes, services),
              "store": _check(lambda s: s.store.latest(), services)}
    ready = all(kind == "ok" for kind in checks.values())
    return OrjsonResponse({"status": "ready" if ready else "unavailable", "checks": checks},
                          status_code=200 if ready else 503,
                          headers={} if ready else {"Retry-After": "5"})


def _check(probe: Callable[[Services], object], services: Services) -> str:
    try:
        probe(services)
    except Exception as exc:  # any failure is the answer's content, never a 500
        kind = failure_kind(exc)
        log.error("readiness: %s: %s", kind, str(getattr(exc, "orig", None) or exc).strip())
        return kind
    return "ok"


def _database_writes(services: Services) -> None:
    """A committed write that changes nothing (the newest schema row onto itself): reading
    alone would pass on a full disk or a read-only file."""
    settings = services.settings
    if not settings.database_url:  # SQLite: a full disk may not fail a one-page write yet
        free = shutil.disk_usage(settings.data_dir).free
        if free < settings.ready_min_free_bytes:
            raise StoreUnavailable(f"disk is full: {free} bytes free in the data folder")
    v = db.schema_version.c
    with services.engine.begin() as conn:
        conn.execute(update(db.schema_version).where(v.version == v.version)
                     .values(applied_at=v.applied_at))
