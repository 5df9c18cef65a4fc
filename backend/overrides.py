"""Limit overrides: an engineer's change to a parameter's limits, stored, audited and
applied to live checking at once. The mission database keeps the defaults."""

from __future__ import annotations

import time

from sqlalchemy import Engine, delete, select

from backend import audit, db
from backend.limits import LimitChecker
from backend.mission import Limits, Mission, Parameter, check_limits
from backend.timeutil import format_time


class LimitError(ValueError):
    """The change is not valid for this parameter (400)."""


def load(engine: Engine) -> dict[str, Limits]:
    with db.reader(engine).connect() as conn:
        return {r.parameter: Limits.model_validate_json(r.limits_json)
                for r in conn.execute(select(db.limit_overrides))}


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


def set_override(engine: Engine, checker: LimitChecker, parameter: Parameter,
                 limits: Limits | None, actor: str, role: str) -> None:
    """Store (None: delete) the override and its audit row in one transaction, then apply
    it to live checking."""
    if limits is not None:
        check(parameter, limits)
    old = checker.effective_limits(parameter)
    now = time.time_ns()
    detail = {"role": role, "old": old.model_dump(), "new": (limits or parameter.limits)
              .model_dump(), "default": parameter.limits.model_dump()}
    with checker.lock, engine.begin() as conn:
        conn.execute(delete(db.limit_overrides)
                     .where(db.limit_overrides.c.parameter == parameter.key))
        if limits is not None:
            conn.execute(db.limit_overrides.insert().values(
                parameter=parameter.key, limits_json=limits.model_dump_json(),
                changed_by=actor, changed_t=now))
        audit.write(conn, actor, "limits.set" if limits is not None else "limits.reset",
                    f"parameter {parameter.key}", detail, now)
        checker.set_limits(parameter.key, limits)


def describe(engine: Engine, checker: LimitChecker, mission: Mission,
             keys: list[str] | None = None) -> list[dict]:
    """[{"parameter", "subsystem", "unit", "type", "default", "effective", "override"}] for
    numeric parameters; override is {"changed_by", "changed_at"} or None."""
    with db.reader(engine).connect() as conn:
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
