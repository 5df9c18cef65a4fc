"""The alert archive: alert rows in SQL, written as the alarm server changes them, and the
queries the API and the dashboard ask (open, acknowledged, shelved, cleared, in a time range).

Every write takes the caller's connection, so an alert change, its email (backend.alert_email)
and an operator's audit row commit in one transaction. No lock of its own and no state
beyond the engine: the alarm server serialises the writes under its lock; reads run on
their own read-only connection.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, Row, and_, or_, select, update

from backend import audit, db
from backend.alerts import AlertConflict, AlertNotFound, OpenAlert, alert_key, where
from backend.escalation import steps_of
from backend.mission import Mission
from backend.timeutil import format_time

Shelves = dict[str, tuple[int, str]]  # alert key -> (shelved until ns, by whom)


class AlertArchive:
    def __init__(self, engine: Engine, mission: Mission) -> None:
        self.engine = engine
        self.mission = mission

    # ---- what the alarm server starts from ---------------------------------------------------

    def load_open(self, conn: Connection, now: int) -> tuple[list[OpenAlert], Shelves]:
        """The open alerts, oldest first, and the shelves still on at `now`."""
        a = db.alerts.c
        opens = [OpenAlert(r.id, r.kind, r.series_id, r.satellite, r.station, r.parameter,
                           r.severity, r.state, r.value, r.limit_text, r.raised_t, r.updated_t,
                           r.acked_t is not None, r.shelved_until_t)
                 for r in conn.execute(select(db.alerts).where(a.cleared_t.is_(None))
                                       .order_by(a.id))]
        shelves = {}
        for r in conn.execute(select(a.kind, a.series_id, a.satellite, a.station,
                                     a.shelved_until_t, a.shelved_by)
                              .where(a.shelved_until_t > now).order_by(a.id)):
            shelves[alert_key(r.kind, r.series_id, r.satellite, r.station)] = (
                r.shelved_until_t, r.shelved_by or "")
        return opens, shelves

    # ---- the alarm server's changes ----------------------------------------------------------

    def raised(self, conn: Connection, alert: OpenAlert, shelved_by: str | None) -> int:
        """Insert the new alert's row; its id."""
        key = conn.execute(db.alerts.insert().values(
            kind=alert.kind, series_id=alert.series_id, satellite=alert.satellite,
            station=alert.station, parameter=alert.parameter, severity=alert.severity,
            state=alert.state, value=alert.value, limit_text=alert.limit,
            raised_t=alert.raised_t, updated_t=alert.updated_t,
            shelved_until_t=alert.shelved_until_t,
            shelved_by=shelved_by if alert.shelved_until_t else None)).inserted_primary_key
        assert key is not None  # an INSERT of one row has its key
        return int(key[0])

    def moved(self, conn: Connection, alert: OpenAlert, escalated: bool) -> None:
        """Write the alert's state, worst value and severity; an escalation resets its
        acknowledgement (the operator acknowledged the lesser one)."""
        values: dict[str, Any] = {"state": alert.state, "updated_t": alert.updated_t,
                        "value": alert.value, "limit_text": alert.limit,
                        "severity": alert.severity}
        if escalated:
            values.update(acked_by=None, acked_t=None, ack_comment=None)
        conn.execute(update(db.alerts).where(db.alerts.c.id == alert.id).values(**values))

    def cleared(self, conn: Connection, alert_id: int, t: int) -> None:
        conn.execute(update(db.alerts).where(db.alerts.c.id == alert_id).values(
            state="cleared", cleared_t=t, updated_t=t))

    # ---- operator actions: the row, its audit record -----------------------------------------

    def acknowledge(self, conn: Connection, alert_id: int, actor: str, role: str,
                    comment: str, now: int) -> Row[Any]:
        row = self._open_row(conn, alert_id)
        if row.acked_t is not None:
            raise AlertConflict(f"alert {alert_id} was already acknowledged by "
                                f"{row.acked_by} at {format_time(row.acked_t)}")
        conn.execute(update(db.alerts).where(db.alerts.c.id == alert_id).values(
            acked_by=actor, acked_t=now, ack_comment=comment))
        audit.write(conn, actor, "alert.ack", _target(row),
                    {"role": role, "comment": comment, "severity": row.severity,
                     "state": row.state}, now)
        return row

    def shelve(self, conn: Connection, alert_id: int, actor: str, role: str,
               until: int | None, minutes: int, comment: str, now: int) -> Row[Any]:
        """Shelve until `until` (None: take it off the shelf). A shelf is the series' (or
        entity's): taking it off clears it from every row that holds it, so no earlier
        alert's row keeps the series shelved."""
        row = self._open_row(conn, alert_id)
        a = db.alerts.c
        same = ((a.series_id == row.series_id) if row.kind == "limit" else
                and_(a.kind == row.kind, a.satellite.is_(None) if row.satellite is None
                     else a.satellite == row.satellite,
                     a.station.is_(None) if row.station is None else a.station == row.station))
        target = (a.id == alert_id) if until else or_(a.id == alert_id,
                                                      and_(same, a.shelved_until_t > now))
        conn.execute(update(db.alerts).where(target).values(
            shelved_until_t=until, shelved_by=actor if until else None))
        audit.write(conn, actor, "alert.shelve" if until else "alert.unshelve", _target(row),
                    {"role": role, "comment": comment, "minutes": minutes}, now)
        return row

    @staticmethod
    def _open_row(conn: Connection, alert_id: int) -> Row[Any]:
        row = conn.execute(select(db.alerts).where(db.alerts.c.id == alert_id)).first()
        if row is None:
            raise AlertNotFound(alert_id)
        if row.cleared_t is not None:
            raise AlertConflict(f"alert {alert_id} cleared at {format_time(row.cleared_t)}")
        return row

    # ---- queries -----------------------------------------------------------------------------

    def get(self, alert_id: int) -> dict[str, Any]:
        with db.reader(self.engine).connect() as conn:
            row = conn.execute(select(db.alerts).where(db.alerts.c.id == alert_id)).first()
            steps = steps_of(conn, [alert_id])
        if row is None:
            raise AlertNotFound(alert_id)
        return self._out(row, time.time_ns(), steps.get(alert_id, []))

    def list_alerts(self, status: str = "active", satellite: str | None = None,
                    station: str | None = None, severity: str | None = None,
                    start_ns: int | None = None, end_ns: int | None = None,
                    limit: int = 200) -> list[dict[str, Any]]:
        """Newest first. start/end select alerts open at some time in [start, end)."""
        now = time.time_ns()
        a = db.alerts.c
        open_ = a.cleared_t.is_(None)
        shelved = and_(a.shelved_until_t.is_not(None), a.shelved_until_t > now)
        by_status: dict[str, list[ColumnElement[bool]]] = {
            "active": [open_],
            "unacknowledged": [open_, a.acked_t.is_(None), ~shelved],
            "acknowledged": [open_, a.acked_t.is_not(None)],
            "shelved": [open_, shelved],
            "cleared": [a.cleared_t.is_not(None)],
            "all": [],
        }
        conditions = by_status[status]
        if satellite:
            conditions.append(a.satellite == satellite)
        if station:
            conditions.append(a.station == station)
        if severity:
            conditions.append(a.severity == severity)
        if start_ns is not None:
            conditions.append(or_(open_, a.cleared_t >= start_ns))
        if end_ns is not None:
            conditions.append(a.raised_t < end_ns)
        query = select(db.alerts).where(*conditions).order_by(a.raised_t.desc(), a.id.desc())
        with db.reader(self.engine).connect() as conn:
            rows = conn.execute(query.limit(limit)).all()
            steps = steps_of(conn, [r.id for r in rows])
        return [self._out(r, now, steps.get(r.id, [])) for r in rows]

    def _out(self, r: Row[Any], now: int, steps: list[dict[str, Any]]) -> dict[str, Any]:
        p = self.mission.parameters.get(r.parameter or "")
        value = None
        if r.value is not None:
            value = p.decode(r.value) if p is not None else r.value
        shelved = r.shelved_until_t if r.shelved_until_t and r.shelved_until_t > now else None
        return {"id": r.id, "kind": r.kind, "satellite": r.satellite, "station": r.station,
                "parameter": r.parameter, "subsystem": p.subsystem if p else None,
                "severity": r.severity, "state": r.state, "value": value,
                "limit": r.limit_text, "raised": format_time(r.raised_t),
                "updated": format_time(r.updated_t),
                "cleared": format_time(r.cleared_t) if r.cleared_t is not None else None,
                "acked_by": r.acked_by,
                "acked_at": format_time(r.acked_t) if r.acked_t is not None else None,
                "ack_comment": r.ack_comment,
                "shelved_until": format_time(shelved) if shelved else None,
                "escalation": steps}


def _target(row: Row[Any]) -> str:
    """The audit row's target: 'alert 12 (akkol/kazsat-2 ebn0_db)'."""
    return f"alert {row.id} ({where(row.satellite, row.station)} {row.parameter or 'telemetry'})"
