"""Limit checking in the ingest path: each series' state with persistence and hysteresis.

States rank nominal < warning < critical. A sample's *instant* state is where its value
falls; the series' *state* moves up only after the instant state has held for the
parameter's persistence (samples, or seconds), and moves down only once the value is back
inside the bound by the hysteresis margin. Stale (no sample for a few periods) is decided
at read time from the latest sample's age (see `stale`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from backend.mission import Band, Limits, Parameter
from backend.series import SeriesInfo
from backend.store.base import NS, Batch

RANK = {"nominal": 0, "warning": 1, "critical": 2}
NAMES = ("nominal", "warning", "critical")


@dataclass(frozen=True)
class Transition:
    series_id: int
    old: str
    new: str
    t: int  # ns
    value: float
    limit: str  # the bound crossed, in words ("high 101.5 V"), or the expected value


@dataclass
class _Series:
    info: SeriesInfo
    lo: list[float]  # per rank 1..2: the low bound (or -inf); index 0 unused
    hi: list[float]
    states: dict[float, int]  # bool/enum: encoded value -> rank
    state: int = 0
    pending: int = 0  # the rank the instant state has shown lately, waiting on persistence
    pending_count: int = 0
    pending_since: int = 0
    last_t: int = -1
    last_value: float = math.nan
    gate: int | None = None  # series id of the active_when flag
    depends: list[int] = field(default_factory=list)


class LimitChecker:
    def __init__(self, series: dict[int, SeriesInfo], overrides: dict[str, Limits]) -> None:
        self._s: dict[int, _Series] = {}
        by_key = {(i.satellite, i.station, i.parameter.key): sid for sid, i in series.items()}
        for sid, info in series.items():
            self._s[sid] = self._compile(info, overrides.get(info.parameter.key))
        for sid, s in self._s.items():
            gate = s.info.parameter.active_when
            if gate:
                s.gate = by_key[(s.info.satellite, s.info.station, gate)]
                self._s[s.gate].depends.append(sid)

    @staticmethod
    def _compile(info: SeriesInfo, override: Limits | None) -> _Series:
        p = info.parameter
        limits = override or p.limits
        lo, hi = [-math.inf] * 3, [math.inf] * 3
        for rank, band in ((1, limits.warning), (2, limits.critical)):
            if band is not None:
                lo[rank] = band.low if band.low is not None else -math.inf
                hi[rank] = band.high if band.high is not None else math.inf
        # A missing warning band means the critical band is the first one that applies.
        lo[1], hi[1] = max(lo[1], lo[2]), min(hi[1], hi[2])
        states = {}
        if p.type == "bool":
            states = {1.0 if k == "true" else 0.0: RANK[v] for k, v in p.states.items()}
        elif p.type == "enum":
            states = {p.encode(k): RANK[v] for k, v in p.states.items()}
        return _Series(info, lo, hi, states)

    def set_limits(self, parameter: str, limits: Limits | None) -> None:
        """Apply a changed limit (None: back to the mission default) at once."""
        for s in self._s.values():
            if s.info.parameter.key == parameter:
                fresh = self._compile(s.info, limits)
                s.lo, s.hi = fresh.lo, fresh.hi

    def state(self, series_id: int) -> str:
        return NAMES[self._s[series_id].state]

    def observe(self, batch: Batch) -> list[Transition]:
        """Check a stored batch; samples older than a series' last checked one are history
        and leave the live state alone."""
        out: list[Transition] = []
        order = sorted(range(len(batch)), key=batch.times.__getitem__)
        for i in order:
            sid, t, v = batch.series_ids[i], batch.times[i], batch.values[i]
            s = self._s[sid]
            if t <= s.last_t:
                continue
            s.last_t, s.last_value = t, v
            if s.state == 0 and s.pending == 0 and not s.states and s.lo[1] <= v <= s.hi[1] \
                    and s.gate is None:
                continue  # the common case: nominal and staying so
            self._step(s, sid, t, v, out)
            for dep in s.depends:  # a gate flipping re-checks what it gates
                d = self._s[dep]
                if d.last_t >= 0:
                    self._step(d, dep, t, d.last_value, out)
        return out

    def _step(self, s: _Series, sid: int, t: int, v: float, out: list[Transition]) -> None:
        instant = self._instant(s, v)
        if instant > s.state:
            if instant != s.pending:
                s.pending, s.pending_count, s.pending_since = instant, 0, t
            s.pending_count += 1
            p = s.info.parameter
            held = (s.pending_count >= p.persistence if not p.persistence_s
                    else (t - s.pending_since) >= p.persistence_s * NS)
            if held:
                self._move(s, sid, instant, t, v, out)
            return
        s.pending, s.pending_count = 0, 0
        if instant < s.state and self._cleared(s, v, s.state):
            # Drop to the highest rank the value is still beyond (with hysteresis).
            new = next(r for r in range(s.state - 1, -1, -1)
                       if r == 0 or not self._cleared(s, v, r))
            self._move(s, sid, new, t, v, out)

    def _instant(self, s: _Series, v: float) -> int:
        if s.gate is not None and self._s[s.gate].last_value != 1.0:
            return 0  # the limit applies only while its gate (e.g. amplifier on) is true
        if s.states:
            return s.states.get(v, 0)
        if v < s.lo[2] or v > s.hi[2]:
            return 2
        if v < s.lo[1] or v > s.hi[1]:
            return 1
        return 0

    def _cleared(self, s: _Series, v: float, rank: int) -> bool:
        """True when v is back inside rank's bounds by the hysteresis margin."""
        if s.gate is not None and self._s[s.gate].last_value != 1.0:
            return True
        if s.states:
            return s.states.get(v, 0) < rank
        h = s.info.parameter.hysteresis
        return s.lo[rank] + h <= v <= s.hi[rank] - h if rank else True

    def _move(self, s: _Series, sid: int, new: int, t: int, v: float,
              out: list[Transition]) -> None:
        old = s.state
        s.state, s.pending, s.pending_count = new, 0, 0
        out.append(Transition(sid, NAMES[old], NAMES[new], t, v,
                              describe_limit(s, max(new, old), v)))

    def prime(self, latest: dict[int, tuple[int, float]], states: dict[int, str]) -> None:
        """Start from the stored latest values and the states of open alerts."""
        for sid, (t, v) in latest.items():
            if sid in self._s:
                s = self._s[sid]
                s.last_t, s.last_value = t, v
                s.state = RANK[states.get(sid, "nominal")]


def describe_limit(s: _Series, rank: int, v: float) -> str:
    p = s.info.parameter
    if s.states:
        bad = [k for k, r in p.states.items() if RANK[r] == rank]
        return f"expected not {' or '.join(bad)}" if bad else ""
    unit = f" {p.unit}" if p.unit else ""
    lo, hi = s.lo[rank], s.hi[rank]
    low_side = lo > -math.inf and (hi == math.inf or abs(v - lo) < abs(v - hi))
    return f"{NAMES[rank]} {'low' if low_side else 'high'} {lo if low_side else hi:g}{unit}"


def instant_state(parameter: Parameter, limits: Limits | None, value: float) -> str:
    """Where a value falls, with no persistence or hysteresis: for values at a past time."""
    limits = limits or parameter.limits
    if parameter.type in ("bool", "enum"):
        key = ("true" if value else "false") if parameter.type == "bool" \
            else parameter.decode(value)
        return parameter.states.get(key, "nominal")
    for name, band in (("critical", limits.critical), ("warning", limits.warning)):
        if band and _outside(band, value):
            return name
    return "nominal"


def _outside(band: Band, v: float) -> bool:
    return (band.low is not None and v < band.low) or (band.high is not None and v > band.high)


def stale(parameter: Parameter, sample_t: int, now_ns: int) -> bool:
    return now_ns - sample_t > parameter.stale_after_s * NS
