"""The storage interface every time-series store implements, and what it returns."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

# Rollup levels in seconds, finest first. A 1,000-bucket query over any range then reads
# about ten rollup rows per bucket at most (PERFORMANCE.md).
LEVELS_S: tuple[int, ...] = (60, 600, 3600, 86400)
LEVEL_NAMES = {60: "1m", 600: "10m", 3600: "1h", 86400: "1d"}
NS = 1_000_000_000


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
class RangeResult:
    resolution: str  # "raw" or a level name such as "1m"
    bucket_s: float | None  # the bucket width, None for raw samples
    times: list[int]
    values: list[float] | None = None  # raw samples
    buckets: Buckets | None = None


class StoreUnavailable(RuntimeError):
    """The store cannot be reached or written (disk full, server down): answer 503."""


class TelemetryStore(Protocol):
    def write(self, batch: Batch) -> Batch:
        """Store a batch atomically and durably; return the samples that were new
        (a sample whose series and time are already stored is ignored: the first stands)."""

    def latest(self) -> dict[int, tuple[int, float]]:
        """Every series' latest (time, value)."""

    def at(self, t_ns: int) -> dict[int, tuple[int, float]]:
        """Every series' last (time, value) at or before t_ns."""

    def range(self, series_id: int, start_ns: int, end_ns: int, max_points: int) -> RangeResult:
        """Samples in [start, end): raw when there are at most max_points, else at most
        max_points buckets from the coarsest rollup level that still gives enough."""

    def export(self, series_ids: list[int], start_ns: int, end_ns: int,
               level_s: int | None) -> Iterator[tuple]:
        """Stream (series_id, t, value) raw, or (series_id, bucket_t, min, max, mean, count,
        first, last) at a rollup level, ordered by series then time."""

    def rebuild_rollups(self, progress: object = None) -> int:
        """Recompute every rollup from raw samples; return the rows written."""

    def close(self) -> None: ...
