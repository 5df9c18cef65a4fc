"""Keeping each API process's memory of the alarm state the same as the database's.

The alarm state (limit states, open alerts, acknowledgements, shelves, what alert email was
sent, limit overrides) lives in SQL. A process keeps a copy in memory, because the ingest
path checks every sample against it, and more than one process may change it: the Akkol and
Kokterek sites' APIs share one PostgreSQL cluster. So every change runs in one transaction
that first takes the cluster-wide write lock (`db.write_lock`, the one ingest takes too), then
compares the `alarm_generation` row with the generation this process's copy was made at.
Another writer since then: the copy is reloaded before anything is checked or changed. The
transaction ends by writing a new generation in this process's name.

Reads (the banner's counts, each series' state) compare the generation without the lock and
reload only when it moved. A change whose transaction did not commit leaves the copy unsure:
the next look reloads it.
"""

from __future__ import annotations

import uuid

from sqlalchemy import Connection, func, select, update

from backend import db

_ROW = db.alarm_generation.c
# PostgreSQL NOTIFY channel: a change of the alarm state committed, by the writer named in
# the payload (other API processes' live streams wake on it: backend/stream_feed.py).
CHANNEL = "kazsat_alarm"


class Generation:
    """Which generation of the alarm state this process's copy was made at.

    In a changing transaction, after `db.write_lock`: `sync` says whether the copy must be
    reloaded; `advance` records a change; after the commit `committed`, after a failure
    `failed`."""

    def __init__(self) -> None:
        self.writer = uuid.uuid4().hex  # this process, for as long as it runs
        self._seen: tuple[str, int] | None = None  # None: the copy is unsure
        self._read: tuple[str, int] | None = None  # as read in the transaction in hand
        self._written: tuple[str, int] | None = None  # as that transaction will leave it

    def sync(self, conn: Connection) -> bool:
        """True when the copy is not the database's as of this transaction: reload it."""
        self._read, self._written = self.read(conn), None
        return self._seen != self._read

    def advance(self, conn: Connection) -> None:
        """Record that this transaction changes the alarm state."""
        assert self._read is not None, "advance() before sync() in the transaction"
        if self._written is None:
            self._written = (self.writer, self._read[1] + 1)
            conn.execute(update(db.alarm_generation).where(_ROW.id == 1)
                         .values(writer=self._written[0], seq=self._written[1]))
            if conn.dialect.name == "postgresql":  # delivered to listeners at commit
                conn.execute(select(func.pg_notify(CHANNEL, self.writer)))

    def committed(self) -> None:
        self._seen = self._written or self._read
        self._read = self._written = None

    def failed(self) -> None:
        """The transaction did not commit: the copy may hold changes the database lacks."""
        self._seen = self._read = self._written = None

    def stale(self, conn: Connection) -> tuple[str, int] | None:
        """For a reader: the database's generation when the copy is not it, else None."""
        now = self.read(conn)
        return None if now == self._seen else now

    def loaded(self, generation: tuple[str, int]) -> None:
        """The copy was reloaded at `generation` by a reader."""
        self._seen = generation

    @staticmethod
    def read(conn: Connection) -> tuple[str, int]:
        row = conn.execute(select(_ROW.writer, _ROW.seq).where(_ROW.id == 1)).one()
        return row.writer, int(row.seq)
