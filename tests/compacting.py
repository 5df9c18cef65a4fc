"""A SQL store that seals everything it holds into blocks after every write: the contract,
rollup, retention, copy and replay suites run on it to check that every read path answers
the same from blocks (and from rows beside blocks: late samples) as from rows alone."""

from __future__ import annotations

from backend.store.base import Batch, WriteHook
from backend.store.sql import SqlStore


class CompactingStore(SqlStore):
    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("settle_s", 0.0)  # a horizon of now: every segment is settled
        super().__init__(*args, **kwargs)

    def write(self, batch: Batch, now_ns: int | None = None,
              hook: WriteHook | None = None) -> Batch:
        stored = super().write(batch, now_ns, hook)
        self.compact(now_ns=2**62)  # seal even the segments in the future
        return stored
