"""Alarm floods against a real SMTP server, on a test clock: past the ISA-18.2 threshold
(more than 10 alarms in 10 minutes) alert email becomes digests grouped by satellite,
station and subsystem, most severe first; a restart keeps what is owed to a digest."""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from backend import db
from backend.services import Services, build_services
from backend.settings import Settings
from backend.store.base import NS
from tests.smtp_catcher import SmtpCatcher
from tests.test_email import FAST, deliver, ingest

# 50 alarms: KazSat-3's 28 TWTA helix currents critical, KazSat-2's 16 warning, KazSat-2's
# four wheels critical, two of KazSat-3's warning (persistence 2 or 3: raised by the last).
ALARMS = ([("payload,satellite=kazsat-3", f"twta_{n}_helix_current", 11.0, 2)
           for n in range(1, 29)]
          + [("payload,satellite=kazsat-2", f"twta_{n}_helix_current", 9.0, 2)
             for n in range(1, 17)]
          + [("aocs,satellite=kazsat-2", f"wheel_{n}_speed", 6500.0, 3) for n in range(1, 5)]
          + [("aocs,satellite=kazsat-3", f"wheel_{n}_speed", 5700.0, 3) for n in range(1, 3)])
DIGEST_ID = re.compile(r"^<digest-\d+-\d+\.\d+@kazsat\.local>$")


@pytest.fixture
def smtp() -> Iterator[SmtpCatcher]:
    catcher = SmtpCatcher()
    yield catcher
    catcher.stop()


@pytest.fixture
def local(tmp_path: Path, smtp: SmtpCatcher, store_env: dict[str, str],
          monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Services]]:
    """make() -> Services over one database (SQLite, then PostgreSQL), no background
    threads: the test ticks the alarm server and runs the sender."""
    made: list[Services] = []

    def make() -> Services:
        for key, value in {**FAST, **smtp.env, "KAZSAT_DATA_DIR": str(tmp_path / "data"),
                           "KAZSAT_EMAIL_TO_ENTITY": "{}", **store_env}.items():
            monkeypatch.setenv(key, value)
        made.append(build_services(Settings(_env_file=None)))
        return made[-1]

    yield make
    for services in made:
        services.close()


def flood(services: Services, alarms: list[tuple[str, str, float, int]], t0: int) -> None:
    """The alarms in a minute: one every 1.2 s of telemetry time."""
    for i, (key, field, value, samples) in enumerate(alarms):
        ingest(services, key, field, [value] * samples, t0 + int(i * 1.2 * NS))


def alerts_raised(services: Services) -> int:
    with services.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(db.alerts)).scalar_one())


def test_fifty_alarms_in_a_minute_make_digests_not_fifty_emails(
        local: Callable[..., Services], smtp: SmtpCatcher) -> None:
    smtp.start()
    services = local()
    before = time.time_ns()  # each item is queued at the server time of its ingest
    flood(services, ALARMS, before - 70 * NS)
    assert alerts_raised(services) == 50
    now = time.time_ns()
    assert services.alerts.flood(now) == {"active": True, "alarms": 50, "threshold": 10,
                                          "window_s": 600.0}
    services.alerts.tick(now)
    deliver(services, now)
    # The first ten were emailed one by one; the 11th started the flood.
    alone = smtp.messages()
    assert len(alone) == 10 and not any(DIGEST_ID.match(m.message_id) for m in alone)
    services.alerts.tick(before + 119 * NS)  # no item has waited 120 s yet
    deliver(services, before + 119 * NS)
    assert len(smtp.messages()) == 10
    services.alerts.tick(now + 121 * NS)
    deliver(services, now + 121 * NS)
    digests = [m for m in smtp.messages() if DIGEST_ID.match(m.message_id)]
    # One digest per address: ops gets every alarm, chief the critical ones.
    assert sorted(m.recipients[0] for m in digests) == ["chief@example.org",
                                                        "ops@example.org"]
    assert len(smtp.messages()) == 12
    ops = next(m for m in digests if m.recipients == ["ops@example.org"])
    chief = next(m for m in digests if m.recipients == ["chief@example.org"])
    # Of the 40 digested: 18 KazSat-3 helix critical, 16 KazSat-2 helix warning, 4 wheels
    # critical, 2 wheels warning.
    assert ops.subject == "FLOOD 40 alarms, 22 critical: KazSat-3 Payload ×18 +3 more"
    assert chief.subject == ("FLOOD 22 alarms, 22 critical: KazSat-3 Payload ×18 "
                             "+1 more")
    text = ops.text()
    headers = [line for line in text.splitlines() if " · " in line and line.endswith(")")]
    assert headers == ["KazSat-3 · Payload (18)", "KazSat-2 · Attitude (AOCS) (4)",
                       "KazSat-2 · Payload (16)", "KazSat-3 · Attitude (AOCS) (2)"]
    # Most severe first: in each group, by severity, then time; every alarm once.
    assert text.count("twta_") == 34 and text.count("wheel_") == 6
    assert "CRITICAL  twta_11_helix_current  11.00 mA  critical high 10 mA" in text, text
    html = ops.html()
    assert "KazSat-3 · Payload (18)" in html and "twta_28_helix_current" in html
    # Digested alerts are done: no owed message, no cleared notice.
    for n in range(10):
        services.alerts.tick(now + (200 + n) * NS)
        deliver(services, now + (200 + n) * NS)
    assert len(smtp.messages()) == 12


def test_what_is_owed_to_a_digest_survives_a_restart(
        local: Callable[..., Services], smtp: SmtpCatcher) -> None:
    smtp.start()
    first = local()
    t0 = time.time_ns() - 70 * NS
    flood(first, ALARMS[:20], t0)  # ten alone, ten for the digest
    now = time.time_ns()
    first.alerts.tick(now)
    deliver(first, now)
    assert len(smtp.messages()) == 10
    first.close()
    again = local()
    again.alerts.tick(now + 121 * NS)
    deliver(again, now + 121 * NS)
    digests = [m for m in smtp.messages() if DIGEST_ID.match(m.message_id)]
    assert Counter(m.recipients[0] for m in digests) == {"ops@example.org": 1,
                                                         "chief@example.org": 1}
    assert all(m.subject.startswith("FLOOD 10 alarms, 10 critical") for m in digests)
    # After the restart nothing digested is emailed again on its own.
    again.alerts.tick(now + 600 * NS)
    deliver(again, now + 600 * NS)
    assert len(smtp.messages()) == 12


def test_below_the_threshold_each_alarm_has_its_own_email(
        local: Callable[..., Services], smtp: SmtpCatcher) -> None:
    smtp.start()
    services = local()
    flood(services, ALARMS[:10], time.time_ns() - 70 * NS)
    now = time.time_ns()
    assert services.alerts.flood(now)["active"] is False
    services.alerts.tick(now + 300 * NS)
    deliver(services, now + 300 * NS)
    assert len(smtp.messages()) == 10
