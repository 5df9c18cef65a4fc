"""Rain fades at each station (*model*): seeded events, more in spring and autumn.

Ordinary fades: about 0.4-1.2 a day, 10-60 min, peak 0.5-2.5 dB (referenced to a 30 deg path).
Storms: a few a year (default 3 per station), 20-50 min, 6-14 dB: enough to lose lock, so the
reserve station takes the satellite (the ordinary reason for a hand-over, docs/domain.md).
Scenario faults `heavy_rain` add a storm of their own. Everything is a function of time only.
"""

from __future__ import annotations

import numpy as np

from simulator import noise
from simulator.faults import Scenario

DAY_NS = 86_400 * 10**9
WEEK_NS = 7 * DAY_NS


def seasonal(t_ns: np.ndarray | int) -> np.ndarray:
    """0 in mid-January and mid-July, 1 in mid-April and mid-October."""
    doy = (np.asarray(t_ns, dtype=np.int64) % (365.2425 * 86_400e9)) / 86_400e9
    return 0.5 * (1 - np.cos(4 * np.pi * (doy - 15.0) / 365.2425))


def _bump(t: np.ndarray, start: float, dur: float, peak: float) -> np.ndarray:
    x = (t - start) / dur
    return np.where((x >= 0) & (x < 1), peak * np.sin(np.pi * np.clip(x, 0, 1)) ** 2, 0.0)


class Weather:
    def __init__(self, seed: int, scenario: Scenario, storms_per_year: float = 3.0):
        self.seed, self.scenario, self.storms_per_year = seed, scenario, storms_per_year

    def events(
        self, station: str, t0_ns: int, t1_ns: int
    ) -> list[tuple[float, float, float, bool]]:
        """(start_ns, duration_ns, peak_db, storm) of natural rain events overlapping [t0, t1)."""
        out = []
        key = noise.stream_key(self.seed, station, "rain")
        for b in range(t0_ns // DAY_NS - 1, t1_ns // DAY_NS + 1):
            lam = 0.4 + 0.8 * float(seasonal(b * DAY_NS + DAY_NS // 2))
            u = noise.uniform(key, np.arange(b * 16, b * 16 + 16))
            count = int(np.searchsorted(np.cumsum(_poisson_pmf(lam, 4)), u[0]))
            for i in range(min(count, 4)):
                dur = (600 + 3000 * u[1 + 3 * i]) * 1e9
                z = float(noise.normal(key, np.array([b * 16 + 2 + 3 * i]))[0])
                peak = float(min(2.5, 1.0 * np.exp(0.45 * z)))
                out.append((b * DAY_NS + u[3 + 3 * i] * DAY_NS, dur, peak, False))
        skey = noise.stream_key(self.seed, station, "storm")
        for w in range(t0_ns // WEEK_NS - 1, t1_ns // WEEK_NS + 1):
            p = (
                self.storms_per_year
                / 52.0
                * (0.3 + 1.4 * float(seasonal(w * WEEK_NS + WEEK_NS // 2)))
            )
            u = noise.uniform(skey, np.arange(w * 4, w * 4 + 4))
            if u[0] < p:
                out.append(
                    (w * WEEK_NS + u[1] * WEEK_NS, (1200 + 1800 * u[2]) * 1e9, 6 + 8 * u[3], True)
                )
        return [e for e in out if e[0] < t1_ns and e[0] + e[1] > t0_ns]

    def attenuation(self, station: str, t: np.ndarray) -> np.ndarray:
        """Rain attenuation (dB) on a 30 deg path at the station, at sample times t (ns)."""
        t = np.asarray(t, dtype=np.int64)
        a = np.zeros(len(t))
        if not len(t):
            return a
        tf = t.astype(np.float64)
        for start, dur, peak, _ in self.events(station, int(t[0]), int(t[-1]) + 1):
            a += _bump(tf, start, dur, peak)
        for f in self.scenario.of("heavy_rain", station):
            # A scenario storm: 3 min build-up, plateau, 3 min clearing.
            e = f.elapsed_s(t)
            left = (f.end_ns - t) / 1e9
            env = np.clip(np.minimum(e, left) / 180.0, 0, 1)
            a += np.where(e >= 0, 14.0 * f.severity * env, 0.0)
        # Scintillation while it rains (*model*).
        a += np.where(
            a > 0.05,
            0.08 * noise.normal(noise.stream_key(self.seed, station, "sc"), t // 10**9),
            0.0,
        )
        return np.maximum(a, 0.0)


def _poisson_pmf(lam: float, kmax: int) -> np.ndarray:
    k = np.arange(kmax + 1)
    fact = np.cumprod(np.concatenate([[1.0], np.arange(1, kmax + 1)]))
    return np.exp(-lam) * lam**k / fact
