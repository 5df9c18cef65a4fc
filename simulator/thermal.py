"""Temperatures as first-order lags toward targets set by Sun, eclipse and dissipation (*model*).

North/south radiator panels see the Sun by season (the Sun's declination: north panel in
northern summer), cool in eclipse and warm with payload dissipation; heaters hold the minimums,
so heater duty rises in eclipse.
"""

from __future__ import annotations

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


def targets(
    dec: np.ndarray,
    dark: np.ndarray,
    dark_lag: np.ndarray,
    dissipation: np.ndarray,
    daily: np.ndarray,
) -> dict[str, np.ndarray]:
    """Equilibrium temperatures (deg C). dark = 1 - illumination, dark_lag its 20 min lag,
    dissipation the payload's 0..1 heat, daily a cosine peaking at local noon."""
    north = np.maximum(np.sin(dec), 0) / SIN_OBLIQUITY
    south = np.maximum(-np.sin(dec), 0) / SIN_OBLIQUITY
    return {
        "panel_north_temp": 4.0 + 24.0 * north + 10.0 * dissipation + 2.0 * daily - 20.0 * dark,
        "panel_south_temp": 4.0 + 24.0 * south + 10.0 * dissipation + 2.0 * daily - 20.0 * dark,
        "payload_panel_temp": 17.0 + 14.0 * dissipation + 3.0 * daily - 12.0 * dark,
        "tank_temp": 21.0 + 2.0 * daily - 4.0 * dark_lag,
        "obc_temp": 21.0 + 5.0 * dissipation + 1.5 * daily - 3.0 * dark,
    }


def heater_duty(dark_lag: np.ndarray, dec: np.ndarray) -> np.ndarray:
    """Duty (%) from a base plus eclipse demand; a little more at the solstices (one cold panel)."""
    return 10.0 + 42.0 * dark_lag + 4.0 * np.abs(np.sin(dec)) / SIN_OBLIQUITY


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
