"""Lookups over the mission answer and value formatting (dashboard/parameters.py)."""

from __future__ import annotations

import pytest

from dashboard import parameters as pm


def test_subsystems_and_parameters_follow_the_mission(mission: dict) -> None:
    assert [s for s, _ in pm.subsystems(mission, "satellite")] == [
        "power", "thermal", "aocs", "propulsion", "payload", "ttc"]
    assert [s for s, _ in pm.subsystems(mission, "station")] == ["station"]
    power = [p["key"] for p in pm.parameters(mission, "power")]
    assert power[:2] == ["bus_voltage", "bus_current"] and "battery_temp" in power
    # Per-transponder parameters stop at each satellite's own count (16 and 28).
    for sat, count in (("kazsat-2", 16), ("kazsat-3", 28)):
        payload = pm.parameters(mission, "payload", sat)
        assert len(payload) == 4 * count
        assert max(p["n"] for p in payload) == count
        assert len(pm.family(mission, "twta_{n}_on", sat)) == count
    assert len(pm.parameters(mission, "payload")) == 4 * 28  # no satellite: every one
    assert [p["key"] for p in pm.family(mission, "bus_voltage", "kazsat-2")] == ["bus_voltage"]


def test_series_key_is_the_same_for_every_entity_kind() -> None:
    assert pm.series_key("kazsat-2", None, "bus_voltage") == "kazsat-2||bus_voltage"
    assert pm.series_key(None, "akkol", "ups_charge") == "|akkol|ups_charge"
    assert pm.series_key("kazsat-3", "kokterek", "is_prime") == "kazsat-3|kokterek|is_prime"


def test_headlines_are_the_ones_the_mission_marks(mission: dict) -> None:
    assert pm.headlines(mission, "payload") == ["twta_{n}_on", "twta_{n}_output_power",
                                                "twta_{n}_temp"]
    assert pm.headlines(mission, "power") == ["bus_voltage", "bus_current", "battery_soc"]
    assert "is_prime" in pm.headlines(mission, "link")
    assert "ber" not in pm.headlines(mission, "link")


def test_the_prime_flag_is_the_boolean_that_gates_the_link_alarms(mission: dict) -> None:
    assert pm.prime_flag(mission) == "is_prime"
    # Without a gated link parameter there is no flag to find.
    for p in mission["parameters"].values():
        p.pop("active_when", None)
    assert pm.prime_flag(mission) is None


def test_labels(mission: dict) -> None:
    params = mission["parameters"]
    assert pm.label(params["ebn0_db"]) == "Eb/N0"
    assert pm.template_label(params["twta_3_output_power"]) == "TWTA power"
    assert pm.template_label(params["wheel_2_speed"]) == "Wheel"
    del params["ebn0_db"]["label"]
    assert pm.label(params["ebn0_db"]) == "Telemetry carrier Eb/N0"  # the description


@pytest.mark.parametrize(("key", "value", "text"), [
    ("bus_voltage", 104.0, "104.00"), ("battery_temp", 27.04, "27.0"),
    ("heater_duty", 61.6, "62"), ("earth_sensor_valid", True, "YES"),
    ("carrier_lock", False, "NO"), ("aocs_mode", "station_keeping", "STATION KEEPING"),
    ("command_counter", 123456, "123,456"), ("ber", 8e-07, "8.00e-07"), ("ber", 0.0, "0.000000000"),
    ("bus_voltage", None, "—")])
def test_values_are_shown_as_the_mission_says(mission: dict, key: str, value: object,
                                               text: str) -> None:
    assert pm.format_value(mission["parameters"][key], value) == text


def test_chart_values(mission: dict) -> None:
    params = mission["parameters"]
    assert pm.numeric(params["aocs_mode"], "safe") == 2.0  # index in the mission's values
    assert pm.numeric(params["aocs_mode"], "unknown") is None
    assert pm.numeric(params["carrier_lock"], True) == 1.0
    assert pm.numeric(params["frames_lost"], 3) == 3.0
    assert pm.numeric(params["bus_voltage"], None) is None


def test_chart_rows_overlay_what_shares_a_unit_and_limits(mission: dict) -> None:
    power = pm.chart_rows(pm.parameters(mission, "power", "kazsat-2"))
    by_keys = {tuple(p["key"] for p in r.params): r for r in power}
    assert set(by_keys) == {("bus_voltage",), ("bus_current",),
                            ("sa_north_current", "sa_south_current"), ("battery_soc",),
                            ("battery_voltage",), ("battery_current",), ("battery_temp",)}
    voltage = by_keys[("bus_voltage",)]
    assert (voltage.title, voltage.unit) == ("Bus voltage", "V")
    assert voltage.limits == mission["parameters"]["bus_voltage"]["limits"]
    assert by_keys[("sa_north_current", "sa_south_current")].limits == {"warning": None,
                                                                        "critical": None}
    # A transponder family is one strip, one line per transponder of that satellite;
    # booleans and enums are not charted.
    payload = pm.chart_rows(pm.parameters(mission, "payload", "kazsat-3"))
    assert [(r.title, r.unit, len(r.params)) for r in payload] == [
        ("TWTA power", "W", 28), ("TWTA helix", "mA", 28), ("TWTA temp", "°C", 28)]
    aocs = pm.chart_rows(pm.parameters(mission, "aocs", "kazsat-2"))
    assert not any(p["type"] in ("bool", "enum") for r in aocs for p in r.params)


def test_a_strip_title_names_every_line_it_holds(mission: dict) -> None:
    aocs = pm.chart_rows(pm.parameters(mission, "aocs", "kazsat-2"))
    pointing = next(r for r in aocs if r.unit == "deg")
    assert [p["key"] for p in pointing.params] == ["roll_error", "pitch_error", "yaw_error"]
    assert pointing.title == "Roll error / Pitch error / Yaw error"
    thermal = pm.chart_rows(pm.parameters(mission, "thermal", "kazsat-2"))
    assert thermal[0].title == "North panel / South panel / Payload panel"
    # Two names with most of their words in common are named by those words.
    solar = [dict(p, label=None) for p in pm.parameters(mission, "power")
             if p["key"] in ("sa_north_current", "sa_south_current")]
    assert pm.chart_rows(solar)[0].title == "Solar-array wing current (0 in eclipse)"
