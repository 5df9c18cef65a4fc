"""The mission database: satellites, stations and parameters, loaded once from YAML.

Every other stage (ingest validation, limit checking, the API, the dashboard through the
API) reads parameter definitions from here; nothing repeats a parameter list in code.
"""

from __future__ import annotations

import datetime as dt
from functools import cached_property
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

Severity = Literal["nominal", "warning", "critical"]
EntityKind = Literal["satellite", "station", "link"]
ParamType = Literal["float", "int", "bool", "enum"]


M = TypeVar("M", bound=BaseModel)


class MissionError(ValueError):
    """The mission database file is broken; the message names the entry."""


class Band(BaseModel):
    # NaN or infinity compares false with everything: such a limit would never alarm.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    low: float | None = None
    high: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Band:
        if self.low is not None and self.high is not None and self.low >= self.high:
            raise ValueError(f"low {self.low} must be below high {self.high}")
        return self


class Limits(BaseModel):
    model_config = ConfigDict(extra="forbid")
    warning: Band | None = None
    critical: Band | None = None


def check_limits(limits: Limits, hysteresis: float) -> None:
    """ValueError unless the warning band lies inside the critical band and every two-sided
    band is wider than twice the hysteresis (else a breach could never clear)."""
    w, c = limits.warning, limits.critical
    if w and c:
        if c.low is not None and w.low is not None and w.low < c.low:
            raise ValueError(f"warning low {w.low:g} must be at or above critical low {c.low:g}")
        if c.high is not None and w.high is not None and w.high > c.high:
            raise ValueError(f"warning high {w.high:g} must be at or below critical high "
                             f"{c.high:g}")
    for name, band in (("warning", w), ("critical", c)):
        if band and band.low is not None and band.high is not None \
                and band.high - band.low <= 2 * hysteresis:
            raise ValueError(f"{name} band {band.low:g}..{band.high:g} must be wider than twice "
                             f"the hysteresis {hysteresis:g}, or a breach could never clear")


class Satellite(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    name: str
    longitude_deg: float
    launched: dt.date
    builder: str
    transponders: int = Field(ge=1, le=64)
    mass_kg: float
    design_life_years: int


class Station(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    name: str
    role: Literal["primary", "reserve"]
    region: str
    latitude_deg: float = Field(ge=-90, le=90)
    longitude_deg: float = Field(ge=-180, le=360)
    altitude_m: float


class Subsystem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    name: str
    entity: EntityKind


class Parameter(BaseModel):
    """One telemetry parameter after template expansion (twta_{n}_on -> twta_3_on)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    key: str
    subsystem: str
    entity: EntityKind
    type: ParamType
    period_s: float = Field(gt=0)
    description: str
    label: str = ""  # short, for tiles and tables; the key when not given
    headline: bool = False  # one of the few figures the overview shows for its subsystem
    unit: str = ""
    decimals: int = 2
    values: tuple[str, ...] = ()
    limits: Limits = Limits()
    states: dict[str, Severity] = {}
    persistence: int = Field(default=1, ge=1)
    persistence_s: float = Field(default=0.0, ge=0)
    hysteresis: float = Field(default=0.0, ge=0)
    stale_periods: float = Field(default=3, gt=0)
    active_when: str | None = None
    template: str | None = None  # the key as written, e.g. twta_{n}_on
    n: int | None = None  # the index it was expanded with
    per_transponder: bool = False  # only n <= the satellite's transponder count exists

    @model_validator(mode="after")
    def _consistent(self) -> Parameter:
        if self.type == "enum" and not self.values:
            raise ValueError("an enum needs `values`")
        if self.type in ("bool", "enum") and (self.limits.warning or self.limits.critical):
            raise ValueError("bool and enum parameters take `states`, not `limits`")
        allowed = {"true", "false"} if self.type == "bool" else set(self.values)
        for value in self.states:
            if value not in allowed:
                raise ValueError(f"state for unknown value {value!r}")
        if self.per_transponder and (self.n is None or self.entity == "station"):
            raise ValueError("per_transponder comes from `repeat: transponders` on a satellite "
                             "or link parameter")
        check_limits(self.limits, self.hysteresis)
        return self

    @property
    def stale_after_s(self) -> float:
        return self.period_s * self.stale_periods

    def encode(self, value: str) -> float:
        """The stored number for an enum value name."""
        return float(self.values.index(value))

    def decode(self, value: float) -> float | int | bool | str:
        """The stored number back to the parameter's own type, for the API."""
        if self.type == "bool":
            return value != 0.0
        if self.type == "enum":
            return self.values[int(value)]
        if self.type == "int":
            return int(value)
        return value


class Mission(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    satellites: dict[str, Satellite]
    stations: dict[str, Station]
    subsystems: dict[str, Subsystem]
    parameters: dict[str, Parameter]

    def parameters_of(self, entity: EntityKind) -> list[Parameter]:
        return [p for p in self.parameters.values() if p.entity == entity]

    def has_series(self, satellite: str | None, station: str | None, parameter: str) -> bool:
        """True when (satellite, station, parameter) names a series this mission has."""
        p = self.parameters.get(parameter)
        if p is None:
            return False
        want_sat, want_sta = p.entity in ("satellite", "link"), p.entity in ("station", "link")
        if (satellite is not None) != want_sat or (station is not None) != want_sta:
            return False
        if satellite is not None and satellite not in self.satellites:
            return False
        if station is not None and station not in self.stations:
            return False
        if not p.per_transponder:
            return True
        # Parameter's validator gives a per-transponder parameter its n and a satellite side.
        return (satellite is not None and p.n is not None
                and p.n <= self.satellites[satellite].transponders)

    def document(self) -> dict[str, Any]:
        """The mission as JSON-ready data, with the list of series as [satellite, station,
        parameter]: what `GET /api/v1/mission` serves and the simulator reads."""
        body = self.model_dump(mode="json")
        body["series"] = [list(s) for s in self.series]
        return body

    @cached_property
    def series(self) -> list[tuple[str | None, str | None, str]]:
        """Every series of the mission as (satellite, station, parameter), in display order."""
        out: list[tuple[str | None, str | None, str]] = []
        for p in self.parameters.values():
            sats = list(self.satellites) if p.entity in ("satellite", "link") else [None]
            stas = list(self.stations) if p.entity in ("station", "link") else [None]
            out += [(s, g, p.key) for g in stas for s in sats if self.has_series(s, g, p.key)]
        return out


def load_mission(path: Path) -> Mission:
    """Load and validate the mission database; raise MissionError naming the bad entry."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise MissionError(f"{path}: cannot read: {exc}") from exc
    if not isinstance(raw, dict):
        raise MissionError(f"{path}: expected a mapping at the top level")

    def build(kind: str, model: type[M], entry_id: str, body: Any) -> M:  # body: raw YAML
        try:
            return model.model_validate({"id": entry_id, **(body or {})})
        except (ValidationError, TypeError) as exc:
            raise MissionError(f"{path}: {kind} {entry_id!r}: {_why(exc)}") from exc

    def section(name: str, model: type[M]) -> dict[str, M]:
        return {k: build(name, model, k, v) for k, v in (raw.get(f"{name}s") or {}).items()}

    satellites = section("satellite", Satellite)
    stations = section("station", Station)
    subsystems = section("subsystem", Subsystem)
    if not satellites or not stations:
        raise MissionError(f"{path}: at least one satellite and one station are needed")
    max_transponders = max(s.transponders for s in satellites.values())
    defaults = raw.get("defaults", {})

    parameters: dict[str, Parameter] = {}
    for index, entry in enumerate(raw.get("parameters", [])):
        name = entry.get("key", f"#{index + 1}") if isinstance(entry, dict) else f"#{index + 1}"
        try:
            for p in _expand(entry, defaults, subsystems, max_transponders):
                if p.key in parameters:
                    raise ValueError(f"duplicate key {p.key!r}")
                parameters[p.key] = p
        except (ValidationError, ValueError, TypeError, AttributeError, KeyError) as exc:
            raise MissionError(f"{path}: parameter {name!r}: {_why(exc)}") from exc
    for p in parameters.values():
        target = parameters.get(p.active_when or "")
        if p.active_when and (target is None or target.type != "bool" or target.entity != p.entity):
            raise MissionError(f"{path}: parameter {p.key!r}: active_when {p.active_when!r} "
                               "must name a bool parameter of the same entity")
    return Mission(satellites=satellites, stations=stations, subsystems=subsystems,
                   parameters=parameters)


def _why(exc: Exception) -> str:
    """A validation error in one line: 'period_s: Input should be greater than 0'."""
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'entry'}: {e['msg']}"
                         for e in exc.errors())
    return str(exc)


def _expand(entry: dict[str, Any], defaults: dict[str, Any], subsystems: dict[str, Subsystem],
            max_transponders: int) -> list[Parameter]:
    entry = {**defaults, **entry}
    named = entry.get("subsystem")
    subsystem = subsystems.get(named) if isinstance(named, str) else None
    if subsystem is None:
        raise ValueError(f"unknown subsystem {entry.get('subsystem')!r}")
    entry["entity"] = subsystem.entity
    entry["states"] = {str(k).lower(): v for k, v in (entry.get("states") or {}).items()}
    repeat = entry.pop("repeat", None)
    if repeat is None:
        if "{n}" in entry["key"]:
            raise ValueError("a key with {n} needs `repeat`")
        return [Parameter.model_validate(entry)]
    per_transponder = repeat == "transponders"
    count = max_transponders if per_transponder else int(repeat)
    out = []
    for n in range(1, count + 1):
        item = {k: v.replace("{n}", str(n)) if isinstance(v, str) else v for k, v in entry.items()}
        out.append(Parameter.model_validate(
            {**item, "template": entry["key"], "n": n, "per_transponder": per_transponder}))
    return out
