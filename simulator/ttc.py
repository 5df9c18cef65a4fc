"""Telemetry, tracking and command: beacon EIRP, on-board computer, counters.

*model*: beacon EIRP 11 dBW; 16 telemetry frames a second since launch (tm_frame_counter);
240 telecommands a day in three 15 min sessions (command_counter). Both counters are analytic in
time, so they never depend on where a window starts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from simulator import noise

if TYPE_CHECKING:
    from simulator.satellite import SatelliteSim

FRAMES_PER_S = 16
BEACON_EIRP_DBW = 11.0
_SESSIONS_H = (3.0, 9.0, 15.0)  # UTC hours of command sessions (*model*)
_PER_SESSION = 80


def beacon_eirp(sat: SatelliteSim, t: np.ndarray) -> np.ndarray:
    return (
        BEACON_EIRP_DBW
        + 0.08 * noise.smooth(sat.key("eirp"), t / 1e9, 3600.0)
        + 0.02 * noise.normal(sat.key("eirp_w"), t // 10**9)
    )


def fields(sat: SatelliteSim, t: np.ndarray, keys: list[str]) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    since = np.maximum(t - sat.launch_ns, 0)
    if "beacon_eirp" in keys:
        out["beacon_eirp"] = beacon_eirp(sat, t)
    if "obc_temp" in keys:
        out["obc_temp"] = sat.state_at("obc_temp", t) + 0.1 * noise.normal(
            sat.key("obc"), t // 10**9
        )
    if "tm_frame_counter" in keys:
        out["tm_frame_counter"] = since // (10**9 // FRAMES_PER_S)
    if "command_counter" in keys:
        days = since // 86_400_000_000_000
        tod = (since % 86_400_000_000_000) / 1e9
        c = days * _PER_SESSION * len(_SESSIONS_H)
        for h in _SESSIONS_H:
            c = c + np.floor(_PER_SESSION * np.clip((tod - h * 3600.0) / 900.0, 0, 1)).astype(
                np.int64
            )
        out["command_counter"] = c
    return out
