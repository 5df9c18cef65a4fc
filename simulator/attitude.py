"""Attitude and orbit control: pointing errors, momentum wheels, mode, sensor validity.

*model*: pointing noise about 0.01 deg rms (docs/domain.md: +-0.03 nominal); four wheels, a pyramid
with bias speeds, drifting under solar-pressure torque through the day and unloaded by a daily
momentum dump (a 5 min ramp back to the bias). The sun sensor stays *valid* in eclipse: its
validity flag reports sensor health, and the mission marks false as critical, so a nightly
"no Sun" must not look like a failure (docs/domain.md, Attitude).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from simulator import noise, propulsion

if TYPE_CHECKING:
    from simulator.satellite import SatelliteSim

DAY_NS = 86_400 * 10**9
BIAS_RPM = np.array([2200.0, -2000.0, 2400.0, -2300.0])  # *model*
DRIFT_RPM = np.array([1100.0, -900.0, 950.0, -1050.0])  # per day, at most (*model*)
PARTNER = {1: 3, 2: 4, 3: 1, 4: 2}  # same-sign wheel that takes a failing wheel's momentum
DUMP_RAMP = 300.0 / 86_400.0


def _excursion(sat: SatelliteSim, t: np.ndarray) -> np.ndarray:
    """Extra pointing error (deg) from attitude-excursion faults: a swing that builds in 30 s."""
    out = np.zeros(len(t))
    for f in sat.faults("attitude_excursion"):
        e = f.elapsed_s(t)
        env = np.where(f.active(t), np.clip(e / 30.0, 0, 1), 0.0)
        out += 0.6 * f.severity * env * (0.7 + 0.3 * np.sin(2 * np.pi * e / 90.0))
    return out


def _wheels(sat: SatelliteSim, t: np.ndarray) -> np.ndarray:
    phase = ((3.0 - sat.lon / 15.0) % 24.0) * 3600e9  # daily dump at 03:00 local time (*model*)
    f = ((t - int(phase)) % DAY_NS) / DAY_NS
    saw = np.where(f >= DUMP_RAMP, (f - DUMP_RAMP) / (1 - DUMP_RAMP), 1 - f / DUMP_RAMP)
    scale = 1.0 + 0.04 * (sat.lon - 70.0) / 30.0  # the two satellites differ a little
    hour = 2 * np.pi * (t % DAY_NS) / DAY_NS
    w = (
        BIAS_RPM[:, None] * scale
        + DRIFT_RPM[:, None] * saw[None, :]
        + 120.0 * np.sin(hour + np.arange(4)[:, None])[:, :]
    )
    for f_ in sat.faults("wheel_friction"):
        n = int(f_.options.get("wheel", 1))
        e = np.clip(f_.elapsed_s(t), 0, None)
        # Friction spins wheel n down (tau 2 min / severity); its momentum moves to the partner.
        lost = np.where(t >= f_.start_ns, w[n - 1] * (1 - np.exp(-e * f_.severity / 120.0)), 0.0)
        lost = np.where(t >= f_.end_ns, 0.0, lost)  # fixed by the end (wheel swapped / recovered)
        w[n - 1] -= lost
        w[PARTNER[n] - 1] += lost * 1.5
    return w + 2.0 * np.stack([noise.normal(sat.key("wheel", i), t // 10**9) for i in range(4)])


def fields(sat: SatelliteSim, t: np.ndarray, keys: list[str]) -> dict[str, np.ndarray]:
    sec = t // 10**9
    burn = propulsion.burning(sat.plans, t)
    exc = _excursion(sat, t)
    leak_bias = np.zeros(len(t))
    for f in sat.faults("thruster_leak"):
        leak_bias += np.where(
            f.active(t), 0.12 * f.severity * np.clip(f.elapsed_s(t) / 300.0, 0, 1), 0
        )
    out: dict[str, np.ndarray] = {}
    for i, axis in enumerate(("roll_error", "pitch_error", "yaw_error")):
        sigma = 0.007 + 0.006 * burn
        v = (
            sigma * noise.normal(sat.key(axis), sec)
            + 0.006 * noise.smooth(sat.key(axis, "s"), t / 1e9, 600.0)
            + 0.012 * burn
            + exc * (1.0, -0.7, 0.5)[i]
            + leak_bias * (1.0, 0.2, 0.6)[i]
        )
        out[axis] = v
    if any(k.startswith("wheel_") for k in keys):
        w = _wheels(sat, t)
        for i in range(4):
            out[f"wheel_{i + 1}_speed"] = w[i]
    safe = np.zeros(len(t), dtype=bool)
    for f in sat.faults("attitude_excursion"):
        safe |= f.active(t)
    out["aocs_mode"] = np.where(safe, "safe", np.where(burn, "station_keeping", "normal"))
    out["earth_sensor_valid"] = np.abs(out["roll_error"]) < 0.3
    out["sun_sensor_valid"] = np.abs(out["pitch_error"]) < 0.3
    if "sun_visible" in keys:  # not in the mission yet: offered for an active_when on the sensor
        from orbit.eclipse import illumination

        out["sun_visible"] = illumination(sat.lon, t) > 0.0
    return {k: out[k] for k in keys if k in out}
