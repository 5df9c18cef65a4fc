"""The alarm server's parts on their own, in this process: two API processes on one
database (SQLite and PostgreSQL) keep one alarm state, the stale watch checks without the
server, alert facts come from the open alert, and a batch whose alert changes cannot be
recorded is not stored either."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, text

from backend import db, overrides
from backend.alerts import OpenAlert
from backend.api.write import ingest_text
from backend.mission import Band, Limits
from backend.notify import AlertFacts
from backend.services import Services, build_services
from backend.settings import Settings
from backend.stale import StaleWatch
from backend.store.base import NS, Batch, StoreUnavailable
from tests.databases import STORES, database_url

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


@pytest.fixture(params=STORES)
def two_sites(request: pytest.FixtureRequest, tmp_path: Path,
              monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Services, Services]]:
    """Two API processes' services (Akkol's and Kokterek's) on one database."""
    monkeypatch.delenv("KAZSAT_DATABASE_URL", raising=False)
    with database_url(request.param, tmp_path) as url:
        made = [build_services(Settings(_env_file=None, data_dir=tmp_path / name,
                                        database_url=url, stale_alert_s=0,
                                        alert_email_interval_s=0,
                                        email_to=["ops@example.org"]))
                for name in ("akkol", "kokterek")]
        yield made[0], made[1]
        for s in made:
            s.close()


def test_two_api_processes_on_one_database_keep_one_alarm_state(
        two_sites: tuple[Services, Services]) -> None:
    akkol, kokterek = two_sites
    t0 = time.time_ns() - 60 * NS
    # Persistence 3: two samples at Akkol, the third at Kokterek raises it, once.
    breach(akkol, [104.0] * 2, t0)
    assert kokterek.alerts.counts()["active"] == 0
    breach(kokterek, [104.0], t0 + 2 * NS)
    assert akkol.alerts.counts()["active"] == kokterek.alerts.counts()["active"] == 1
    # Both sites' feeds send the same samples: the first stands and is checked once.
    breach(akkol, [104.0] * 3, t0 + 3 * NS)
    breach(kokterek, [104.0] * 3, t0 + 3 * NS)
    [alert] = akkol.alerts.list_alerts("all")
    assert (alert["id"], alert["severity"]) == (1, "critical")
    # Acknowledged at Kokterek: acknowledged at Akkol.
    kokterek.alerts.acknowledge(1, "op", "operator", "seen at Kokterek")
    assert akkol.alerts.counts()["unacknowledged"] == 0
    # Cleared by Akkol's sample; shelved meanwhile by Kokterek: a new breach ingested at
    # Akkol is born shelved.
    kokterek.alerts.shelve(1, "op", "operator", 30, "maintenance")
    breach(akkol, [100.0], t0 + 6 * NS)
    assert kokterek.alerts.counts()["active"] == 0
    breach(akkol, [104.0] * 3, t0 + 7 * NS)
    assert akkol.alerts.get(2)["shelved_until"] is not None
    akkol.alerts.shelve(2, "op", "operator", 0, "maintenance over")  # off the shelf
    # A limit changed at Kokterek applies to what Akkol checks next.
    bus = akkol.mission.parameters["bus_voltage"]
    overrides.set_override(kokterek.alerts, bus, Limits(critical=Band(low=90.0, high=110.0)),
                           "eng", "engineer", removing={"warning.low", "warning.high"})
    breach(akkol, [105.0], t0 + 10 * NS)  # inside the new band: clears alert 2
    assert [a["id"] for a in kokterek.alerts.list_alerts("active")] == []
    breach(akkol, [111.0] * 3, t0 + 11 * NS)
    assert [a["severity"] for a in kokterek.alerts.list_alerts("active")] == ["critical"]
    with akkol.engine.connect() as conn:
        mail = conn.execute(select(db.outbox.c.alert_id, db.outbox.c.kind)
                            .order_by(db.outbox.c.id)).all()
    # Alert 1 raised (cleared on the shelf: no notice), alert 2 born shelved (no email;
    # cleared never emailed: no notice), alert 3 raised after the shelf came off.
    assert [tuple(m) for m in mail] == [(1, "raised"), (3, "raised")]


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


def test_a_batch_whose_alert_cannot_be_recorded_is_not_stored_and_counts_once_resent(
        services: Services) -> None:
    with services.engine.begin() as conn:  # the alert table is away: every write fails
        conn.execute(text("ALTER TABLE alerts RENAME TO alerts_away"))
    t0 = time.time_ns() - 60 * NS
    with pytest.raises(StoreUnavailable):
        breach(services, [104.0] * 3, t0)  # the API answers 503: nothing acknowledged
    bus = services.registry.find("kazsat-2", None, "bus_voltage")
    assert bus.id not in services.store.latest()  # nothing of the batch was kept
    with services.engine.begin() as conn:
        conn.execute(text("ALTER TABLE alerts_away RENAME TO alerts"))
    breach(services, [104.0] * 3, t0)  # the writer sends it again
    breach(services, [104.0] * 3, t0)  # and again: the first stands
    assert services.store.latest()[bus.id][1] == 104.0
    assert services.alerts.counts()["active"] == 1
    [alert] = services.alerts.list_alerts()
    assert (alert["parameter"], alert["severity"]) == ("bus_voltage", "critical")
    with services.engine.connect() as conn:
        mail = conn.execute(select(db.outbox.c.alert_id, db.outbox.c.kind)).all()
    assert [tuple(m) for m in mail] == [(alert["id"], "raised")]  # once, not lost
