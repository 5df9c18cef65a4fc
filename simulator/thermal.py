"""Temperatures as first-order lags toward targets set by Sun, eclipse and dissipation (*model*).

North/south radiator panels see the Sun by season (the Sun's declination: north panel in
northern summer), cool in eclipse and warm with payload dissipation. Thermostatic heaters hold
the minimums: a heated zone's duty rises as its temperature falls toward the set-point and is
full at the set-point, so with enough heater power the zone does not fall below it; heater
duty therefore rises in eclipse, when the panels and the tank cool.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from simulator import noise

if TYPE_CHECKING:
    from simulator.satellite import SatelliteSim

SIN_OBLIQUITY = np.sin(np.radians(23.44))

TAU_S = {
    "panel": 3600.0,
    "payload_panel": 2700.0,
    "tank": 10800.0,
    "battery": 2400.0,
    "obc": 3600.0,
    "eclipse": 1200.0,
}


@dataclass(frozen=True)
class Heater:
    """A thermostat (*model*): duty 0 at setpoint + band, rising linearly to 1 at the set-point;
    full duty raises the zone's equilibrium by rise_c."""

    setpoint_c: float
    band_c: float
    power_w: float
    rise_c: float


# Set-points at the nominal minimums (docs/domain.md: battery 10-20 C, tank 15-30 C); the radiator
# panels' equipment kept above 0 C (*model*). 700 W in all, 7 A from the 100 V bus (*model*).
HEATERS = {
    "battery_temp": Heater(10.0, 3.0, 200.0, 14.0),
    "tank_temp": Heater(15.0, 3.0, 100.0, 12.0),
    "panel_north_temp": Heater(0.0, 5.0, 200.0, 15.0),
    "panel_south_temp": Heater(0.0, 5.0, 200.0, 15.0),
}
HEATER_W = sum(h.power_w for h in HEATERS.values())


def targets(
    dec: np.ndarray,
    dark: np.ndarray,
    dark_lag: np.ndarray,
    dissipation: np.ndarray,
    daily: np.ndarray,
) -> dict[str, np.ndarray]:
    """Passive equilibrium temperatures, heaters off (deg C). dark = 1 - illumination, dark_lag
    its 20 min lag, dissipation the payload's 0..1 heat, daily a cosine peaking at local noon.
    The battery's is set by the caller (it depends on the battery current)."""
    north = np.maximum(np.sin(dec), 0) / SIN_OBLIQUITY
    south = np.maximum(-np.sin(dec), 0) / SIN_OBLIQUITY
    return {
        "panel_north_temp": 4.0 + 24.0 * north + 10.0 * dissipation + 2.0 * daily - 20.0 * dark,
        "panel_south_temp": 4.0 + 24.0 * south + 10.0 * dissipation + 2.0 * daily - 20.0 * dark,
        "payload_panel_temp": 17.0 + 14.0 * dissipation + 3.0 * daily - 12.0 * dark,
        # The tank sits inside the body, cold-biased and heater-controlled (*model*).
        "tank_temp": 13.0 + 2.0 * daily - 5.0 * dark_lag,
        "obc_temp": 21.0 + 5.0 * dissipation + 1.5 * daily - 3.0 * dark,
    }


def thermostat(
    passive: np.ndarray, y0: float, dt_s: float, tau_s: float, h: Heater
) -> tuple[np.ndarray, np.ndarray]:
    """Temperature and heater duty (0..1) of a zone lagging toward passive + rise * duty, the
    duty set from the temperature one step before. Feedback through a clip is not a linear
    filter: a scalar loop over the slow grid (30 s steps, not samples), like the battery's."""
    a = math.exp(-dt_s / tau_s)
    top, band, rise = h.setpoint_c + h.band_c, h.band_c, h.rise_c
    temp, duty = np.empty(len(passive)), np.empty(len(passive))
    y = y0
    for k, u in enumerate(passive.tolist()):
        d = min(max((top - y) / band, 0.0), 1.0)
        y = a * y + (1.0 - a) * (u + rise * d)
        temp[k], duty[k] = y, d
    return temp, duty


def fields(sat: SatelliteSim, t: np.ndarray, keys: list[str]) -> dict[str, np.ndarray]:
    """Thermal telemetry (and obc_temp, used by ttc) at sample times t (ns)."""
    out = {}
    for k in keys:
        if k == "heater_duty":
            out[k] = np.clip(
                sat.state_at(k, t) + 1.0 * noise.normal(sat.key(k), t // 10**9), 0, 100
            )
        elif k in (
            "panel_north_temp",
            "panel_south_temp",
            "payload_panel_temp",
            "tank_temp",
            "obc_temp",
        ):
            out[k] = sat.state_at(k, t) + 0.1 * noise.normal(sat.key(k), t // 10**9)
    return out
