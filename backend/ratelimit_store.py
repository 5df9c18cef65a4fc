"""A storage for the `limits` rate-limiting library in the SQL database (table rate_limits):
what it counts is shared by every API process on that database and survives restarts.

`limits` ships storages for memory, Redis, Memcached and MongoDB; this project's processes
already share one SQL database (SQLite, or PostgreSQL for two sites), so the counts go there
rather than into a server of their own. One row per hit; the moving window counts a key's
rows younger than the limit's period, the fixed window its rows until the window's end.

Concurrency: a hit counts and inserts in one transaction. SQLite serializes writers, so a
limit holds exactly; on PostgreSQL two hits on one key at the same instant from two processes
may both be let in at the limit's edge (one hit over), never fewer counted.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from limits.storage import MovingWindowSupport, Storage
from sqlalchemy import Connection, Engine, delete, func, insert, select
from sqlalchemy.exc import SQLAlchemyError

from backend import db

hits = db.rate_limits


class SqlStorage(Storage, MovingWindowSupport):
    """limits' storage interface (fixed and moving windows) over SQLAlchemy."""

    def __init__(self, engine: Engine, clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.engine = engine
        self.clock = clock

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return SQLAlchemyError

    # ---- moving window ----------------------------------------------------------------------

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        if amount > limit:
            return False
        now = self.clock()
        with self.engine.begin() as conn:
            self._forget_expired(conn, now)
            held = conn.execute(select(func.count()).where(
                hits.c.key == key, hits.c.t > now - expiry)).scalar_one()
            if held + amount > limit:
                return False
            self._insert(conn, key, now, now + expiry, amount)
        return True

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        """(the oldest hit in the window, or now; how many hits the window holds)."""
        now = self.clock()
        with db.reader(self.engine).connect() as conn:
            oldest, count = conn.execute(select(func.min(hits.c.t), func.count()).where(
                hits.c.key == key, hits.c.t > now - expiry)).one()
        return (float(oldest) if count else now), int(count)

    # ---- fixed window -----------------------------------------------------------------------

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = self.clock()
        with self.engine.begin() as conn:
            self._forget_expired(conn, now)
            ends = conn.execute(select(func.max(hits.c.expires_t))
                                .where(hits.c.key == key)).scalar()
            self._insert(conn, key, now, float(ends) if ends is not None else now + expiry,
                         amount)
            return int(conn.execute(select(func.count()).where(hits.c.key == key))
                       .scalar_one())

    def get(self, key: str) -> int:
        with db.reader(self.engine).connect() as conn:
            return int(conn.execute(select(func.count()).where(
                hits.c.key == key, hits.c.expires_t > self.clock())).scalar_one())

    def get_expiry(self, key: str) -> float:
        now = self.clock()
        with db.reader(self.engine).connect() as conn:
            ends = conn.execute(select(func.max(hits.c.expires_t)).where(
                hits.c.key == key, hits.c.expires_t > now)).scalar()
        return float(ends) if ends is not None else now

    # ---- keys -------------------------------------------------------------------------------

    def clear(self, key: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(hits).where(hits.c.key == key))

    def clear_prefix(self, prefix: str) -> int:
        """Forget every key starting with `prefix` (a user name's counts from every address);
        how many keys there were."""
        match = hits.c.key.startswith(prefix, autoescape=True)
        with self.engine.begin() as conn:
            keys = conn.execute(select(func.count(hits.c.key.distinct())).where(match))
            count = int(keys.scalar_one())
            conn.execute(delete(hits).where(match))
        return count

    def check(self) -> bool:
        try:
            with db.reader(self.engine).connect() as conn:
                conn.execute(select(1))
        except SQLAlchemyError:
            return False
        return True

    def reset(self) -> int | None:
        with self.engine.begin() as conn:
            return conn.execute(delete(hits)).rowcount

    @staticmethod
    def _forget_expired(conn: Connection, now: float) -> None:
        conn.execute(delete(hits).where(hits.c.expires_t <= now))

    @staticmethod
    def _insert(conn: Connection, key: str, t: float, expires_t: float, amount: int) -> None:
        conn.execute(insert(hits), [{"key": key, "t": t, "expires_t": expires_t}] * amount)
