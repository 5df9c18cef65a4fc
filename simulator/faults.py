"""Fault scenarios: YAML files that schedule faults by offset from the simulation start.

    name: breach
    faults:
      - at: 2m              # offset from --start (negative puts a fault into back-filled history)
        fault: battery_cell_failure
        satellite: kazsat-2
        duration: 30m       # omit for "until the end"
        severity: 1.0       # 0..1 (scales the effect), default 1
        transponder: 3      # twta_trip only: a number, a list, or "all"
        wheel: 1            # wheel_friction only

Station faults (heavy_rain, power_loss, site_loss) take `station:` instead of `satellite:`.
`site_loss` is the whole site gone at once (mains and UPS: the station dark from its start),
as when a control centre is lost. A fault may give absolute times instead of offsets,
`from: 2026-12-07T14:02:11Z` and `until:` (the two-site demo's live faults file, read again
whenever it changes: `--faults-file`).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from orbit.geometry import to_ns

SATELLITE_FAULTS = {
    "battery_cell_failure",
    "twta_trip",
    "wheel_friction",
    "thruster_leak",
    "attitude_excursion",
}
STATION_FAULTS = {"heavy_rain", "power_loss", "site_loss"}
_UNITS = {"ms": 1e-3, "s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str | int | float) -> float:
    """'90s', '2m', '1h30m', '30d', '-6h' or a number of seconds -> seconds."""
    if isinstance(text, int | float):
        return float(text)
    s = str(text).strip().lower().replace(" ", "")
    sign = -1.0 if s.startswith("-") else 1.0
    s = s.lstrip("+-")
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|min|s|m|h|d|w)?", s)
    if not parts or "".join(n + u for n, u in parts) != s:
        raise ValueError(f"not a duration: {text!r}")
    return sign * sum(float(n) * _UNITS[u or "s"] for n, u in parts)


@dataclass(frozen=True)
class Fault:
    kind: str
    start_ns: int
    end_ns: int
    target: str  # satellite or station id
    severity: float = 1.0
    options: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def active(self, t_ns: np.ndarray) -> np.ndarray:
        return (t_ns >= self.start_ns) & (t_ns < self.end_ns)

    def elapsed_s(self, t_ns: np.ndarray) -> np.ndarray:
        """Seconds since the fault began (negative before)."""
        return (np.asarray(t_ns, dtype=np.int64) - self.start_ns) / 1e9

    def transponders(self, count: int) -> list[int]:
        sel = self.options.get("transponder", 1)
        if sel == "all":
            return list(range(1, count + 1))
        return [int(x) for x in (sel if isinstance(sel, list) else [sel])]


@dataclass
class Scenario:
    name: str
    faults: list[Fault]

    def of(self, kind: str, target: str) -> list[Fault]:
        return [f for f in self.faults if f.kind == kind and f.target == target]


_NEVER = 2**62


def load_scenario(
    path: Path | str, start_ns: int, known: dict[str, set[str]] | None = None
) -> Scenario:
    """Read a scenario file (a path, or the name of a packaged scenario like 'breach')."""
    p = Path(path)
    if not p.exists() and not p.suffix:
        p = Path(str(resources.files("simulator") / "scenarios" / f"{path}.yaml"))
    raw = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    faults = []
    for i, entry in enumerate(raw.get("faults", [])):
        kind = entry.get("fault")
        if kind not in SATELLITE_FAULTS | STATION_FAULTS:
            raise ValueError(f"{p}: fault #{i + 1}: unknown fault {kind!r}")
        key = "satellite" if kind in SATELLITE_FAULTS else "station"
        target = entry.get(key)
        if not target or (known and target not in known.get(key, set())):
            raise ValueError(f"{p}: fault #{i + 1} ({kind}) needs a known `{key}:`, got {target!r}")
        if "from" in entry:
            begin = _absolute(entry["from"], p, i)
        else:
            begin = start_ns + int(parse_duration(entry.get("at", 0)) * 1e9)
        dur = entry.get("duration")
        if "until" in entry and entry["until"] is not None:
            end = _absolute(entry["until"], p, i)
        else:
            end = _NEVER if dur is None else begin + int(parse_duration(dur) * 1e9)
        opts = {
            k: v for k, v in entry.items()
            if k not in ("at", "from", "until", "fault", key, "duration", "severity")
        }
        sev = entry.get("severity", 1.0)
        if isinstance(sev, bool) or not isinstance(sev, int | float) or not 0.0 <= sev <= 1.0:
            raise ValueError(
                f"{p}: fault #{i + 1} ({kind}): severity must be a number from 0 to 1, got {sev!r}"
            )
        faults.append(Fault(kind, begin, end, str(target), float(sev), opts))
    return Scenario(name=str(raw.get("name", p.stem)), faults=faults)


def _absolute(value: object, path: Path, i: int) -> int:
    """A fault's `from` or `until`: an RFC 3339 time (YAML may hand it over as a datetime)."""
    if isinstance(value, dt.datetime):
        t = value
    else:
        try:
            t = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{path}: fault #{i + 1}: not a time: {value!r} (RFC 3339, "
                             "e.g. 2026-12-07T14:02:11Z)") from None
    return to_ns(t if t.tzinfo else t.replace(tzinfo=dt.UTC))


def packaged_scenarios() -> list[str]:
    return sorted(
        f.name[:-5]
        for f in (resources.files("simulator") / "scenarios").iterdir()
        if f.name.endswith(".yaml")
    )
