"""Panels (dashboard/panels.py): what their cells say for the captured picture, and that
every cell a panel draws is one its `*_cells` function fills."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from dash.development.base_component import Component

from dashboard import panels
from dashboard.snapshot import Model, Snapshot, format_time, parse_time
from dashboard.widgets import prefilled
from tests.dashboard.conftest import row

PAGE = "t"


def cell_keys(component: Component) -> Iterator[str]:
    """The key of every value cell and tile in a layout (their 'vc' containers)."""
    cid = getattr(component, "id", None)
    if isinstance(cid, dict) and cid.get("kz") == "vc":
        yield cid["key"]
    children = getattr(component, "children", None)
    for child in children if isinstance(children, list) else [children]:
        if isinstance(child, Component):
            yield from cell_keys(child)


def cells(snap: Snapshot, *fills: object) -> dict[str, list]:
    model = Model()
    for fill, entity in fills:
        fill(snap, model, entity)
    return model.cells


def test_stations_show_their_links_state_and_prime(snap: Snapshot) -> None:
    c = cells(snap, (panels.station_cells, "akkol"), (panels.station_cells, "kokterek"))
    assert c["tile|akkol"][1] == c["tile|kokterek"][1] == "n"  # equipment all well
    assert c["prime|akkol|kazsat-2"] == c["prime|akkol|kazsat-3"] == \
        ["★ PRIME — IN CONTROL", "p"]
    assert c["prime|kokterek|kazsat-2"] == ["★ PRIME — IN CONTROL", "p"]  # claims it too
    # Kokterek's link to KazSat-3 has been silent: its prime flag is not believed.
    assert c["prime|kokterek|kazsat-3"] == ["? PRIME UNKNOWN", "s"]
    assert c["tile|akkol|kazsat-3"][1] == "c"  # carrier lock lost on the prime link
    assert c["tile|kokterek|kazsat-3"][1] == "s"
    assert c["tile|akkol|kazsat-2"][1] == "n"
    assert c["kazsat-3|akkol|carrier_lock"][:2] == ["NO", "c"]
    assert c["kazsat-3|kokterek|ebn0_db"][:2] == ["9.6", "s"]


def test_a_standby_station_reads_standby(answers: dict, mission: dict) -> None:
    row(answers["latest"], "kazsat-2", "kokterek", "is_prime")["value"] = False
    c = cells(Snapshot(mission, answers["latest"]), (panels.station_cells, "kokterek"))
    assert c["prime|kokterek|kazsat-2"] == ["standby", "n"]


def test_a_satellite_names_its_prime_station(snap: Snapshot) -> None:
    c = cells(snap, (panels.satellite_summary_cells, "kazsat-2"),
              (panels.satellite_summary_cells, "kazsat-3"))
    assert c["primeby|kazsat-2"] == ["TWO PRIME: Akkol + Kokterek", "c"]
    assert c["primeby|kazsat-3"] == ["★ Akkol", "n"]  # Kokterek stale: not counted


def test_no_prime_and_unknown_prime_differ(answers: dict, mission: dict) -> None:
    body = answers["latest"]
    for station in ("akkol", "kokterek"):
        row(body, "kazsat-2", station, "is_prime")["value"] = False
    for station in ("akkol", "kokterek"):
        row(body, "kazsat-3", station, "is_prime")["state"] = "stale"
    c = cells(Snapshot(mission, body), (panels.satellite_summary_cells, "kazsat-2"),
              (panels.satellite_summary_cells, "kazsat-3"))
    assert c["primeby|kazsat-2"] == ["NO PRIME STATION", "c"]
    assert c["primeby|kazsat-3"] == ["? PRIME UNKNOWN", "s"]


def test_subsystem_tiles_carry_the_worst_state_and_name_the_alarms(snap: Snapshot) -> None:
    c = cells(snap, (panels.satellite_summary_cells, "kazsat-2"),
              (panels.satellite_summary_cells, "kazsat-3"))
    assert c["tile|kazsat-2|power"][1] == "c"
    # Critical first, values in the mission's decimals and units.
    assert c["alarms|kazsat-2|power"] == ["Bus voltage 104.00 V · Battery temp 27.0 °C", "c"]
    assert c["alarms|kazsat-2|thermal"] == ["", "u"]
    assert {c[f"tile|kazsat-3|{sub}"][1] for sub in
            ("power", "thermal", "aocs", "propulsion", "payload", "ttc")} == {"n"}
    # A transponder family is one figure: how many are on, or the range of values.
    assert c["agg|kazsat-2|twta_{n}_on"] == ["15/16 on", "n"]
    assert c["agg|kazsat-3|twta_{n}_on"] == ["28/28 on", "n"]
    assert c["agg|kazsat-2|twta_{n}_output_power"] == ["120.0", "n"]


def test_an_aggregate_shows_a_range_and_leaves_stale_values_out(answers: dict,
                                                                  mission: dict) -> None:
    body = answers["latest"]
    row(body, "kazsat-3", None, "twta_1_temp")["value"] = 41.26
    row(body, "kazsat-3", None, "twta_2_temp")["value"] = 88.0
    row(body, "kazsat-3", None, "twta_2_temp")["state"] = "warning"
    row(body, "kazsat-3", None, "twta_3_temp").update(value=-5.0, state="stale")
    c = cells(Snapshot(mission, body), (panels.satellite_summary_cells, "kazsat-3"))
    assert c["agg|kazsat-3|twta_{n}_temp"] == ["41.3–88.0", "w"]


def test_more_than_two_alarms_are_counted(answers: dict, mission: dict) -> None:
    body = answers["latest"]
    for key, value in (("battery_soc", 45.0), ("bus_current", 52.0)):
        row(body, "kazsat-2", None, key).update(value=value, state="warning")
    c = cells(Snapshot(mission, body), (panels.satellite_summary_cells, "kazsat-2"))
    assert c["alarms|kazsat-2|power"] == ["Bus voltage 104.00 V · Bus current 52.0 A · +2 more",
                                          "c"]


def test_eclipse_cell_before_during_and_after(answers: dict) -> None:
    [eclipse] = [e for e in answers["eclipses"]["eclipses"] if e["satellite"] == "kazsat-2"]
    model = Model()
    panels.eclipse_cell(model, "kazsat-2", eclipse, eclipse["start"][:11] + "12:00:00.000Z")
    start = eclipse["start"]
    minutes = round(eclipse["duration_s"] / 60)
    assert model.cells["eclipse|kazsat-2"] == [f"20 Mar {start[11:16]} UTC · {minutes} min", "u"]
    inside = format_time(parse_time(eclipse["end"]) - dt.timedelta(seconds=439.5))
    panels.eclipse_cell(model, "kazsat-2", eclipse, inside)
    assert model.cells["eclipse|kazsat-2"] == ["IN ECLIPSE · 7 min 19 s left", "w"]
    panels.eclipse_cell(model, "kazsat-2", eclipse, eclipse["end"])
    assert model.cells["eclipse|kazsat-2"] == ["none ahead", "u"]
    panels.eclipse_cell(model, "kazsat-2", None, eclipse["start"])
    assert model.cells["eclipse|kazsat-2"] == ["—", "u"]


def test_the_detail_cells_cover_every_parameter_and_link(snap: Snapshot) -> None:
    c = cells(snap, (panels.satellite_detail_cells, "kazsat-3"))
    assert c["tile|kazsat-3|link"][1] == "c"  # Akkol unlocked beats Kokterek stale
    assert c["tile|kazsat-3|payload"][1] == "n"
    assert c["kazsat-3||twta_28_temp"][1] == "n"


def test_every_cell_a_panel_draws_is_filled(snap: Snapshot, mission: dict) -> None:
    for station in mission["stations"]:
        drawn = set(cell_keys(panels.station_panel(PAGE, mission, station)))
        filled = cells(snap, (panels.station_cells, station))
        assert drawn and drawn <= set(filled), drawn - set(filled)
    for sat in mission["satellites"]:
        drawn = set(cell_keys(panels.satellite_summary(PAGE, mission, sat)))
        filled = cells(snap, (panels.satellite_summary_cells, sat))
        assert drawn - set(filled) == {f"eclipse|{sat}"}  # the page fills it (eclipse_cell)
        detail = [panels.subsystem_table(PAGE, mission, sat, "power"),
                  panels.transponder_table(PAGE, mission, sat, "payload"),
                  panels.link_table(PAGE, mission, sat)]
        drawn = {k for table in detail for k in cell_keys(table)}
        assert drawn <= set(cells(snap, (panels.satellite_detail_cells, sat)))
    assert panels.transponder_table(PAGE, mission, "kazsat-2", "power") is None


def test_a_panel_drawn_with_a_tick_model_shows_its_values(snap: Snapshot,
                                                          mission: dict) -> None:
    model = Model()
    panels.station_cells(snap, model, "kokterek")
    with prefilled(model.as_dict()):
        panel = panels.station_panel(PAGE, mission, "kokterek")
    texts = {}

    def walk(component: Component) -> None:
        cid = getattr(component, "id", None)
        if isinstance(cid, dict) and cid.get("kz") in ("v", "vc"):
            texts[(cid["kz"], cid["key"])] = (component.children, component.className)
        children = getattr(component, "children", None)
        for child in children if isinstance(children, list) else [children]:
            if isinstance(child, Component):
                walk(child)

    walk(panel)
    assert texts[("v", "prime|kokterek|kazsat-3")][0] == "? PRIME UNKNOWN"
    assert texts[("vc", "prime|kokterek|kazsat-3")][1] == "kz-prime kz-s"
    assert texts[("vc", "tile|kokterek|kazsat-3")][1] == "kz-tile kz-s"
    assert texts[("v", "kazsat-3|kokterek|ebn0_db")][0] == "9.6"
