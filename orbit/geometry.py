"""Sun ephemeris, satellite and station positions, look angles (all vectorised).

Sun: the Astronomical Almanac low-precision formulas (accuracy about 0.01 deg for 1950-2050):
mean longitude L, mean anomaly g, ecliptic longitude lambda, obliquity eps -> right ascension,
declination, distance in AU, equation of time. No ephemeris files are needed.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np

R_EARTH_KM = 6378.137  # WGS84 equatorial radius (fact)
F_WGS84 = 1.0 / 298.257223563  # WGS84 flattening (fact)
R_GEO_KM = 42164.0  # geostationary radius (fact; docs/domain.md, Geometry)
AU_KM = 149_597_870.7
R_SUN_KM = 696_000.0
J2000_NS = 946_728_000 * 10**9  # 2000-01-01T12:00:00 UTC (JD 2451545.0; UTC ~ UT1 for this use)
DAY_NS = 86_400 * 10**9


def to_ns(t: dt.datetime) -> int:
    """A datetime (naive = UTC) to integer nanoseconds since the Unix epoch."""
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    delta = t - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86_400 + delta.seconds) * 10**9 + delta.microseconds * 1000


def from_ns(t_ns: int) -> dt.datetime:
    return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=int(t_ns) // 1000)


def days_since_j2000(t_ns: np.ndarray) -> np.ndarray:
    return (np.asarray(t_ns, dtype=np.int64) - J2000_NS) / float(DAY_NS)


def sun(t_ns: np.ndarray) -> dict[str, np.ndarray]:
    """Sun right ascension, declination (rad), distance (AU), GMST (rad), equation of time (min)."""
    n = days_since_j2000(t_ns)
    mean_lon = np.radians((280.460 + 0.9856474 * n) % 360.0)
    g = np.radians((357.528 + 0.9856003 * n) % 360.0)
    lam = mean_lon + np.radians(1.915) * np.sin(g) + np.radians(0.020) * np.sin(2 * g)
    eps = np.radians(23.439 - 0.0000004 * n)
    ra = np.arctan2(np.cos(eps) * np.sin(lam), np.cos(lam))
    dec = np.arcsin(np.sin(eps) * np.sin(lam))
    r_au = 1.00014 - 0.01671 * np.cos(g) - 0.00014 * np.cos(2 * g)
    gmst = np.radians((280.46061837 + 360.98564736629 * n) % 360.0)
    eot = (np.degrees(mean_lon - ra) + 180.0) % 360.0 - 180.0  # degrees of hour angle
    return {"ra": ra, "dec": dec, "r_au": r_au, "gmst": gmst, "eot_min": 4.0 * eot}


def sun_ecef(t_ns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit vector to the Sun in Earth-fixed coordinates (shape (3, n)) and distance in km."""
    s = sun(t_ns)
    h = s["ra"] - s["gmst"]  # the Sun's east longitude over the rotating Earth
    u = np.stack([np.cos(s["dec"]) * np.cos(h), np.cos(s["dec"]) * np.sin(h), np.sin(s["dec"])])
    return u, s["r_au"] * AU_KM


def satellite_ecef(
    longitude_deg: np.ndarray | float,
    latitude_deg: np.ndarray | float = 0.0,
    radius_km: float = R_GEO_KM,
) -> np.ndarray:
    """Geostationary satellite position (km, shape (3, ...))."""
    lon, lat = np.radians(longitude_deg), np.radians(latitude_deg)
    return radius_km * np.stack(
        np.broadcast_arrays(
            np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat) + 0 * lon
        )
    )


def station_ecef(latitude_deg: float, longitude_deg: float, altitude_m: float) -> np.ndarray:
    """Station position on the WGS84 ellipsoid (km)."""
    lat, lon = np.radians(latitude_deg), np.radians(longitude_deg)
    e2 = F_WGS84 * (2 - F_WGS84)
    n = R_EARTH_KM / np.sqrt(1 - e2 * np.sin(lat) ** 2)
    h = altitude_m / 1000.0
    return np.array(
        [
            (n + h) * np.cos(lat) * np.cos(lon),
            (n + h) * np.cos(lat) * np.sin(lon),
            (n * (1 - e2) + h) * np.sin(lat),
        ]
    )


def look_angles(station: dict[str, Any],
                sat_pos_km: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Azimuth from north (deg), elevation (deg), slant range (km) from a station (mission dict
    entry) to satellite positions (3, n) or (3,), in topocentric east-north-up coordinates."""
    lat, lon = np.radians(station["latitude_deg"]), np.radians(station["longitude_deg"])
    st = station_ecef(station["latitude_deg"], station["longitude_deg"], station["altitude_m"])
    d = sat_pos_km - st.reshape(3, *([1] * (np.ndim(sat_pos_km) - 1)))
    east = -np.sin(lon) * d[0] + np.cos(lon) * d[1]
    north = (
        -np.sin(lat) * np.cos(lon) * d[0] - np.sin(lat) * np.sin(lon) * d[1] + np.cos(lat) * d[2]
    )
    up = np.cos(lat) * np.cos(lon) * d[0] + np.cos(lat) * np.sin(lon) * d[1] + np.sin(lat) * d[2]
    rng = np.sqrt(east**2 + north**2 + up**2)
    az = np.degrees(np.arctan2(east, north)) % 360.0
    el = np.degrees(np.arcsin(up / rng))
    return az, el, rng
