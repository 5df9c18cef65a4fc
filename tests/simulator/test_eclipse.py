"""Eclipses against an independent cylindrical-shadow computation."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from orbit.eclipse import eclipse_intervals_ns, eclipses, next_eclipse

from .conftest import utc
from .helpers import declination_deg

RE, RGEO = 6378.137, 42164.0


def cylindrical_minutes(dec_deg: float) -> float:
    """Shadow crossing time of an equatorial circular orbit, Sun at declination dec: in shadow when
    cos^2(theta) > (1 - (Re/r)^2) / cos^2(dec); the satellite turns 360 deg per solar day."""
    c = math.sqrt(1 - (RE / RGEO) ** 2) / math.cos(math.radians(dec_deg))
    return 0.0 if c >= 1 else 2 * math.degrees(math.acos(c)) / 360.0 * 1440.0


def penumbral_minutes(dec_deg: float) -> float:
    """First to last contact: separation of Sun and Earth centres below the sum of their apparent
    radii, cos(psi) = cos(theta) cos(dec), psi < asin(Re/r) + 0.267 deg."""
    c = math.cos(math.asin(RE / RGEO) + math.radians(0.267)) / math.cos(math.radians(dec_deg))
    return 0.0 if c >= 1 else 2 * math.degrees(math.acos(c)) / 360.0 * 1440.0


@pytest.mark.parametrize("lon", [86.5, 58.5])
@pytest.mark.parametrize(
    "day", [dt.datetime(2026, 3, 20, tzinfo=dt.UTC), dt.datetime(2026, 9, 23, tzinfo=dt.UTC)]
)
def test_equinox_eclipse_about_70_minutes_at_local_midnight(lon: float, day: dt.datetime) -> None:
    start, end = next_eclipse(lon, day)
    minutes = (end - start).total_seconds() / 60
    cyl = cylindrical_minutes(declination_deg(day))
    assert 68 < cyl < 70
    # Penumbra adds about a minute at each end (Sun's radius 0.27 deg at 0.25 deg/min).
    assert cyl < minutes < cyl + 3.5
    assert minutes <= 72.5
    # Centre: local midnight (24 h - lon/15) corrected by the equation of time (< 17 min).
    centre = start + (end - start) / 2
    midnight = day + dt.timedelta(hours=24 - lon / 15)
    assert abs((centre - midnight).total_seconds()) < 17 * 60


@pytest.mark.parametrize("lon", [86.5, 58.5])
def test_no_eclipse_near_solstices(lon: float) -> None:
    assert (
        eclipses(
            lon, dt.datetime(2026, 5, 1, tzinfo=dt.UTC), dt.datetime(2026, 8, 15, tzinfo=dt.UTC)
        )
        == []
    )
    assert (
        eclipses(
            lon, dt.datetime(2026, 11, 1, tzinfo=dt.UTC), dt.datetime(2027, 2, 10, tzinfo=dt.UTC)
        )
        == []
    )
    start, _ = next_eclipse(lon, dt.datetime(2026, 6, 21, tzinfo=dt.UTC))
    assert dt.datetime(2026, 8, 20, tzinfo=dt.UTC) < start < dt.datetime(2026, 9, 5, tzinfo=dt.UTC)


def test_season_length_and_durations_follow_declination() -> None:
    found = eclipse_intervals_ns(86.5, utc(2026, 2, 1), utc(2026, 5, 1))
    assert 42 <= len(found) <= 47  # about 44 days around the equinox, once a day
    for a, b in found:
        day = dt.datetime.fromtimestamp((a + b) / 2e9, dt.UTC)
        pen = penumbral_minutes(declination_deg(day))
        assert abs((b - a) / 60e9 - pen) < (1.0 if pen > 30 else 4.0)  # edges: steep in dec


def test_next_eclipse_during_an_eclipse_returns_the_current_one() -> None:
    start, end = next_eclipse(86.5, dt.datetime(2026, 3, 20, tzinfo=dt.UTC))
    again = next_eclipse(86.5, start + dt.timedelta(minutes=10))
    assert again is not None
    assert abs((again[0] - start).total_seconds()) < 0.01
    assert abs((again[1] - end).total_seconds()) < 0.01
    assert next_eclipse(86.5, dt.datetime(2026, 6, 21, tzinfo=dt.UTC), horizon_days=30) is None
