"""Scenarios breach limits on purpose; a clean nominal run does not."""

from __future__ import annotations

import pytest

from simulator.faults import load_scenario, packaged_scenarios, parse_duration
from simulator.model import Model
from simulator.propulsion import burns_between

from .conftest import breaches, utc
from .helpers import run


def test_nominal_day_across_an_eclipse_breaches_nothing(mission: dict) -> None:
    """A simulated day (10 s step) through both eclipses of an equinox day."""
    t0 = utc(2026, 3, 21)
    model = Model(mission, seed=0, start_ns=t0)
    found = breaches(run(model, t0, 24, step_s=10, window_h=6), mission)
    assert found == []


def test_only_deliberate_alarms_over_a_month(mission: dict) -> None:
    """30 days at 5 min: the only alarms are the ones modelled on purpose: station keeping
    (aocs_mode warning during burns) and natural storms at one station (link alarms there)."""
    t0 = utc(2026, 9, 1)
    model = Model(mission, seed=0, start_ns=t0)
    found = breaches(run(model, t0, 30 * 24, step_s=300, window_h=24 * 5), mission)
    storms = {
        sta: [e for e in model.weather.events(sta, t0, t0 + 30 * 86_400 * 10**9) if e[3]]
        for sta in mission["stations"]
    }
    for sev, ent, key, t in found:
        if key == "aocs_mode":
            assert sev == "warning"
            continue
        sta = dict(kv.split("=") for kv in ent.split(","))["station"]
        assert any(s <= t <= s + d for s, d, _, _ in storms[sta]), (sev, ent, key, t)
    # Burns do happen in a month: two east-west, one north-south per satellite.
    assert len(burns_between(model.sats["kazsat-2"].plans, t0, t0 + 30 * 86_400 * 10**9)) >= 3


def test_breach_scenario_raises_warning_and_critical_within_minutes(mission: dict) -> None:
    t0 = utc(2026, 11, 25, 12)
    model = Model(mission, seed=0, start_ns=t0, scenario="breach")
    found = breaches(run(model, t0, 10 / 60), mission)
    first = {sev: min(t for s, _, _, t in found if s == sev) for sev in ("warning", "critical")}
    assert first["critical"] - t0 < 3 * 60e9 and first["warning"] - t0 < 3 * 60e9
    keys = {k for _, _, k, _ in found}
    assert {"aocs_mode", "roll_error", "twta_5_helix_current", "ebn0_db", "wheel_3_speed"} <= keys


@pytest.mark.parametrize("name", packaged_scenarios())
def test_packaged_scenarios_load_and_run(mission: dict, name: str) -> None:
    t0 = utc(2026, 11, 25, 12)
    known = {"satellite": set(mission["satellites"]), "station": set(mission["stations"])}
    assert load_scenario(name, t0, known).faults
    model = Model(mission, seed=0, start_ns=t0, scenario=name)
    assert breaches(run(model, t0, 1, step_s=5), mission)  # every packaged scenario does something


def test_durations_and_bad_scenarios(tmp_path) -> None:
    assert parse_duration("1h30m") == 5400 and parse_duration("-6h") == -21600
    assert parse_duration("90") == 90 and parse_duration("2m") == 120
    with pytest.raises(ValueError):
        parse_duration("soon")
    bad = tmp_path / "bad.yaml"
    bad.write_text("faults:\n  - at: 1m\n    fault: heavy_rain\n    station: nowhere\n")
    with pytest.raises(ValueError, match="station"):
        load_scenario(bad, 0, {"satellite": {"kazsat-2"}, "station": {"akkol"}})


@pytest.mark.parametrize("severity", ["1.5", "-0.1", "high", "true"])
def test_severity_outside_0_to_1_is_refused_naming_file_and_entry(tmp_path, severity) -> None:
    bad = tmp_path / "too_much.yaml"
    bad.write_text(
        "faults:\n"
        "  - {at: 1m, fault: heavy_rain, station: akkol}\n"
        f"  - {{at: 2m, fault: thruster_leak, satellite: kazsat-2, severity: {severity}}}\n"
    )
    with pytest.raises(ValueError, match=r"too_much\.yaml: fault #2 \(thruster_leak\): severity"):
        load_scenario(bad, 0, {"satellite": {"kazsat-2"}, "station": {"akkol"}})
    bad.write_text(bad.read_text().replace(f"severity: {severity}", "severity: 0.4"))
    assert [f.severity for f in load_scenario(bad, 0).faults] == [1.0, 0.4]
