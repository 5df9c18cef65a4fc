"""The alarm server's parts on their own, in this process over SQLite: each keeps its own
lock (operator actions never wait on the limit checker), the stale watch checks without the
server, alert facts come from the open alert, and changes the database refused are recorded
once it answers again."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, text

from backend import db
from backend.alerts import OpenAlert
from backend.api.write import ingest_text
from backend.notify import AlertFacts
from backend.services import Services, build_services
from backend.settings import Settings
from backend.stale import StaleWatch
from backend.store.base import NS, Batch

BUS = "power,satellite=kazsat-2"


@pytest.fixture
def services(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Services]:
    monkeypatch.delenv("KAZSAT_DATABASE_URL", raising=False)
    built = build_services(Settings(_env_file=None, data_dir=tmp_path / "data",
                                    stale_alert_s=0, email_to=["ops@example.org"]))
    yield built
    built.close()


def breach(services: Services, values: list[float], t0: int) -> None:
    body = "\n".join(f"{BUS} bus_voltage={v} {t0 + i * NS}" for i, v in enumerate(values))
    ingest_text(services, body, "ns")


def test_operator_actions_do_not_wait_on_the_limit_checker(services: Services) -> None:
    breach(services, [104.0] * 3, time.time_ns() - 60 * NS)  # alert 1, critical
    held, release = threading.Event(), threading.Event()

    def hold_checker() -> None:
        with services.limits.lock:  # as a long ingest batch would
            held.set()
            release.wait(120)

    threading.Thread(target=hold_checker, daemon=True).start()
    assert held.wait(30)
    got: dict = {}

    def operate() -> None:
        got["ack"] = services.alerts.acknowledge(1, "op", "operator", "seen")
        got["shelf"] = services.alerts.shelve(1, "op", "operator", 5, "maintenance")
        services.alerts.tick()
        got["counts"] = services.alerts.counts()

    worker = threading.Thread(target=operate, daemon=True)
    worker.start()
    worker.join(60)
    release.set()
    assert not worker.is_alive(), "an operator action waited on the limit checker's lock"
    assert got["ack"]["acked_by"] == "op" and got["shelf"]["shelved_until"] is not None
    assert got["counts"] == {"unacknowledged": 0, "unacknowledged_warning": 0,
                             "unacknowledged_critical": 0, "active": 1}


def test_the_stale_watch_says_stopped_and_resumed_from_the_checkers_sample_times(
        services: Services) -> None:
    watch = StaleWatch(services.mission, services.registry.by_id, 30.0,
                       services.limits.newest_t)
    bus = services.registry.find("kazsat-2", None, "bus_voltage")
    t0 = time.time_ns() - 3600 * NS
    services.limits.observe(Batch([bus.id], [t0], [100.0]), t0)
    assert watch.check(t0) == ([], [])  # first look: nothing seen before
    stopped, resumed = watch.check(t0 + 31 * NS)
    # Only kazsat-2 has ever sent: the others are not watched.
    assert [(s.entity.satellite, s.newest_t) for s in stopped] == [("kazsat-2", t0)]
    assert resumed == []
    assert watch.check(t0 + 32 * NS)[0] == stopped  # said while it holds
    services.limits.observe(Batch([bus.id], [t0 + 40 * NS], [100.0]), t0 + 40 * NS)
    stopped, resumed = watch.check(t0 + 41 * NS)
    assert stopped == [] and [e.satellite for e in resumed] == ["kazsat-2"]
    assert watch.check(t0 + 42 * NS) == ([], [])


def test_alert_facts_are_the_open_alerts_own_fields() -> None:
    alert = OpenAlert(7, "limit", 3, "kazsat-3", None, "tank_temp", "critical", "warning",
                      7.5, "critical low 8 °C", 10, 20, acked=True, shelved_until_t=99)
    assert alert.facts(15, cleared_t=30) == AlertFacts(
        7, "limit", "kazsat-3", None, "tank_temp", "critical", "warning", 7.5,
        "critical low 8 °C", 10, 20, cleared_t=30, event_t=15)


def test_changes_the_database_refused_are_recorded_and_emailed_when_it_answers(
        services: Services) -> None:
    with services.engine.begin() as conn:  # the alert table is away: every write fails
        conn.execute(text("ALTER TABLE alerts RENAME TO alerts_away"))
    breach(services, [104.0] * 3, time.time_ns() - 60 * NS)  # stored; the alert waits
    assert services.store.latest()[services.registry.find(
        "kazsat-2", None, "bus_voltage").id][1] == 104.0
    services.alerts.tick()  # still refused: still waiting
    with services.engine.begin() as conn:
        conn.execute(text("ALTER TABLE alerts_away RENAME TO alerts"))
    services.alerts.tick()
    assert services.alerts.counts()["active"] == 1
    [alert] = services.alerts.list_alerts()
    assert (alert["parameter"], alert["severity"]) == ("bus_voltage", "critical")
    with services.engine.connect() as conn:
        mail = conn.execute(select(db.outbox.c.alert_id, db.outbox.c.kind)).all()
    assert [tuple(m) for m in mail] == [(alert["id"], "raised")]  # once, not lost
