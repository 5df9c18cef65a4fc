"""Propellant and tank pressure stay physical at any start date: before launch, decades on.

The tank figures are the model's documented ones (simulator/propulsion.py docstring): 420 L,
propellant 1.2 kg/L, 17.5 bar with 140 kg (KazSat-2) / 230 kg (KazSat-3) left on 2026-01-01;
the pressurant then obeys Boyle's law, p V / T constant, written out here.
"""

from __future__ import annotations

import numpy as np
import pytest

from simulator.model import Model

from .conftest import utc
from .helpers import series

TANK_L, RHO, P_REF, T_REF = 420.0, 1.2, 17.5, 293.15
LEFT_2026 = {"kazsat-2": 140.0, "kazsat-3": 230.0}


def _sample(mission: dict, t0: int) -> dict[str, dict[str, float]]:
    blocks = Model(mission, seed=4, start_ns=t0).generate(t0, t0 + 600 * 10**9, step_s=60)
    return {
        sat: {
            k: float(np.mean(series(blocks, k, satellite=sat)[1]))
            for k in ("propellant_mass", "tank_pressure", "tank_temp")
        }
        for sat in LEFT_2026
    }


def _boyle(sat: str, mass_kg: float, temp_c: float) -> float:
    gas_ref = TANK_L - LEFT_2026[sat] / RHO
    return P_REF * gas_ref / (TANK_L - mass_kg / RHO) * (temp_c + 273.15) / T_REF


def test_early_start_stays_inside_the_tank(mission: dict) -> None:
    """2012: KazSat-2 a year in orbit, KazSat-3 not launched (28 April 2014, docs/domain.md)."""
    a, b = _sample(mission, utc(2012, 3, 1)), _sample(mission, utc(2013, 3, 1))
    for s in (a, b):
        for v in s.values():
            assert 0 < v["propellant_mass"] < TANK_L * RHO  # less than a full tank holds
            assert 15 <= v["tank_pressure"] <= 20.5  # nominal 15-20 bar (docs/domain.md)
    assert a["kazsat-2"]["propellant_mass"] - b["kazsat-2"]["propellant_mass"] > 10  # burning
    assert a["kazsat-3"]["propellant_mass"] == pytest.approx(
        b["kazsat-3"]["propellant_mass"], abs=0.05
    )  # on the ground: nothing burnt yet


def test_blow_down_follows_boyles_law(mission: dict) -> None:
    for year in (2027, 2029):
        for sat, v in _sample(mission, utc(year, 1, 1)).items():
            expect = _boyle(sat, v["propellant_mass"], v["tank_temp"])
            assert v["tank_pressure"] == pytest.approx(expect, rel=0.005), (year, sat)


def test_late_start_empty_tank_keeps_a_positive_pressure(mission: dict) -> None:
    """2045: at ~18 kg a year both tanks ran dry years before."""
    for sat, v in _sample(mission, utc(2045, 1, 1)).items():
        assert 0 <= v["propellant_mass"] < 0.1
        assert v["tank_pressure"] == pytest.approx(_boyle(sat, 0.0, v["tank_temp"]), rel=0.005)
        assert v["tank_pressure"] > 5


def test_propellant_and_pressure_fall_year_on_year(mission: dict) -> None:
    years = [_sample(mission, utc(y, 6, 1)) for y in range(2015, 2042, 3)]
    for sat in LEFT_2026:
        m = [s[sat]["propellant_mass"] for s in years]
        p = [s[sat]["tank_pressure"] for s in years]
        assert np.all(np.diff(m) < 0.05)  # (noise, once empty)
        assert np.all(np.diff(p) < 0.1)  # (the tank temperature wobbles)
        assert m[0] > m[-1] == pytest.approx(0.0, abs=0.1)
