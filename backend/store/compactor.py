"""The compactor: a duty of the API process (backend/duties.py) that seals settled history.

Every compact_interval_s it asks the SQL store to seal each 6 h segment that ended more than
compact_settle_s ago into one compressed block per series (SqlStore.compact), each (series,
segment) in one short transaction under the writers' lock, so ingest waits for one block at
most and a kill loses nothing.
"""

from __future__ import annotations

import logging
import time

from backend.settings import Settings
from backend.store.sql import SqlStore
from backend.ticker import Ticker

log = logging.getLogger(__name__)


class Compactor:
    name = "compactor"

    def __init__(self, store: SqlStore, settings: Settings) -> None:
        self.store = store
        self.interval_s = settings.compact_interval_s
        # The first pass soon after start (after retention's, which may drop what is old).
        self._ticker = Ticker("compactor", self._compact, settings.compact_interval_s,
                              first_s=min(20.0, settings.compact_interval_s))

    def start(self) -> None:
        log.info("compactor every %g s: segments settled %g s sealed into blocks",
                 self.interval_s, self.store.settle_ns / 1e9)
        self._ticker.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._ticker.stop(timeout_s)

    def _compact(self) -> None:
        c0 = time.perf_counter()
        sealed = self.store.compact(stopping=self._ticker.stopping)
        if sealed:
            log.info("compactor: sealed %d samples into blocks in %.1f s", sealed,
                     time.perf_counter() - c0)
