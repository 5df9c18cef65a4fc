"""The escalation ladder on the alerts page in a real browser: an alert's row says where its
ladder stands, and an engineer's test page shows each tier delivered by a real SMTP server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from selenium.webdriver.common.by import By

from kazsat.stack import Stack
from tests.browser.conftest import PASSWORD, save_screenshot, sign_in
from tests.browser.feed import Feeder
from tests.browser.test_dashboard import severe_logs, until
from tests.smtp_catcher import SmtpCatcher

pytestmark = pytest.mark.browser
LADDER = {"ladders": [{"severity": "critical", "tiers": [
    {"after_min": 0, "to": ["duty@example.org"]},
    {"after_min": 10, "to": ["lead@example.org"]}]}]}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory,
         driver: object) -> Iterator[tuple[Stack, Feeder, SmtpCatcher]]:
    folder: Path = tmp_path_factory.mktemp("escalation")
    (folder / "escalation.yaml").write_text(yaml.safe_dump(LADDER))
    smtp = SmtpCatcher().start()
    stack = Stack(folder / "data", extra_env={
        **smtp.env, "KAZSAT_ESCALATION_FILE": str(folder / "escalation.yaml"),
        "KAZSAT_EMAIL_TO": "ops@example.org", "KAZSAT_OUTBOX_POLL_S": "0.2"})
    stack.add_user("erlan", "engineer", PASSWORD)
    stack.start_api()
    feeder = Feeder(stack)
    feeder.write_now()
    feeder.start()
    try:
        stack.start_dashboard()
        sign_in(driver, stack, "erlan")
        yield stack, feeder, smtp
    finally:
        driver.get("about:blank")
        feeder.stop()
        stack.stop()
        smtp.stop()


def test_an_alert_row_shows_its_ladder_and_a_test_page_shows_each_delivery(
        driver: object, site: tuple[Stack, Feeder, SmtpCatcher]) -> None:
    stack, feeder, smtp = site
    driver.get_log("browser")
    feeder.breach(("kazsat-2", None, "bus_voltage"), 105.0)
    driver.get(stack.dashboard_url + "/alerts")
    until(driver, lambda d: "paged tier 1 at" in d.find_element(By.ID, "al-list").text, 30,
          "the alert's row never said tier 1 was paged")
    row = driver.find_element(By.ID, "al-list").text
    assert "tier 2 due" in row, row

    driver.find_element(By.ID, "al-test-send").click()
    until(driver, lambda d: "every tier delivered" in d.find_element(By.ID, "al-test-result")
          .text, 30, "the test page's delivery was never confirmed")
    result = driver.find_element(By.ID, "al-test-result").text
    assert "tier 1 delivered" in result and "(duty@example.org)" in result, result
    assert "tier 2 delivered" in result and "(lead@example.org)" in result, result
    save_screenshot(driver, "alerts-escalation")
    tests = [m for m in smtp.messages() if m.subject.startswith("[KazSat TEST")]
    assert sorted(m.recipients[0] for m in tests) == ["duty@example.org", "lead@example.org"]
    assert severe_logs(driver) == []
