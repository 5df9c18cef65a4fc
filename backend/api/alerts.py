"""Alerts, the audit log and limit overrides over HTTP. Acknowledging and shelving need an
operator (or engineer) token; changing limits an engineer token."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from backend import audit, overrides
from backend import shift_report as shifts
from backend.alarm_health import measures as alarm_health_measures
from backend.alerts import AlertConflict, AlertNotFound
from backend.api.deps import Entity, OrjsonResponse, Reader, ServicesDep, request_time, require
from backend.escalation import NoLadder
from backend.mission import Band, Limits, Parameter
from backend.services import Services
from backend.shift_pdf import shift_pdf
from backend.store.base import NS
from backend.tokens import Principal

AlertId = Annotated[int, Path(ge=1, le=2**53, description="alert id")]
TestId = Annotated[int, Path(ge=1, le=2**53, description="test page id")]
router = APIRouter(prefix="/api/v1", tags=["alerts"], default_response_class=OrjsonResponse)

Acker = Annotated[Principal, Depends(require("ack"))]
Engineer = Annotated[Principal, Depends(require("limits"))]


class AckBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    comment: str = Field("", max_length=2000)


class ShelveBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    minutes: int = Field(ge=0, le=7 * 24 * 60, description="0 takes the alert off the shelf")
    comment: str = Field("", max_length=2000)


class TestPageBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    severity: Literal["warning", "critical"] = "critical"
    entity: str | None = Field(None, description="a satellite or station key; none: the "
                                                 "ladder for any entity")


class LimitsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    warning: Band | None = None
    critical: Band | None = None


@router.get("/alerts")
def list_alerts(services: ServicesDep, _: Reader,
                status: Literal["active", "unacknowledged", "acknowledged", "shelved",
                                "cleared", "all"] = "active",
                satellite: Entity = None, station: Entity = None,
                severity: Literal["warning", "critical"] | None = None,
                start: str | None = None, end: str | None = None,
                limit: int = Query(200, ge=1, le=2000)) -> OrjsonResponse:
    """Alerts, newest first, the counts for the banner, and whether alarms are in flood.
    start/end (RFC 3339) select alerts open at some time in [start, end)."""
    start_ns = request_time(start, "start") if start else None
    end_ns = request_time(end, "end") if end else None
    rows = services.alerts.list_alerts(status, satellite, station, severity, start_ns, end_ns,
                                       limit)
    return OrjsonResponse({"alerts": rows, "counts": services.alerts.counts(),
                           "flood": services.alerts.flood()})


@router.get("/alerts/{alert_id}")
def get_alert(alert_id: AlertId, services: ServicesDep, _: Reader) -> OrjsonResponse:
    try:
        return OrjsonResponse(services.alerts.get(alert_id))
    except AlertNotFound:
        raise HTTPException(404, f"no alert {alert_id}") from None


@router.post("/alerts/{alert_id}/ack")
def acknowledge(alert_id: AlertId, body: AckBody, services: ServicesDep,
                who: Acker) -> OrjsonResponse:
    """Acknowledge an open alert (409 when cleared or already acknowledged)."""
    return _act(alert_id, lambda: services.alerts.acknowledge(alert_id, who.name, who.role,
                                                              body.comment))


@router.post("/alerts/{alert_id}/shelve")
def shelve(alert_id: AlertId, body: ShelveBody, services: ServicesDep,
           who: Acker) -> OrjsonResponse:
    """Shelve an open alert's parameter (or entity) for `minutes`: no email, not counted as
    unacknowledged, until the shelf expires. 0 minutes unshelves."""
    return _act(alert_id, lambda: services.alerts.shelve(alert_id, who.name, who.role,
                                                         body.minutes, body.comment))


def _act(alert_id: int, action: Callable[[], dict[str, Any]]) -> OrjsonResponse:
    try:
        return OrjsonResponse(action())
    except AlertNotFound:
        raise HTTPException(404, f"no alert {alert_id}") from None
    except AlertConflict as exc:
        raise HTTPException(409, str(exc)) from None


@router.get("/escalation")
def escalation_ladder(services: ServicesDep, _: Reader) -> OrjsonResponse:
    """The escalation ladders configured (KAZSAT_ESCALATION_FILE); none: an empty list."""
    ladder = services.alerts.escalation
    return OrjsonResponse({"ladders": [] if ladder is None else
                           [lad.model_dump() for lad in ladder.config.ladders]})


@router.post("/escalation/test")
def send_test_page(body: TestPageBody, services: ServicesDep, who: Engineer) -> OrjsonResponse:
    """Page every tier of the ladder for a severity (and satellite or station) at once with
    a test message; audited. The answer, and GET /escalation/tests/{id}, show each tier's
    delivery. 400 when no ladder covers it."""
    m = services.mission
    if body.entity is not None and not (body.entity in m.satellites
                                        or body.entity in m.stations):
        raise HTTPException(400, f"entity: {body.entity!r} is no satellite or station")
    try:
        return OrjsonResponse(services.alerts.send_test_page(who.name, who.role, body.severity,
                                                             body.entity))
    except NoLadder as exc:
        raise HTTPException(400, str(exc)) from None


@router.get("/escalation/tests/{test_id}")
def test_page(test_id: TestId, services: ServicesDep, _: Reader) -> OrjsonResponse:
    """A test page's tiers: when each was paged, and when the SMTP server accepted it."""
    try:
        return OrjsonResponse(services.alerts.test_page(test_id))
    except AlertNotFound:
        raise HTTPException(404, f"no test page {test_id}") from None


@router.get("/alarm-health")
def alarm_health(services: ServicesDep, _: Reader,
                 month: str | None = Query(None, pattern=r"^\d{4}-\d{2}$",
                                           description="YYYY-MM (UTC)"),
                 start: str | None = None, end: str | None = None) -> OrjsonResponse:
    """The alarm system's ISA-18.2 measures over a month (UTC), or [start, end), by default
    the 30 days before now: alarms per 10 minutes, time in flood, the 10 most frequent,
    chattering, stale and standing shelved alarms."""
    if month is not None:
        year, number = int(month[:4]), int(month[5:])
        if not 1 <= number <= 12:
            raise HTTPException(400, f"month: {month!r} has no month {number}")
        if not 1970 <= year <= 9998:
            raise HTTPException(400, f"month: {month!r} is out of range (1970 to 9998)")
        first = dt.datetime(year, number, 1, tzinfo=dt.UTC)
        after = dt.datetime(year + number // 12, number % 12 + 1, 1, tzinfo=dt.UTC)
        start_ns, end_ns = int(first.timestamp()) * NS, int(after.timestamp()) * NS
    else:
        end_ns = request_time(end, "end") if end else time.time_ns()
        start_ns = request_time(start, "start") if start else end_ns - 30 * 86400 * NS
    if end_ns <= start_ns:
        raise HTTPException(400, "end must be after start")
    if end_ns - start_ns > 400 * 86400 * NS:
        raise HTTPException(400, "at most 400 days at a time")
    return OrjsonResponse(alarm_health_measures(services.engine, start_ns, end_ns,
                                                services.settings.flood_alarms,
                                                time.time_ns()))


def _shift(services: Services, at: str | None, now: int) -> tuple[int, int]:
    """The shift `at` (RFC 3339) falls in; by default the last one that ended."""
    if at is not None:
        return shifts.shift_of(services.settings, request_time(at, "at"))
    current, _end = shifts.shift_of(services.settings, now)
    return shifts.shift_of(services.settings, current - 1)


@router.get("/shift-report")
def shift_report(services: ServicesDep, _: Reader, at: str | None = None) -> OrjsonResponse:
    """The report of the shift that `at` (RFC 3339) falls in; by default the last shift
    that ended. Shift changes: KAZSAT_SHIFT_CHANGES in KAZSAT_SHIFT_TIMEZONE."""
    now = time.time_ns()
    start, end = _shift(services, at, now)
    return OrjsonResponse(shifts.report(services.engine, services.store, services.registry,
                                        start, end, now, mission=services.mission))


@router.get("/shift-report.pdf")
def shift_report_pdf(services: ServicesDep, _: Reader, at: str | None = None) -> Response:
    """The same report as a PDF (A4, with the battery plot)."""
    now = time.time_ns()
    start, end = _shift(services, at, now)
    stamp = dt.datetime.fromtimestamp(start // NS, dt.UTC)
    return Response(shift_pdf(services.engine, services.store, services.registry,
                              services.mission, services.settings, start, end, now),
                    media_type="application/pdf",
                    headers={"Content-Disposition":
                             f'inline; filename="shift-report-{stamp:%Y%m%dT%H%MZ}.pdf"'})


@router.get("/shift-report/shifts")
def shift_list(services: ServicesDep, _: Reader,
               count: int = Query(14, ge=1, le=200)) -> OrjsonResponse:
    """The shift in progress and the `count` shifts before it, newest first, with labels in
    the shift time zone."""
    return OrjsonResponse({"timezone": services.settings.shift_timezone,
                           "shifts": shifts.recent(services.settings, time.time_ns(), count)})


@router.get("/audit")
def audit_log(services: ServicesDep, _: Reader, start: str | None = None,
              end: str | None = None, action: str | None = None,
              limit: int = Query(200, ge=1, le=2000)) -> OrjsonResponse:
    """Who acknowledged, shelved or changed limits, newest first."""
    return OrjsonResponse({"audit": audit.read(
        services.engine, request_time(start, "start") if start else None,
        request_time(end, "end") if end else None, action, limit)})


@router.get("/outbox")
def outbox_status(services: ServicesDep, _: Reader) -> OrjsonResponse:
    """Alert email waiting, sent and failed, and the last delivery error."""
    return OrjsonResponse(services.sender.pending())


@router.get("/limits")
def list_limits(services: ServicesDep, _: Reader) -> OrjsonResponse:
    """Default and effective limits of every numeric parameter."""
    return OrjsonResponse({"limits": overrides.describe(services.alerts,
                                                        services.mission)})


@router.put("/limits/{parameter}")
def put_limits(parameter: str, body: LimitsBody, services: ServicesDep,
               who: Engineer) -> OrjsonResponse:
    """Override a parameter's limits; applied to live checking at once and audited. Limits
    are finite numbers; a limit in force is removed only by naming it null."""
    p = _parameter(services, parameter)
    try:
        limits = Limits.model_validate(body.model_dump())
        overrides.set_override(services.alerts, p, limits, who.name, who.role,
                               removing=overrides.named_nulls(body))
    except (overrides.LimitError, ValidationError) as exc:
        raise HTTPException(400, str(exc)) from None
    return OrjsonResponse(_one(services, parameter))


@router.delete("/limits/{parameter}")
def delete_limits(parameter: str, services: ServicesDep, who: Engineer) -> OrjsonResponse:
    """Back to the mission database's default limits."""
    p = _parameter(services, parameter)
    if p.type not in ("float", "int"):
        raise HTTPException(400, f"{parameter} has expected states, not limits")
    overrides.set_override(services.alerts, p, None, who.name, who.role)
    return OrjsonResponse(_one(services, parameter))


def _parameter(services: Services, key: str) -> Parameter:
    p = services.mission.parameters.get(key)
    if p is None:
        raise HTTPException(404, f"unknown parameter {key!r}")
    return p


def _one(services: Services, key: str) -> dict[str, Any]:
    return overrides.describe(services.alerts, services.mission, [key])[0]

