"""Move history from one store to another: raw samples, series by series, in batches.

Series are matched by (satellite, station, parameter), not by id: two databases may have
numbered them differently. A SQL destination builds its rollups as the samples arrive.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from backend import db
from backend.mission import load_mission
from backend.series import SeriesRegistry
from backend.settings import Settings
from backend.store.base import Batch, TelemetryStore
from backend.store.sql import SqlStore

log = logging.getLogger(__name__)
BATCH = 5000
FAR_FUTURE = 2**62


@dataclass
class Endpoint:
    store: TelemetryStore
    registry: SeriesRegistry


def open_endpoint(url: str, settings: Settings) -> Endpoint:
    """A store from a URL: a SQLAlchemy URL, or influxdb://ORG:TOKEN@HOST:PORT/BUCKET (its
    series registry is the one in the settings' SQL database)."""
    mission = load_mission(settings.mission_file)
    if url.startswith("influxdb"):
        from backend.store.influx import InfluxStore

        engine = db.make_engine(settings.sql_url())
        db.upgrade(engine)
        registry = SeriesRegistry(engine, mission)
        return Endpoint(InfluxStore.from_url(url, registry, settings), registry)
    engine = db.make_engine(url)
    db.upgrade(engine)
    return Endpoint(SqlStore(engine), SeriesRegistry(engine, mission))


def copy_history(source: Endpoint, dest: Endpoint, start_ns: int = 0, end_ns: int = FAR_FUTURE,
                 progress: Callable[[int, int, int], None] | None = None) -> int:
    """Copy every series' raw samples in [start, end); return how many the destination
    stored. `progress(series_done, series_total, samples_copied)` after each batch."""
    found = [(info.id, dest.registry.find(info.satellite, info.station, info.parameter.key))
             for info in source.registry.by_id.values()]
    pairs = [(a, b.id) for a, b in found if b is not None]
    copied = stored = 0
    for done, (src_id, dst_id) in enumerate(pairs, start=1):
        batch = Batch()
        for _, t, value in source.store.export([src_id], start_ns, end_ns, None):
            batch.series_ids.append(dst_id)
            batch.times.append(t)
            batch.values.append(value)
            if len(batch) == BATCH:
                stored += len(dest.store.write(batch))
                copied += len(batch)
                batch = Batch()
                if progress:
                    progress(done - 1, len(pairs), copied)
        if batch:
            stored += len(dest.store.write(batch))
            copied += len(batch)
        if progress:
            progress(done, len(pairs), copied)
    log.info("copied %d samples of %d series; the destination stored %d new", copied,
             len(pairs), stored)
    return stored
