"""Database calls that hang are cut, so the API answers 503 instead of waiting on a database
node that stopped answering.

A PostgreSQL node that is frozen (a stopped process, a machine that hangs, a network path
that silently drops packets) keeps its TCP connections open: a query, a commit or a ping on
one waits for ever, and with it the request, the alarm server's lock and the pool slot. The
watch marks each connection busy while a call is on it and shuts the socket of one that has
been busy longer than the deadline: the call then fails at once as a lost connection, the
pool drops that connection, and the next one goes to whichever node is primary by then
(libpq's `target_session_attrs=read-write`). A killed node needs none of this (its
connections are reset); the watch is for the silent ones.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.exc import DisconnectionError

log = logging.getLogger(__name__)


class CallWatch:
    """Shuts the socket of a psycopg connection whose call has run past `deadline_s`."""

    def __init__(self, deadline_s: float) -> None:
        self.deadline_s = deadline_s
        self._busy: dict[int, tuple[Any, float]] = {}  # id(dbapi conn) -> (conn, since)
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="db-watch", daemon=True)
        self._thread.start()

    def busy(self, dbapi_conn: Any) -> None:
        with self._lock:
            self._busy[id(dbapi_conn)] = (dbapi_conn, time.monotonic())

    def idle(self, dbapi_conn: Any) -> None:
        with self._lock:
            self._busy.pop(id(dbapi_conn), None)

    def attach(self, engine: Engine) -> None:
        """Watch every call of a PostgreSQL engine, and ping a connection (watched) as it
        leaves the pool, so a dead one is replaced before a request uses it."""

        @event.listens_for(engine, "before_cursor_execute")
        def _before(conn: Any, *_: Any) -> None:
            self.busy(conn.connection.dbapi_connection)

        @event.listens_for(engine, "after_cursor_execute")
        def _after(conn: Any, *_: Any) -> None:
            self.idle(conn.connection.dbapi_connection)

        @event.listens_for(engine, "commit")
        def _commit(conn: Any) -> None:
            self.busy(conn.connection.dbapi_connection)  # idle again at check-in

        @event.listens_for(engine, "handle_error")
        def _error(context: Any) -> None:
            if context.connection is not None and context.connection.connection is not None:
                self.idle(context.connection.connection.dbapi_connection)

        @event.listens_for(engine.pool, "checkin")
        def _checkin(dbapi_conn: Any, _record: Any) -> None:
            if dbapi_conn is not None:
                self.idle(dbapi_conn)

        @event.listens_for(engine.pool, "checkout")
        def _ping(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
            try:
                with self.watching(dbapi_conn):
                    dbapi_conn.execute("SELECT 1")
                    dbapi_conn.rollback()
            except Exception as exc:  # the pool retries with a new connection
                raise DisconnectionError(str(exc)) from exc

    @contextmanager
    def watching(self, dbapi_conn: Any) -> Iterator[None]:
        """Watch a call the engine's events do not see (a COPY on the driver's cursor)."""
        self.busy(dbapi_conn)
        try:
            yield
        finally:
            self.idle(dbapi_conn)

    def _run(self) -> None:
        while True:
            time.sleep(min(0.5, self.deadline_s / 4))
            now = time.monotonic()
            with self._lock:
                late = [(c, now - t) for c, t in self._busy.values()
                        if now - t > self.deadline_s]
                for c, _ in late:
                    self._busy.pop(id(c), None)
            for c, waited in late:
                log.error("a database call has waited %.0f s with no answer: the node is "
                          "frozen or out of reach; its connection is cut (the request "
                          "answers 503 and the next goes to the primary there is then)", waited)
                cut(c)


def cut(dbapi_conn: Any) -> None:
    """Shut a psycopg connection's socket: a call blocked on it fails at once."""
    try:
        fd = dbapi_conn.pgconn.socket
        dup = socket.socket(fileno=os.dup(fd))
    except Exception:  # closed already, or not a socket connection
        return
    try:
        dup.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        dup.close()


_watch: CallWatch | None = None  # the process's watch, once `install`ed (the API's)


def install(deadline_s: float) -> CallWatch:
    """Watch the database calls of every PostgreSQL engine made from now on in this
    process (backend.db.make_engine attaches it)."""
    global _watch
    if _watch is None or _watch.deadline_s != deadline_s:
        _watch = CallWatch(deadline_s)
    return _watch


def current() -> CallWatch | None:
    return _watch


@contextmanager
def watching(dbapi_conn: Any) -> Iterator[None]:
    """`CallWatch.watching` with the process's watch, if any."""
    if _watch is None:
        yield
    else:
        with _watch.watching(dbapi_conn):
            yield
