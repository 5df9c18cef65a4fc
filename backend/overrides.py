"""Limit overrides: an engineer's change to a parameter's limits, stored, audited and
applied to live checking at once. The mission database keeps the defaults."""

from __future__ import annotations

import time
from collections.abc import Set as AbstractSet
from typing import Any

from pydantic import BaseModel
from sqlalchemy import delete, select

from backend import audit, db
from backend.alert_server import AlertServer
from backend.mission import Limits, Mission, Parameter, check_limits
from backend.timeutil import format_time


class LimitError(ValueError):
    """The change is not valid for this parameter (400)."""


def check(parameter: Parameter, limits: Limits) -> None:
    """Numeric parameters only, and the warning band inside the critical band."""
    if parameter.type not in ("float", "int"):
        raise LimitError(f"{parameter.key} is a {parameter.type}: it has expected states, "
                         "not limits")
    w, c = limits.warning, limits.critical
    if w and c:
        # A side with a critical limit keeps a warning before it: the early word on call.
        if c.low is not None and w.low is None:
            raise LimitError(f"warning low must be at or above critical low {c.low:g}")
        if c.high is not None and w.high is None:
            raise LimitError(f"warning high must be at or below critical high {c.high:g}")
    try:
        check_limits(limits, parameter.hysteresis)
    except ValueError as exc:
        raise LimitError(str(exc)) from None


LIMIT_NAMES = ("warning.low", "warning.high", "critical.low", "critical.high")


def limit_names(limits: Limits) -> set[str]:
    """The limits set, as "warning.low" … "critical.high"."""
    return {f"{side}.{end}" for side in ("warning", "critical") for end in ("low", "high")
            if (band := getattr(limits, side)) is not None and getattr(band, end) is not None}


def named_nulls(body: BaseModel) -> set[str]:
    """The limits a request body names with null, itself or through a null band: how a
    client says it removes them (omitting a limit is not enough)."""
    out: set[str] = set()
    for side in ("warning", "critical"):
        if side not in body.model_fields_set:
            continue
        band = getattr(body, side)
        out |= {f"{side}.{end}" for end in ("low", "high")
                if band is None or (end in band.model_fields_set and getattr(band, end) is None)}
    return out


def set_override(alerts: AlertServer, parameter: Parameter, limits: Limits | None,
                 actor: str, role: str, removing: AbstractSet[str] = frozenset()) -> None:
    """Store (None: delete) the override and its audit row in one alarm transaction, which
    applies it to live checking in every API process. A limit in force that `limits` drops
    must be in `removing` (the client named it null): switching a limit off is never a
    side effect. The audit row names the limits removed."""
    if limits is not None:
        check(parameter, limits)
    checker = alerts.checker
    with alerts.transaction() as conn:  # the limits in force are read in it: no race
        old = checker.effective_limits(parameter)
        new = limits or parameter.limits
        removed = sorted(limit_names(old) - limit_names(new), key=LIMIT_NAMES.index)
        unnamed = [name for name in removed if name not in removing]
        if limits is not None and unnamed:
            raise LimitError(f"{unnamed[0]} is in force and the change drops it: to remove "
                             f"a limit, send it as null (\"{unnamed[0].split('.')[1]}\": null)")
        now = time.time_ns()
        detail = {"role": role, "old": old.model_dump(), "new": new.model_dump(),
                  "removed": removed, "default": parameter.limits.model_dump()}
        conn.execute(delete(db.limit_overrides)
                     .where(db.limit_overrides.c.parameter == parameter.key))
        if limits is not None:
            conn.execute(db.limit_overrides.insert().values(
                parameter=parameter.key, limits_json=limits.model_dump_json(),
                changed_by=actor, changed_t=now))
        audit.write(conn, actor, "limits.set" if limits is not None else "limits.reset",
                    f"parameter {parameter.key}", detail, now)
        checker.set_limits(parameter.key, limits)
        alerts.generation.advance(conn)


def describe(alerts: AlertServer, mission: Mission,
             keys: list[str] | None = None) -> list[dict[str, Any]]:
    """[{"parameter", "subsystem", "unit", "type", "default", "effective", "override"}] for
    numeric parameters; override is {"changed_by", "changed_at"} or None."""
    alerts.refresh()
    checker = alerts.checker
    with db.reader(alerts.engine).connect() as conn:
        changed = {r.parameter: r for r in conn.execute(select(db.limit_overrides))}
    out = []
    for p in mission.parameters.values():
        if p.type not in ("float", "int") or (keys is not None and p.key not in keys):
            continue
        row = changed.get(p.key) if p.key in checker.overrides else None
        out.append({"parameter": p.key, "subsystem": p.subsystem, "unit": p.unit,
                    "type": p.type, "default": p.limits.model_dump(),
                    "effective": checker.effective_limits(p).model_dump(),
                    "override": {"changed_by": row.changed_by,
                                 "changed_at": format_time(row.changed_t)} if row else None})
    return out
