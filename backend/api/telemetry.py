"""Read API: the mission database, latest values, ranges, station status."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query

from backend.api.deps import OrjsonResponse, Reader, ServicesDep, require
from backend.limits import instant_state, stale
from backend.series import SeriesInfo
from backend.services import Services
from backend.timeutil import format_time, parse_time
from backend.tokens import Principal

router = APIRouter(prefix="/api/v1", tags=["telemetry"], default_response_class=OrjsonResponse)

Entity = Annotated[str | None, Query(pattern=r"^[a-z0-9-]{1,32}$")]


@router.get("/mission")
def mission(services: ServicesDep,
            _: Annotated[Principal, Depends(require("mission"))]) -> OrjsonResponse:
    """Satellites, stations, subsystems and every parameter, and the list of series as
    [satellite, station, parameter]. A parameter's `limits` are the effective ones (an
    engineer's override applied); `default_limits` are the mission database's."""
    body = services.mission.document()
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
    now = time.time_ns()
    at_ns = request_time(at, "at") if at else None
    rows = services.store.at(at_ns) if at_ns is not None else services.store.latest()
    reference = at_ns if at_ns is not None else now
    out = []
    for info in services.registry.select(satellite, station):
        sample = rows.get(info.id)
        if sample is None:
            continue
        t, value = sample
        p = info.parameter
        if stale(p, t, reference):
            state = "stale"
        elif at_ns is None:
            state = services.limits.state(info.id)
        elif not gate_open(services, info, rows):
            state = "nominal"  # as live checking: gated off (a reserve link, a TWTA off)
        else:
            state = instant_state(p, services.limits.effective_limits(p), value)
        out.append({"satellite": info.satellite, "station": info.station, "parameter": p.key,
                    "subsystem": p.subsystem, "time": format_time(t), "value": p.decode(value),
                    "state": state})
    return OrjsonResponse({"now": format_time(now), "at": format_time(at_ns) if at_ns else None,
                           "series": out,
                           "summary": {**summarize(out), "alerts": services.alerts.summary()}})


def gate_open(services: Services, info: SeriesInfo, rows: dict[int, tuple[int, float]]) -> bool:
    """Whether a parameter with `active_when` was checked at the snapshot: its gate flag
    (same satellite and station) was true then, or unknown."""
    gate = info.parameter.active_when
    if gate is None:
        return True
    flag = services.registry.find(info.satellite, info.station, gate)
    sample = rows.get(flag.id) if flag else None
    return sample is None or bool(sample[1])


def summarize(rows: list[dict]) -> dict:
    """Counts for the banner: parameters per state, links out of lock."""
    counts = {"nominal": 0, "warning": 0, "critical": 0, "stale": 0}
    for row in rows:
        counts[row["state"]] += 1
    counts["links_out_of_lock"] = sum(1 for r in rows if r["parameter"] == "carrier_lock"
                                      and r["value"] is False)
    return counts


@router.get("/series")
def series(services: ServicesDep, _: Reader,
           parameter: Annotated[list[str], Query(min_length=1, max_length=20)],
           satellite: Entity = None, station: Entity = None,
           start: str = Query(..., description="RFC 3339, e.g. 2026-11-25T00:00:00Z"),
           end: str = "now", max_points: int = Query(1000, ge=2, le=20000)) -> OrjsonResponse:
    """Points of one or more parameters in [start, end): raw samples when the range holds
    at most max_points, else min/max/mean/count buckets from the coarsest rollup level that
    gives enough; `resolution` says which."""
    start_ns, end_ns = request_range(start, end)
    out = []
    for info in find_series(services, satellite, station, parameter):
        result = services.store.range(info.id, start_ns, end_ns, max_points)
        item = {"satellite": info.satellite, "station": info.station,
                "parameter": info.parameter.key,
                "unit": info.parameter.unit, "resolution": result.resolution,
                "bucket_s": result.bucket_s, "time": [format_time(t) for t in result.times]}
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
    return OrjsonResponse({"stations": station_status(services, time.time_ns())})


def station_status(services: Services, now: int) -> list[dict]:
    rows = services.store.latest()
    reg = services.registry

    def value(sat: str | None, sta: str | None, key: str) -> tuple[object, int | None]:
        info = reg.find(sat, sta, key)
        sample = rows.get(info.id) if info else None
        if sample is None or stale(info.parameter, sample[0], now):
            return None, sample[0] if sample else None
        return info.parameter.decode(sample[1]), sample[0]

    out = []
    for sid, st in services.mission.stations.items():
        links = {}
        for sat in services.mission.satellites:
            lock, _ = value(sat, sid, "carrier_lock")
            ebn0, _ = value(sat, sid, "ebn0_db")
            prime, _ = value(sat, sid, "is_prime")
            frames, frames_t = value(sat, sid, "frames_received")
            links[sat] = {"carrier_lock": lock, "ebn0_db": ebn0, "is_prime": prime,
                          "last_frame_time": format_time(frames_t)
                          if frames_t is not None and frames else None}
        equipment = {p.key: value(None, sid, p.key)[0]
                     for p in services.mission.parameters_of("station")}
        # Online: reporting, and its own network says it is up (a dark station on battery
        # may still get its housekeeping out through a backup path).
        online = equipment.get("network_ok") is True
        out.append({"id": sid, "name": st.name, "role": st.role, "online": online,
                    "prime_for": [s for s, link in links.items() if link["is_prime"]],
                    "equipment": equipment, "links": links})
    return out


def request_time(text: str, name: str) -> int:
    try:
        return parse_time(text, name)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None


def request_range(start: str, end: str) -> tuple[int, int]:
    """[start, end) of a request in ns; 400 unless end is after start."""
    start_ns, end_ns = request_time(start, "start"), request_time(end, "end")
    if end_ns <= start_ns:
        raise HTTPException(400, "end must be after start")
    return start_ns, end_ns


def find_series(services: Services, satellite: str | None, station: str | None,
                parameters: list[str]) -> list[SeriesInfo]:
    """The series named by a request, in its order; 404 naming the first that does not exist."""
    check_entities(services, satellite, station)
    found = []
    for key in parameters:
        info = services.registry.find(satellite, station, key)
        if info is None:
            raise HTTPException(404, f"no series {label(satellite, station, key)}")
        found.append(info)
    return found


def check_entities(services: Services, satellite: str | None, station: str | None) -> None:
    if satellite is not None and satellite not in services.mission.satellites:
        raise HTTPException(404, f"unknown satellite {satellite!r}")
    if station is not None and station not in services.mission.stations:
        raise HTTPException(404, f"unknown station {station!r}")


def label(satellite: str | None, station: str | None, key: str) -> str:
    return "/".join(x for x in (station, satellite, key) if x)
