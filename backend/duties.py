"""The cluster's duties: work that must run in exactly one API process at a time.

The alert-email sender, the alert tick (stale telemetry, email owed), retention and the
cluster watch would, run twice, send email twice or race each other. With PostgreSQL several
API processes share the database (one per site); the one that holds a session-level advisory
lock on the primary runs the duties, the others try for the lock every second. The lock is
the primary's: when the holder's database node dies, its connection and lock go with it, and
once a new primary takes writes another process takes the lock, within about a second. A
holder whose lock connection stops answering (a frozen node) gives the duties up after
the call deadline, before anyone else can take the lock on a new primary.

With SQLite one API process owns the database file: it always holds the duties.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Any, Protocol

import psycopg
from sqlalchemy import Engine

from backend import db_watch
from backend.store.base import NS

log = logging.getLogger(__name__)
DUTY_LOCK = 0x4B5A5344  # "KZSD": the advisory lock key of the duty holder


class Duty(Protocol):
    name: str

    def start(self) -> None: ...

    def stop(self) -> None: ...


class Duties:
    def __init__(self, engine: Engine, duties: list[Duty], check_s: float = 1.0) -> None:
        self.engine = engine
        self.duties = duties
        self.check_s = check_s
        self.since_t: int | None = None  # when this process took the duties (ns)
        self._conn: Any = None  # the lock's own connection (PostgreSQL)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="duties", daemon=True)

    @property
    def holding(self) -> bool:
        return self.since_t is not None

    def start(self) -> None:
        if self.engine.dialect.name == "sqlite":
            self._take()
        else:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)
        self._give_up("the API is stopping")

    # ---- the lock ----------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self._conn is None:
                    self._try_lock()
                else:
                    self._check()
            except Exception as exc:  # the database is away: try again next time
                self._give_up(f"its database connection failed ({_first_line(exc)})")
            self._stop.wait(self.check_s)

    def _try_lock(self) -> None:
        args, kwargs = self.engine.dialect.create_connect_args(self.engine.url)
        conn = psycopg.connect(*args, **kwargs, autocommit=True)
        try:
            with db_watch.watching(conn):
                got = conn.execute("SELECT pg_try_advisory_lock(%s)", (DUTY_LOCK,)).fetchone()
        except Exception:
            conn.close()
            raise
        if got and got[0]:
            self._conn = conn
            self._take()
        else:
            conn.close()

    def _check(self) -> None:
        with db_watch.watching(self._conn):
            self._conn.execute("SELECT 1")

    def _take(self) -> None:
        self.since_t = time.time_ns()
        log.warning("this API process now runs the cluster's duties: %s",
                    ", ".join(d.name for d in self.duties))
        for duty in self.duties:
            duty.start()

    def _give_up(self, why: str) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            db_watch.cut(conn)  # the lock goes with the session, whatever state it is in
            with contextlib.suppress(Exception):
                conn.close()
        if self.since_t is None:
            return
        held_s = (time.time_ns() - self.since_t) / NS
        self.since_t = None
        log.warning("this API process gives up the cluster's duties after %.0f s: %s", held_s,
                    why)
        for duty in self.duties:
            duty.stop()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
