"""Link budget, rain fades and prime/reserve failover."""

from __future__ import annotations

import numpy as np

from simulator.model import Model

from .conftest import utc
from .helpers import run, series


def test_clear_sky_ebn0_and_lock(mission: dict) -> None:
    t0 = utc(2026, 1, 15, 3)
    blocks = run(Model(mission, seed=2, start_ns=t0, storms_per_year=0), t0, 1)
    for sat in mission["satellites"]:
        for sta in mission["stations"]:
            _, e = series(blocks, "ebn0_db", station=sta, satellite=sat)
            assert e.min() > 10 and e.max() < 14.5
            assert series(blocks, "carrier_lock", station=sta, satellite=sat)[1].all()
            assert (series(blocks, "frames_received", station=sta, satellite=sat)[1] == 16).all()


def test_heavy_rain_at_akkol_hands_satellites_to_kokterek(mission: dict) -> None:
    t0 = utc(2026, 11, 25, 12)
    model = Model(mission, seed=4, start_ns=t0, scenario="heavy_rain_akkol")
    blocks = run(model, t0, 1.2, window_h=0.25)  # windows cut across the hand-over on purpose
    for sat in mission["satellites"]:
        t, lock = series(blocks, "carrier_lock", station="akkol", satellite=sat)
        _, prime_a = series(blocks, "is_prime", station="akkol", satellite=sat)
        _, prime_k = series(blocks, "is_prime", station="kokterek", satellite=sat)
        _, lock_k = series(blocks, "carrier_lock", station="kokterek", satellite=sat)
        assert prime_a[0] and not prime_k[0]
        assert np.all(prime_a ^ prime_k)  # exactly one prime at every sample
        lost = t[np.argmax(~lock)]
        took = t[np.argmax(prime_k)]
        assert 30e9 <= took - lost <= 32e9  # 30 s without lock, then the reserve
        assert lock_k.all()
        assert lost > t0 + 5 * 60e9  # the storm starts at +5 min and builds up
        # Rain ends at +35 min; Akkol gets the satellite back 15 min after its lock returns.
        back = t[np.flatnonzero(prime_a)[np.flatnonzero(prime_a) > np.argmax(prime_k)][0]]
        regained = t[np.flatnonzero(lock)[np.flatnonzero(lock) > np.argmax(~lock)][0]]
        assert back - regained == 900e9
        _, rain = series(blocks, "rain_attenuation", station="akkol", satellite=sat)
        assert rain.max() > 10


def test_akkol_power_loss_drains_ups_then_fails_over(mission: dict) -> None:
    t0 = utc(2026, 11, 25, 12)
    model = Model(mission, seed=4, start_ns=t0, scenario="akkol_power_loss")
    blocks = run(model, t0, 1)
    ts, mains = series(blocks, "mains_power_ok", station="akkol")
    _, ups = series(blocks, "ups_charge", station="akkol")
    assert mains[0] and not mains[ts > t0 + 3 * 60e9][0]
    assert ups[ts == t0 + 12 * 60 * 10**9][0] == 50.0  # 10 min into a 20 min UPS
    t, prime_k = series(blocks, "is_prime", station="kokterek", satellite="kazsat-3")
    took = t[np.argmax(prime_k)]
    assert took == t0 + (2 * 60 + 20 * 60 + 30) * 10**9  # mains at +2m, UPS empty +20m, +30 s
    assert series(blocks, "carrier_lock", station="kokterek", satellite="kazsat-3")[1].all()


def test_rain_fades_are_seeded_per_station_and_seasonal(mission: dict) -> None:
    from simulator.faults import Scenario
    from simulator.weather import Weather

    w = Weather(7, Scenario("none", []), storms_per_year=3)
    day = 86_400 * 10**9
    spring = w.events("akkol", utc(2026, 4, 1), utc(2026, 4, 1) + 60 * day)
    summer = w.events("akkol", utc(2026, 7, 1), utc(2026, 7, 1) + 60 * day)
    assert len(spring) > len(summer)
    assert w.events("akkol", utc(2026, 4, 1), utc(2026, 4, 9)) != w.events(
        "kokterek", utc(2026, 4, 1), utc(2026, 4, 9)
    )
    ordinary = [e for e in spring + summer if not e[3]]
    assert all(0 < e[2] <= 2.5 and 600e9 <= e[1] <= 3600e9 for e in ordinary)
