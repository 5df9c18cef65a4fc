"""The escalation ladder against a real SMTP server, on a test clock: tiers paged at their
delays while nobody acknowledges, stopped by an acknowledgement, owed steps kept across a
SIGKILL of the API, a test page through the whole ladder; and the ladder file's checks."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from backend import db
from backend.ladder import LadderError, load_ladder
from backend.mission import load_mission
from backend.services import Services, build_services
from backend.settings import Settings
from backend.store.base import NS
from kazsat.stack import Stack
from tests.databases import STORES, database_url
from tests.smtp_catcher import SmtpCatcher, wait_for
from tests.test_email import FAST, deliver, ingest, lines

MIN = 60 * NS
LADDER = {"ladders": [
    {"severity": "critical", "entity": "kazsat-2", "tiers": [
        {"after_min": 0, "to": ["duty@example.org"]},
        {"after_min": 10, "to": ["lead@example.org"]},
        {"after_min": 30, "to": ["manager@example.org"]}]},
    {"severity": "critical", "tiers": [
        {"after_min": 0, "to": ["duty@example.org"]},
        {"after_min": 15, "to": ["lead@example.org"]}]},
]}
BUS2 = "power,satellite=kazsat-2"


@pytest.fixture
def smtp() -> Iterator[SmtpCatcher]:
    catcher = SmtpCatcher()
    yield catcher
    catcher.stop()


@pytest.fixture
def ladder_file(tmp_path: Path) -> Path:
    path = tmp_path / "escalation.yaml"
    path.write_text(yaml.safe_dump(LADDER))
    return path


def env_for(smtp: SmtpCatcher, ladder_file: Path) -> dict[str, str]:
    # Alert email goes to ops only: every other address is the ladder's.
    return {**FAST, **smtp.env, "KAZSAT_EMAIL_TO": "ops@example.org",
            "KAZSAT_EMAIL_TO_CRITICAL": "", "KAZSAT_EMAIL_TO_ENTITY": "{}",
            "KAZSAT_ESCALATION_FILE": str(ladder_file)}


@pytest.fixture
def local(tmp_path: Path, smtp: SmtpCatcher, store_env: dict[str, str], ladder_file: Path,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Services]]:
    """make(**env) -> Services over one database (SQLite, then PostgreSQL) with the ladder,
    no background threads: the test ticks the alarm server and runs the sender."""
    made: list[Services] = []

    def make(**env: str) -> Services:
        for key, value in {**env_for(smtp, ladder_file),
                           "KAZSAT_DATA_DIR": str(tmp_path / "data"), **store_env,
                           **env}.items():
            monkeypatch.setenv(key, value)
        made.append(build_services(Settings(_env_file=None)))
        return made[-1]

    yield make
    for services in made:
        services.close()


def pages(smtp: SmtpCatcher) -> list[tuple[str, str]]:
    """(recipient, subject) of each message the ladder sent, in arrival order."""
    return [(m.recipients[0], m.subject) for m in smtp.messages()
            if "-page-" in m.message_id]


def steps(services: Services, alert_id: int) -> list[tuple[int, str, str | None]]:
    return [(s["tier"], s["state"], s["reason"])
            for s in services.alerts.get(alert_id)["escalation"]]


def test_the_ladder_pages_each_tier_at_its_delay_until_acknowledged(
        local: Callable[..., Services], smtp: SmtpCatcher) -> None:
    smtp.start()
    services = local()
    book = services.alerts
    t0 = time.time_ns()
    ingest(services, BUS2, "bus_voltage", [104.0] * 3, t0 - 3 * NS)  # critical, alert 1
    raised = time.time_ns()
    assert steps(services, 1) == [(1, "owed", None), (2, "owed", None), (3, "owed", None)]
    book.tick(raised)
    deliver(services, raised)
    subject = "CRITICAL tier 1: KazSat-2 Bus voltage 104.00 V > 103 V"
    assert pages(smtp) == [("duty@example.org", subject)]
    # The ordinary alert email went to ops, and the page threads onto it.
    [alert_mail] = [m for m in smtp.messages() if "-raised-" in m.message_id]
    assert alert_mail.recipients == ["ops@example.org"]
    page = next(m for m in smtp.messages() if "-page-" in m.message_id)
    assert page.message["In-Reply-To"] == alert_mail.message_id
    assert "Tier 1 of 3: you are paged first for this alert." in page.text()
    assert "104.00 V" in page.text() and "Tier 1 of 3" in page.html()

    book.tick(raised + 9 * MIN)  # nothing due before 10 min
    deliver(services, raised + 9 * MIN)
    assert len(pages(smtp)) == 1
    book.tick(raised + 10 * MIN)
    deliver(services, raised + 10 * MIN)
    assert [to for to, _ in pages(smtp)] == ["duty@example.org", "lead@example.org"]
    tier2 = [m for m in smtp.messages() if "-page-" in m.message_id][1]
    assert tier2.subject.startswith("CRITICAL tier 2: ")
    assert ("Tier 2 of 3: nobody has acknowledged this alert 10 min after it reached "
            "critical.") in tier2.text()
    escalation = book.get(1)["escalation"]
    assert [s["state"] for s in escalation] == ["paged", "paged", "owed"]
    assert all(s["delivered"] for s in escalation[:2])  # the SMTP server took them

    book.acknowledge(1, "aigerim", "operator", "on it")
    assert steps(services, 1)[2] == (3, "stopped", "acknowledged by aigerim")
    book.tick(raised + 31 * MIN)
    deliver(services, raised + 31 * MIN)
    assert len(pages(smtp)) == 2  # the manager was not paged
    # Each page once, each with its own Message-ID.
    assert len({m.message_id for m in smtp.messages()}) == len(smtp.messages()) == 3


def test_a_cleared_alert_stops_its_ladder_and_an_escalation_starts_the_higher_one(
        local: Callable[..., Services], smtp: SmtpCatcher, tmp_path: Path) -> None:
    smtp.start()
    # A warning ladder for any entity, and the critical ones above.
    ladder = {"ladders": [*LADDER["ladders"], {"severity": "warning", "tiers": [
        {"after_min": 5, "to": ["warn-duty@example.org"]}]}]}
    path = tmp_path / "warn.yaml"
    path.write_text(yaml.safe_dump(ladder))
    services = local(KAZSAT_ESCALATION_FILE=str(path))
    book = services.alerts
    t0 = time.time_ns() - 20 * NS
    # battery_temp: warning high 25, critical high 30 (persistence 2).
    ingest(services, BUS2, "battery_temp", [27.0] * 2, t0)  # warning: alert 1
    assert steps(services, 1) == [(1, "owed", None)]
    ingest(services, BUS2, "battery_temp", [31.0] * 2, t0 + 2 * NS)  # escalated to critical
    assert steps(services, 1) == [(1, "stopped", "escalated to critical"), (1, "owed", None),
                                  (2, "owed", None), (3, "owed", None)]
    now = time.time_ns()
    book.tick(now)
    deliver(services, now)
    assert [to for to, _ in pages(smtp)] == ["duty@example.org"]
    ingest(services, BUS2, "battery_temp", [20.0] * 2, t0 + 4 * NS)  # cleared
    assert [s[1:] for s in steps(services, 1)[2:]] == [("stopped", "cleared")] * 2
    book.tick(now + 60 * MIN)
    deliver(services, now + 60 * MIN)
    assert [to for to, _ in pages(smtp)] == ["duty@example.org"]


def test_owed_steps_survive_a_sigkill_of_the_api_between_tiers(
        tmp_path: Path, smtp: SmtpCatcher, store_env: dict[str, str],
        ladder_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    smtp.start()
    env = {**env_for(smtp, ladder_file), **store_env}
    stack = Stack(tmp_path / "data", extra_env=env)
    stack.start_api()
    try:
        raised = time.time_ns()
        r = stack.write(lines(BUS2, "bus_voltage", [104.0] * 3, raised - 3 * NS))
        assert r.status_code == 204, r.text
        # Tier 1 is paged by the API's own tick and delivered by its sender.
        wait_for(lambda: pages(smtp), what="tier 1 paged by the running API")
        with stack.client() as c:
            assert [s["state"] for s in c.get("/api/v1/alerts/1").json()["escalation"]] == \
                   ["paged", "owed", "owed"]
        stack.api.stop(kill=True)  # SIGKILL: tier 2 (at 10 min) is owed
    finally:
        stack.stop()
    # The API as it starts again over the same database, ticked on the test clock.
    for key, value in {**env, "KAZSAT_DATA_DIR": str(tmp_path / "data")}.items():
        monkeypatch.setenv(key, value)
    again = build_services(Settings(_env_file=None))
    try:
        again.alerts.tick(raised + 5 * MIN)
        deliver(again, raised + 5 * MIN)
        assert [to for to, _ in pages(smtp)] == ["duty@example.org"]  # tier 1 not repeated
        again.alerts.tick(raised + 11 * MIN)
        deliver(again, raised + 11 * MIN)
        again.alerts.tick(raised + 12 * MIN)
        deliver(again, raised + 12 * MIN)
        assert [to for to, _ in pages(smtp)] == ["duty@example.org", "lead@example.org"]
        assert [s["state"] for s in again.alerts.get(1)["escalation"]] == \
               ["paged", "paged", "owed"]
        with again.engine.connect() as conn:
            queued = Counter(r.kind for r in conn.execute(select(db.outbox)))
        assert queued == {"raised": 1, "page": 2}
    finally:
        again.close()


def test_a_test_page_runs_the_whole_ladder_and_shows_each_delivery(
        tmp_path: Path, smtp: SmtpCatcher, store_env: dict[str, str],
        ladder_file: Path) -> None:
    smtp.start()
    stack = Stack(tmp_path / "data", extra_env={**env_for(smtp, ladder_file), **store_env})
    stack.start_api()
    try:
        with stack.client("engineer") as c:
            r = c.post("/api/v1/escalation/test",
                       json={"severity": "critical", "entity": "kazsat-2"})
            assert r.status_code == 200, r.text
            test = r.json()
            assert [(s["tier"], s["state"], s["to"]) for s in test["steps"]] == [
                (1, "paged", ["duty@example.org"]), (2, "paged", ["lead@example.org"]),
                (3, "paged", ["manager@example.org"])]

            def confirmed() -> dict | None:
                body = c.get(f"/api/v1/escalation/tests/{test['test']}").json()
                return body if body["delivered"] else None

            done = wait_for(confirmed, what="every tier's delivery confirmed")
            assert all(s["delivered"] for s in done["steps"])
            # No ladder for warnings: said, nothing sent.
            r = c.post("/api/v1/escalation/test", json={"severity": "warning"})
            assert r.status_code == 400 and "no escalation ladder covers warning" in r.text
            r = c.post("/api/v1/escalation/test", json={"entity": "kazsat-9"})
            assert r.status_code == 400 and "kazsat-9" in r.text
            audit = c.get("/api/v1/audit", params={"action": "escalation.test"}).json()
            assert len(audit["audit"]) == 1
        with stack.client("operator") as c:  # an engineer's tool
            assert c.post("/api/v1/escalation/test", json={}).status_code == 403
        got = smtp.messages()
        assert sorted(m.recipients[0] for m in got) == ["duty@example.org", "lead@example.org",
                                                        "manager@example.org"]
        tier2 = next(m for m in got if m.recipients == ["lead@example.org"])
        assert tier2.subject == "TEST tier 2: critical alerts on KazSat-2"
        assert "no action is needed" in tier2.text()
        assert "in a real alert you are paged 10 min after an alert is raised" in tier2.text()
    finally:
        stack.stop()


@pytest.mark.parametrize(("ladder", "message"), [
    ({"ladders": [{"tiers": []}]}, "ladders[0].tiers: List should have at least 1 item"),
    ({"ladders": [{"tiers": [{"after_min": 5, "to": ["a@x"]},
                             {"after_min": 5, "to": ["b@x"]}]}]},
     "ladders[0]: Value error, tiers' after_min must rise"),
    ({"ladders": [{"tiers": [{"after_min": 0, "to": ["not an address"]}]}]},
     "ladders[0].tiers[0].to: Value error, 'not an address' is not an email address"),
    ({"ladders": [{"severity": "urgent", "tiers": [{"after_min": 0, "to": ["a@x"]}]}]},
     "ladders[0].severity: Input should be 'warning' or 'critical'"),
    ({"ladders": [{"entity": "kazsat-9", "tiers": [{"after_min": 0, "to": ["a@x"]}]}]},
     "ladders[0].entity: 'kazsat-9' is no satellite or station of the mission"),
    ({"ladders": [{"tiers": [{"after": 0, "to": ["a@x"]}]}]},
     "ladders[0].tiers[0].after: Extra inputs are not permitted"),
])
def test_a_broken_ladder_file_is_refused_saying_where(tmp_path: Path, ladder: dict,
                                                      message: str) -> None:
    mission = load_mission(Settings(_env_file=None).mission_file)
    path = tmp_path / "escalation.yaml"
    path.write_text(yaml.safe_dump(ladder))
    with pytest.raises(LadderError) as caught:
        load_ladder(path, mission)
    assert str(caught.value).startswith(f"escalation file {path}: ")
    assert message in str(caught.value), str(caught.value)


def test_the_most_specific_ladder_applies(ladder_file: Path) -> None:
    config = load_ladder(ladder_file, load_mission(Settings(_env_file=None).mission_file))
    assert len(config.tiers_for("critical", "kazsat-2", None)) == 3
    assert len(config.tiers_for("critical", "kazsat-3", "akkol")) == 2
    assert config.tiers_for("warning", "kazsat-2", None) == []


@pytest.fixture(params=STORES)
def two_sites(request: pytest.FixtureRequest, tmp_path: Path, smtp: SmtpCatcher,
              ladder_file: Path,
              monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Services, Services]]:
    """Two API processes' services (Akkol's and Kokterek's) on one database."""
    monkeypatch.delenv("KAZSAT_DATABASE_URL", raising=False)
    with database_url(request.param, tmp_path) as url:
        for key, value in env_for(smtp, ladder_file).items():
            monkeypatch.setenv(key, value)
        made = [build_services(Settings(_env_file=None, data_dir=tmp_path / name,
                                        database_url=url)) for name in ("akkol", "kokterek")]
        yield made[0], made[1]
        for s in made:
            s.close()


def test_an_acknowledgement_at_the_other_site_stops_the_ladder(
        two_sites: tuple[Services, Services], smtp: SmtpCatcher) -> None:
    smtp.start()
    akkol, kokterek = two_sites  # Akkol holds the duties: its tick pages
    ingest(akkol, BUS2, "bus_voltage", [104.0] * 3, time.time_ns() - 3 * NS)
    raised = time.time_ns()
    akkol.alerts.tick(raised)
    deliver(akkol, raised)
    kokterek.alerts.acknowledge(1, "dana", "operator", "at Kokterek")
    akkol.alerts.tick(raised + 40 * MIN)
    deliver(akkol, raised + 40 * MIN)
    assert [to for to, _ in pages(smtp)] == ["duty@example.org"]
    assert steps(akkol, 1) == [(1, "paged", None), (2, "stopped", "acknowledged by dana"),
                               (3, "stopped", "acknowledged by dana")]


def test_alerts_due_to_the_same_people_at_once_make_one_page(
        local: Callable[..., Services], smtp: SmtpCatcher) -> None:
    smtp.start()
    services = local()
    t0 = time.time_ns() - 5 * NS
    ingest(services, BUS2, "bus_voltage", [104.0] * 3, t0)  # KazSat-2's ladder
    ingest(services, "power,satellite=kazsat-3", "bus_voltage", [105.0] * 3, t0)  # any's
    now = time.time_ns()
    services.alerts.tick(now)
    deliver(services, now)
    [page] = [m for m in smtp.messages() if "-pages-" in m.message_id]
    assert page.recipients == ["duty@example.org"]
    assert page.subject == "CRITICAL tier 1: 2 alerts unacknowledged"
    body = page.text()
    assert "CRITICAL KazSat-2 Bus voltage 104.00 V > 103 V  (alert 1," in body, body
    assert "CRITICAL KazSat-3 Bus voltage 105.00 V > 103 V  (alert 2," in body, body
    # Each alert's step names the one message, and its delivery.
    for alert_id in (1, 2):
        first = services.alerts.get(alert_id)["escalation"][0]
        assert (first["state"], first["message_id"]) == ("paged", page.message_id)
        assert first["delivered"]
    # Their second tiers fall due apart (10 and 15 min): a page each.
    services.alerts.tick(now + 10 * MIN)
    deliver(services, now + 10 * MIN)
    services.alerts.tick(now + 15 * MIN)
    deliver(services, now + 15 * MIN)
    assert [(to, s.split(":")[0]) for to, s in pages(smtp)] == [
        ("lead@example.org", "CRITICAL tier 2"), ("lead@example.org", "CRITICAL tier 2")]
