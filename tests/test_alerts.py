"""Alerts over the API: listing and counts, acknowledge, shelve, audit, limit overrides,
roles, and open alerts surviving a restart. One API process for the module; each test
uses its own series."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kazsat.stack import Stack

NS = 1_000_000_000


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory,
          module_store_env: dict[str, str]) -> Iterator[Stack]:
    s = Stack(Path(tmp_path_factory.mktemp("alerts")) / "data",
              extra_env={"KAZSAT_STALE_ALERT_S": "0", **module_store_env})
    s.start_api()
    yield s
    s.stop()


def write(stack: Stack, key: str, field: str, values: list[float], t0: int | None = None) -> int:
    t0 = time.time_ns() - 100 * NS if t0 is None else t0
    body = "\n".join(f"{key} {field}={v} {t0 + i * NS}" for i, v in enumerate(values))
    r = stack.write(body)
    assert r.status_code == 204, r.text
    return t0 + (len(values) - 1) * NS


def alerts(stack: Stack, **params: str) -> dict:
    with stack.client() as c:
        r = c.get("/api/v1/alerts", params=params)
        assert r.status_code == 200, r.text
        return r.json()


def one(stack: Stack, parameter: str, **params: str) -> dict:
    [a] = [a for a in alerts(stack, **params)["alerts"] if a["parameter"] == parameter]
    return a


def post(stack: Stack, role: str | None, path: str, body: dict) -> httpx.Response:
    headers = {"Authorization": f"Token {stack.tokens[role]}"} if role else {}
    return httpx.post(f"{stack.api_url}{path}", json=body, headers=headers, timeout=30)


def test_a_breach_is_listed_with_its_facts_and_counted(stack: Stack) -> None:
    t = write(stack, "thermal,satellite=kazsat-3", "tank_temp", [20.0, 11.0, 11.0])  # warning
    a = one(stack, "tank_temp")
    assert {k: a[k] for k in ("kind", "satellite", "station", "subsystem", "severity",
                              "state", "value", "limit", "cleared", "acked_by")} == {
        "kind": "limit", "satellite": "kazsat-3", "station": None, "subsystem": "thermal",
        "severity": "warning", "state": "warning", "value": 11.0, "limit": "warning low 12 °C",
        "cleared": None, "acked_by": None}
    assert set(a) >= {"id", "raised", "updated", "acked_at", "ack_comment", "shelved_until"}
    counts = alerts(stack)["counts"]
    assert counts["unacknowledged_warning"] >= 1 and counts["active"] >= 1
    with stack.client() as c:
        summary = c.get("/api/v1/latest").json()["summary"]["alerts"]
    assert set(summary) == {"unacknowledged", "warning", "critical"}
    assert summary["warning"] >= 1
    # Escalation: critical (8 °C) held 2 samples updates the same alert.
    t = write(stack, "thermal,satellite=kazsat-3", "tank_temp", [7.0, 7.0], t + NS)
    a2 = one(stack, "tank_temp")
    assert a2["id"] == a["id"] and (a2["severity"], a2["state"]) == ("critical", "critical")
    assert a2["limit"] == "critical low 8 °C" and a2["raised"] == a["raised"]
    # Filters.
    assert one(stack, "tank_temp", satellite="kazsat-3", severity="critical")["id"] == a["id"]
    assert not [x for x in alerts(stack, satellite="kazsat-2")["alerts"]
                if x["parameter"] == "tank_temp"]
    assert not alerts(stack, end="2000-01-01T00:00:00Z")["alerts"]
    # Back inside by the hysteresis margin: cleared.
    write(stack, "thermal,satellite=kazsat-3", "tank_temp", [20.0], t + NS)
    assert not [x for x in alerts(stack)["alerts"] if x["parameter"] == "tank_temp"]
    cleared = one(stack, "tank_temp", status="cleared")
    assert cleared["state"] == "cleared" and cleared["cleared"] is not None


def test_acknowledge_needs_an_operator_and_is_audited(stack: Stack) -> None:
    write(stack, "power,satellite=kazsat-2", "battery_temp", [15.0, 27.0, 27.0])
    a = one(stack, "battery_temp")
    path = f"/api/v1/alerts/{a['id']}/ack"
    assert post(stack, None, path, {"comment": "x"}).status_code == 401
    assert post(stack, "viewer", path, {"comment": "x"}).status_code == 403
    assert post(stack, "ingest", path, {"comment": "x"}).status_code == 403
    before = alerts(stack)["counts"]["unacknowledged"]
    r = post(stack, "operator", path, {"comment": "heater cycling, watching"})
    assert r.status_code == 200, r.text
    acked = r.json()
    assert acked["acked_by"] == "test operator" and acked["acked_at"]
    assert acked["ack_comment"] == "heater cycling, watching"
    assert alerts(stack)["counts"]["unacknowledged"] == before - 1
    assert one(stack, "battery_temp", status="acknowledged")["id"] == a["id"]
    again = post(stack, "engineer", path, {"comment": "again"})
    assert again.status_code == 409 and "already acknowledged" in again.json()["message"]
    assert post(stack, "operator", "/api/v1/alerts/999999/ack", {}).status_code == 404
    with stack.client() as c:
        [entry] = [e for e in c.get("/api/v1/audit").json()["audit"]
                   if e["action"] == "alert.ack" and f"alert {a['id']} " in e["target"]]
    assert entry["actor"] == "test operator"
    assert entry["detail"]["comment"] == "heater cycling, watching"
    assert entry["detail"]["role"] == "operator"


def test_shelve_silences_a_series_until_the_shelf_expires(stack: Stack) -> None:
    write(stack, "station,station=kokterek", "ups_charge", [90.0, 15.0])  # critical
    a = one(stack, "ups_charge")
    path = f"/api/v1/alerts/{a['id']}/shelve"
    assert post(stack, None, path, {"minutes": 10}).status_code == 401
    assert post(stack, "viewer", path, {"minutes": 10}).status_code == 403
    assert post(stack, "operator", path, {"minutes": -1}).status_code == 400
    before = alerts(stack)["counts"]
    r = post(stack, "operator", path, {"minutes": 10, "comment": "UPS maintenance"})
    assert r.status_code == 200, r.text
    assert r.json()["shelved_until"] is not None
    after = alerts(stack)["counts"]
    assert after["unacknowledged_critical"] == before["unacknowledged_critical"] - 1
    assert after["active"] == before["active"]
    assert one(stack, "ups_charge", status="shelved")["id"] == a["id"]
    # The shelf is on the series: an alert raised again while it lasts is born shelved.
    write(stack, "station,station=kokterek", "ups_charge", [90.0, 15.0], time.time_ns())
    reborn = one(stack, "ups_charge")
    assert reborn["id"] != a["id"] and reborn["shelved_until"] is not None
    r = post(stack, "operator", f"/api/v1/alerts/{reborn['id']}/shelve", {"minutes": 0})
    assert r.status_code == 200 and r.json()["shelved_until"] is None
    assert post(stack, "operator", path, {"minutes": 5}).status_code == 409  # cleared


def test_limit_changes_need_an_engineer_apply_at_once_and_are_audited(stack: Stack) -> None:
    path = "/api/v1/limits/bus_current"
    body = {"warning": {"high": 30.0}, "critical": {"high": 55.0}}
    with httpx.Client(base_url=stack.api_url, timeout=30) as c:
        assert c.put(path, json=body).status_code == 401
        assert c.delete(path).status_code == 401
        for role in ("viewer", "ingest", "operator"):
            auth = {"Authorization": f"Token {stack.tokens[role]}"}
            assert c.put(path, json=body, headers=auth).status_code == 403
            assert c.delete(path, headers=auth).status_code == 403
        eng = {"Authorization": f"Token {stack.tokens['engineer']}"}
        bad = {"warning": {"high": 60.0}, "critical": {"high": 55.0}}
        assert c.put(path, json=bad, headers=eng).status_code == 400
        assert c.put("/api/v1/limits/carrier_lock", json=body, headers=eng).status_code == 400
        assert c.put("/api/v1/limits/no_such", json=body, headers=eng).status_code == 404
        r = c.put(path, json=body, headers=eng)
        assert r.status_code == 200, r.text
        item = r.json()
        assert item["effective"]["warning"] == {"low": None, "high": 30.0}
        assert item["default"]["warning"] == {"low": None, "high": 50.0}
        assert item["override"]["changed_by"] == "test engineer"

    # Live checking uses it at once: 35 A is a breach now (persistence 3).
    write(stack, "power,satellite=kazsat-3", "bus_current", [35.0, 35.0, 35.0])
    assert one(stack, "bus_current")["limit"] == "warning high 30 A"
    with stack.client() as c:
        mission = c.get("/api/v1/mission").json()["parameters"]["bus_current"]
        assert mission["limits"]["warning"]["high"] == 30.0
        assert mission["default_limits"]["warning"]["high"] == 50.0
        listed = {x["parameter"]: x for x in c.get("/api/v1/limits").json()["limits"]}
        assert listed["bus_current"]["effective"]["warning"]["high"] == 30.0
        assert listed["bus_voltage"]["override"] is None
        assert "carrier_lock" not in listed
    with stack.client("engineer") as c:
        r = c.delete(path)
        assert r.status_code == 200 and r.json()["override"] is None
        assert r.json()["effective"]["warning"]["high"] == 50.0
        actions = [e["action"] for e in c.get("/api/v1/audit").json()["audit"]
                   if e["target"] == "parameter bus_current"]
    assert actions == ["limits.reset", "limits.set"]
    write(stack, "power,satellite=kazsat-3", "bus_current", [35.0], time.time_ns())
    assert not [x for x in alerts(stack)["alerts"] if x["parameter"] == "bus_current"]


def test_open_alerts_and_overrides_survive_a_restart(tmp_path: Path,
                                                     store_env: dict[str, str]) -> None:
    stack = Stack(tmp_path / "data", extra_env={"KAZSAT_STALE_ALERT_S": "0", **store_env})
    stack.start_api()
    try:
        write(stack, "aocs,satellite=kazsat-2", "roll_error", [0.0, 0.2, 0.2, 0.2])
        with stack.client("engineer") as c:
            c.put("/api/v1/limits/tank_pressure",
                  json={"warning": {"low": 14.0}, "critical": {"low": 10.0}}).raise_for_status()
        a = one(stack, "roll_error")
        stack.api.stop()
        stack.start_api()
        assert one(stack, "roll_error")["id"] == a["id"]
        # The checker starts from the open alert's state: still critical, no second alert.
        write(stack, "aocs,satellite=kazsat-2", "roll_error", [0.2, 0.2, 0.2], time.time_ns())
        assert len(alerts(stack, status="all")["alerts"]) == 1
        write(stack, "aocs,satellite=kazsat-2", "roll_error", [0.0], time.time_ns() + 5 * NS)
        assert alerts(stack)["counts"]["active"] == 0
        with stack.client() as c:
            p = c.get("/api/v1/mission").json()["parameters"]["tank_pressure"]
        assert p["limits"]["warning"]["low"] == 14.0
    finally:
        stack.stop()
