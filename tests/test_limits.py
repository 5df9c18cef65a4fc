"""Limit checking: persistence, hysteresis, states, gates, overrides, and the fast path."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.limits import LimitChecker, Transition
from backend.mission import Band, Limits, load_mission
from backend.series import SeriesInfo
from backend.settings import PACKAGE_DIR
from backend.store.base import NS, Batch

MISSION = load_mission(PACKAGE_DIR / "mission.yaml")
T0 = 1_764_072_000 * NS


def checker(*keys: str, satellite: str | None = "kazsat-2", station: str | None = None,
            overrides: dict[str, Limits] | None = None,
            **changed: object) -> tuple[LimitChecker, dict[str, int]]:
    """A checker over a few series of one entity (ids 1, 2, ...); `changed` replaces
    fields of the first parameter (persistence_s=5)."""
    series, ids = {}, {}
    for n, key in enumerate(keys, 1):
        p = MISSION.parameters[key]
        if n == 1 and changed:
            p = p.model_copy(update=changed)
        sat = satellite if p.entity in ("satellite", "link") else None
        sta = station if p.entity in ("station", "link") else None
        series[n] = SeriesInfo(n, sat, sta, p)
        ids[key] = n
    return LimitChecker(series, overrides or {}), ids


def feed(c: LimitChecker, sid: int, values: list[float], start: int = 0,
         step_s: float = 1.0) -> list[Transition]:
    """One sample per batch, a second apart; the transitions of them all."""
    out = []
    for i, v in enumerate(values):
        out += c.observe(Batch([sid], [T0 + int((start + i) * step_s * NS)], [v]))
    return out


def moves(transitions: list[Transition]) -> list[tuple[str, str]]:
    return [(t.old, t.new) for t in transitions]


# ---- the present ------------------------------------------------------------------------------

def test_a_sample_ahead_of_the_clock_is_not_checked_and_does_not_hide_the_present(caplog) -> None:
    c, _ = checker("battery_soc")  # critical below 40, persistence 5
    now = T0 + 10 * NS
    assert c.observe(Batch([1], [T0 + 23 * 3600 * NS], [10.0]), now_ns=now) == []
    assert "ahead of the server clock" in caplog.text and c.ahead.total == 1
    out = []
    for i in range(5):
        out += c.observe(Batch([1], [T0 + i * NS], [30.0]), now_ns=now)
    assert moves(out) == [("nominal", "critical")] and c.newest_t([1]) == T0 + 4 * NS
    # Within the tolerance (clock skew) a sample is the present.
    assert moves(c.observe(Batch([1], [now + 4 * NS], [90.0]), now_ns=now)) == [
        ("critical", "nominal")]


# ---- persistence ------------------------------------------------------------------------------

def test_a_breach_counts_after_persistence_samples_not_before() -> None:
    c, _ = checker("bus_voltage")  # warning high 101.5, persistence 3
    assert feed(c, 1, [101.6, 101.6]) == []
    out = feed(c, 1, [101.7], start=2)
    assert moves(out) == [("nominal", "warning")]
    assert out[0].t == T0 + 2 * NS and out[0].value == 101.7
    assert out[0].limit == "warning high 101.5 V"


def test_an_interrupted_breach_starts_counting_again() -> None:
    c, _ = checker("bus_voltage")
    assert feed(c, 1, [101.6, 101.6, 100.0, 101.6, 101.6]) == []
    assert moves(feed(c, 1, [101.6], start=5)) == [("nominal", "warning")]


def test_critical_samples_count_towards_warning_persistence() -> None:
    c, _ = checker("bus_voltage")  # critical high 103
    out = feed(c, 1, [101.6, 103.5, 103.5])
    assert moves(out) == [("nominal", "warning")]  # at least warning for 3 samples
    assert moves(feed(c, 1, [103.5], start=3)) == [("warning", "critical")]
    assert c.state(1) == "critical"


def test_a_sustained_critical_breach_goes_straight_to_critical() -> None:
    c, _ = checker("bus_voltage")
    out = feed(c, 1, [104.0, 104.0, 104.0])
    assert moves(out) == [("nominal", "critical")]
    assert out[0].limit == "critical high 103 V"


def test_the_low_side_and_its_limit_text() -> None:
    c, _ = checker("battery_soc")  # warning low 50, critical low 40, persistence 5
    assert feed(c, 1, [49.0] * 4) == []
    out = feed(c, 1, [49.0], start=4)
    assert moves(out) == [("nominal", "warning")] and out[0].limit == "warning low 50 %"


def test_persistence_in_seconds() -> None:
    c, _ = checker("bus_voltage", persistence_s=5.0)
    assert feed(c, 1, [102.0] * 5) == []  # t = 0..4 s: held 4 s
    assert moves(feed(c, 1, [102.0], start=5)) == [("nominal", "warning")]  # held 5 s


def test_persistence_in_seconds_restarts_after_an_interruption() -> None:
    c, _ = checker("bus_voltage", persistence_s=3.0)
    assert feed(c, 1, [102.0, 102.0, 100.0, 102.0, 102.0, 102.0]) == []
    assert moves(feed(c, 1, [102.0], start=6)) == [("nominal", "warning")]


# ---- hysteresis -------------------------------------------------------------------------------

def test_clearing_needs_the_hysteresis_margin() -> None:
    c, _ = checker("bus_voltage")  # warning high 101.5, hysteresis 0.2
    feed(c, 1, [102.0] * 3)
    assert feed(c, 1, [101.45, 101.35], start=3) == []  # back inside, not by the margin
    assert moves(feed(c, 1, [101.29], start=5)) == [("warning", "nominal")]


def test_critical_steps_down_to_warning_then_nominal() -> None:
    c, _ = checker("bus_voltage")  # critical high 103, warning high 101.5, hysteresis 0.2
    feed(c, 1, [104.0] * 3)
    assert feed(c, 1, [102.9], start=3) == []  # inside critical, not by the margin
    out = feed(c, 1, [102.7], start=4)
    assert moves(out) == [("critical", "warning")] and out[0].limit == "critical high 103 V"
    assert feed(c, 1, [101.4], start=5) == []
    assert moves(feed(c, 1, [100.0], start=6)) == [("warning", "nominal")]


def test_from_critical_straight_to_nominal_in_one_sample() -> None:
    c, _ = checker("bus_voltage")
    feed(c, 1, [104.0] * 3)
    assert moves(feed(c, 1, [100.0], start=3)) == [("critical", "nominal")]


def test_critical_into_the_warning_margin_lands_on_warning() -> None:
    c, _ = checker("bus_voltage")
    feed(c, 1, [104.0] * 3)
    assert moves(feed(c, 1, [101.4], start=3)) == [("critical", "warning")]


def test_re_escalation_needs_persistence_again() -> None:
    c, _ = checker("bus_voltage")
    feed(c, 1, [104.0] * 3 + [102.0])  # critical, then warning
    assert c.state(1) == "warning"
    assert feed(c, 1, [104.0, 104.0], start=4) == []
    assert moves(feed(c, 1, [104.0], start=6)) == [("warning", "critical")]


# ---- booleans, enums, gates ---------------------------------------------------------------------

def test_bool_expected_value_with_persistence() -> None:
    c, _ = checker("earth_sensor_valid")  # {false: critical}, persistence 2
    assert feed(c, 1, [1.0, 0.0]) == []
    out = feed(c, 1, [0.0], start=2)
    assert moves(out) == [("nominal", "critical")] and out[0].limit == "expected true"
    assert moves(feed(c, 1, [1.0], start=3)) == [("critical", "nominal")]


def test_enum_states() -> None:
    c, _ = checker("aocs_mode")  # normal, station_keeping: warning, safe: critical
    p = MISSION.parameters["aocs_mode"]
    out = feed(c, 1, [p.encode("normal"), p.encode("station_keeping"), p.encode("safe"),
                      p.encode("normal")])
    assert moves(out) == [("nominal", "warning"), ("warning", "critical"),
                          ("critical", "nominal")]
    assert out[0].limit == "expected normal"


def test_a_gated_limit_applies_only_while_its_gate_is_true() -> None:
    c, ids = checker("twta_1_output_power", "twta_1_on")  # warning low 100 W, persistence 2
    power, on = ids["twta_1_output_power"], ids["twta_1_on"]
    assert feed(c, power, [0.0, 0.0, 0.0]) == []  # gate never seen: not applied
    feed(c, on, [1.0], start=3)
    assert moves(feed(c, power, [90.0, 90.0], start=4)) == [("nominal", "warning")]
    out = feed(c, on, [0.0], start=6)  # the amplifier switched off: clears at once
    assert moves(out) == [("warning", "nominal")] and out[0].series_id == power
    assert out[0].t == T0 + 6 * NS
    assert feed(c, power, [0.0, 0.0], start=7) == []
    feed(c, on, [1.0], start=9)  # back on: checked from its next sample, with persistence
    assert feed(c, power, [90.0], start=10) == []
    assert moves(feed(c, power, [90.0], start=11)) == [("nominal", "warning")]


def test_a_gate_resets_pending_persistence() -> None:
    c, ids = checker("twta_1_output_power", "twta_1_on")
    power, on = ids["twta_1_output_power"], ids["twta_1_on"]
    feed(c, on, [1.0])
    feed(c, power, [90.0], start=1)
    feed(c, on, [0.0, 1.0], start=2)
    assert feed(c, power, [90.0], start=4) == []  # the count started over


def test_a_gate_sample_that_does_not_change_it_leaves_persistence_alone() -> None:
    c, ids = checker("carrier_lock", "is_prime", station="akkol")  # persistence 3
    lock, prime = ids["carrier_lock"], ids["is_prime"]
    out: list[Transition] = []
    for i in range(3):  # interleaved as the simulator sends them, gate first
        out += c.observe(Batch([prime, lock], [T0 + i * NS] * 2, [1.0, 0.0]))
    assert moves(out) == [("nominal", "critical")]


# ---- history, batches, overrides, priming -------------------------------------------------------

def test_older_samples_leave_the_live_state_alone() -> None:
    c, _ = checker("bus_voltage")
    feed(c, 1, [100.0], start=10)
    assert feed(c, 1, [104.0] * 5) == []  # t = 0..4 s, before the newest checked
    assert c.state(1) == "nominal"


def test_a_batch_is_checked_in_time_order() -> None:
    c, _ = checker("bus_voltage")
    out = c.observe(Batch([1] * 4, [T0 + 3 * NS, T0 + 1 * NS, T0 + 2 * NS, T0 + 4 * NS],
                          [100.0, 104.0, 104.0, 104.0]))
    # sorted: 104 (1 s), 104 (2 s), 100 (3 s), 104 (4 s): never three in a row
    assert out == []


def test_an_override_applies_from_the_next_sample_and_can_be_removed() -> None:
    c, _ = checker("bus_voltage")
    feed(c, 1, [102.0] * 3)
    assert c.state(1) == "warning"
    wide = Limits(warning=Band(low=95.0, high=105.0), critical=Band(low=90.0, high=110.0))
    c.set_limits("bus_voltage", wide)
    assert c.effective_limits(MISSION.parameters["bus_voltage"]) == wide
    assert moves(feed(c, 1, [102.0], start=3)) == [("warning", "nominal")]
    c.set_limits("bus_voltage", None)
    assert c.effective_limits(MISSION.parameters["bus_voltage"]).warning.high == 101.5
    assert moves(feed(c, 1, [102.0] * 3, start=4)) == [("nominal", "warning")]


def test_an_override_with_no_limits_never_alarms() -> None:
    c, _ = checker("bus_voltage", overrides={"bus_voltage": Limits()})
    assert feed(c, 1, [150.0] * 5) == []


def test_load_restores_states_counts_newest_times_and_overrides() -> None:
    c, _ = checker("bus_voltage")
    raised = Limits(warning=Band(low=95.0, high=102.0), critical=Band(low=90.0, high=110.0))
    # Critical, and a warning count of 2 running since 3 s: one more warning sample raises.
    c.load({1: (T0 + 5 * NS, 104.0)}, [(1, 2, 2, 0, T0 + 3 * NS, 0)], {"bus_voltage": raised})
    assert c.state(1) == "critical" and c.newest_t([1]) == T0 + 5 * NS
    assert c.effective_limits(MISSION.parameters["bus_voltage"]) == raised
    assert feed(c, 1, [120.0] * 3) == []  # older than the newest checked sample
    assert moves(feed(c, 1, [100.0], start=6)) == [("critical", "nominal")]
    c.load({}, [], {})  # and back: nothing known, mission limits
    assert c.state(1) == "nominal" and c.newest_t([1]) == -1
    assert c.effective_limits(MISSION.parameters["bus_voltage"]) == \
        MISSION.parameters["bus_voltage"].limits


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from([100.0, 101.0, 101.6, 102.0, 102.9, 103.5, 104.0]),
                min_size=2, max_size=30), st.data())
def test_a_checker_loaded_from_what_another_persisted_continues_it_exactly(
        values: list[float], data: st.DataObject) -> None:
    """What one API process leaves in the database (its persisted limit states and the
    newest samples) is all another needs to go on as if it had checked everything itself:
    the failover from one site to the other moves no count and no state."""
    from sqlalchemy import create_engine, select

    from backend import db

    cut = data.draw(st.integers(1, len(values) - 1))
    whole, _ = checker("bus_voltage")
    expected = feed(whole, 1, values)
    first, _ = checker("bus_voltage")
    got = feed(first, 1, values[:cut])
    engine = create_engine("sqlite://")
    db.metadata.create_all(engine, tables=[db.limit_states])
    with engine.begin() as conn:
        first.persist(conn)
        rows = [tuple(r) for r in conn.execute(select(db.limit_states))]
    second, _ = checker("bus_voltage")
    second.load({1: (T0 + (cut - 1) * NS, values[cut - 1])}, rows, {})
    got += feed(second, 1, values[cut:], start=cut)
    assert [(t.t, t.old, t.new) for t in got] == [(t.t, t.old, t.new) for t in expected]


# ---- the fast path agrees with the plain rules --------------------------------------------------

def reference(values: list[float], warn: tuple[float, float], crit: tuple[float, float],
              persistence: int, h: float) -> list[tuple[int, int]]:
    """The rules written plainly: (index, new rank) of each change."""
    bands = {1: warn, 2: crit}

    def inside(v: float, r: int) -> bool:
        return r == 0 or bands[r][0] + h <= v <= bands[r][1] - h

    state, counts, out = 0, {1: 0, 2: 0}, []
    for i, v in enumerate(values):
        instant = 2 if not crit[0] <= v <= crit[1] else 1 if not warn[0] <= v <= warn[1] else 0
        for r in (1, 2):
            counts[r] = counts[r] + 1 if instant >= r else 0
        up = max((r for r in (1, 2) if r > state and counts[r] >= persistence), default=0)
        if up:
            state = up
            out.append((i, state))
        elif instant < state and inside(v, state):
            state = max((r for r in range(state) if not inside(v, r)), default=0)
            out.append((i, state))
    return out


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([100.0, 101.0, 101.4, 101.45, 101.6, 102.0, 102.85, 102.9,
                                 103.1, 104.0, 98.0, 98.6, 96.0, 97.1]), max_size=60))
def test_the_checker_agrees_with_the_plain_rules(values: list[float]) -> None:
    c, _ = checker("bus_voltage")
    out = feed(c, 1, values)
    got = [(int((t.t - T0) / NS), ["nominal", "warning", "critical"].index(t.new))
           for t in out]
    assert got == reference(values, (98.5, 101.5), (97.0, 103.0), 3, 0.2)


def test_nominal_samples_take_the_calm_window() -> None:
    c, _ = checker("bus_voltage", "earth_sensor_valid", "aocs_mode", "twta_1_on")
    for sid in (1, 2, 3, 4):
        s = c._s[sid]
        assert not math.isnan(s.calm_lo), s.info.parameter.key
    assert c._s[1].calm_lo == 98.5 and c._s[1].calm_hi == 101.5
    assert (c._s[2].calm_lo, c._s[2].calm_hi) == (1.0, 1.0)  # true is the only good value
    assert (c._s[3].calm_lo, c._s[3].calm_hi) == (0.0, 0.0)  # normal
    feed(c, 1, [102.0])
    assert math.isnan(c._s[1].calm_lo)  # something is pending: every sample looked at


@pytest.mark.parametrize("key", ["twta_1_on", "is_prime"])
def test_gates_never_take_the_calm_window(key: str) -> None:
    c, ids = checker(key, "twta_1_output_power" if key == "twta_1_on" else "carrier_lock",
                     station="akkol")
    assert math.isnan(c._s[ids[key]].calm_lo)


def test_an_override_that_could_never_clear_is_refused() -> None:
    from backend.overrides import LimitError, check

    p = MISSION.parameters["bus_voltage"]  # hysteresis 0.2
    with pytest.raises(LimitError, match="wider than twice the hysteresis"):
        check(p, Limits(warning=Band(low=100.0, high=100.3), critical=Band(low=97, high=103)))
    with pytest.raises(LimitError, match="warning high"):
        check(p, Limits(warning=Band(low=98.5), critical=Band(low=97, high=103)))
    check(p, Limits(warning=Band(low=99.0, high=101.0), critical=Band(low=97, high=103)))
