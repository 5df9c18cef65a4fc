"""The shift report by email at each shift change, against a real SMTP server on a test
clock: queued once per shift, kept through an SMTP outage and sent with the same
Message-ID, its figures those of the raw alert log and samples, its PDF attached."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import text

from backend import db
from backend.api.write import ingest_text
from backend.services import Services, build_services
from backend.settings import Settings
from backend.shift_email import last_shift, send_shift
from backend.shift_pdf import shift_pdf
from backend.shift_report import shift_of
from backend.store.base import NS
from tests.smtp_catcher import SmtpCatcher
from tests.test_email import FAST, deliver
from tests.test_email_content import mail_page

H = 3600 * NS


@pytest.fixture
def smtp() -> Iterator[SmtpCatcher]:
    catcher = SmtpCatcher()  # started by the test: the first attempt meets it down
    yield catcher
    catcher.stop()


@pytest.fixture
def services(tmp_path: Path, smtp: SmtpCatcher, store_env: dict[str, str],
             monkeypatch: pytest.MonkeyPatch) -> Iterator[Services]:
    for key, value in {**FAST, **smtp.env, "KAZSAT_DATA_DIR": str(tmp_path / "data"),
                       "KAZSAT_SHIFT_REPORT_EMAIL_TO": "shift-lead@example.org",
                       **store_env}.items():
        monkeypatch.setenv(key, value)
    built = build_services(Settings(_env_file=None))
    yield built
    built.close()


def fill(services: Services, start: int, end: int) -> None:
    """Battery and link telemetry every minute over the shift (the lowest SoC 41.5 % on
    kazsat-2 at start + 5 h), and an alert log across it."""
    lines = []
    for i, t in enumerate(range(start, end, 60 * NS)):
        soc = 41.5 if t == start + 5 * H else 60 + i % 30
        lines.append(f"power,satellite=kazsat-2 battery_soc={soc} {t}")
        lines.append(f"link,station=akkol,satellite=kazsat-2 ebn0_db={10 + i % 5} {t}")
    ingest_text(services, "\n".join(lines), "ns")
    log = [("critical", start - 2 * H, None, start + H, "oleg"),
           ("warning", start + H, start + 2 * H, None, None),
           ("critical", start + 3 * H, None, start + 3 * H + 7 * 60 * NS, "dana"),
           ("warning", start + 5 * H, None, None, None),
           ("warning", end + 60 * NS, None, None, None)]  # in the next shift
    with services.engine.begin() as conn:
        conn.execute(db.alerts.insert(), [
            {"kind": "limit", "satellite": "kazsat-2", "station": None,
             "parameter": "bus_voltage", "severity": sev, "state": sev, "value": 104.0,
             "limit_text": "critical high 103 V", "raised_t": raised, "updated_t": raised,
             "cleared_t": cleared, "acked_t": acked, "acked_by": by}
            for sev, raised, cleared, acked, by in log])


def test_each_shift_is_mailed_once_and_survives_an_smtp_outage(
        services: Services, smtp: SmtpCatcher, tmp_path: Path) -> None:
    start, end = shift_of(services.settings, time.time_ns() - 3 * 86400 * NS)
    fill(services, start, end)
    now = end + 30 * NS  # 30 s after the shift change: the test clock
    assert last_shift(services.settings, now) == (start, end)
    args = (services.engine, services.store, services.registry, services.mission,
            services.settings)
    sent = send_shift(*args, now)
    assert sent is not None and sent.startswith("<shift-report-")
    assert send_shift(*args, now + 60 * NS) is None  # the next look: queued already
    assert not services.sender.deliver_due(now)  # SMTP is down: it waits in the outbox
    assert smtp.messages() == []
    smtp.start()
    deliver(services, time.time_ns() + H)  # past its back-off (the sender keeps real time)
    [mail] = smtp.messages()
    assert mail.message_id == sent and mail.recipients == ["shift-lead@example.org"]

    def sql(query: str) -> list[tuple]:
        with services.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(query), {"s": start, "e": end})]

    [(raised, critical, warning)] = sql(
        "SELECT count(*), sum(CASE WHEN severity = 'critical' THEN 1 ELSE 0 END), "
        "sum(CASE WHEN severity = 'warning' THEN 1 ELSE 0 END) FROM alerts "
        "WHERE raised_t >= :s AND raised_t < :e")
    [(still,)] = sql("SELECT count(*) FROM alerts WHERE raised_t < :e "
                     "AND (cleared_t IS NULL OR cleared_t >= :e)")
    [(acked,)] = sql("SELECT count(*) FROM alerts WHERE acked_t >= :s AND acked_t < :e")
    assert (raised, critical, warning, still, acked) == (3, 1, 2, 3, 2)
    assert mail.subject.startswith("Shift report ")
    assert mail.subject.endswith(f": {raised} alerts raised, {still} still open")
    body = mail.text()
    assert f"Alerts raised:     {raised} ({critical} critical, {warning} warning)" in body
    assert f"Acknowledged:      {acked}" in body
    assert f"Still open at end: {still}" in body
    assert "by dana after 7 min" in body
    [(lowest,)] = sql("SELECT min(value) FROM samples JOIN series ON series.id = "
                      "samples.series_id WHERE series.parameter = 'battery_soc' "
                      "AND t >= :s AND t < :e")
    assert lowest == 41.5 and "  kazsat-2: 41.5 %" in body
    assert "/shift-report?at=" in body
    assert "Eclipses in this shift and the next:\r\n  none" in body  # December: no season
    mail_page(mail, "shift-report-email", tmp_path)
    # The PDF attached: the same report, the same bytes as GET /api/v1/shift-report.pdf.
    [pdf] = [p for p in mail.message.iter_attachments()
             if p.get_content_type() == "application/pdf"]
    stamp = time.strftime("%Y%m%dT%H%MZ", time.gmtime(start // NS))
    assert sent.startswith(f"<shift-report-{stamp}@")
    assert pdf.get_filename() == f"shift-report-{stamp}.pdf"
    assert pdf.get_content() == shift_pdf(*args, start, end, now + H)
    words = " ".join(" ".join(page.extract_text().split())
                     for page in PdfReader(io.BytesIO(pdf.get_content())).pages)
    assert f"Alerts raised: {raised} ({critical} critical, {warning} warning)" in words
    assert "kazsat-2 41.5" in words
    # A restart or the next shift's first minute: still one message for this shift.
    assert send_shift(*args, end + H) is None
    with services.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM outbox WHERE kind = 'report'")
                            ).scalar_one() == 1
    # The next shift gets its own message.
    _, next_end = shift_of(services.settings, end)
    following = send_shift(*args, next_end + 30 * NS)
    assert following is not None and following != sent
