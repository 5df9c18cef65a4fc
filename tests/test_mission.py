"""The mission database: the shipped file covers docs/domain.md, and a broken file stops start-up
with a message that names the entry."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from backend.mission import MissionError, load_mission
from backend.settings import Settings

SHIPPED = Settings().mission_file


def broken(tmp_path: Path, change) -> Path:
    raw = yaml.safe_load(SHIPPED.read_text())
    change(raw)
    path = tmp_path / "mission.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def param(raw: dict, key: str) -> dict:
    return next(p for p in raw["parameters"] if p["key"] == key)


def test_shipped_file_has_every_subsystem_and_the_transponders():
    m = load_mission(SHIPPED)
    assert {m.satellites[s].transponders for s in ("kazsat-2", "kazsat-3")} == {16, 28}
    assert {p.subsystem for p in m.parameters.values()} >= {
        "power", "thermal", "aocs", "propulsion", "payload", "ttc", "station", "link"}
    assert m.parameters["bus_voltage"].limits.critical.high == 103


@pytest.mark.parametrize(("change", "names"), [
    (lambda raw: param(raw, "bus_voltage").update(type="number"), "'bus_voltage'"),
    (lambda raw: param(raw, "bus_voltage").update(
        limits={"warning": {"low": 102, "high": 98}}), "'bus_voltage'"),
    (lambda raw: param(raw, "bus_voltage").update(
        limits={"warning": {"low": 95, "high": 105}, "critical": {"low": 97, "high": 103}}),
     "warning low 95 must be at or above critical low 97"),
    (lambda raw: param(raw, "bus_voltage").update(hysteresis=10), "never clear"),
    (lambda raw: param(raw, "battery_soc").update(subsystem="powr"), "unknown subsystem"),
    (lambda raw: raw["parameters"].append(dict(param(raw, "battery_soc"))), "duplicate key"),
    (lambda raw: raw["satellites"]["kazsat-2"].pop("longitude_deg"), "satellite 'kazsat-2'"),
    # Set by hand, per_transponder once reached the series list as a KeyError (a station
    # parameter has no satellite) or a TypeError (no n to compare with the count).
    (lambda raw: param(raw, "mains_power_ok").update(per_transponder=True),
     "'mains_power_ok'.*repeat: transponders"),
    (lambda raw: param(raw, "bus_voltage").update(per_transponder=True),
     "'bus_voltage'.*repeat: transponders"),
], ids=["type", "band order", "nesting", "hysteresis", "subsystem", "duplicate", "satellite",
        "per-transponder station", "per-transponder without n"])
def test_a_broken_entry_is_named(tmp_path, change, names):
    with pytest.raises(MissionError, match=names):
        load_mission(broken(tmp_path, change))


def test_the_api_refuses_to_start_on_a_broken_file(tmp_path):
    path = broken(tmp_path, lambda raw: param(raw, "tank_temp").update(period_s=0))
    env = {**os.environ, "KAZSAT_MISSION_FILE": str(path), "KAZSAT_DATA_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "kazsat", "api", "--port", "1"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "parameter 'tank_temp'" in done.stderr + done.stdout
