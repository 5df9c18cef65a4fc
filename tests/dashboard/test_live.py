"""The banner every live page shows (dashboard/live.py), from /latest's summary."""

from __future__ import annotations

from dashboard import live
from dashboard.snapshot import Model, Snapshot
from tests.dashboard.conftest import ANSWERS

CALM = {"nominal": 296, "warning": 0, "critical": 0, "stale": 0, "links_out_of_lock": 0,
        "alerts": {"unacknowledged": 0, "warning": 0, "critical": 0}}


def banner(snap: Snapshot) -> dict[str, list]:
    model = Model()
    live.banner_cells(snap, model)
    return {k.split("|", 1)[1]: v for k, v in model.cells.items()}


def test_the_banner_counts_what_is_wrong(snap: Snapshot) -> None:
    b = banner(snap)
    assert b["critical"] == ["✖ 2 CRITICAL", "c"]
    assert b["warning"] == ["▲ 1 WARNING", "w"]
    assert b["lock"] == ["⛓ 1 LINK OUT OF LOCK", "c"]
    assert b["alerts"] == ["✖ 3 UNACKNOWLEDGED ALERTS · 2 CRITICAL", "c"]
    assert b["stale"] == ["◌ 12 stale", "s"]
    assert b["all"] == ["", "u"]  # never 'all nominal' while anything is wrong
    assert b["asof"] == [f"updated {ANSWERS['latest']['now'][11:19]} UTC", "u"]


def test_a_calm_fleet_says_all_nominal(answers: dict, mission: dict) -> None:
    answers["latest"]["summary"] = CALM
    b = banner(Snapshot(mission, answers["latest"]))
    assert b == {"critical": ["0 critical", "u"], "warning": ["0 warning", "u"],
                 "lock": ["all links locked", "u"], "alerts": ["no open alerts", "u"],
                 "stale": ["", "u"], "all": ["● ALL NOMINAL", "n"],
                 "asof": [f"updated {answers['latest']['now'][11:19]} UTC", "u"]}


def test_a_replay_banner_gives_the_time_replayed(mission: dict) -> None:
    b = banner(Snapshot(mission, ANSWERS["latest_at"]))
    assert b["asof"] == [f"at {ANSWERS['latest_at']['at'][11:19]} UTC", "u"]
    assert b["critical"] == ["0 critical", "u"] and b["lock"] == ["all links locked", "u"]


def test_unacknowledged_alerts_in_words_and_severity() -> None:
    assert live.alerts_part(None, 0) == ("", None)  # an API that does not count them
    assert live.alerts_part(0, 0) == ("no open alerts", None)
    assert live.alerts_part(1, 0) == ("▲ 1 UNACKNOWLEDGED ALERT", "warning")
    assert live.alerts_part(4, 1) == ("✖ 4 UNACKNOWLEDGED ALERTS · 1 CRITICAL", "critical")
