"""GET /api/v1/eclipses: when each satellite is in Earth's shadow, past and predicted.

Eclipses are geometry, not telemetry: they follow from the satellite's longitude and the
Sun's position, so they are computed here (with the solar ephemeris and shadow model the
simulator uses too, `orbit/eclipse.py`) for any range, past or future.
"""

from __future__ import annotations

from functools import lru_cache

from fastapi import APIRouter, HTTPException, Query

from backend.api.deps import (
    Entity,
    OrjsonResponse,
    Reader,
    ServicesDep,
    check_entities,
    request_time,
)
from backend.store.base import NS
from backend.timeutil import format_time
from orbit.eclipse import eclipse_intervals_ns

router = APIRouter(prefix="/api/v1", tags=["telemetry"], default_response_class=OrjsonResponse)
MAX_SPAN_DAYS = 400
HOUR = 3600 * NS


@router.get("/eclipses")
def eclipses(services: ServicesDep, _: Reader, satellite: Entity = None,
             start: str = Query(..., description="RFC 3339"),
             end: str = Query(..., description="RFC 3339")) -> OrjsonResponse:
    """Eclipses overlapping [start, end) (at most 400 days), per satellite, in time order:
    start, end and duration. Predictions for future times."""
    start_ns, end_ns = request_time(start, "start"), request_time(end, "end")
    if not 0 < end_ns - start_ns <= MAX_SPAN_DAYS * 86_400 * NS:
        raise HTTPException(400, f"end must be after start, by at most {MAX_SPAN_DAYS} days")
    check_entities(services, satellite, None)
    out: list[dict[str, str | int]] = []
    for sat_id, sat in services.mission.satellites.items():
        if satellite not in (None, sat_id):
            continue
        # Whole hours, so a dashboard asking every minute reuses the answer.
        for a, b in _intervals(sat.longitude_deg, start_ns // HOUR, -(-end_ns // HOUR)):
            if a < end_ns and b > start_ns:
                out.append({"satellite": sat_id, "start": format_time(a), "end": format_time(b),
                            "duration_s": round((b - a) / NS)})
    out.sort(key=lambda e: str(e["start"]))
    return OrjsonResponse({"eclipses": out})


@lru_cache(maxsize=256)
def _intervals(longitude_deg: float, start_h: int, end_h: int) -> list[tuple[int, int]]:
    return [(int(a), int(b)) for a, b in
            eclipse_intervals_ns(longitude_deg, start_h * HOUR, end_h * HOUR)]
