"""A sample ahead of the server clock is stored but never stands for the present: through
a real API process, on SQLite and PostgreSQL, before and after a restart.

Once a sender with a wrong clock wrote `battery_soc=99` 23 h ahead, current samples at
30 % (critical below 40) raised no alert and /latest kept showing 99 "nominal", even after
a restart (docs/alerts.md, "Samples ahead of the clock")."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, select, update

from backend import db
from backend.timeutil import format_time
from kazsat.stack import Stack
from tests.databases import database_url

NS = 1_000_000_000
KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
AHEAD_NS = 23 * 3600 * NS


@pytest.fixture(params=KINDS)
def stack(request, tmp_path) -> Iterator[Stack]:
    with database_url(request.param, tmp_path) as url:
        s = Stack(tmp_path / "data", extra_env={"KAZSAT_DATABASE_URL": url,
                                                "KAZSAT_STALE_ALERT_S": "0"})
        s.start_api()
        try:
            yield s
        finally:
            s.stop()


def soc(value: float, t: int) -> str:
    return f"power,satellite=kazsat-2 battery_soc={value} {t}"


def battery(stack: Stack) -> dict:
    with stack.client() as c:
        rows = c.get("/api/v1/latest", params={"satellite": "kazsat-2"}).json()["series"]
    return next(r for r in rows if r["parameter"] == "battery_soc")


def battery_alerts(stack: Stack) -> list[dict]:
    with stack.client() as c:
        alerts = c.get("/api/v1/alerts", params={"satellite": "kazsat-2"}).json()["alerts"]
    return [a for a in alerts if a["parameter"] == "battery_soc"]


def write_critical(stack: Stack, start: int, n: int = 6) -> int:
    """n samples at 30 % one second apart from start (persistence is 5); the last time."""
    body = "\n".join(soc(30.0, start + i * NS) for i in range(n))
    assert stack.write(body).status_code == 204
    return start + (n - 1) * NS


def test_future_sample_does_not_silence_limit_checking(stack):
    now = time.time_ns()
    assert stack.write(soc(99.0, now + AHEAD_NS)).status_code == 204  # stored, for replay
    last = write_critical(stack, now - 3 * NS)  # the last 2 s ahead: skew, not stale yet

    row = battery(stack)
    assert (row["value"], row["state"], row["time"]) == (30.0, "critical", format_time(last))
    [alert] = battery_alerts(stack)
    assert (alert["severity"], alert["value"]) == ("critical", 30.0)
    with stack.client() as c:  # the future sample is history, there for replay
        at = c.get("/api/v1/latest", params={"satellite": "kazsat-2",
                                             "at": format_time(now + AHEAD_NS + NS)}).json()
    assert next(r for r in at["series"] if r["parameter"] == "battery_soc")["value"] == 99.0

    stack.api.stop()
    stack.start_api()
    assert battery(stack)["value"] == 30.0
    last = write_critical(stack, time.time_ns(), n=1)
    row = battery(stack)
    assert (row["value"], row["state"], row["time"]) == (30.0, "critical", format_time(last))
    assert [a["id"] for a in battery_alerts(stack)] == [alert["id"]]


def test_future_sample_before_a_restart_does_not_stand(stack):
    """Nothing live yet: the future sample is the newest one stored, and still not the
    present, after a restart too; current critical samples then raise the alert."""
    now = time.time_ns()
    assert stack.write(soc(99.0, now + AHEAD_NS)).status_code == 204
    with stack.client() as c:
        rows = c.get("/api/v1/latest", params={"satellite": "kazsat-2"}).json()["series"]
    assert "battery_soc" not in [r["parameter"] for r in rows]

    stack.api.stop()
    stack.start_api()
    write_critical(stack, time.time_ns() - 10 * NS)
    assert battery(stack)["value"] == 30.0
    assert [a["severity"] for a in battery_alerts(stack)] == ["critical"]


def test_future_row_left_in_the_latest_table_is_repaired_at_start(stack):
    """A database damaged before this rule (its latest row 23 h ahead) is repaired when
    the API starts: the row goes back to the newest sample of the present."""
    now = time.time_ns()
    write_critical(stack, now - 100 * NS, n=1)
    assert stack.write(soc(99.0, now + AHEAD_NS)).status_code == 204
    stack.api.stop()
    engine = create_engine(stack.env["KAZSAT_DATABASE_URL"])
    with engine.begin() as conn:  # what an older version left: the future row in latest
        sid = conn.execute(select(db.latest.c.series_id)
                           .where(db.latest.c.t == now - 100 * NS)).scalar_one()
        conn.execute(update(db.latest).where(db.latest.c.series_id == sid)
                     .values(t=now + AHEAD_NS, value=99.0))
    engine.dispose()

    stack.start_api()
    row = battery(stack)
    assert (row["value"], row["time"]) == (30.0, format_time(now - 100 * NS))
    write_critical(stack, time.time_ns() - 10 * NS)
    assert [a["severity"] for a in battery_alerts(stack)] == ["critical"]


def test_late_samples_in_the_past_still_count_as_history(stack):
    """Out-of-order samples behind the newest live one are stored and leave the live
    state alone, as before."""
    now = time.time_ns()
    assert stack.write(soc(80.0, now)).status_code == 204
    write_critical(stack, now - 60 * NS)
    row = battery(stack)
    assert (row["value"], row["state"]) == (80.0, "nominal")
    assert battery_alerts(stack) == []


def test_sample_within_the_clock_tolerance_is_live(stack):
    """A sender a second or two ahead (ordinary clock skew) is the present."""
    t = time.time_ns() + 2 * NS
    assert stack.write(soc(97.0, t)).status_code == 204
    assert battery(stack)["time"] == format_time(t)


def test_ingest_names_samples_ahead_of_the_clock(stack):
    r = stack.write(soc(99.0, time.time_ns() + AHEAD_NS))
    assert r.status_code == 204
    deadline = time.monotonic() + 30
    while "ahead of the server clock" not in stack.api.log():
        assert time.monotonic() < deadline, stack.api.log()
        time.sleep(0.05)
