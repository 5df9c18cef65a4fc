"""The monthly alarm-health report by email, against a real SMTP server on a test clock:
sent once when the month is over, its figures the month's measures (themselves checked
against the raw alert log in tests/test_alarm_health.py), with its plot inline."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from backend import db
from backend.alarm_health import measures
from backend.alarm_report import last_month, send_monthly
from backend.services import Services, build_services
from backend.settings import Settings
from backend.store.base import NS
from tests.smtp_catcher import SmtpCatcher
from tests.test_alarm_health import END, START, alert_log
from tests.test_email import FAST, deliver
from tests.test_email_content import mail_page


@pytest.fixture
def smtp() -> Iterator[SmtpCatcher]:
    catcher = SmtpCatcher().start()
    yield catcher
    catcher.stop()


@pytest.fixture
def services(tmp_path: Path, smtp: SmtpCatcher, store_env: dict[str, str],
             monkeypatch: pytest.MonkeyPatch) -> Iterator[Services]:
    for key, value in {**FAST, **smtp.env, "KAZSAT_DATA_DIR": str(tmp_path / "data"),
                       "KAZSAT_REPORT_EMAIL_TO": "chief@example.org, quality@example.org",
                       **store_env}.items():
        monkeypatch.setenv(key, value)
    built = build_services(Settings(_env_file=None))
    with built.engine.begin() as conn:
        conn.execute(db.alerts.insert(), alert_log(seed=17))
    yield built
    built.close()


def test_last_month_is_the_calendar_month_before() -> None:
    assert last_month(END + 30 * NS) == ("2026-11", START, END)
    jan = 1767225600 * NS  # 2026-01-01T00:00:00Z
    assert last_month(jan + 3600 * NS)[0] == "2025-12"


def test_the_month_is_reported_once_with_its_measures_and_plot(
        services: Services, smtp: SmtpCatcher, tmp_path: Path) -> None:
    now = END + 30 * NS  # 00:00:30 on the first of December
    sent = send_monthly(services.engine, services.settings, now)
    assert sent is not None and sent.startswith("<alarm-health-2026-11@")
    assert send_monthly(services.engine, services.settings, now + 60 * NS) is None
    deliver(services, now)
    [mail] = smtp.messages()
    assert sorted(mail.recipients) == ["chief@example.org", "quality@example.org"]
    m = measures(services.engine, START, END, 10, now)
    with services.engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(db.alerts).where(
            db.alerts.c.raised_t >= START, db.alerts.c.raised_t < END)).scalar_one()
    assert m["alarms"] == total == 700
    assert mail.subject == (f"Alarm health 2026-11: 700 alarms, in flood "
                            f"{m['flood']['percent']:g} % of the time")
    body = mail.text()
    assert f"Per 10 minutes:    {m['per_10min']['average']:g} on average, " \
           f"{m['per_10min']['peak']} at the peak" in body
    assert f"Stale alarms:      {len(m['stale'])} (open more than 24 h)" in body
    assert f"  {m['top10'][0]['raised']:>5}" in body
    assert "/alarm-health?month=2026-11" in body
    mail_page(mail, "alarm-health-report", tmp_path)
    # Another look next minute, or after a restart: nothing more.
    assert send_monthly(services.engine, services.settings, now + 3600 * NS) is None
    with services.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM outbox WHERE kind = 'report'")
                            ).scalar_one() == 1
