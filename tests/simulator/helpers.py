"""Small helpers shared by the simulator tests."""

from __future__ import annotations

import datetime as dt

import numpy as np

from simulator.model import Block, Model


def run(
    model: Model, t0: int, hours: float, step_s: float | None = None, window_h: float = 1.0
) -> list[Block]:
    out: list[Block] = []
    end = t0 + int(hours * 3600e9)
    a = t0
    while a < end:
        b = min(a + int(window_h * 3600e9), end)
        out += model.generate(a, b, step_s)
        a = b
    return out


def series(blocks: list[Block], key: str, **tags: str) -> tuple[np.ndarray, np.ndarray]:
    """Times and values of one field of one entity, concatenated over windows."""
    parts = [(b.times, b.fields[key]) for b in blocks if key in b.fields and b.tags == tags]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


# ---- an eclipse computation independent of orbit.geometry / orbit.eclipse ----------
RE_KM, RGEO_KM = 6378.137, 42164.0


def _meeus(t_ns: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sun's apparent ecliptic longitude and obliquity (rad), Meeus, Astronomical Algorithms
    ch. 25 (low accuracy), and Greenwich mean sidereal time (rad, Meeus eq. 12.4)."""
    jd = np.asarray(t_ns, dtype=np.float64) / 86400e9 + 2440587.5
    c = (jd - 2451545.0) / 36525.0
    m = np.radians(357.52911 + 35999.05029 * c)
    centre = (
        (1.914602 - 0.004817 * c) * np.sin(m) + 0.019993 * np.sin(2 * m) + 0.000289 * np.sin(3 * m)
    )
    omega = np.radians(125.04 - 1934.136 * c)
    lam = np.radians(280.46646 + 36000.76983 * c + centre - 0.00569 - 0.00478 * np.sin(omega))
    eps = np.radians(23.439291 - 0.0130042 * c + 0.00256 * np.cos(omega))
    gmst = np.radians((280.46061837 + 360.98564736629 * (jd - 2451545.0)) % 360.0)
    return lam, eps, gmst


def declination_deg(t: dt.datetime) -> float:
    lam, eps, _ = _meeus(np.array([t.timestamp() * 1e9]))
    return float(np.degrees(np.arcsin(np.sin(eps) * np.sin(lam)))[0])


def in_cylindrical_shadow(lon_deg: float, t_ns: np.ndarray) -> np.ndarray:
    """True where a geostationary satellite at lon_deg is inside the cylinder of Earth's shadow
    (Sun direction in equatorial inertial axes, satellite at sidereal angle GMST + lon)."""
    lam, eps, gmst = _meeus(t_ns)
    sun = np.stack([np.cos(lam), np.cos(eps) * np.sin(lam), np.sin(eps) * np.sin(lam)])
    th = gmst + np.radians(lon_deg)
    sat = RGEO_KM * np.stack([np.cos(th), np.sin(th), np.zeros_like(th)])
    along = np.sum(sat * sun, axis=0)
    across = np.linalg.norm(sat - along * sun, axis=0)
    return (along < 0) & (across < RE_KM)
