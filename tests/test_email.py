"""Alert email against a real SMTP server: content, outages, a crash mid-send, flapping,
email held back by the rate limit or a shelf, recovery after an outage."""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Row, select

from backend import db
from backend.api.write import ingest_text
from backend.services import Services, build_services
from backend.settings import Settings
from backend.timeutil import format_time
from kazsat.stack import Stack
from tests.smtp_catcher import SmtpCatcher, wait_for

NS = 1_000_000_000
FAST = {"KAZSAT_STALE_ALERT_S": "0", "KAZSAT_OUTBOX_POLL_S": "0.2",
        "KAZSAT_OUTBOX_RETRY_S": "0.2", "KAZSAT_OUTBOX_RETRY_MAX_S": "0.5",
        "KAZSAT_EMAIL_TO": "ops@example.org", "KAZSAT_EMAIL_TO_CRITICAL": "chief@example.org",
        "KAZSAT_EMAIL_TO_ENTITY": '{"kazsat-3": "k3-team@example.org"}'}
MESSAGE_ID = re.compile(r"^<alert-(\d+)-(raised|escalated|cleared)-(\d+)\.\d+@kazsat\.local>$")


def lines(key: str, field: str, values: list[float], start_ns: int, step_s: float = 1) -> str:
    return "\n".join(f"{key} {field}={v} {start_ns + int(i * step_s * NS)}"
                     for i, v in enumerate(values))


@pytest.fixture
def smtp() -> Iterator[SmtpCatcher]:
    catcher = SmtpCatcher()
    yield catcher
    catcher.stop()


def start_stack(tmp_path: Path, smtp: SmtpCatcher, store: dict[str, str], **env: str) -> Stack:
    stack = Stack(tmp_path / "data", extra_env={**FAST, **smtp.env, **store, **env})
    stack.start_api()
    return stack


def outbox(stack: Stack) -> dict:
    with stack.client() as c:
        return c.get("/api/v1/outbox").json()


# ---- the backend in this process: the test ticks the alert book and runs the sender, so
# what is due when is decided by the test, not by timing ------------------------------------

@pytest.fixture
def local(tmp_path: Path, smtp: SmtpCatcher, store_env: dict[str, str],
          monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Services]]:
    """make(**env) -> Services over a fresh database (SQLite, then PostgreSQL), no
    background threads; an env value of None unsets a FAST one (its default applies)."""
    made: list[Services] = []

    def make(**env: str | None) -> Services:
        for key, value in {**FAST, **smtp.env, "KAZSAT_DATA_DIR": str(tmp_path / "local"),
                           "KAZSAT_DATABASE_URL": None, **store_env, **env}.items():
            if value is None:
                monkeypatch.delenv(key, raising=False)
            else:
                monkeypatch.setenv(key, value)
        made.append(build_services(Settings(_env_file=None)))
        return made[-1]

    yield make
    for services in made:
        services.close()


def ingest(services: Services, key: str, field: str, values: list[float], start_ns: int) -> None:
    ingest_text(services, lines(key, field, values, start_ns), "ns")


def deliver(services: Services, now: int | None = None) -> None:
    """Run the sender until nothing more is due (now, or at `now`)."""
    for _ in range(100):
        if not services.sender.deliver_due(now):
            return
    raise AssertionError("the sender never ran out of due messages")


def outbox_rows(services: Services) -> list[Row]:
    with services.engine.connect() as conn:
        return conn.execute(select(db.outbox).order_by(db.outbox.c.id)).all()


def ids(messages: list) -> list[tuple[str, ...]]:
    """(alert, kind, number) of each message's Message-ID."""
    return [MESSAGE_ID.match(m.message_id).groups() for m in messages]


def test_a_breach_sends_exactly_one_email_with_the_facts(
        tmp_path: Path, smtp: SmtpCatcher, store_env: dict[str, str]) -> None:
    smtp.start()
    stack = start_stack(tmp_path, smtp, store_env)
    try:
        t0 = time.time_ns() - 60 * NS
        # bus_voltage: critical high 103 V, persistence 3: raised by the third sample over.
        r = stack.write(lines("power,satellite=kazsat-2", "bus_voltage",
                              [100.0, 100.1, 104.2, 104.3, 104.4], t0))
        assert r.status_code == 204, r.text
        wait_for(lambda: outbox(stack)["sent"] == 1, what="the alert email")
        [mail] = smtp.messages()
        raised_at = format_time(t0 + 4 * NS)
        # Short enough for a phone's lock screen; the body's headline says it all.
        assert mail.subject == "CRITICAL KazSat-2 Bus voltage 104.40 V > 103 V"
        assert sorted(mail.recipients) == ["chief@example.org", "ops@example.org"]
        assert mail.envelope_from == "kazsat-monitor@kazsat.local"
        m = MESSAGE_ID.match(mail.message_id)
        assert m and m.groups() == ("1", "raised", "1"), mail.message_id
        text = mail.text()
        link = (f"{stack.dashboard_url}/replay?satellite=kazsat-2&parameter=bus_voltage"
                f"&t={raised_at}")
        for expected in ("Satellite: KazSat-2 (kazsat-2)",
                         "bus_voltage: Regulated main bus voltage (Power, V)",
                         "104.40 V", "critical high 103 V", "Severity:  critical",
                         f"Raised:    {raised_at}", f"Replay:    {link}"):
            assert expected in text, (expected, text)
        html = mail.html()
        assert link.replace("&", "&amp;") in html and "104.40 V" in html
        assert mail.message["Date"] and mail.message["Auto-Submitted"] == "auto-generated"

        # Back to nominal: the alert clears and a cleared notice threads onto the first.
        stack.write(lines("power,satellite=kazsat-2", "bus_voltage", [100.0], t0 + 5 * NS))
        wait_for(lambda: outbox(stack)["sent"] == 2, what="the cleared notice")
        first, cleared = smtp.messages()
        assert cleared.subject == "Cleared KazSat-2 Bus voltage 100.00 V"
        assert cleared.text().startswith("KazSat-2 bus_voltage back within limits (100.00 V)")
        assert cleared.message["In-Reply-To"] == first.message_id
        assert MESSAGE_ID.match(cleared.message_id).groups() == ("1", "cleared", "2")
        assert len(smtp.messages()) == 2
    finally:
        stack.stop()


# Three alerts on three series: three messages.
BREACHES = [("power,satellite=kazsat-2", "bus_voltage", [104.0] * 3),
            ("power,satellite=kazsat-3", "bus_voltage", [104.0] * 3),
            ("link,station=akkol,satellite=kazsat-3", "ebn0_db", [7.0] * 3)]


def breaches(stack: Stack, t0: int) -> None:
    for key, field, values in BREACHES:
        assert stack.write(lines(key, field, values, t0)).status_code == 204


def test_smtp_down_loses_nothing_and_each_message_arrives_once(
        tmp_path: Path, smtp: SmtpCatcher, store_env: dict[str, str]) -> None:
    stack = start_stack(tmp_path, smtp, store_env)  # the SMTP server is not running yet
    try:
        breaches(stack, time.time_ns() - 30 * NS)
        wait_for(lambda: (o := outbox(stack))["pending"] == 3 and o["last_error"],
                 what="three messages waiting after failed attempts")
        assert smtp.messages() == []
        smtp.start()
        wait_for(lambda: outbox(stack)["sent"] == 3, what="all three sent")
        got = smtp.messages()
        assert len(got) == 3 and len({m.message_id for m in got}) == 3
        subjects = sorted(m.subject for m in got)
        assert subjects[0].startswith("CRITICAL KazSat-2 Bus voltage")
        assert subjects[1].startswith("CRITICAL KazSat-3 Bus voltage")
        assert subjects[2] == "WARNING Akkol → KazSat-3 Eb/N0 7.0 dB < 8 dB"
        link = next(m for m in got if "Eb/N0" in m.subject)
        assert link.recipients == ["ops@example.org", "k3-team@example.org"]
        assert "station=akkol" in link.text()
        assert "unreachable" in stack.api.log()
        assert outbox(stack)["pending"] == 0
    finally:
        stack.stop()


def test_a_crash_mid_send_delivers_everything_after_restart(
        tmp_path: Path, smtp: SmtpCatcher, store_env: dict[str, str]) -> None:
    smtp.hold.set()  # the server takes the first message and keeps the client waiting
    smtp.start()
    stack = start_stack(tmp_path, smtp, store_env)
    try:
        breaches(stack, time.time_ns() - 30 * NS)
        assert smtp.held.wait(20), stack.api.log()
        stack.api.stop(kill=True)  # SIGKILL while the sender waits for the reply to DATA
        smtp.hold.clear()
        assert [m.message_id for m in smtp.messages()] != []
        in_flight = smtp.messages()[0].message_id
        stack.start_api()
        wait_for(lambda: outbox(stack)["sent"] == 3, what="all three sent after restart")
        got = smtp.messages()
        counts = Counter(m.message_id for m in got)
        assert len(counts) == 3  # every message arrived
        assert counts[in_flight] == 2  # the one cut off went again, with the same Message-ID
        assert sum(counts.values()) == 4
        copies = [m for m in got if m.message_id == in_flight]
        assert copies[0].subject == copies[1].subject
        assert copies[0].message["Date"] == copies[1].message["Date"]
        assert copies[0].text() == copies[1].text()
    finally:
        stack.stop()


def test_a_flapping_parameter_is_emailed_once_per_interval(
        tmp_path: Path, smtp: SmtpCatcher, store_env: dict[str, str]) -> None:
    smtp.start()
    stack = start_stack(tmp_path, smtp, store_env, KAZSAT_ALERT_EMAIL_INTERVAL_S="60")
    try:
        t0 = time.time_ns() - 300 * NS
        # 50 cycles of 4 s: three samples over the critical limit (raised on the third),
        # one back inside (cleared): 50 alerts in 200 s of telemetry.
        values = [104.0, 104.0, 104.0, 100.0] * 50
        r = stack.write(lines("power,satellite=kazsat-2", "bus_voltage", values, t0))
        assert r.status_code == 204
        with stack.client() as c:
            alerts = c.get("/api/v1/alerts", params={"status": "all", "limit": 100}).json()
        assert len(alerts["alerts"]) == 50
        # Raised at 2, 6, 10, ... s; one message per 60 s: the alerts raised at 2, 62, 122
        # and 182 s; each of those gets its cleared notice: 8 messages.
        wait_for(lambda: outbox(stack)["sent"] == 8, what="eight messages")
        got = smtp.messages()
        kinds = Counter(MESSAGE_ID.match(m.message_id).group(2) for m in got)
        assert kinds == {"raised": 4, "cleared": 4}
        raised = sorted((m for m in got if "-raised-" in m.message_id),
                        key=lambda m: int(MESSAGE_ID.match(m.message_id).group(1)))
        assert [int(MESSAGE_ID.match(m.message_id).group(1)) for m in raised] == [1, 16, 31, 46]
        assert "14 more crossings of this limit were not emailed" in raised[1].text()
        # Nothing else is on its way: every alert has cleared (none is owed a message held
        # back) and the outbox has nothing due or being sent.
        with stack.client() as c:
            assert c.get("/api/v1/alerts").json()["alerts"] == []
        idle = wait_for(lambda: (o := outbox(stack))["idle"] and o, what="the outbox idle")
        assert (idle["pending"], idle["sent"], idle["failed"]) == (0, 8, 0)
        assert len(smtp.messages()) == 8
    finally:
        stack.stop()


def test_stale_telemetry_raises_one_alert_per_entity_and_clears(
        tmp_path: Path, smtp: SmtpCatcher, store_env: dict[str, str]) -> None:
    smtp.start()
    stack = start_stack(tmp_path, smtp, store_env, KAZSAT_STALE_ALERT_S="1")
    try:
        now = time.time_ns()
        stack.write(lines("power,satellite=kazsat-2", "bus_voltage", [100.0], now))
        with stack.client() as c:
            def stale() -> list:
                return [a for a in c.get("/api/v1/alerts").json()["alerts"]
                        if a["kind"] == "stale"]
            [alert] = wait_for(stale, what="a stale alert")  # 3 s: 3 periods of 1 s
            assert (alert["satellite"], alert["station"], alert["parameter"]) == \
                   ("kazsat-2", None, None)
            assert alert["state"] == "stale" and alert["severity"] == "warning"
            stack.write(lines("power,satellite=kazsat-2", "bus_voltage", [100.0],
                              time.time_ns()))
            wait_for(lambda: not stale(), what="the stale alert cleared")
            [cleared] = c.get("/api/v1/alerts", params={"status": "cleared"}).json()["alerts"]
            assert cleared["id"] == alert["id"] and cleared["state"] == "cleared"
        wait_for(lambda: outbox(stack)["sent"] == 2, what="stale and resumed messages")
        subjects = [m.subject for m in smtp.messages()]
        assert subjects == ["WARNING KazSat-2 telemetry stopped",
                            "Cleared KazSat-2 telemetry resumed"]
        assert smtp.messages()[0].text().startswith(
            "KazSat-2: telemetry stopped (no new sample for 3 s)")
        for m in smtp.messages():  # a stale alert has no value: nothing reads "None"
            assert "None" not in m.subject + m.text() + m.html(), m.text()
            assert "Parameter: all telemetry of this satellite" in m.text()
        assert alert["value"] is None
    finally:
        stack.stop()


def test_a_breach_raised_again_within_the_interval_is_emailed_when_it_ends(
        local: Callable[..., Services], smtp: SmtpCatcher) -> None:
    smtp.start()
    services = local(KAZSAT_ALERT_EMAIL_INTERVAL_S="10")
    t0 = time.time_ns() - 60 * NS
    # Raised at 2 s (emailed), cleared at 3 s (notice), raised again at 6 s: 4 s after the
    # last message, so held back by the rate limit. The breach holds until 8 s.
    ingest(services, "power,satellite=kazsat-2", "bus_voltage",
           [104.0] * 3 + [100.0] + [104.0] * 5, t0)
    services.alerts.tick()
    deliver(services)
    assert ids(smtp.messages()) == [("1", "raised", "1"), ("1", "cleared", "2")]
    # Still held at 13 s: the interval from the message at 2 s is over, the alert open, so
    # on-call hears of it rather than keeping "cleared" as the last word.
    ingest(services, "power,satellite=kazsat-2", "bus_voltage", [104.0] * 5, t0 + 9 * NS)
    services.alerts.tick()
    deliver(services)
    got = smtp.messages()
    assert ids(got) == [("1", "raised", "1"), ("1", "cleared", "2"), ("2", "raised", "1")]
    assert got[2].subject == "CRITICAL KazSat-2 Bus voltage 104.00 V > 103 V"
    text = got[2].text()
    assert f"Raised:    {format_time(t0 + 6 * NS)}" in text
    assert f"&t={format_time(t0 + 6 * NS)}" in text  # replay at the breach, not at 13 s
    assert "crossing" not in text  # the one held back is this message's own
    # Once: more ticks and samples send nothing more.
    ingest(services, "power,satellite=kazsat-2", "bus_voltage", [104.0] * 12, t0 + 14 * NS)
    services.alerts.tick()
    deliver(services)
    assert len(smtp.messages()) == 3


def test_an_alert_raised_while_shelved_is_emailed_once_when_the_shelf_expires(
        local: Callable[..., Services], smtp: SmtpCatcher) -> None:
    smtp.start()
    services = local(KAZSAT_ALERT_EMAIL_INTERVAL_S="5")
    book = services.alerts
    t0 = time.time_ns() - 60 * NS
    ups = "station,station=kokterek"
    ingest(services, ups, "ups_charge", [90.0, 15.0], t0)  # alert 1, critical: emailed
    book.shelve(1, "test operator", "operator", 1, "UPS maintenance")
    ingest(services, ups, "ups_charge", [90.0], t0 + 2 * NS)  # cleared on the shelf
    ingest(services, ups, "ups_charge", [15.0] * 3, t0 + 10 * NS)  # alert 2, born shelved
    book.tick()
    deliver(services)
    assert ids(smtp.messages()) == [("1", "raised", "1")]
    assert book.get(2)["shelved_until"] is not None
    after_shelf = time.time_ns() + 61 * NS
    book.tick(after_shelf)
    deliver(services, after_shelf)  # queued "at" after_shelf
    got = smtp.messages()
    assert ids(got) == [("1", "raised", "1"), ("2", "raised", "1")]
    assert got[1].subject == "CRITICAL Kokterek UPS charge 15 % < 20 %"
    book.tick(after_shelf + NS)
    deliver(services, after_shelf + NS)
    assert len(smtp.messages()) == 2


def test_email_held_back_is_still_owed_after_a_restart_and_none_is_repeated(
        local: Callable[..., Services], smtp: SmtpCatcher) -> None:
    smtp.start()
    first = local(KAZSAT_ALERT_EMAIL_INTERVAL_S="10")
    t0 = time.time_ns() - 60 * NS
    k2, k3 = "power,satellite=kazsat-2", "power,satellite=kazsat-3"
    # Alert 1 emailed and cleared, alert 2 held back (as above); alert 3 emailed, open.
    ingest(first, k2, "bus_voltage", [104.0] * 3 + [100.0] + [104.0] * 5, t0)
    ingest(first, k3, "bus_voltage", [104.0] * 3, t0)
    deliver(first)
    first.close()
    again = local(KAZSAT_ALERT_EMAIL_INTERVAL_S="10")
    again.alerts.tick()
    deliver(again)
    before = [("1", "raised", "1"), ("1", "cleared", "2"), ("3", "raised", "1")]
    assert ids(smtp.messages()) == before  # alert 2's interval is not over yet
    ingest(again, k2, "bus_voltage", [104.0] * 5, t0 + 9 * NS)
    ingest(again, k3, "bus_voltage", [104.0] * 20, t0 + 3 * NS)
    again.alerts.tick()
    deliver(again)
    assert ids(smtp.messages()) == [*before, ("2", "raised", "1")]


def test_the_outbox_is_idle_only_when_nothing_is_due(
        local: Callable[..., Services], smtp: SmtpCatcher) -> None:
    services = local()  # the SMTP server is not running yet
    assert services.sender.pending()["idle"]  # nothing queued
    ingest(services, "power,satellite=kazsat-2", "bus_voltage", [104.0] * 3,
           time.time_ns() - 10 * NS)
    assert not services.sender.pending()["idle"]  # the raise is due
    assert not services.sender.deliver_due()  # refused connection: it backs off
    status = services.sender.pending()
    assert status["idle"] and status["pending"] == 1  # waits out its back-off
    smtp.start()
    deliver(services, time.time_ns() + 3600 * NS)
    status = services.sender.pending()
    assert status["idle"] and (status["pending"], status["sent"]) == (0, 1)
    assert len(smtp.messages()) == 1


def test_when_smtp_is_back_the_waiting_messages_go_at_once(
        local: Callable[..., Services], smtp: SmtpCatcher) -> None:
    # The default back-off cap; the SMTP server is not running yet.
    services = local(KAZSAT_OUTBOX_RETRY_S="5", KAZSAT_OUTBOX_RETRY_MAX_S=None)
    t0 = time.time_ns() - 30 * NS
    for key, field, values in BREACHES:
        ingest(services, key, field, values, t0)
    for _ in range(7):  # seven refused connections each: 5, 10, 20, 40, 80, 160, 320 s
        assert not services.sender.deliver_due(now=time.time_ns() + 3600 * NS)
    waiting = outbox_rows(services)
    assert len(waiting) == 3
    for row in waiting:
        assert row.attempts == 7 and row.last_error.startswith("connect: "), row
        assert row.next_attempt_t - time.time_ns() <= 60 * NS  # capped at a minute
    smtp.start()
    # A new alert's message goes at once; once the server took it, the waiting ones too.
    ingest(services, "power,satellite=kazsat-2", "battery_temp", [27.0] * 2,
           time.time_ns() - NS)
    deliver(services)
    rows = outbox_rows(services)
    assert all(r.sent_t is not None for r in rows) and len(rows) == 4
    got = Counter(m.message_id for m in smtp.messages())
    assert got == Counter(r.message_id for r in rows)  # each once, as queued
    assert [r.attempts for r in rows] == [8, 8, 8, 1]
