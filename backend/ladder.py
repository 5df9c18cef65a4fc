"""The escalation ladder's configuration: per severity and entity, tiers of recipients with
the delay after which each is paged while the alert stays unacknowledged.

One YAML file (`KAZSAT_ESCALATION_FILE`), validated at start; a mistake is refused with the
file, the place in it and what is wrong:

    ladders:
      - severity: critical          # optional: any severity when left out
        entity: kazsat-2            # optional: a satellite or station key; any when left out
        tiers:
          - {after_min: 0, to: [duty-engineer@example.org]}
          - {after_min: 10, to: [shift-lead@example.org]}
          - {after_min: 30, to: [kazsat-2-manager@example.org]}

An alert follows the most specific ladder that matches it (entity and severity, then entity,
then severity, then neither); of equally specific ones, the first in the file.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from backend.mission import Mission
from backend.store.base import NS

Severity = Literal["warning", "critical"]


class LadderError(ValueError):
    """The escalation file cannot be used; the message says where and why."""


class Tier(BaseModel):
    model_config = ConfigDict(extra="forbid")
    after_min: float = Field(ge=0, le=7 * 24 * 60)  # after the alert was raised
    to: list[str] = Field(min_length=1)

    @field_validator("to")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        for address in value:
            local, at, domain = address.strip().rpartition("@")
            if not (local and at and domain) or " " in address.strip():
                raise ValueError(f"{address!r} is not an email address")
        return [a.strip() for a in value]

    @property
    def after_ns(self) -> int:
        return int(self.after_min * 60 * NS)


class Ladder(BaseModel):
    model_config = ConfigDict(extra="forbid")
    severity: Severity | None = None
    entity: str | None = None
    tiers: list[Tier] = Field(min_length=1, max_length=10)

    @model_validator(mode="after")
    def _rising(self) -> Ladder:
        delays = [t.after_min for t in self.tiers]
        if any(b <= a for a, b in itertools.pairwise(delays)):
            raise ValueError(f"tiers' after_min must rise from one tier to the next, "
                             f"not {delays}")
        return self

    def matches(self, severity: str, satellite: str | None, station: str | None) -> bool:
        return ((self.severity is None or self.severity == severity)
                and (self.entity is None or self.entity in (satellite, station)))

    @property
    def specificity(self) -> int:
        return 2 * (self.entity is not None) + (self.severity is not None)


class LadderConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ladders: list[Ladder] = []

    def tiers_for(self, severity: str, satellite: str | None,
                  station: str | None) -> list[Tier]:
        """The tiers of the most specific ladder that matches; none: no ladder."""
        best: Ladder | None = None
        for ladder in self.ladders:
            if ladder.matches(severity, satellite, station) and (
                    best is None or ladder.specificity > best.specificity):
                best = ladder
        return best.tiers if best else []


def load_ladder(path: Path | None, mission: Mission) -> LadderConfig:
    """The escalation file's ladders (none without a file); LadderError on any mistake."""
    if path is None:
        return LadderConfig()
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise LadderError(f"escalation file {path}: cannot be read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise LadderError(f"escalation file {path}: not valid YAML: {exc}") from None
    try:
        config = LadderConfig.model_validate(raw if raw is not None else {})
    except ValidationError as exc:
        problems = "; ".join(f"{_where(e['loc'])}: {e['msg']}" for e in exc.errors())
        raise LadderError(f"escalation file {path}: {problems}") from None
    known = set(mission.satellites) | set(mission.stations)
    for i, ladder in enumerate(config.ladders):
        if ladder.entity is not None and ladder.entity not in known:
            raise LadderError(f"escalation file {path}: ladders[{i}].entity: "
                              f"{ladder.entity!r} is no satellite or station of the mission "
                              f"(one of {', '.join(sorted(known))})")
    return config


def _where(loc: tuple[int | str, ...]) -> str:
    """('ladders', 0, 'tiers', 1, 'to') -> 'ladders[0].tiers[1].to'."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out or "(top level)"
