"""A /latest answer indexed (Snapshot) and turned into what a tick sends (Model)."""

from __future__ import annotations

from dashboard.snapshot import Model, Snapshot, format_time, parse_time, worst
from tests.dashboard.conftest import ANSWERS, MISSION


def test_the_captured_answer_is_of_todays_mission() -> None:
    # When the mission changes, answers.json is out of date: python -m tests.dashboard.capture
    captured = {(r["satellite"], r["station"], r["parameter"]) for r in ANSWERS["latest"]["series"]}
    assert captured == {tuple(s) for s in MISSION["series"]}


def test_rows_are_found_by_series_key_with_their_state(snap: Snapshot) -> None:
    assert (snap.value("kazsat-2||bus_voltage"), snap.state("kazsat-2||bus_voltage")) == \
        (104.0, "critical")
    assert snap.state("kazsat-2||battery_temp") == "warning"
    assert snap.state("kazsat-3|kokterek|carrier_lock") == "stale"
    assert snap.value("kazsat-3|akkol|carrier_lock") is False
    assert snap.row("||bus_voltage") is None and snap.value("nowhere||x") is None
    assert snap.now == ANSWERS["latest"]["now"] and snap.at is None
    assert snap.summary["stale"] == 12


def test_worst_state_ranks_critical_then_warning_then_stale(snap: Snapshot) -> None:
    power = ["kazsat-2||bus_voltage", "kazsat-2||battery_temp", "kazsat-2||bus_current"]
    assert snap.worst(power) == "critical"
    assert snap.worst(power[1:]) == "warning"
    assert snap.worst(["kazsat-3|kokterek|ebn0_db", "kazsat-3||bus_voltage"]) == "stale"
    assert snap.worst(["kazsat-3||bus_voltage"]) == "nominal"
    assert snap.worst(["no||such"]) is None and snap.worst([]) is None
    assert worst(["stale", None, "warning", "nominal"]) == "warning"


def test_a_series_cell_has_its_text_state_and_chart_point(snap: Snapshot) -> None:
    model = Model()
    for key in ("kazsat-2||bus_voltage", "kazsat-2||battery_temp", "kazsat-2||twta_3_on",
                "kazsat-2||aocs_mode", "kazsat-2|akkol|ber", "kazsat-3|kokterek|frames_lost",
                "kazsat-2||no_such_parameter"):
        model.series(snap, key)
    cells = model.cells
    t_voltage = snap.row("kazsat-2||bus_voltage")["time"]
    assert cells["kazsat-2||bus_voltage"] == ["104.00", "c", model.times.index(t_voltage),
                                              104.0]
    assert cells["kazsat-2||battery_temp"][:2] == ["27.0", "w"]
    assert cells["kazsat-2||twta_3_on"][:2] == ["NO", "n"] and cells["kazsat-2||twta_3_on"][3] == 0
    assert cells["kazsat-2||aocs_mode"][:2] == ["NORMAL", "n"]  # enums in words, index 0
    assert cells["kazsat-2||aocs_mode"][3] == 0.0
    assert cells["kazsat-2|akkol|ber"][0] == "8.00e-07"
    assert cells["kazsat-3|kokterek|frames_lost"][:2] == ["1", "s"]
    assert cells["kazsat-2||no_such_parameter"] == ["—", "u"]
    # Sample times are sent once and referred to by index.
    assert len(model.times) == len(set(model.times))
    assert {c[2] for c in cells.values() if len(c) > 2} == set(range(len(model.times)))
    assert model.as_dict() == {"cells": cells, "times": model.times}


def test_a_replay_snapshot_knows_its_time(mission: dict) -> None:
    snap = Snapshot(mission, ANSWERS["latest_at"])
    assert snap.at == ANSWERS["latest_at"]["at"]
    assert {r["state"] for r in snap.rows.values()} == {"nominal"}
    assert all(r["station"] == "akkol" for r in snap.rows.values())


def test_times_read_and_write_as_the_api_does() -> None:
    for text in (ANSWERS["latest"]["now"], ANSWERS["alerts"]["alerts"][0]["raised"]):
        assert format_time(parse_time(text)) == text
    assert parse_time("2027-03-20T17:45:34.829Z").utcoffset().total_seconds() == 0
