"""Electrical power: solar-array wings, bus load, battery state of charge, voltage, temperature.

*model* figures: each wing gives ~25 A at normal incidence when new, degrading 0.5 %/year; the
wings rotate about the pitch (north-south) axis so the Sun's incidence on them is its declination:
current ~ cos(dec) / r_au^2. Battery 150 Ah, open-circuit 82 + 14*SOC V, 0.08 ohm; charge at most
12 A; discharge through a 95 % efficient regulator into a 100 V bus (docs/domain.md: SOC 60-75 % at
the end of a long eclipse, bus 100 +- 0.5 V). SOC stops at 0: an empty battery (or one a fault
leaves unable to carry the load) leaves load unmet and the bus falls out of regulation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from simulator import noise

if TYPE_CHECKING:
    from simulator.satellite import SatelliteSim

WING_A = 25.0
CAPACITY_AH = 150.0
MAX_CHARGE_A = 12.0
BUS_V = 100.0
BDR_EFF = 0.95
R_INT = 0.08
CELL_V = 1.37  # one failed cell takes this off the battery voltage (*model*)


def array_current(
    years: np.ndarray, illum: np.ndarray, dec: np.ndarray, r_au: np.ndarray
) -> np.ndarray:
    return WING_A * (1 - 0.005 * years) * np.cos(dec) / r_au**2 * illum


def open_circuit_v(soc: np.ndarray) -> np.ndarray:
    return 82.0 + 14.0 * np.asarray(soc) / 100.0


def integrate_battery(
    soc0: float, dt_s: float, sa_total: np.ndarray, bus_a: np.ndarray, capacity_ah: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SOC (%, 0..100), battery current (A, + charge) and the bus load left unmet (A) on the slow
    grid. A scalar loop over the slow grid (30 s steps, not samples): charging tapers and stops
    at full, discharge stops at empty; neither is a linear filter."""
    n = len(bus_a)
    soc, cur, unmet = np.empty(n), np.empty(n), np.zeros(n)
    s = soc0
    sa, bus, cap = sa_total.tolist(), bus_a.tolist(), capacity_ah.tolist()
    for k in range(n):
        surplus = sa[k] - bus[k]
        if surplus >= 0:
            i = min(MAX_CHARGE_A * min(1.0, (100.0 - s) / 4.0), surplus * BUS_V / (82.0 + 0.14 * s))
            i = max(i, 0.0)
        else:
            i = surplus * BUS_V / BDR_EFF / (82.0 + 0.14 * s - 0.08 * 40)
            most = s / 100.0 * cap[k] * 3600.0 / dt_s  # all the charge left, in this step
            if -i > most:  # empty: the battery gives what is left, the rest of the load is unmet
                unmet[k] = -surplus * (1.0 - most / -i)
                i = -most
        s = min(100.0, max(0.0, s + i * dt_s / 3600.0 / cap[k] * 100.0))
        soc[k], cur[k] = s, i
    return soc, cur, unmet


def fields(sat: SatelliteSim, t: np.ndarray, keys: list[str]) -> dict[str, np.ndarray]:
    """Power telemetry at sample times t (ns)."""
    from orbit.eclipse import illumination
    from orbit.geometry import sun

    s = sun(t)
    illum = illumination(sat.lon, t)
    yrs = sat.years(t)
    out: dict[str, np.ndarray] = {}
    sa = power_wings(sat, t, yrs, illum, s)
    out.update(sa)
    soc = sat.state_at("soc", t)
    # The battery current follows the instantaneous Sun (eclipse edges are sharp), the slow
    # grid supplies the charge-taper state; dark => discharge at the bus load.
    bus = sat.state_at("bus_current", t) + 0.25 * noise.normal(sat.key("bus_i"), t // 10**9)
    bat_i_slow = sat.state_at("battery_current", t)
    unmet = sat.state_at("unmet", t)
    deficit = np.maximum(bus - (sa["sa_north_current"] + sa["sa_south_current"]), 0)
    v_oc = open_circuit_v(soc)
    bat_i = np.where(
        illum < 1.0,
        np.minimum(-deficit * BUS_V / BDR_EFF / (v_oc - 3.0), bat_i_slow),
        np.maximum(bat_i_slow, 0.0),
    )
    bat_i = np.where(illum >= 1.0, np.where(soc > 99.9, 0.2, bat_i), bat_i)
    bat_i = np.where(unmet > 0, bat_i_slow, bat_i)  # empty: what is left, not the full load
    bat_i = bat_i + 0.1 * noise.normal(sat.key("bat_i"), t // 10**9)
    failed_cells = np.zeros(len(t))
    for f in sat.faults("battery_cell_failure"):
        failed_cells += np.where(t >= f.start_ns, max(1, round(2 * f.severity)), 0)
    v_bat = v_oc + R_INT * bat_i - CELL_V * failed_cells
    # The shunt/discharge regulators hold 100 V, a little sag while the battery carries the bus.
    # With load unmet the bus leaves regulation: it falls to the fraction of the demand that is
    # supplied, and the loads draw that much less (*model*: resistive loads, no load shedding).
    supplied = 1.0 - np.clip(unmet / np.maximum(bus, 1e-9), 0.0, 1.0)
    out["battery_soc"] = soc
    out["battery_current"] = bat_i
    out["battery_voltage"] = v_bat + 0.05 * noise.normal(sat.key("v_bat"), t // 10**9)
    out["bus_current"] = bus * supplied
    sag = 0.15 * (illum < 1.0)
    out["bus_voltage"] = (
        (BUS_V - sag) * supplied
        + 0.06 * noise.smooth(sat.key("bus_v"), t / 1e9, 120.0)
        + 0.04 * noise.normal(sat.key("bus_v_w"), t // 10**9)
    )
    out["battery_temp"] = sat.state_at("battery_temp", t) + 0.05 * noise.normal(
        sat.key("bat_t"), t // 10**9
    )
    return {k: out[k] for k in keys if k in out}


def power_wings(
    sat: SatelliteSim, t: np.ndarray, years: np.ndarray, illum: np.ndarray, s: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """North and south wing currents; the north wing is 1 % stronger as built (*model*)."""
    base = array_current(years, illum, s["dec"], s["r_au"])
    return {
        "sa_north_current": base * 1.005 + 0.05 * noise.normal(sat.key("sa_n"), t // 10**9) * illum,
        "sa_south_current": base * 0.995 + 0.05 * noise.normal(sat.key("sa_s"), t // 10**9) * illum,
    }
