"""Real API answers for the dashboard's pure functions: answers.json, captured from a running
API fed a known picture of the fleet (tests/dashboard/capture.py says which), and the mission
as GET /api/v1/mission serves it, built with the API's own code."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from backend.mission import load_mission
from backend.settings import Settings
from dashboard.snapshot import Snapshot

ANSWERS = json.loads(Path(__file__).with_name("answers.json").read_text(encoding="utf-8"))


def mission_answer() -> dict:
    """What GET /api/v1/mission answers while no engineer has changed a limit: the mission
    document, each parameter's effective limits being its defaults."""
    body = load_mission(Settings().mission_file).document()
    for item in body["parameters"].values():
        item["default_limits"] = item["limits"]
    return body


MISSION = mission_answer()


@pytest.fixture
def mission() -> dict:
    return copy.deepcopy(MISSION)


@pytest.fixture
def answers() -> dict:
    """A fresh copy per test: a test may change a row to make its case."""
    return copy.deepcopy(ANSWERS)


@pytest.fixture
def snap(mission: dict, answers: dict) -> Snapshot:
    """The live /latest answer of the captured picture."""
    return Snapshot(mission, answers["latest"])


def row(body: dict, satellite: str | None, station: str | None, parameter: str) -> dict:
    """The row of one series in a /latest answer (to change it for a case)."""
    return next(r for r in body["series"] if (r["satellite"], r["station"], r["parameter"])
                == (satellite, station, parameter))
