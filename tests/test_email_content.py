"""What an alert email holds, as a real SMTP server receives it: a plain-text and an HTML
part, the breach, the limit and the limit set in force (mission default or whose override),
an inline PNG of the hour before the breach with its limit lines (drawn server-side), the
replay link. The PNG and the HTML are saved in the test output to be looked at."""

from __future__ import annotations

import base64
import math
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from backend import db, overrides
from backend.mission import Band, Limits
from backend.services import Services, build_services
from backend.settings import Settings
from backend.store.base import NS
from kazsat.stack import ROOT
from tests.smtp_catcher import Received, SmtpCatcher
from tests.test_email import FAST, deliver, ingest

OUTPUT = ROOT / "artifacts" / "emails"  # ignored by git (artifacts/)
BUS2 = "power,satellite=kazsat-2"


@pytest.fixture
def smtp() -> Iterator[SmtpCatcher]:
    catcher = SmtpCatcher().start()
    yield catcher
    catcher.stop()


@pytest.fixture
def services(request: pytest.FixtureRequest, tmp_path: Path, smtp: SmtpCatcher,
             monkeypatch: pytest.MonkeyPatch) -> Iterator[Services]:
    """The backend in this process on SQLite (the email is the same on PostgreSQL); more
    settings by indirect parametrization."""
    extra = getattr(request, "param", {})
    for key, value in {**FAST, **smtp.env, "KAZSAT_DATA_DIR": str(tmp_path / "data"),
                       **extra}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("KAZSAT_DATABASE_URL", raising=False)
    built = build_services(Settings(_env_file=None))
    yield built
    built.close()


def an_hour_then_a_breach(services: Services, end: int) -> int:
    """An hour of bus voltage wandering inside its limits (one sample every 10 s), then
    three samples over the critical high: the alert is raised at the third; its time."""
    start = end - 3600 * NS
    values = [100.0 + 1.2 * math.sin(i / 20) for i in range(360)]
    body = "\n".join(f"{BUS2} bus_voltage={v:.3f} {start + i * 10 * NS}"
                     for i, v in enumerate(values))
    from backend.api.write import ingest_text

    ingest_text(services, body, "ns")
    ingest(services, BUS2, "bus_voltage", [103.6, 104.1, 104.4], end)
    return end + 2 * NS


def mail_page(mail: Received, name: str, folder: Path | None = None) -> Path:
    """The HTML as a mail client shows it (the inline image as a data URI) and the plot as
    a PNG, in artifacts/emails/ (and `folder`); the page's path."""
    html = mail.html()
    image = next(p for p in mail.message.walk() if p.get_content_type() == "image/png")
    png = image.get_content()
    cid = image["Content-ID"].strip("<>")
    page = html.replace(f"cid:{cid}", "data:image/png;base64," + base64.b64encode(png).decode())
    for where in (OUTPUT, *([folder] if folder else [])):
        where.mkdir(parents=True, exist_ok=True)
        (where / f"{name}.png").write_bytes(png)
        (where / f"{name}.html").write_text(page)
    return OUTPUT / f"{name}.html"


def test_an_alert_email_has_both_parts_the_limit_set_and_an_inline_plot(
        services: Services, smtp: SmtpCatcher, tmp_path: Path) -> None:
    end = time.time_ns() - 30 * NS
    raised = an_hour_then_a_breach(services, end)
    deliver(services)
    [mail] = smtp.messages()
    assert mail.message.get_content_type() == "multipart/alternative"
    text, html = mail.text(), mail.html()
    assert "Limit:     critical high 103 V" in text, text
    assert ("Limit set: warning 98.5–101.5 V, critical 97–103 V (mission default)"
            in text), text
    assert "Value:     104.40 V" in text and "/replay?satellite=kazsat-2" in text
    assert "critical 97–103 V (mission default)" in html
    # The plot: a related PNG part the HTML shows by its Content-ID.
    image = next(p for p in mail.message.walk() if p.get_content_type() == "image/png")
    png = image.get_content()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000
    assert f"cid:{image['Content-ID'].strip('<>')}" in html
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == (640, 240)
    mail_page(mail, "alert-raised", tmp_path)
    # Kept in the outbox: a resend carries the same image, not one drawn again.
    with services.engine.connect() as conn:
        row = conn.execute(select(db.outbox)).one()
    assert row.plot_png == png and f'"event_t": {raised}' in row.plot_json


def test_an_override_is_named_in_the_limit_set(services: Services,
                                              smtp: SmtpCatcher) -> None:
    p = services.mission.parameters["bus_voltage"]
    overrides.set_override(services.alerts, p, Limits(warning=Band(low=98.0, high=101.0),
                                                      critical=Band(low=97.0, high=102.0)),
                           "erlan", "engineer")
    ingest(services, BUS2, "bus_voltage", [103.0] * 3, time.time_ns() - 10 * NS)
    deliver(services)
    [mail] = smtp.messages()
    line = next(x for x in mail.text().splitlines() if x.startswith("Limit set:"))
    assert line.startswith("Limit set: warning 98–101 V, critical 97–102 V (override by "
                           "erlan since "), line


def test_an_alert_without_a_series_has_no_plot_and_no_placeholder(
        services: Services, smtp: SmtpCatcher) -> None:
    services.alerts.cluster_alert("redundancy lost: the Kokterek database is not replicating")
    deliver(services)
    [mail] = smtp.messages()
    assert "redundancy lost" in mail.subject
    assert not any(p.get_content_type() == "image/png" for p in mail.message.walk())
    assert "kazsat-plot" not in mail.html() and "Limit set" not in mail.text()
