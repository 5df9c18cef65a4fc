"""The simulator's Eb/N0 against a link budget worked out here from first principles.

Nothing below comes from simulator.links or orbit.geometry: the station is placed on the
WGS84 ellipsoid, the satellite at its nominal slot, and the budget is assembled from the
definitions in docs/domain.md#link-budget (free-space loss 20 log10(4 pi d f / c), a 9 m dish
at 65 % efficiency, system noise temperature, Boltzmann's constant, the downlink data rate,
gas and rain losses). The rain attenuation and LNA temperature are the simulator's own reported
samples, so a rain fade is checked as well as clear sky.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from simulator.model import Model

from .conftest import utc
from .helpers import run, series

C_M_S = 299_792_458.0
BOLTZMANN_J_K = 1.380649e-23  # exact since the 2019 SI redefinition
WGS84_A_KM, WGS84_F = 6378.137, 1 / 298.257223563
R_GEO_KM = 42_164.0

# docs/domain.md#link-budget (*model* figures of the simulated TT&C downlink).
EIRP_DBW = 11.0
DISH_M, DISH_EFFICIENCY = 9.0, 0.65
T_ANTENNA_K, T_RECEIVER_K, T_RAIN_MEDIUM_K = 45.0, 140.0, 275.0
T_LNA_NOMINAL_K = 62.0
DOWNLINK_GHZ = {"kazsat-2": 11.452, "kazsat-3": 12.502}
PRIME_CLEAR_SKY_EBN0_DB = 13.0
GAS_ZENITH_DB = 0.1

TOLERANCE_DB = 0.5


def db(x: float | np.ndarray) -> float | np.ndarray:
    return 10 * np.log10(x)


def geometry(station: dict, sat_lon_deg: float) -> tuple[float, float]:
    """Slant range (km) and elevation (deg): station and satellite positions in Earth-centred,
    Earth-fixed axes, elevation from the angle between the line of sight and the local vertical."""
    lat, lon = math.radians(station["latitude_deg"]), math.radians(station["longitude_deg"])
    e2 = WGS84_F * (2 - WGS84_F)
    n = WGS84_A_KM / math.sqrt(1 - e2 * math.sin(lat) ** 2)
    h = station["altitude_m"] / 1000
    st = np.array(
        [
            (n + h) * math.cos(lat) * math.cos(lon),
            (n + h) * math.cos(lat) * math.sin(lon),
            (n * (1 - e2) + h) * math.sin(lat),
        ]
    )
    slon = math.radians(sat_lon_deg)
    sat = R_GEO_KM * np.array([math.cos(slon), math.sin(slon), 0.0])
    los = sat - st
    d = float(np.linalg.norm(los))
    vertical = np.array(
        [math.cos(lat) * math.cos(lon), math.cos(lat) * math.sin(lon), math.sin(lat)]
    )
    return d, math.degrees(math.asin(float(los @ vertical) / d))


def received_dbw(
    d_km: float, el_deg: float, f_ghz: float, rain_db: np.ndarray, eirp_dbw: np.ndarray | float
) -> np.ndarray:
    """Carrier power at the antenna flange: EIRP - free-space loss - gas - rain + G."""
    wavelength_m = C_M_S / (f_ghz * 1e9)
    free_space_db = 20 * math.log10(4 * math.pi * d_km * 1e3 / wavelength_m)
    gain_dbi = db(DISH_EFFICIENCY * (math.pi * DISH_M / wavelength_m) ** 2)
    gas_db = GAS_ZENITH_DB / math.sin(math.radians(el_deg))
    return eirp_dbw - free_space_db - gas_db - rain_db + gain_dbi


def noise_density_dbw_hz(lna_k: np.ndarray | float, rain_db: np.ndarray | float) -> np.ndarray:
    """10 log10(k T_sys); a lossy medium at T_RAIN_MEDIUM_K radiates in proportion to its loss."""
    sky_k = T_RAIN_MEDIUM_K * (1 - 10 ** (-np.asarray(rain_db) / 10))
    return db(BOLTZMANN_J_K * (np.asarray(lna_k) + T_ANTENNA_K + T_RECEIVER_K + sky_k))


def data_rate_db(mission: dict, sat: str) -> float:
    """10 log10(bit/s): the rate the primary station receives at 13 dB Eb/N0 in clear sky with
    its LNA at the nominal 62 K and the satellite at its slot (docs/domain.md#link-budget)."""
    prime = next(k for k, s in mission["stations"].items() if s["role"] == "primary")
    d, el = geometry(mission["stations"][prime], mission["satellites"][sat]["longitude_deg"])
    c = received_dbw(d, el, DOWNLINK_GHZ[sat], np.array(0.0), EIRP_DBW)
    return float(c - noise_density_dbw_hz(T_LNA_NOMINAL_K, 0.0)) - PRIME_CLEAR_SKY_EBN0_DB


def compare(mission: dict, blocks: list, sat: str, station: str) -> dict[str, np.ndarray]:
    """Simulated minus independent beacon level and Eb/N0 (dB) at every common sample time."""
    spec = mission["stations"][station]
    d, el = geometry(spec, mission["satellites"][sat]["longitude_deg"])
    t, ebn0 = series(blocks, "ebn0_db", station=station, satellite=sat)
    t_lvl, level_dbm = series(blocks, "beacon_level", station=station, satellite=sat)
    t_rain, rain = series(blocks, "rain_attenuation", station=station, satellite=sat)
    t_lna, lna = series(blocks, "lna_temp", station=station)
    t_rng, rng = series(blocks, "slant_range", station=station, satellite=sat)
    t_eirp, eirp = series(blocks, "beacon_eirp", satellite=sat)
    for other in (t_lvl, t_rain, t_lna, t_rng, t_eirp):
        assert np.array_equal(t, other)
    # The satellite moves inside its +-0.05 deg box: its range stays within a few km of the slot's,
    # and the beacon's EIRP within a few tenths of a dB of its nominal 11 dBW.
    assert np.abs(rng - d).max() < 40
    assert np.abs(eirp - EIRP_DBW).max() < 0.3
    c = received_dbw(d, el, DOWNLINK_GHZ[sat], rain, eirp)
    ebn0_expected = c - noise_density_dbw_hz(lna, rain) - data_rate_db(mission, sat)
    return {"beacon_level": level_dbm - (c + 30.0), "ebn0_db": ebn0 - ebn0_expected}


def assert_agree(diffs: dict[str, np.ndarray], where: str) -> None:
    """Every sample within the tolerance; the median, free of the simulator's measurement noise
    (*model*, 0.05 dB rms on the level, 0.12 dB on Eb/N0), within 0.1 dB: no bias."""
    for key, diff in diffs.items():
        assert np.abs(diff).max() < TOLERANCE_DB, (where, key, diff)
        assert abs(float(np.median(diff))) < 0.1, (where, key, np.median(diff))


LINKS = [(s, g) for s in ("kazsat-2", "kazsat-3") for g in ("akkol", "kokterek")]


@pytest.fixture(scope="module")
def clear_sky(mission: dict) -> list:
    t0 = utc(2026, 1, 15, 3)
    return run(Model(mission, seed=2, start_ns=t0, storms_per_year=0), t0, 6, step_s=60)


@pytest.fixture(scope="module")
def akkol_storm(mission: dict) -> list:
    t0 = utc(2026, 11, 25, 12)
    model = Model(mission, seed=4, start_ns=t0, scenario="heavy_rain_akkol")
    return run(model, t0, 1, step_s=10)


def test_the_four_links_and_their_frequencies_are_the_missions(mission: dict) -> None:
    assert sorted(mission["satellites"]) == sorted(DOWNLINK_GHZ)
    assert {(s, g) for s in mission["satellites"] for g in mission["stations"]} == set(LINKS)


@pytest.mark.parametrize(("sat", "kbit_s"), [("kazsat-2", 387.3), ("kazsat-3", 388.8)])
def test_data_rates_are_the_documented_ones(mission: dict, sat: str, kbit_s: float) -> None:
    """docs/domain.md#link-budget states these rates; a change to the budget changes them."""
    assert 10 ** (data_rate_db(mission, sat) / 10) / 1e3 == pytest.approx(kbit_s, abs=0.5)


@pytest.mark.parametrize(("sat", "station"), LINKS)
def test_clear_sky_link_matches_the_budget(
    mission: dict, clear_sky: list, sat: str, station: str
) -> None:
    diffs = compare(mission, clear_sky, sat, station)
    assert len(diffs["ebn0_db"]) == 360
    assert_agree(diffs, f"{station} -> {sat}")


@pytest.mark.parametrize("sat", ["kazsat-2", "kazsat-3"])
def test_link_through_a_rain_fade_matches_the_budget(
    mission: dict, akkol_storm: list, sat: str
) -> None:
    _, rain = series(akkol_storm, "rain_attenuation", station="akkol", satellite=sat)
    assert rain.max() > 10  # the storm is in the window: rain loss and sky noise both count
    for station in ("akkol", "kokterek"):
        assert_agree(compare(mission, akkol_storm, sat, station), f"{station} -> {sat}")
