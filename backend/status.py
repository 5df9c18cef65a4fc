"""What the telemetry says, now or at a past time: each series' state (nominal, warning,
critical, stale), the banner's counts and each station's status. The read routes only ask.

- Live, a series' state is the limit checker's (persistence and hysteresis applied), or
  stale when its latest sample is older than the parameter allows.
- At a past time (replay), it is where the value fell then, gated as live checking gates
  (`limits.gate_open`): the picture an operator saw.
- A station is online when its own network says so (it may still report through a backup
  path while dark).
"""

from __future__ import annotations

from typing import Any

from backend.limits import LimitChecker, gate_open, instant_state, stale
from backend.mission import Mission
from backend.series import SeriesInfo, SeriesRegistry
from backend.timeutil import format_time

Samples = dict[int, tuple[int, float]]  # series id -> (time ns, value)
STATES = ("nominal", "warning", "critical", "stale")


def series_rows(registry: SeriesRegistry, checker: LimitChecker, samples: Samples,
                infos: list[SeriesInfo], now: int,
                at_ns: int | None = None) -> list[dict[str, Any]]:
    """One row per series that has a sample: its time, value and state, live or at at_ns
    (then `samples` are the values at that time)."""
    out = []
    for info in infos:
        sample = samples.get(info.id)
        if sample is None:
            continue
        t, value = sample
        out.append(series_row(info, t, value,
                              series_state(registry, checker, samples, info, now, at_ns)))
    return out


def series_row(info: SeriesInfo, t: int, value: float, state: str) -> dict[str, Any]:
    """A series' sample and state as /latest and the live stream give it."""
    p = info.parameter
    return {"satellite": info.satellite, "station": info.station, "parameter": p.key,
            "subsystem": p.subsystem, "time": format_time(t), "value": p.decode(value),
            "state": state}


def live_state(checker: LimitChecker, info: SeriesInfo, t: int, now: int) -> str:
    """A series' state now, its latest sample taken at t: stale, or the checker's."""
    return "stale" if stale(info.parameter, t, now) else checker.state(info.id)


def series_state(registry: SeriesRegistry, checker: LimitChecker, samples: Samples,
                 info: SeriesInfo, now: int, at_ns: int | None = None) -> str:
    t, value = samples[info.id]
    p = info.parameter
    if at_ns is None:
        return live_state(checker, info, t, now)
    if stale(p, t, at_ns):
        return "stale"
    if p.active_when is not None:
        flag = registry.find(info.satellite, info.station, p.active_when)
        sample = samples.get(flag.id) if flag else None
        if not gate_open(sample[1] if sample else None):
            return "nominal"  # as live checking: gated off (a reserve link, a TWTA off)
    return instant_state(p, checker.effective_limits(p), value)


def summarize(rows: list[dict[str, Any]]) -> dict[str, int]:
    """Counts for the banner: parameters per state, links out of lock."""
    counts = dict.fromkeys(STATES, 0)
    for row in rows:
        counts[row["state"]] += 1
    counts["links_out_of_lock"] = sum(1 for r in rows if r["parameter"] == "carrier_lock"
                                      and r["value"] is False)
    return counts


def station_status(mission: Mission, registry: SeriesRegistry, samples: Samples,
                   now: int) -> list[dict[str, Any]]:
    """Per station: online, the satellites it is prime for, its equipment and per
    satellite its link lock, Eb/N0 and last frame time. Stale values count as unknown."""

    def value(sat: str | None, sta: str | None, key: str) -> tuple[object, int | None]:
        info = registry.find(sat, sta, key)
        sample = samples.get(info.id) if info else None
        if info is None or sample is None or stale(info.parameter, sample[0], now):
            return None, sample[0] if sample else None
        return info.parameter.decode(sample[1]), sample[0]

    out = []
    for sid, st in mission.stations.items():
        links = {}
        for sat in mission.satellites:
            lock, _ = value(sat, sid, "carrier_lock")
            ebn0, _ = value(sat, sid, "ebn0_db")
            prime, _ = value(sat, sid, "is_prime")
            frames, frames_t = value(sat, sid, "frames_received")
            links[sat] = {"carrier_lock": lock, "ebn0_db": ebn0, "is_prime": prime,
                          "last_frame_time": format_time(frames_t)
                          if frames_t is not None and frames else None}
        equipment = {p.key: value(None, sid, p.key)[0] for p in mission.parameters_of("station")}
        out.append({"id": sid, "name": st.name, "role": st.role,
                    "online": equipment.get("network_ok") is True,
                    "prime_for": [s for s, link in links.items() if link["is_prime"]],
                    "equipment": equipment, "links": links})
    return out
