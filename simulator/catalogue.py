"""The mission dict (GET /api/v1/mission) read into what the simulator needs.

Nothing here lists parameters: keys, kinds, subsystems, types and periods all come from the dict.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from simulator.endpoints import split_urls


@dataclass(frozen=True)
class ParamSpec:
    key: str
    subsystem: str
    entity: str  # satellite | station | link
    type: str  # float | int | bool | enum
    period_s: float
    decimals: int = 2
    values: tuple[str, ...] = ()
    template: str | None = None
    n: int | None = None
    limits: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    states: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    active_when: str | None = None


@dataclass
class Catalogue:
    """Satellites, stations, parameters and series of one mission dict."""

    satellites: dict[str, dict[str, Any]]
    stations: dict[str, dict[str, Any]]
    params: dict[str, ParamSpec]
    series: list[tuple[str | None, str | None, str]]

    @classmethod
    def from_dict(cls, mission: dict[str, Any]) -> Catalogue:
        params = {
            k: ParamSpec(
                key=k,
                subsystem=p["subsystem"],
                entity=p["entity"],
                type=p["type"],
                period_s=float(p["period_s"]),
                decimals=int(p.get("decimals", 2)),
                values=tuple(p.get("values") or ()),
                template=p.get("template"),
                n=p.get("n"),
                limits=p.get("limits") or {},
                states=p.get("states") or {},
                active_when=p.get("active_when"),
            )
            for k, p in mission["parameters"].items()
        }
        sats, stas = mission["satellites"], mission["stations"]
        if "series" in mission:
            series = [(s, g, k) for s, g, k in mission["series"] if k in params]
        else:  # a bare mission file: derive the series the way the backend does
            series = []
            for k, p in mission["parameters"].items():
                ent = p["entity"]
                for g in stas if ent in ("station", "link") else [None]:
                    for s in sats if ent in ("satellite", "link") else [None]:
                        if p.get("per_transponder") and p["n"] > sats[s]["transponders"]:
                            continue
                        series.append((s, g, k))
        return cls(satellites=sats, stations=stas, params=params, series=series)

    def groups(self) -> dict[tuple[str | None, str | None, str, float], list[str]]:
        """(satellite, station, subsystem, period_s) -> parameter keys, in mission order."""
        out: dict[tuple[str | None, str | None, str, float], list[str]] = defaultdict(list)
        for s, g, k in self.series:
            p = self.params[k]
            out[(s, g, p.subsystem, p.period_s)].append(k)
        return dict(out)

    def prime_station(self) -> str:
        """The station whose role is primary (the first station if none says so)."""
        for sid, st in self.stations.items():
            if st.get("role") == "primary":
                return sid
        return next(iter(self.stations))


def load_mission_file(path: Path) -> dict[str, Any]:
    """A mission dict saved as JSON (the body of GET /api/v1/mission)."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def fetch_mission(api_urls: str, token: str | None, wait_s: float = 30.0) -> dict[str, Any]:
    """GET /api/v1/mission from the first endpoint that answers (several: one per site),
    retrying while the backend starts (for `kazsat up`)."""
    headers = {"Authorization": f"Token {token}"} if token else {}
    deadline = time.monotonic() + wait_s
    urls = split_urls(api_urls)
    while True:
        for url in urls:
            try:
                r = httpx.get(f"{url}/api/v1/mission", headers=headers, timeout=10)
                if r.status_code in (401, 403):
                    raise RuntimeError(f"mission request refused ({r.status_code}): check the "
                                       "token")
                r.raise_for_status()
                return r.json()
            except (httpx.TransportError, httpx.HTTPStatusError):
                if time.monotonic() > deadline and url == urls[-1]:
                    raise
        time.sleep(1.0)
