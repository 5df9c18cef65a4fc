"""Payload: one TWTA per transponder, as many as the dict says (docs/domain.md: 16 and 28).

*model*: output power 115-137 W depending on the tube and traffic, helix current 3.5-5.5 mA,
tube temperature 24-36 C above the payload panel while on; a trip fault first drives the helix
current up for 2 min (the protection's reason to trip), then the tube is off and cools.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np

from simulator import noise

if TYPE_CHECKING:
    from simulator.satellite import SatelliteSim

_KEY = re.compile(r"^twta_(\d+)_(on|output_power|helix_current|temp)$")


def fields(sat: SatelliteSim, t: np.ndarray, keys: list[str]) -> dict[str, np.ndarray]:
    wanted: dict[str, list[tuple[str, int]]] = {}
    for k in keys:
        m = _KEY.match(k)
        if m and int(m.group(1)) <= sat.transponders:
            wanted.setdefault(m.group(2), []).append((k, int(m.group(1))))
    if not wanted:
        return {}
    sec = t // 10**9
    on = sat.twta_on(t)
    load = sat.traffic(t)
    rank = sat._tp_rank
    out: dict[str, np.ndarray] = {}
    surge = np.zeros((sat.transponders, len(t)))
    off_since = np.full((sat.transponders, len(t)), np.inf)
    for f in sat.faults("twta_trip"):
        e = f.elapsed_s(t)
        s = np.where(
            f.active(t) & (e < 120.0), (4.0 + 3.5 * f.severity) * np.clip(e / 90.0, 0, 1), 0.0
        )
        since = np.where(f.active(t) & (e >= 120.0), e - 120.0, np.inf)
        for n in f.transponders(sat.transponders):
            surge[n - 1] = np.maximum(surge[n - 1], s)
            off_since[n - 1] = np.minimum(off_since[n - 1], since)
    for key, n in wanted.get("on", []):
        out[key] = on[n - 1]
    for key, n in wanted.get("output_power", []):
        p = 115.0 + 18.0 * rank[n] + 4.0 * load + 0.3 * noise.normal(sat.key("pwr", n), sec)
        out[key] = np.where(on[n - 1], p, 0.0)
    for key, n in wanted.get("helix_current", []):
        h = 3.5 + 1.5 * rank[n + 32] + 0.5 * load + 0.04 * noise.normal(sat.key("helix", n), sec)
        out[key] = np.where(on[n - 1], h + surge[n - 1], 0.0)
    if wanted.get("temp"):
        panel = sat.state_at("payload_panel_temp", t)
        for key, n in wanted["temp"]:
            hot = panel + 24.0 + 9.0 * rank[n + 16] + 3.0 * load
            cooling = np.exp(-off_since[n - 1] / 1200.0)  # 0 while on (inf), 1 at the trip
            temp = np.where(on[n - 1], hot, panel + (hot - panel) * cooling)
            out[key] = temp + 0.1 * noise.normal(sat.key("tt", n), sec)
    return out
