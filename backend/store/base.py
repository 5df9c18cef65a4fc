"""The storage interface every time-series store implements, and what it returns."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

# Rollup levels in seconds, finest first. A 1,000-bucket query over any range then reads a
# few rollup rows per bucket, at most ROWS_PER_BUCKET (docs/storage.md, Range queries).
LEVELS_S: tuple[int, ...] = (60, 600, 3600, 86400)
LEVEL_NAMES = {60: "1m", 600: "10m", 3600: "1h", 86400: "1d"}
NS = 1_000_000_000
# Sealed history is kept per series in segments of this length from the epoch, one compressed
# block each (benchmarks/codecs.py: 6 h compress as well as 24 h and decode 4x less for a
# point read; 1 h is a fifth larger). It divides a day, so retention's day-edge cut-offs
# drop whole segments.
SEGMENT_S = 21_600
# A sample more than this ahead of the server clock is stored (replay shows it at its time)
# but is not the present: it does not become its series' latest value and is not limit
# checked live. The margin allows for ordinary clock skew between senders and the server.
CLOCK_TOLERANCE_S = 5.0


@dataclass
class Batch:
    """Samples as three parallel columns: series id, time (ns, UTC), value."""

    series_ids: list[int] = field(default_factory=list)
    times: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.times)


@dataclass
class Buckets:
    """Aggregates per bucket; `times` are bucket starts (ns)."""

    times: list[int]
    min: list[float]
    max: list[float]
    mean: list[float]
    count: list[int]


@dataclass
class DamagedSpan:
    """Stored samples that cannot be read (a block that fails to decode): left out of every
    answer, and said so."""

    series_id: int
    start_ns: int
    end_ns: int
    reason: str


@dataclass
class RangeResult:
    resolution: str  # "raw" or a level name such as "1m"
    bucket_s: float | None  # the bucket width, None for raw samples
    times: list[int]
    values: list[float] | None = None  # raw samples
    buckets: Buckets | None = None
    damaged: list[DamagedSpan] = field(default_factory=list)  # left out of the answer


class StoreUnavailable(RuntimeError):
    """The store cannot be reached or written (disk full, server down): answer 503."""


class WriteHook(Protocol):
    """Work that takes part in a SQL store's write transaction (limit checking and alerts)."""

    def begin(self, conn: Any) -> None:
        """First in the transaction, after the store's lock and before any sample is written."""

    def stored(self, conn: Any, batch: Batch) -> None:
        """The samples that were new, before the transaction commits."""


class TelemetryStore(Protocol):
    def write(self, batch: Batch, now_ns: int | None = None) -> Batch:
        """Store a batch atomically and durably; return the samples that were new
        (a sample whose series and time are already stored is ignored: the first stands).
        Samples more than the clock tolerance ahead of `now_ns` (default: the server
        clock) are stored but never become their series' latest."""

    def latest(self, now_ns: int | None = None) -> dict[int, tuple[int, float]]:
        """Every series' latest (time, value): its newest sample that was not ahead of
        the server clock (beyond the tolerance); never one ahead of `now_ns` + tolerance."""

    def at(self, t_ns: int) -> dict[int, tuple[int, float]]:
        """Every series' last (time, value) at or before t_ns."""

    def range(self, series_id: int, start_ns: int, end_ns: int, max_points: int) -> RangeResult:
        """Samples in [start, end): raw when there are at most max_points, else at most
        max_points buckets from the coarsest rollup level that still gives enough."""

    def export(self, series_ids: list[int], start_ns: int, end_ns: int,
               level_s: int | None) -> Iterator[tuple[Any, ...]]:
        """Stream (series_id, t, value) raw, or (series_id, bucket_t, min, max, mean, count,
        first, last) at a rollup level, ordered by series then time."""

    def close(self) -> None: ...
