"""Ground-station equipment: mains, UPS, uplink HPA, LNA, antenna servo, network (*model*).

A `site_loss` fault takes the whole site away at once (the station dark from its start).
A `power_loss` fault takes the mains away; the UPS carries the station for 20 min (divided by
severity), then the station goes dark (HPA off, servo and network down, no receive chain), so its
links lose lock and the reserve takes the satellites. When the mains return the UPS recharges at
1 %/min.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from simulator import noise
from simulator.faults import Scenario

UPS_RUN_S = 1200.0
UPS_RECHARGE_PER_S = 1.0 / 60.0


class StationSim:
    def __init__(self, station_id: str, spec: dict[str, Any], seed: int, scenario: Scenario):
        self.id, self.spec, self.seed, self.scenario = station_id, spec, seed, scenario

    def key(self, *names: object) -> np.uint64:
        return noise.stream_key(self.seed, self.id, *names)

    def mains(self, t: np.ndarray) -> np.ndarray:
        ok = np.ones(len(t), dtype=bool)
        for f in self.scenario.of("power_loss", self.id):
            ok &= ~f.active(t)
        return ok

    def ups(self, t: np.ndarray) -> np.ndarray:
        charge = np.full(len(t), 100.0)
        for f in self.scenario.of("power_loss", self.id):
            rate = 100.0 / (UPS_RUN_S / max(f.severity, 1e-3))
            e = f.elapsed_s(t)
            during = np.maximum(100.0 - rate * e, 0.0)
            at_end = max(100.0 - rate * (f.end_ns - f.start_ns) / 1e9, 0.0)
            after = np.minimum(
                at_end + UPS_RECHARGE_PER_S * (t - f.end_ns) / 1e9 * 100 / 100, 100.0
            )
            charge = np.minimum(
                charge, np.where(e < 0, 100.0, np.where(f.active(t), during, after))
            )
        return charge

    def up(self, t: np.ndarray) -> np.ndarray:
        """The station's equipment is powered (mains, or UPS not yet empty), and the site is
        not lost."""
        up = self.mains(t) | (self.ups(t) > 0.0)
        for f in self.scenario.of("site_loss", self.id):
            up &= ~f.active(t)
        return up

    def lna_temp(self, t: np.ndarray) -> np.ndarray:
        hour = ((t % 86_400_000_000_000) / 3.6e12 + self.spec["longitude_deg"] / 15.0) % 24.0
        return (
            62.0
            + 3.0 * np.cos(2 * np.pi * (hour - 15.0) / 24.0)
            + 0.3 * noise.normal(self.key("lna"), t // 10**9)
        )

    def fields(self, t: np.ndarray, keys: list[str]) -> dict[str, np.ndarray]:
        up = self.up(t)
        out = {
            "mains_power_ok": self.mains(t),
            "ups_charge": self.ups(t),
            "hpa_output_power": np.where(
                up, 420.0 + 4.0 * noise.normal(self.key("hpa"), t // 10**9), 0.0
            ),
            "lna_temp": self.lna_temp(t),
            "antenna_servo_ok": up,
            "network_ok": up,
        }
        return {k: out[k] for k in keys if k in out}
