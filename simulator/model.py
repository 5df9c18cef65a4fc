"""The one interface between physics and writer: `Model.generate(t0_ns, t1_ns, step_s)`.

A Block is one entity's fields of one subsystem at one sample period: the writer turns blocks
into line protocol and never needs to know the physics. State (battery, temperatures, lock,
prime station) is carried between calls, so consecutive windows continue smoothly; random
numbers are keyed by (seed, entity, stream, time), so output does not depend on window sizes.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from simulator import attitude, payload, power, propulsion, thermal, ttc
from simulator.catalogue import Catalogue, ParamSpec
from simulator.faults import Scenario, load_scenario
from simulator.links import LinkSim
from simulator.satellite import SatelliteSim
from simulator.station import StationSim
from simulator.weather import Weather

log = logging.getLogger(__name__)

SatFields = Callable[[SatelliteSim, np.ndarray, list[str]], dict[str, np.ndarray]]
PHYSICS: dict[str, SatFields] = {
    "power": power.fields,
    "thermal": thermal.fields,
    "aocs": attitude.fields,
    "propulsion": propulsion.fields,
    "payload": payload.fields,
    "ttc": ttc.fields,
}


@dataclass
class Block:
    """Samples of one entity and subsystem: measurement, tags, times (int64 ns), fields."""

    measurement: str
    tags: dict[str, str]
    times: np.ndarray
    fields: dict[str, np.ndarray]

    @property
    def values(self) -> int:
        return len(self.times) * len(self.fields)


def sample_times(
    t0_ns: int, t1_ns: int, period_s: float, step_s: float | None = None
) -> np.ndarray:
    """Sample instants in [t0, t1): multiples of the period (or of the coarser step, rounded up to
    a multiple of the period) since the epoch, so coarse samples are a subset of fine ones."""
    p = max(round(period_s * 1e9), 1)
    if step_s and step_s * 1e9 > p:
        p *= int(np.ceil(step_s * 1e9 / p))
    first = -(-t0_ns // p) * p
    return np.arange(first, t1_ns, p, dtype=np.int64)


class Model:
    """Both satellites, both stations and all links of a mission dict."""

    def __init__(
        self,
        mission: dict[str, Any],
        seed: int = 0,
        start_ns: int = 0,
        scenario: Scenario | Path | str | None = None,
        storms_per_year: float = 3.0,
        failover_s: float = 30.0,
        failback_s: float | None = 900.0,
        station: str | None = None,
    ):
        self.catalogue = Catalogue.from_dict(mission)
        cat = self.catalogue
        if station is not None and station not in cat.stations:
            raise ValueError(f"unknown station {station!r} (the mission has "
                             f"{', '.join(cat.stations)})")
        # One station's feed (the two-site deployment): what that station receives.
        self.station = station
        if scenario is None:
            scenario = Scenario("nominal", [])
        elif not isinstance(scenario, Scenario):
            scenario = load_scenario(
                scenario, start_ns, {"satellite": set(cat.satellites), "station": set(cat.stations)}
            )
        self.scenario = scenario
        self.seed, self.start_ns = seed, start_ns
        self.weather = Weather(seed, scenario, storms_per_year)
        self.sats = {
            sid: SatelliteSim(sid, spec, i, seed, scenario)
            for i, (sid, spec) in enumerate(cat.satellites.items())
        }
        self.stations = {
            gid: StationSim(gid, spec, seed, scenario) for gid, spec in cat.stations.items()
        }
        prime = cat.prime_station()
        self.links = {
            sid: LinkSim(sat, i, self.stations, self.weather, prime, failover_s, failback_s)
            for i, (sid, sat) in enumerate(self.sats.items())
        }
        self._groups = cat.groups()
        self._warned: set[str] = set()

    def advance(self, t0_ns: int, t1_ns: int, step_s: float | None = None) -> None:
        """Carry the state (battery, temperatures, lock, prime station) over [t0, t1) as
        generate does, without making samples: a model can skip ahead to the present."""
        if t1_ns <= t0_ns:
            return
        for sat in self.sats.values():
            sat.slow(t0_ns, t1_ns)
        lock_p = self.catalogue.params.get("carrier_lock")
        lock_grid = sample_times(t0_ns, t1_ns, lock_p.period_s if lock_p else 1.0, step_s)
        for link in self.links.values():
            link.decide(lock_grid)

    def checkpoint(self) -> Model:
        """A copy in the current state, to generate from here while this model goes on."""
        for link in self.links.values():
            link.drop_cache()  # only saves work within one window; the copy is 10x smaller
        return copy.deepcopy(self)

    def generate(self, t0_ns: int, t1_ns: int, step_s: float | None = None) -> list[Block]:
        """All telemetry with t0 <= time < t1. Call with consecutive windows to run continuously."""
        blocks: list[Block] = []
        if t1_ns <= t0_ns:
            return blocks
        self.advance(t0_ns, t1_ns, step_s)
        for (sat_id, sta_id, subsystem, period), keys in self._groups.items():
            t = sample_times(t0_ns, t1_ns, period, step_s)
            if not len(t):
                continue
            if sat_id is not None and sta_id is not None:
                values = self.links[sat_id].fields(sta_id, t, keys)
                tags = {"station": sta_id, "satellite": sat_id}
            elif sat_id is not None:
                values = self._satellite_fields(self.sats[sat_id], subsystem, t, keys)
                tags = {"satellite": sat_id}
            else:
                assert sta_id is not None  # every group names a satellite, a station or both
                values = self.stations[sta_id].fields(t, keys)
                tags = {"station": sta_id}
            fields = {
                k: self._coerce(self.catalogue.params[k], values.get(k), len(t)) for k in keys
            }
            block = Block(subsystem, tags, t, fields)
            if self.station is not None:
                block = self._received(block, self.station)
            if len(block.times):
                blocks.append(block)
        return blocks

    def _received(self, block: Block, station: str) -> Block:
        """The part of a block that reaches `station`: its own equipment and links whole, a
        satellite's telemetry at the times its link to the satellite has frame sync (every
        station with sync decodes the same frames; the backend keeps the first copy)."""
        sat, sta = block.tags.get("satellite"), block.tags.get("station")
        if sta is not None:
            return block if sta == station else Block(block.measurement, block.tags,
                                                      block.times[:0], {})
        assert sat is not None  # a block names a satellite, a station or both
        sync = self.links[sat].fields(station, block.times, ["frame_sync"])["frame_sync"]
        if sync.all():
            return block
        return Block(block.measurement, block.tags, block.times[sync],
                     {k: v[sync] for k, v in block.fields.items()})

    def _satellite_fields(
        self, sat: SatelliteSim, subsystem: str, t: np.ndarray, keys: list[str]
    ) -> dict[str, np.ndarray]:
        first = PHYSICS.get(subsystem)
        out = first(sat, t, keys) if first else {}
        missing = [k for k in keys if k not in out]
        for fn in PHYSICS.values():  # a parameter moved to another subsystem still has physics
            if not missing or fn is first:
                continue
            out.update(fn(sat, t, missing))
            missing = [k for k in keys if k not in out]
        return out

    def _coerce(self, p: ParamSpec, v: np.ndarray | None, n: int) -> np.ndarray:
        if v is None:
            if p.key not in self._warned:
                self._warned.add(p.key)
                log.warning("no physics for parameter %s: sending a constant", p.key)
            v = np.full(n, _default(p))
        if np.ndim(v) == 0 or len(v) != n:  # a constant: one value per sample
            v = np.broadcast_to(v, (n,))
        if p.type == "bool":
            return v.astype(bool)
        if p.type == "int":
            return np.asarray(v).astype(np.int64)
        if p.type == "enum":
            return np.asarray(v).astype(str)
        return np.asarray(v, dtype=np.float64)


def _default(p: ParamSpec) -> object:
    if p.type == "bool":
        return True
    if p.type == "enum":
        return p.values[0]
    if p.type == "int":
        return 0
    band = p.limits.get("warning") or p.limits.get("critical") or {}
    lo, hi = band.get("low"), band.get("high")
    if lo is not None and hi is not None:
        return (lo + hi) / 2
    return (lo + 1.0) if lo is not None else (hi - 1.0) if hi is not None else 0.0
