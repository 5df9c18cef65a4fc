"""Limit checking in the ingest path: each series' state with persistence and hysteresis.

States rank nominal < warning < critical. A sample's *instant* state is where its value
falls. The series' *state* moves up to a rank only once the instant state has been at or
above that rank for the parameter's persistence (consecutive samples, or seconds when
`persistence_s` is set); it moves down only once the value is back inside the bound by the
hysteresis margin (no persistence on the way down). Booleans and enums map values to
states instead of bands. A parameter with `active_when` is nominal while its gate (a bool
of the same entity) is not known true (`gate_open`, the one rule, which replay applies
too), and clears at once when the gate goes false.

Only the present is checked: a sample more than the clock tolerance ahead of the server
clock is stored by the store but skipped here (and logged, at most once a minute), so one
wrong clock cannot hold a series' "newest sample" a day ahead and make the current
samples look late. Samples behind a series' newest checked one are history, as before.

Stale (no sample for a few periods) is decided at read time from the latest sample's age
(see `stale`); an entity whose telemetry stops is watched by backend.stale.

The hot path: a series that is nominal with nothing pending carries a "calm" window
[calm_lo, calm_hi]; a sample inside it costs one chained comparison. Anything else (and
always gates and gated series) takes `_step`. NaN bounds close the window.

The state is the database's: `latest` holds each series' newest checked sample and
`limit_states` the rest (state, persistence counts) of every series not plainly nominal.
`load` takes both; `persist` writes the series whose state moved, in the transaction that
stored the samples that moved it, so another API process continues exactly from here.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import Connection, delete

from backend import db
from backend.mission import Band, Limits, Parameter
from backend.series import SeriesInfo
from backend.store.base import CLOCK_TOLERANCE_S, NS, Batch
from backend.timeutil import format_time

log = logging.getLogger(__name__)

RANK = {"nominal": 0, "warning": 1, "critical": 2}
# A `limit_states` row: series id, state, warning and critical counts, their first times.
StateRow = tuple[int, int, int, int, int, int]
NAMES = ("nominal", "warning", "critical")
_NAN = math.nan


@dataclass(frozen=True)
class Transition:
    series_id: int
    old: str
    new: str
    t: int  # ns, the time of the sample that moved the state
    value: float
    limit: str  # the bound crossed in words ("critical high 103 V"), or "expected true"


@dataclass(slots=True)
class _Series:
    info: SeriesInfo
    lo: list[float]  # per rank 1..2: the low bound (or -inf); index 0 unused
    hi: list[float]
    states: dict[float, int]  # bool/enum: encoded value -> rank
    nominal_lo: float  # values in [nominal_lo, nominal_hi] are instantly nominal
    nominal_hi: float
    calm_lo: float = _NAN
    calm_hi: float = _NAN
    state: int = 0
    count: list[int] = field(default_factory=lambda: [0, 0, 0])  # consecutive samples >= rank
    since: list[int] = field(default_factory=lambda: [0, 0, 0])  # first of those samples (ns)
    last_t: int = -1
    last_value: float = _NAN
    gate: int | None = None  # series id of the active_when flag
    depends: list[int] = field(default_factory=list)


class LimitChecker:
    """Every series' limit state.

    No lock of its own: the alarm server changes it under its lock, in the transaction
    that records what the change means (backend/alert_server.py). `state`, `info` and
    `newest_t` read without one (an info never changes; a state or a sample time is
    replaced whole)."""

    def __init__(self, series: dict[int, SeriesInfo], overrides: dict[str, Limits],
                 clock_tolerance_s: float = CLOCK_TOLERANCE_S) -> None:
        self.tolerance_ns = int(clock_tolerance_s * NS)
        self.ahead = AheadReport()
        self.overrides: dict[str, Limits] = dict(overrides)
        self._s: dict[int, _Series] = {}
        self._dirty: set[int] = set()  # series whose state moved since the last persist
        by_key = {(i.satellite, i.station, i.parameter.key): sid for sid, i in series.items()}
        for sid, info in series.items():
            self._s[sid] = self._compile(info, self.overrides.get(info.parameter.key))
        for s in self._s.values():
            gate = s.info.parameter.active_when
            if gate:
                s.gate = by_key[(s.info.satellite, s.info.station, gate)]
                self._s[s.gate].depends.append(s.info.id)
        for s in self._s.values():
            _calm(s)

    @staticmethod
    def _compile(info: SeriesInfo, override: Limits | None) -> _Series:
        p = info.parameter
        limits = override if override is not None else p.limits
        lo, hi = [-math.inf] * 3, [math.inf] * 3
        for rank, band in ((1, limits.warning), (2, limits.critical)):
            if band is not None:
                lo[rank] = band.low if band.low is not None else -math.inf
                hi[rank] = band.high if band.high is not None else math.inf
        # A missing warning band means the critical band is the first one that applies.
        lo[1], hi[1] = max(lo[1], lo[2]), min(hi[1], hi[2])
        states: dict[float, int] = {}
        if p.type == "bool":
            states = {1.0 if k == "true" else 0.0: RANK[v] for k, v in p.states.items()}
            values = [0.0, 1.0]
        elif p.type == "enum":
            states = {p.encode(k): RANK[v] for k, v in p.states.items()}
            values = [float(i) for i in range(len(p.values))]
        if states:
            # The calm window covers the nominal values when they are contiguous codes
            # (true; `normal`); otherwise every sample takes the slow path (few series).
            good = [v for v in values if states.get(v, 0) == 0]
            contiguous = good and good == [good[0] + i for i in range(len(good))]
            nominal_lo, nominal_hi = (good[0], good[-1]) if contiguous else (_NAN, _NAN)
        else:
            nominal_lo, nominal_hi = lo[1], hi[1]
        return _Series(info, lo, hi, states, nominal_lo, nominal_hi)

    # ---- configuration -------------------------------------------------------------------

    def effective_limits(self, parameter: Parameter) -> Limits:
        return self.overrides.get(parameter.key, parameter.limits)

    def set_limits(self, parameter: str, limits: Limits | None) -> None:
        """Apply a changed limit (None: back to the mission default) from the next sample
        on. Persistence counts restart: they were counted against the old bounds."""
        if limits is None:
            self.overrides.pop(parameter, None)
        else:
            self.overrides[parameter] = limits
        for s in self._s.values():
            if s.info.parameter.key == parameter:
                fresh = self._compile(s.info, limits)
                s.lo, s.hi = fresh.lo, fresh.hi
                s.nominal_lo, s.nominal_hi = fresh.nominal_lo, fresh.nominal_hi
                if s.count != [0, 0, 0]:
                    s.count, s.since = [0, 0, 0], [0, 0, 0]
                    self._dirty.add(s.info.id)
                _calm(s)

    # ---- the state in the database ---------------------------------------------------------

    def load(self, latest: dict[int, tuple[int, float]], states: Iterable[StateRow],
             overrides: dict[str, Limits]) -> None:
        """Take the whole state from the database: each series' newest checked sample
        (`latest`), its limit state where not plainly nominal, and the overrides."""
        for key in set(self.overrides) | set(overrides):
            if self.overrides.get(key) != overrides.get(key):
                self.set_limits(key, overrides.get(key))
        for s in self._s.values():
            s.state, s.count, s.since = 0, [0, 0, 0], [0, 0, 0]
            s.last_t, s.last_value = latest.get(s.info.id, (-1, _NAN))
        for sid, state, count_w, count_c, since_w, since_c in states:
            found = self._s.get(sid)
            if found is not None:
                found.state = state
                found.count, found.since = [0, count_w, count_c], [0, since_w, since_c]
        for s in self._s.values():
            _calm(s)
        self._dirty.clear()

    def persist(self, conn: Connection) -> None:
        """Write the limit state of every series whose state moved since the last call."""
        if not self._dirty:
            return
        ids, self._dirty = sorted(self._dirty), set()
        table = db.limit_states
        conn.execute(delete(table).where(table.c.series_id.in_(ids)))
        rows = [{"series_id": sid, "state": s.state, "count_warning": s.count[1],
                 "count_critical": s.count[2], "since_warning": s.since[1],
                 "since_critical": s.since[2]}
                for sid in ids if (s := self._s[sid]).state or s.count != [0, 0, 0]]
        if rows:
            conn.execute(table.insert(), rows)

    # ---- reading ---------------------------------------------------------------------------

    def state(self, series_id: int) -> str:
        return NAMES[self._s[series_id].state]

    def info(self, series_id: int) -> SeriesInfo:
        return self._s[series_id].info

    def newest_t(self, series_ids: list[int]) -> int:
        """The newest sample time checked among these series (-1: none yet)."""
        s = self._s
        return max((s[i].last_t for i in series_ids), default=-1)

    # ---- checking --------------------------------------------------------------------------

    def observe(self, batch: Batch, now_ns: int | None = None) -> list[Transition]:
        """Check a stored batch; samples not newer than a series' last checked one are
        history (late or back-filled) and leave the live state alone, and samples more
        than the tolerance ahead of `now_ns` (default: the clock) are not the present.

        Series whose every new sample is inside its calm window (nominal, nothing pending:
        nearly all of them) are settled with numpy, taking only their newest sample; the
        others go through the state machine sample by sample, in time order."""
        out: list[Transition] = []
        if not batch:
            return out
        sids = np.asarray(batch.series_ids, dtype=np.int64)
        ts = np.asarray(batch.times, dtype=np.int64)
        vs = np.asarray(batch.values, dtype=np.float64)
        horizon = (time.time_ns() if now_ns is None else now_ns) + self.tolerance_ns
        present = ts <= horizon
        if not present.all():
            self.ahead.note(batch, ~present, horizon - self.tolerance_ns, self._s)
        ids, where = np.unique(sids, return_inverse=True)
        series = [self._s[int(i)] for i in ids]
        newer = present & (ts > np.array([s.last_t for s in series], dtype=np.int64)[where])
        lo = np.array([s.calm_lo for s in series])[where]
        hi = np.array([s.calm_hi for s in series])[where]
        uneasy = np.zeros(len(ids), dtype=bool)
        uneasy[where[newer & ~((vs >= lo) & (vs <= hi))]] = True  # NaN windows: never calm
        calm = newer & ~uneasy[where]
        if calm.any():
            idx = np.flatnonzero(calm)
            idx = idx[np.lexsort((ts[idx], where[idx]))]
            last = idx[np.append(where[idx][1:] != where[idx][:-1], True)]
            for i in last.tolist():
                s = series[where[i]]
                s.last_t, s.last_value = int(ts[i]), float(vs[i])
        slow = np.flatnonzero(uneasy[where] & newer)
        for i in slow[np.argsort(ts[slow], kind="stable")].tolist():
            s, t, v = series[where[i]], int(ts[i]), float(vs[i])
            if t <= s.last_t:
                continue
            previous = s.last_value
            s.last_t = t
            s.last_value = v
            if s.calm_lo <= v <= s.calm_hi:
                continue
            self._step(s, t, v, out)
            if s.depends and v != previous:
                self._gate_changed(s, t, v, out)
        return out

    def _step(self, s: _Series, t: int, v: float, out: list[Transition]) -> None:
        instant = self._instant(s, v)
        count, since = s.count, s.since
        if count[1] or instant:  # a count starts, runs or stops: the stored state moves
            self._dirty.add(s.info.id)
        for rank in (1, 2):
            if instant >= rank:
                if count[rank] == 0:
                    since[rank] = t
                count[rank] += 1
            else:
                count[rank] = 0
        p = s.info.parameter
        up = next((rank for rank in (2, 1)  # the highest rank whose breach held long enough
                   if rank > s.state and count[rank]
                   and (count[rank] >= p.persistence if not p.persistence_s
                        else t - since[rank] >= p.persistence_s * NS)), 0)
        if up:
            self._move(s, up, t, v, out)
        elif instant < s.state and self._cleared(s, v, s.state):
            # Down to the highest rank the value is still beyond (with hysteresis).
            new = next(r for r in range(s.state - 1, -1, -1)
                       if r == 0 or not self._cleared(s, v, r))
            self._move(s, new, t, v, out)
        _calm(s)

    def _gate_changed(self, gate: _Series, t: int, v: float, out: list[Transition]) -> None:
        """A gate closing clears what it gates at once; opening, the gated series are
        checked from their next sample on."""
        if gate_open(v):
            return
        for sid in gate.depends:
            d = self._s[sid]
            if d.count != [0, 0, 0]:
                self._dirty.add(sid)
            d.count, d.since = [0, 0, 0], [0, 0, 0]
            if d.state:
                self._move(d, 0, t, d.last_value, out)
            _calm(d)

    def _instant(self, s: _Series, v: float) -> int:
        if s.gate is not None and not gate_open(self._s[s.gate].last_value):
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
        if rank == 0 or (s.gate is not None and not gate_open(self._s[s.gate].last_value)):
            return True
        if s.states:
            return s.states.get(v, 0) < rank
        h = s.info.parameter.hysteresis
        return s.lo[rank] + h <= v <= s.hi[rank] - h

    def _move(self, s: _Series, new: int, t: int, v: float, out: list[Transition]) -> None:
        old = s.state
        s.state = new
        self._dirty.add(s.info.id)
        out.append(Transition(s.info.id, NAMES[old], NAMES[new], t, v,
                              describe_limit(s, max(new, old), v)))


class AheadReport:
    """Counts samples left out for being ahead of the server clock and says so in the log
    at most once a minute, naming the furthest one: a sender whose clock runs ahead."""

    INTERVAL_NS = 60 * NS

    def __init__(self) -> None:
        self.total = 0
        self._pending = 0
        self._furthest: tuple[int, int] | None = None  # (ns ahead, series id)
        self._logged_t = 0

    def note(self, batch: Batch, ahead: np.ndarray, now: int, series: dict[int, _Series]) -> None:
        idx = np.flatnonzero(ahead)
        far = int(idx[np.argmax(np.asarray(batch.times, dtype=np.int64)[idx])])
        lead = batch.times[far] - now
        self.total += len(idx)
        self._pending += len(idx)
        if self._furthest is None or lead > self._furthest[0]:
            self._furthest = (lead, batch.series_ids[far])
        if now - self._logged_t < self.INTERVAL_NS:
            return
        lead, sid = self._furthest
        info = series[sid].info
        where = "/".join(x for x in (info.station, info.satellite) if x)
        log.warning("%d samples ahead of the server clock (%s) stored as history, not as the "
                    "present: not limit checked live, not the latest value; the furthest "
                    "%.0f s ahead (%s %s). Check the sender's clock (NTP).", self._pending,
                    format_time(now), lead / NS, where, info.parameter.key)
        self._pending, self._furthest, self._logged_t = 0, None, now


def _calm(s: _Series) -> None:
    """Open the fast-path window when nothing can change on a nominal sample."""
    if s.state == 0 and s.count[1] == 0 and s.gate is None and not s.depends:
        s.calm_lo, s.calm_hi = s.nominal_lo, s.nominal_hi
    else:
        s.calm_lo = s.calm_hi = _NAN


def describe_limit(s: _Series, rank: int, v: float) -> str:
    """The limit at `rank` in words: 'critical high 103 V', or 'expected true'."""
    p = s.info.parameter
    if s.states:
        if p.type == "bool":
            good = [k for k in ("true", "false") if k not in p.states]
        else:
            good = [k for k in p.values if k not in p.states]
        return f"expected {' or '.join(good)}" if good else f"{NAMES[rank]} state"
    unit = f" {p.unit}" if p.unit else ""
    lo, hi = s.lo[rank], s.hi[rank]
    low_side = lo > -math.inf and (hi == math.inf or abs(v - lo) < abs(v - hi))
    return f"{NAMES[rank]} {'low' if low_side else 'high'} {lo if low_side else hi:g}{unit}"


def gate_open(flag: float | None) -> bool:
    """Whether a limit with `active_when` applies: its flag (a bool of the same entity,
    e.g. the amplifier on, the link prime) is known to be true. Unknown counts as closed."""
    return flag == 1.0


def instant_state(parameter: Parameter, limits: Limits | None, value: float) -> str:
    """Where a value falls, with no persistence or hysteresis: for values at a past time."""
    limits = limits or parameter.limits
    if parameter.type in ("bool", "enum"):
        key = ("true" if value else "false") if parameter.type == "bool" \
            else str(parameter.decode(value))  # an enum decodes to its value's name
        return parameter.states.get(key, "nominal")
    for name, band in (("critical", limits.critical), ("warning", limits.warning)):
        if band and _outside(band, value):
            return name
    return "nominal"


def _outside(band: Band, v: float) -> bool:
    return (band.low is not None and v < band.low) or (band.high is not None and v > band.high)


def stale(parameter: Parameter, sample_t: int, now_ns: int) -> bool:
    return now_ns - sample_t > parameter.stale_after_s * NS
