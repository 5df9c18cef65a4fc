"""Station-keeping manoeuvres, propellant, blow-down tank pressure, thruster temperature.

All *model*: east-west burns every 14 days (6 min, 0.06 kg), north-south every 28 days (45 min,
1.3 kg): about 18.5 kg a year, what ~50 m/s a year of station keeping costs a ~1,000 kg satellite
at Isp 290 s. Propellant at 2026-01-01 of 140 kg (KazSat-2) / 230 kg (KazSat-3). The schedule
is anchored to absolute time, so propellant at any instant is analytic: no burns before launch,
none drawn once the tank is empty (propellant >= 0).

Tank pressure (*model*): a 420 L tank, regulated at 20 bar from a helium bottle while the helium
lasts, then blow-down: the pressurant is an ideal gas whose volume grows as propellant leaves
(p V / T constant, 17.5 bar at the reference), so the pressure falls with the propellant and
stays positive (lowest with the tank empty).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from simulator import noise

if TYPE_CHECKING:
    from simulator.satellite import SatelliteSim

DAY_NS = 86_400 * 10**9
REF_NS = 1_767_225_600 * 10**9  # 2026-01-01T00:00Z, the propellant reference epoch (*model*)
PROPELLANT_REF_KG = {"kazsat-2": 140.0, "kazsat-3": 230.0}  # *model*
DENSITY_KG_L = 1.2  # bipropellant mix (*model*)
TANK_L = 420.0  # *model*
P_REF_BAR = 17.5  # tank pressure at the reference epoch, in blow-down (*model*)
P_REG_BAR = 20.0  # regulated pressure before blow-down (*model*)


@dataclass(frozen=True)
class BurnPlan:
    name: str
    period_ns: int
    first_ns: int  # one burn start (the schedule repeats both ways)
    length_ns: int
    mass_kg: float
    peak_c: float  # thruster temperature rise it would reach


def burn_plans(index: int) -> list[BurnPlan]:
    """Schedules for the index-th satellite, staggered so the two never burn together."""
    shift = index * 3 * DAY_NS + index * 5 * 3600 * 10**9
    return [
        BurnPlan(
            "east_west",
            14 * DAY_NS,
            REF_NS + 4 * DAY_NS + 4 * 3600 * 10**9 + shift,
            6 * 60 * 10**9,
            0.06,
            55.0,
        ),
        BurnPlan(
            "north_south",
            28 * DAY_NS,
            REF_NS + 11 * DAY_NS + 2 * 3600 * 10**9 + shift,
            45 * 60 * 10**9,
            1.3,
            75.0,
        ),
    ]


def _phase(plan: BurnPlan, t_ns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(burn count since first_ns, ns since the latest burn start) at each time."""
    rel = np.asarray(t_ns, dtype=np.int64) - plan.first_ns
    k = np.floor_divide(rel, plan.period_ns)
    return k, rel - k * plan.period_ns


def burning(plans: list[BurnPlan], t_ns: np.ndarray) -> np.ndarray:
    out = np.zeros(np.shape(t_ns), dtype=bool)
    for p in plans:
        out |= _phase(p, t_ns)[1] < p.length_ns
    return out


def burns_between(plans: list[BurnPlan], t0_ns: int, t1_ns: int) -> list[tuple[str, int, int]]:
    out = []
    for p in plans:
        k0 = (t0_ns - p.first_ns - p.length_ns) // p.period_ns + 1
        k1 = (t1_ns - p.first_ns) // p.period_ns
        out += [
            (p.name, p.first_ns + k * p.period_ns, p.first_ns + k * p.period_ns + p.length_ns)
            for k in range(k0, k1 + 1)
        ]
    return sorted(out, key=lambda b: b[1])


def propellant(
    sat_id: str,
    plans: list[BurnPlan],
    t_ns: np.ndarray,
    leak_kg: np.ndarray,
    launch_ns: int | None = None,
) -> np.ndarray:
    """Propellant mass: reference mass less every burn since (plus every burn until) REF, none
    before launch; 0 at the least (and no more than the tank holds)."""
    t_ns = np.asarray(t_ns, dtype=np.int64)
    if launch_ns is not None:
        t_ns = np.maximum(t_ns, launch_ns)
    m = np.full(np.shape(t_ns), PROPELLANT_REF_KG.get(sat_id, 180.0)) - leak_kg
    for p in plans:
        k, since = _phase(p, t_ns)
        k_ref, since_ref = _phase(p, np.array([REF_NS]))
        used = (k - k_ref[0]) * p.mass_kg + np.minimum(since, p.length_ns) / p.length_ns * p.mass_kg
        used -= min(since_ref[0], p.length_ns) / p.length_ns * p.mass_kg
        m -= used
    return np.clip(m, 0.0, 0.9 * TANK_L * DENSITY_KG_L)  # 10 % ullage at the most (*model*)


def tank_pressure(sat_id: str, mass_kg: np.ndarray, tank_temp_c: np.ndarray) -> np.ndarray:
    """Regulated at P_REG_BAR, then blow-down: p = P_REF * V_ref / V * T / 293.15 K with V the
    gas volume (tank less propellant, never below the 10 % ullage), so always positive."""
    v_ref = TANK_L - PROPELLANT_REF_KG.get(sat_id, 180.0) / DENSITY_KG_L
    v = TANK_L - np.clip(np.asarray(mass_kg), 0.0, 0.9 * TANK_L * DENSITY_KG_L) / DENSITY_KG_L
    blow_down = P_REF_BAR * v_ref / v * (np.asarray(tank_temp_c) + 273.15) / 293.15
    return np.minimum(blow_down, P_REG_BAR)


def thruster_heat(plans: list[BurnPlan], t_ns: np.ndarray) -> np.ndarray:
    """Temperature rise from burns: heats with tau 8 min while firing, cools with tau 25 min."""
    rise = np.zeros(np.shape(t_ns))
    for p in plans:
        _, since = _phase(p, t_ns)
        s = since / 1e9
        on = np.minimum(s, p.length_ns / 1e9)
        peak = p.peak_c * (1 - np.exp(-on / 480.0))
        rise += np.where(
            s < p.length_ns / 1e9, peak, peak * np.exp(-(s - p.length_ns / 1e9) / 1500.0)
        )
    return rise


def orbit_offsets(plans: list[BurnPlan], t_ns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Longitude offset and latitude (deg) inside the +-0.05 deg station-keeping box (*model*):
    longitude librates between east-west burns, inclination grows between north-south burns and
    shows as a daily north-south swing."""
    ew, ns = plans[0], plans[1]
    f = _phase(ew, t_ns)[1] / ew.period_ns
    dlon = 0.05 * (2 * (2 * f - 1) ** 2 - 1)
    g = _phase(ns, t_ns)[1] / ns.period_ns
    incl = 0.005 + 0.04 * g
    lat = incl * np.sin(
        2 * np.pi * (np.asarray(t_ns, dtype=np.int64) % (86_164 * 10**9)) / 86_164e9
    )
    return dlon, lat


def fields(sat: SatelliteSim, t: np.ndarray, keys: list[str]) -> dict[str, np.ndarray]:
    """Propulsion telemetry at sample times t (ns)."""
    leak = np.zeros(len(t))
    chill = np.zeros(len(t))
    for f in sat.faults("thruster_leak"):
        # *model*: severity 1 loses 3 kg/h through a leaking valve, which also chills the cluster.
        dur = np.clip((t - f.start_ns) / 1e9, 0, (f.end_ns - f.start_ns) / 1e9)
        leak += 3.0 * f.severity * dur / 3600.0
        chill += np.where(f.active(t), 12.0 * f.severity, 0.0)
    m = propellant(sat.id, sat.plans, t, leak, sat.launch_ns)
    tank_t = sat.state_at("tank_temp", t)
    out = {
        "propellant_mass": np.maximum(m + 0.02 * noise.normal(sat.key("prop"), t // 10**9), 0.0),
        "tank_pressure": tank_pressure(sat.id, m, tank_t)
        + 0.01 * noise.normal(sat.key("p"), t // 10**9),
        "thruster_temp": 27.0
        + 0.3 * (tank_t - 20.0)
        + thruster_heat(sat.plans, t)
        - chill
        + 0.2 * noise.normal(sat.key("thr"), t // 10**9),
    }
    return {k: out[k] for k in keys if k in out}
