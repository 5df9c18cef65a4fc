"""Look angles against an independent vector computation (and the figures in docs/domain.md)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from simulator.model import Model

from .conftest import utc

DOMAIN_FIGURES = {  # docs/domain.md, Stations (spherical Earth): el, az, range km
    ("akkol", "kazsat-2"): (28.8, 160.5, 38724),
    ("akkol", "kazsat-3"): (29.4, 195.6, 38666),
    ("kokterek", "kazsat-2"): (38.8, 166.4, 37873),
    ("kokterek", "kazsat-3"): (36.4, 205.9, 38067),
}


def expected(station: dict, sat_lon: float) -> tuple[float, float, float]:
    """Station on the WGS84 ellipsoid, satellite on the equator at 42,164 km; the line of sight
    in local east-north-up axes."""
    a, f = 6378.137, 1 / 298.257223563
    e2 = f * (2 - f)
    lat, lon = math.radians(station["latitude_deg"]), math.radians(station["longitude_deg"])
    n = a / math.sqrt(1 - e2 * math.sin(lat) ** 2)
    h = station["altitude_m"] / 1000
    st = np.array(
        [
            (n + h) * math.cos(lat) * math.cos(lon),
            (n + h) * math.cos(lat) * math.sin(lon),
            (n * (1 - e2) + h) * math.sin(lat),
        ]
    )
    sat = 42164.0 * np.array([math.cos(math.radians(sat_lon)), math.sin(math.radians(sat_lon)), 0])
    d = sat - st
    east = np.array([-math.sin(lon), math.cos(lon), 0])
    north = np.array(
        [-math.sin(lat) * math.cos(lon), -math.sin(lat) * math.sin(lon), math.cos(lat)]
    )
    up = np.array([math.cos(lat) * math.cos(lon), math.cos(lat) * math.sin(lon), math.sin(lat)])
    rng = float(np.linalg.norm(d))
    el = math.degrees(math.asin(d @ up / rng))
    az = math.degrees(math.atan2(d @ east, d @ north)) % 360
    return el, az, rng


@pytest.mark.parametrize(("station", "sat"), list(DOMAIN_FIGURES))
def test_antenna_angles_and_range(mission: dict, station: str, sat: str) -> None:
    el, az, rng = expected(
        mission["stations"][station], mission["satellites"][sat]["longitude_deg"]
    )
    ref_el, ref_az, ref_rng = DOMAIN_FIGURES[(station, sat)]
    assert abs(el - ref_el) < 0.3 and abs(az - ref_az) < 0.3 and abs(rng - ref_rng) < 30

    t0 = utc(2026, 11, 25, 0)
    model = Model(mission, seed=1, start_ns=t0)
    blocks = model.generate(t0, t0 + 86_400 * 10**9, step_s=600)
    (b,) = [
        b
        for b in blocks
        if b.tags == {"station": station, "satellite": sat} and "antenna_elevation" in b.fields
    ]
    # The satellite moves inside its +-0.05 deg station-keeping box: a few hundredths of a degree.
    assert np.abs(b.fields["antenna_elevation"] - el).max() < 0.1
    assert np.abs(b.fields["antenna_azimuth"] - az).max() < 0.15
    assert np.abs(b.fields["slant_range"] - rng).max() < 40
    assert np.ptp(b.fields["antenna_elevation"]) > 0.001  # it does move
