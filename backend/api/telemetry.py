"""Read API: the mission database, latest values, ranges, station status (the rules of
states and station status live in backend.status)."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from backend import status
from backend.api.deps import (
    Entity,
    OrjsonResponse,
    Reader,
    ServicesDep,
    check_entities,
    find_series,
    request_range,
    request_time,
    require,
)
from backend.timeutil import format_time
from backend.tokens import Principal

router = APIRouter(prefix="/api/v1", tags=["telemetry"], default_response_class=OrjsonResponse)


@router.get("/mission")
def mission(services: ServicesDep,
            _: Annotated[Principal, Depends(require("mission"))]) -> OrjsonResponse:
    """Satellites, stations, subsystems and every parameter, and the list of series as
    [satellite, station, parameter]. A parameter's `limits` are the effective ones (an
    engineer's override applied); `default_limits` are the mission database's."""
    body = services.mission.document()
    services.alerts.refresh()  # overrides made at the other site count
    for key, item in body["parameters"].items():
        p = services.mission.parameters[key]
        item["default_limits"] = item["limits"]
        item["limits"] = services.limits.effective_limits(p).model_dump(mode="json")
    return OrjsonResponse(body)


@router.get("/latest")
def latest(services: ServicesDep, _: Reader, satellite: Entity = None, station: Entity = None,
           at: str | None = None) -> OrjsonResponse:
    """Every series' latest time, value and limit state (nominal, warning, critical, stale);
    with `at`, the last value at or before that time and its state then."""
    check_entities(services, satellite, station)
    services.alerts.refresh()  # states moved by the other site's ingest count
    now = time.time_ns()
    at_ns = request_time(at, "at") if at else None
    samples = services.store.at(at_ns) if at_ns is not None else services.store.latest(now)
    rows = status.series_rows(services.registry, services.limits, samples,
                              services.registry.select(satellite, station), now, at_ns)
    return OrjsonResponse({"now": format_time(now), "at": format_time(at_ns) if at_ns else None,
                           "series": rows, "summary": {**status.summarize(rows),
                                                       "alerts": services.alerts.summary()}})


@router.get("/series")
def series(services: ServicesDep, _: Reader,
           parameter: Annotated[list[str], Query(min_length=1, max_length=20)],
           satellite: Entity = None, station: Entity = None,
           start: str = Query(..., description="RFC 3339, e.g. 2026-11-25T00:00:00Z"),
           end: str = "now", max_points: int = Query(1000, ge=2, le=20000)) -> OrjsonResponse:
    """Points of one or more parameters in [start, end): raw samples when the range holds
    at most max_points, else min/max/mean/count buckets from the coarsest rollup level that
    gives enough; `resolution` says which. Stored history that cannot be read (a damaged
    block) is left out and listed under `damaged` with its time range."""
    start_ns, end_ns = request_range(start, end)
    out: list[dict[str, Any]] = []
    for info in find_series(services, satellite, station, parameter):
        result = services.store.range(info.id, start_ns, end_ns, max_points)
        item: dict[str, Any] = {"satellite": info.satellite, "station": info.station,
                "parameter": info.parameter.key,
                "unit": info.parameter.unit, "resolution": result.resolution,
                "bucket_s": result.bucket_s, "time": [format_time(t) for t in result.times]}
        if result.damaged:  # left out of the answer, said so (never a 500 for the rest)
            item["damaged"] = [{"start": format_time(d.start_ns), "end": format_time(d.end_ns),
                                "reason": d.reason} for d in result.damaged]
        if result.buckets is None:
            item["value"] = result.values
        else:
            b = result.buckets
            item.update(min=b.min, max=b.max, mean=b.mean, count=b.count)
        out.append(item)
    return OrjsonResponse({"start": format_time(start_ns), "end": format_time(end_ns),
                           "series": out})


@router.get("/stations")
def stations(services: ServicesDep, _: Reader) -> OrjsonResponse:
    """Per station: online, the satellites it is prime for, and per satellite its link lock,
    Eb/N0 and last frame time."""
    now = time.time_ns()
    return OrjsonResponse({"stations": status.station_status(
        services.mission, services.registry, services.store.latest(now), now)})
