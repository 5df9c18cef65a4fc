"""Station-satellite links: link budget, rain, lock, frames, bit errors, prime/reserve failover.

Budget (standard formulas; figures *model*): free-space loss 92.45 + 20 log10(d km) +
20 log10(f GHz); 9 m antennas, 65 % efficiency; system noise = LNA + 45 K antenna + 140 K receiver
chain, plus rain's sky noise 275 K * (1 - 10^(-A/10)); the telemetry rate is set per satellite so
the prime station sees 13 dB Eb/N0 in clear sky. QPSK with concatenated coding (5.5 dB gain):
BER = 0.5 erfc(sqrt(Eb/N0 + gain)). Lock lost below 4 dB, regained above 5 dB.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from orbit import geometry
from simulator import noise, propulsion, ttc
from simulator.filters import erfc, hysteresis
from simulator.satellite import SatelliteSim
from simulator.station import StationSim
from simulator.weather import Weather

K_DBW = -228.6
ANTENNA_M = 9.0
T_ANT_K, T_RX_K = 45.0, 140.0
DOWNLINK_GHZ = (11.452, 12.502)  # beacon frequency of the 1st and 2nd satellite (*model*)
CODING_GAIN_DB = 5.5
LOCK_LOST_DB, LOCK_REGAINED_DB = 4.0, 5.0
SYNC_DB = 4.5
FRAME_BITS = 8920
CLEAR_SKY_EBN0_DB = 13.0


def fspl_db(range_km: np.ndarray, f_ghz: float) -> np.ndarray:
    return 92.45 + 20 * np.log10(range_km) + 20 * np.log10(f_ghz)


def antenna_gain_dbi(f_ghz: float, diameter_m: float = ANTENNA_M, eff: float = 0.65) -> float:
    lam = 0.299792458 / f_ghz
    return float(10 * np.log10(eff * (np.pi * diameter_m / lam) ** 2))


def ber_from_ebn0(ebn0_db: np.ndarray) -> np.ndarray:
    ebn0 = 10 ** ((np.asarray(ebn0_db) + CODING_GAIN_DB) / 10)
    return np.maximum(0.5 * erfc(np.sqrt(ebn0)), 1e-12)


@dataclass
class PrimeState:
    """Carried between windows: who is prime, since when it has no lock, since when the
    default prime has had lock again (for the hand-back)."""

    current: str
    lost_since: int | None = None
    good_since: int | None = None
    changes: list[tuple[int, str]] = field(default_factory=list)  # (time ns, new prime)


class LinkSim:
    def __init__(
        self,
        sat: SatelliteSim,
        sat_index: int,
        stations: dict[str, StationSim],
        weather: Weather,
        prime: str,
        failover_s: float,
        failback_s: float | None,
    ):
        self.sat, self.stations, self.weather = sat, stations, weather
        self.f_ghz = DOWNLINK_GHZ[sat_index % 2]
        self.default_prime = prime
        self.failover_ns = int(failover_s * 1e9)
        self.failback_ns = None if failback_s is None else int(failback_s * 1e9)
        self.state = PrimeState(prime, changes=[(-(2**62), prime)])
        self.lock_state: dict[str, bool] = {s: True for s in stations}
        self.lock_grid: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._cache: dict[str, tuple[tuple[int, int, int], dict[str, np.ndarray]]] = {}
        g = antenna_gain_dbi(self.f_ghz)
        _, el, rng = self.look(prime, np.array([0], dtype=np.int64), nominal=True)
        clear = (
            ttc.BEACON_EIRP_DBW
            - fspl_db(rng, self.f_ghz)
            - self.gas_db(el)
            + g
            - 10 * np.log10(62.0 + T_ANT_K + T_RX_K)
            - K_DBW
        )
        self.rate_db = float(np.ravel(clear)[0]) - CLEAR_SKY_EBN0_DB  # 10 log10(bit rate), *model*
        self.gain_dbi = g

    @staticmethod
    def gas_db(el: np.ndarray) -> np.ndarray:
        return 0.1 / np.sin(np.radians(el))

    def look(self, station: str, t: np.ndarray,
             nominal: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if nominal:
            pos = geometry.satellite_ecef(self.sat.lon)
        else:
            dlon, lat = propulsion.orbit_offsets(self.sat.plans, t)
            pos = geometry.satellite_ecef(self.sat.lon + dlon, lat)
        return geometry.look_angles(self.stations[station].spec, pos)

    def budget(self, station: str, t: np.ndarray) -> dict[str, np.ndarray]:
        """Link figures at times t; the last result per station is reused (decide() and the
        1 s link block ask for the same grid)."""
        key = (len(t), int(t[0]) if len(t) else 0, int(t[-1]) if len(t) else 0)
        hit = self._cache.get(station)
        if hit and hit[0] == key:
            return dict(hit[1])
        out = self._budget(station, t)
        self._cache[station] = (key, out)
        return dict(out)

    def _budget(self, station: str, t: np.ndarray) -> dict[str, np.ndarray]:
        st = self.stations[station]
        az, el, rng = self.look(station, t)
        rain = (
            self.weather.attenuation(station, t) * np.sin(np.radians(30.0)) / np.sin(np.radians(el))
        )
        eirp = ttc.beacon_eirp(self.sat, t)
        up = st.up(t)
        t_sys = st.lna_temp(t) + T_ANT_K + T_RX_K + 275.0 * (1 - 10 ** (-rain / 10))
        loss = fspl_db(rng, self.f_ghz) + self.gas_db(el) + rain
        sec = t // 10**9
        level = (
            eirp
            - loss
            + self.gain_dbi
            + 30.0
            + 0.05 * noise.normal(self.sat.key(station, "lvl"), sec)
        )
        ebn0 = (
            eirp
            - loss
            + self.gain_dbi
            - 10 * np.log10(t_sys)
            - K_DBW
            - self.rate_db
            + 0.12 * noise.normal(self.sat.key(station, "ebn0"), sec)
        )
        # A dark station measures nothing: report the receiver floor (*model*).
        return {
            "antenna_azimuth": az,
            "antenna_elevation": el,
            "slant_range": rng,
            "rain_attenuation": np.maximum(
                rain + 0.02 * noise.normal(self.sat.key(station, "ra"), sec), 0
            ),
            "beacon_level": np.where(up, level, -140.0),
            "ebn0_db": np.where(up, ebn0, -10.0),
        }

    def drop_cache(self) -> None:
        self._cache.clear()

    # ---- lock and failover: computed once per window on the carrier_lock sample grid --------
    def decide(self, t: np.ndarray) -> None:
        """Lock for every station and prime hand-overs on grid t (ns), from the carried state."""
        locks = {}
        for s in self.stations:
            e = self.budget(s, t)["ebn0_db"]
            lk = hysteresis(e, LOCK_LOST_DB, LOCK_REGAINED_DB, self.lock_state[s])
            if len(lk):
                self.lock_state[s] = bool(lk[-1])
            locks[s] = lk
            self.lock_grid[s] = (t, lk)
        self._failover(t, locks)

    def _failover(self, t: np.ndarray, locks: dict[str, np.ndarray]) -> None:
        """A sequential state machine run over segments of constant lock (not over samples)."""
        st = self.state
        names = list(locks)
        if not len(t):
            return
        m = np.stack([locks[s] for s in names])
        cuts = np.flatnonzero(np.any(m[:, 1:] != m[:, :-1], axis=0)) + 1
        bounds = np.concatenate([[0], cuts, [len(t)]])
        for a, b in itertools.pairwise(bounds):
            lock = {s: bool(locks[s][a]) for s in names}
            i = int(a)
            while i < b:
                if not lock[st.current]:
                    st.lost_since = int(t[i]) if st.lost_since is None else st.lost_since
                    st.good_since = None
                    due = st.lost_since + self.failover_ns
                    j = i + int(np.searchsorted(t[i:b], due))
                    others = [s for s in names if s != st.current and lock[s]]
                    if j < b and others:
                        new = self.default_prime if self.default_prime in others else others[0]
                        st.current, st.lost_since, st.good_since = new, None, None
                        st.changes.append((int(t[j]), new))
                        i = j
                        continue
                    break
                st.lost_since = None
                if (
                    st.current != self.default_prime
                    and self.failback_ns is not None
                    and lock.get(self.default_prime)
                ):
                    st.good_since = int(t[i]) if st.good_since is None else st.good_since
                    j = i + int(np.searchsorted(t[i:b], st.good_since + self.failback_ns))
                    if j < b:
                        st.current, st.good_since = self.default_prime, None
                        st.changes.append((int(t[j]), self.default_prime))
                        i = j
                        continue
                elif st.current != self.default_prime:
                    st.good_since = None
                break
        st.changes = st.changes[-64:]

    def prime_at(self, t: np.ndarray) -> np.ndarray:
        when = np.array([c[0] for c in self.state.changes], dtype=np.int64)
        who = np.array([c[1] for c in self.state.changes])
        return who[np.maximum(np.searchsorted(when, t, side="right") - 1, 0)]

    def lock_at(self, station: str, t: np.ndarray) -> np.ndarray:
        g, lk = self.lock_grid[station]
        idx = np.searchsorted(g, t, side="right") - 1
        return np.where(idx >= 0, lk[np.maximum(idx, 0)], self.lock_state[station])

    def fields(self, station: str, t: np.ndarray, keys: list[str]) -> dict[str, np.ndarray]:
        out = self.budget(station, t)
        lock = self.lock_at(station, t)
        sync = lock & (out["ebn0_db"] > SYNC_DB)
        ber = np.where(lock, ber_from_ebn0(out["ebn0_db"]), 0.5)
        fer = -np.expm1(FRAME_BITS * np.log1p(-np.minimum(ber, 0.5)))
        lam = ttc.FRAMES_PER_S * fer
        u = noise.uniform(self.sat.key(station, "frames"), t // 10**9)
        lost = np.zeros(len(t), dtype=np.int64)
        cdf = np.exp(-lam)
        pmf = cdf.copy()
        for k in range(1, ttc.FRAMES_PER_S + 1):  # inverse-CDF Poisson, 17 vector steps
            lost += u > cdf
            pmf = pmf * lam / k
            cdf = cdf + pmf
        lost = np.where(sync, np.minimum(lost, ttc.FRAMES_PER_S), ttc.FRAMES_PER_S)
        out.update(
            {
                "carrier_lock": lock,
                "frame_sync": sync,
                "ber": ber,
                "frames_lost": lost,
                "frames_received": ttc.FRAMES_PER_S - lost,
                "is_prime": self.prime_at(t) == station,
            }
        )
        return {k: out[k] for k in keys if k in out}
