"""Earth-shadow eclipses of a geostationary satellite: illumination and eclipse times.

Conical shadow: the fraction of the solar disc hidden behind the Earth's disc as seen from the
satellite (Sun radius 0.2666 deg, Earth radius 8.70 deg from GEO), so penumbra is smooth. This
gives eclipse seasons of about 44 days around each equinox, at most about 72 min a day centred on
the satellite's local midnight, none near the solstices (docs/domain.md, Eclipses).

Pure functions of numpy only: the API, the simulator and scripts import them.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from orbit.geometry import (
    R_EARTH_KM,
    R_GEO_KM,
    R_SUN_KM,
    from_ns,
    satellite_ecef,
    sun,
    sun_ecef,
    to_ns,
)

_GRID_NS = (
    30 * 10**9
)  # search step: eclipses at the edge of a season shorter than this may be missed


def _disc_overlap(d: np.ndarray, r: np.ndarray, big: float) -> np.ndarray:
    """Fraction of a small disc (radius r) covered by a big disc (radius big) at distance d."""
    d = np.maximum(d, 1e-12)
    a1 = np.clip((d**2 + r**2 - big**2) / (2 * d * r), -1, 1)
    a2 = np.clip((d**2 + big**2 - r**2) / (2 * d * big), -1, 1)
    k = np.maximum((-d + r + big) * (d + r - big) * (d - r + big) * (d + r + big), 0.0)
    area = r**2 * np.arccos(a1) + big**2 * np.arccos(a2) - 0.5 * np.sqrt(k)
    frac = area / (np.pi * r**2)
    frac = np.where(d >= r + big, 0.0, frac)
    return np.where(d <= big - r, 1.0, np.clip(frac, 0.0, 1.0))


def illumination(
    longitude_deg: float, t_ns: np.ndarray, latitude_deg: np.ndarray | float = 0.0
) -> np.ndarray:
    """Fraction of the solar disc visible from the satellite (1 in sunlight, 0 in umbra)."""
    t_ns = np.atleast_1d(np.asarray(t_ns, dtype=np.int64))
    u, dist = sun_ecef(t_ns)
    # The satellite's longitude is fixed over the rotating Earth, so Earth-fixed axes work.
    p = satellite_ecef(np.full(t_ns.shape, longitude_deg), latitude_deg)
    to_sun = u * dist - p
    to_sun_len = np.linalg.norm(to_sun, axis=0)
    cos_sep = -np.sum(to_sun * p, axis=0) / (to_sun_len * R_GEO_KM)
    sep = np.arccos(np.clip(cos_sep, -1, 1))
    r_sun = np.arcsin(R_SUN_KM / to_sun_len)
    r_earth = float(np.arcsin(R_EARTH_KM / R_GEO_KM))
    return 1.0 - _disc_overlap(sep, r_sun, r_earth)


def _refine(longitude_deg: float, lo: np.ndarray, hi: np.ndarray, entering: bool) -> np.ndarray:
    """Bisection to 1 ms between lo (before) and hi (after) a shadow boundary."""
    lo, hi = lo.astype(np.int64).copy(), hi.astype(np.int64).copy()
    while np.any(hi - lo > 1_000_000):
        mid = lo + (hi - lo) // 2
        shadow = illumination(longitude_deg, mid) < 1.0
        past = shadow if entering else ~shadow
        hi = np.where(past, mid, hi)
        lo = np.where(past, lo, mid)
    return hi


def eclipse_intervals_ns(longitude_deg: float, t0_ns: int, t1_ns: int) -> list[tuple[int, int]]:
    """Eclipses (penumbra included) overlapping [t0, t1), as (start_ns, end_ns); a start before
    t0 or an end after t1 is found too."""
    pad = 3 * 3600 * 10**9  # longer than any eclipse, to see both ends
    grid = np.arange((t0_ns - pad) // _GRID_NS * _GRID_NS, t1_ns + pad + _GRID_NS, _GRID_NS)
    dark = illumination(longitude_deg, grid) < 1.0
    edges = np.flatnonzero(np.diff(dark.astype(np.int8)))
    starts = grid[edges[dark[edges + 1]]]
    ends = grid[edges[~dark[edges + 1]]]
    if not len(starts) or not len(ends):
        return []
    ends = ends[ends > starts[0]]
    starts = starts[: len(ends)]
    s = _refine(longitude_deg, starts, starts + _GRID_NS, entering=True)
    e = _refine(longitude_deg, ends, ends + _GRID_NS, entering=False)
    return [(int(a), int(b)) for a, b in zip(s, e, strict=True) if b > t0_ns and a < t1_ns]


def eclipses(
    longitude_deg: float, t0: dt.datetime, t1: dt.datetime
) -> list[tuple[dt.datetime, dt.datetime]]:
    """Eclipses overlapping [t0, t1) as (start, end) UTC datetimes."""
    return [
        (from_ns(a), from_ns(b))
        for a, b in eclipse_intervals_ns(longitude_deg, to_ns(t0), to_ns(t1))
    ]


def next_eclipse(
    longitude_deg: float, t: dt.datetime, horizon_days: float = 200.0
) -> tuple[dt.datetime, dt.datetime] | None:
    """The eclipse in progress at t, or else the next one within horizon_days, as (start, end)
    in UTC; None if there is none (the longest gap between seasons is about 140 days)."""
    t_ns = to_ns(t)
    chunk = 10 * 86_400 * 10**9
    a = t_ns
    while a < t_ns + int(horizon_days * 86_400e9):
        # Outside the seasons (|declination| > 9.5 deg all chunk long) there is nothing to find.
        days = np.arange(a - 86_400 * 10**9, a + chunk + 2 * 86_400 * 10**9, 43_200 * 10**9)
        if np.all(np.abs(np.degrees(sun(days)["dec"])) > 9.5):
            a += chunk
            continue
        for start, end in eclipse_intervals_ns(longitude_deg, a, a + chunk):
            if end > t_ns:
                return from_ns(start), from_ns(end)
        a += chunk
    return None
