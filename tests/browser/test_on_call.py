"""On call, on the alerts page in a real browser: an alert's row says where its escalation
ladder stands, an engineer's test page shows each tier delivered by a real SMTP server, and
an alarm flood shows a banner and groups the list; the alarm-health page shows the month's
ISA-18.2 measures."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from selenium.webdriver.common.by import By

from kazsat.stack import Stack
from tests.browser.conftest import PASSWORD, save_screenshot, sign_in
from tests.browser.feed import Feeder
from tests.browser.test_dashboard import severe_logs, until
from tests.smtp_catcher import SmtpCatcher, wait_for
from tests.test_email_content import mail_page

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
    tests = [m for m in smtp.messages() if m.subject.startswith("TEST tier")]
    assert sorted(m.recipients[0] for m in tests) == ["duty@example.org", "lead@example.org"]
    assert severe_logs(driver) == []
    # The alert's email as a mail client shows it: HTML with its inline plot.
    [mail] = wait_for(lambda: [m for m in smtp.messages()
                               if m.recipients == ["ops@example.org"]], what="the alert email")
    path = mail_page(mail, "alert-in-a-mail-client")
    driver.get(path.as_uri())
    until(driver, lambda d: d.execute_script(
        "const i = document.images[0]; return i && i.complete && i.naturalWidth === 640;"),
        10, "the inline plot did not show")
    save_screenshot(driver, "alert-email")


def test_an_alarm_flood_shows_a_banner_and_groups_the_list(
        driver: object, site: tuple[Stack, Feeder, SmtpCatcher]) -> None:
    stack, feeder, _ = site
    driver.get_log("browser")
    driver.get(stack.dashboard_url + "/alerts")
    until(driver, lambda d: d.find_element(By.ID, "al-list").text, 30, "no list")
    assert not driver.find_element(By.ID, "al-flood").is_displayed()
    for n in range(1, 13):  # twelve alarms from twelve series: more than ten
        feeder.breach(("kazsat-3", None, f"twta_{n}_helix_current"), 11.0, samples=3)
    until(driver, lambda d: "ALARM FLOOD" in d.find_element(By.ID, "al-flood").text, 30,
          "the flood banner never showed")
    banner = driver.find_element(By.ID, "al-flood").text
    assert " alarms in the last 10 min (more than 10)" in banner, banner
    until(driver, lambda d: "KazSat-3 · Payload (12)" in d.find_element(By.ID, "al-list").text,
          30, "the list was never grouped")
    groups = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#al-list tr.kz-group")]
    assert groups[0] == "KazSat-3 · Payload (12)", groups  # the most severe, the largest
    save_screenshot(driver, "alerts-flood")
    assert severe_logs(driver) == []


def test_the_alarm_health_page_shows_this_months_measures(
        driver: object, site: tuple[Stack, Feeder, SmtpCatcher]) -> None:
    stack, _, _ = site
    driver.get_log("browser")
    driver.get(stack.dashboard_url + "/alarm-health")
    until(driver, lambda d: "per 10 min on average" in d.find_element(By.ID, "ah-body").text,
          30, "the measures never showed")
    with stack.client() as c:
        month = c.get("/api/v1/alarm-health", params={"month": time.strftime("%Y-%m",
                                                                             time.gmtime())})
    m = month.json()
    summary = driver.find_element(By.ID, "ah-summary").text
    assert summary.startswith(f"{m['alarms']} alarms · "), (summary, m["alarms"])
    assert m["alarms"] >= 13 and m["top10"], m
    until(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#ah-rate .bars path"), 20,
          "no bars drawn")
    save_screenshot(driver, "alarm-health")
    assert severe_logs(driver) == []
