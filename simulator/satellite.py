"""One simulated satellite: its slow state (battery, temperatures) carried between windows.

The slow state is integrated on a fixed 30 s grid anchored to absolute time, so consecutive
windows continue it exactly and a span gives the same values however it is chunked. Fast
quantities (noise, eclipse edges, burns) are evaluated at each sample time directly.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np

from orbit.eclipse import illumination
from orbit.geometry import sun
from simulator import noise, power, propulsion, thermal
from simulator.faults import Fault, Scenario
from simulator.filters import lag

GRID_NS = 30 * 10**9
SPIN_UP = 2880  # grid steps (one day) integrated before a cold start, to begin in a settled state
YEAR_NS = 365.25 * 86_400e9


class SatelliteSim:
    def __init__(
        self, sat_id: str, spec: dict[str, Any], index: int, seed: int, scenario: Scenario
    ):
        self.id = sat_id
        self.spec = spec
        self.lon = float(spec["longitude_deg"])
        self.transponders = int(spec["transponders"])
        self.seed = seed
        self.scenario = scenario
        launched = dt.date.fromisoformat(str(spec.get("launched", "2014-01-01")))
        self.launch_ns = (
            int(dt.datetime(launched.year, launched.month, launched.day, tzinfo=dt.UTC).timestamp())
            * 10**9
        )
        self.plans = propulsion.burn_plans(index)
        self._k: np.ndarray | None = None  # grid indices held
        self._s: dict[str, np.ndarray] = {}
        self._tp_rank = noise.uniform(noise.stream_key(seed, sat_id, "tp"), np.arange(64))

    # ---- inputs that are functions of time --------------------------------------------------
    def key(self, *names: object) -> np.uint64:
        return noise.stream_key(self.seed, self.id, *names)

    def faults(self, kind: str) -> list[Fault]:
        return self.scenario.of(kind, self.id)

    def local_hour(self, t_ns: np.ndarray) -> np.ndarray:
        return (
            (np.asarray(t_ns, dtype=np.int64) % 86_400_000_000_000) / 3.6e12 + self.lon / 15.0
        ) % 24.0

    def traffic(self, t_ns: np.ndarray) -> np.ndarray:
        """Payload traffic load 0..1: daily rhythm peaking at 20 h local time, plus slow noise."""
        h = self.local_hour(t_ns)
        base = 0.62 + 0.25 * np.cos(2 * np.pi * (h - 20.0) / 24.0)
        return np.clip(
            base + 0.04 * noise.smooth(self.key("traffic"), t_ns / 1e9, 1800.0), 0.2, 1.0
        )

    def twta_on(self, t_ns: np.ndarray) -> np.ndarray:
        """(transponders, n) bool: amplifiers on (off while a twta_trip fault holds them)."""
        on = np.ones((self.transponders, len(t_ns)), dtype=bool)
        for f in self.faults("twta_trip"):
            off = f.active(t_ns) & (f.elapsed_s(t_ns) >= 120.0)  # trips after a 2 min helix surge
            for n in f.transponders(self.transponders):
                if 1 <= n <= self.transponders:
                    on[n - 1] &= ~off
        return on

    def dissipation(self, t_ns: np.ndarray, load: np.ndarray | None = None) -> np.ndarray:
        load = self.traffic(t_ns) if load is None else load
        return self.twta_on(t_ns).mean(axis=0) * (0.6 + 0.4 * load)

    def capacity_ah(self, t_ns: np.ndarray) -> np.ndarray:
        cap = np.full(np.shape(t_ns), power.CAPACITY_AH)
        for f in self.faults("battery_cell_failure"):
            cap = np.where(t_ns >= f.start_ns, cap * (1 - 0.3 * f.severity), cap)
        return cap

    def years(self, t_ns: np.ndarray) -> np.ndarray:
        return (np.asarray(t_ns, dtype=np.int64) - self.launch_ns) / YEAR_NS

    # ---- slow state -------------------------------------------------------------------------
    def _integrate(self, k: np.ndarray, state: dict[str, float] | None) -> dict[str, np.ndarray]:
        t = k * GRID_NS
        s = sun(t)
        illum = illumination(self.lon, t)
        dark = 1.0 - illum
        dark_lag = lag(dark, state["dark_lag"] if state else 0.0, 30.0, thermal.TAU_S["eclipse"])
        diss = self.dissipation(t, self.traffic(t))
        sa = 2 * power.array_current(self.years(t), illum, s["dec"], s["r_au"])
        # Bus: platform 14 A, payload up to 22 A (*model*); heaters are added below.
        base = 14.0 + 22.0 * diss
        daily = np.cos(2 * np.pi * (self.local_hour(t) - 12.0) / 24.0)
        passive = thermal.targets(s["dec"], dark, dark_lag, diss, daily)
        # Battery: cold-biased at 5 C, heated by discharge, ~0.16 C per amp of bus load it
        # carries (*model*); a failed cell heats it more.
        bat = 5.0 + 0.16 * np.maximum(base - sa, 0.0)
        for f in self.faults("battery_cell_failure"):
            bat = bat + np.where(f.active(t), 30.0 * f.severity, 0.0)
        passive["battery_temp"] = bat
        out = {"dark_lag": dark_lag}
        heater_w = np.zeros(len(t))
        for name, target in passive.items():
            tau = thermal.TAU_S["panel" if name.startswith("panel_") else name.replace("_temp", "")]
            h = thermal.HEATERS.get(name)
            if state:
                y0 = state[name]
            else:  # cold start at equilibrium, a heated zone at its set-point at the least
                y0 = max(float(target[0]), h.setpoint_c) if h else float(target[0])
            if h:
                out[name], duty = thermal.thermostat(target, y0, 30.0, tau, h)
                heater_w += h.power_w * duty
            else:
                out[name] = lag(target, y0, 30.0, tau)
        out["heater_duty"] = 100.0 * heater_w / thermal.HEATER_W
        out["bus_current"] = base + heater_w / power.BUS_V
        out["soc"], out["battery_current"], out["unmet"] = power.integrate_battery(
            state["soc"] if state else 96.0, 30.0, sa, out["bus_current"], self.capacity_ah(t)
        )
        return out

    def slow(self, t0_ns: int, t1_ns: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Slow-state arrays on the grid covering [t0, t1] (extended from the carried state)."""
        ka, kb = t0_ns // GRID_NS, -(-t1_ns // GRID_NS) + 1
        if self._k is None or ka < self._k[0]:
            k = np.arange(ka - SPIN_UP, kb + 1, dtype=np.int64)
            self._k, self._s = k, self._integrate(k, None)
        elif kb > self._k[-1]:
            state = {n: float(v[-1]) for n, v in self._s.items()}
            k = np.arange(self._k[-1] + 1, kb + 1, dtype=np.int64)
            new = self._integrate(k, state)
            self._k = np.concatenate([self._k, k])
            self._s = {n: np.concatenate([v, new[n]]) for n, v in self._s.items()}
        keep = self._k >= ka - 1
        self._k, self._s = self._k[keep], {n: v[keep] for n, v in self._s.items()}
        return self._k * GRID_NS, self._s

    def state_at(self, name: str, t_ns: np.ndarray) -> np.ndarray:
        """A slow-state variable interpolated to sample times (call after slow())."""
        assert self._k is not None
        g = self._k * GRID_NS
        return np.interp(np.asarray(t_ns, dtype=np.int64) - g[0], g - g[0], self._s[name])
