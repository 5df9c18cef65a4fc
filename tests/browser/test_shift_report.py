"""The shift report page in a real browser: by default the last shift that ended, with the
API's figures; the shift in progress shows the telemetry fed to it."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By

from tests.browser.conftest import Live, save_screenshot
from tests.browser.test_dashboard import severe_logs, until

pytestmark = pytest.mark.browser


def test_the_shift_report_page_shows_the_last_shift_and_the_current_one(
        driver: object, live: Live) -> None:
    driver.get_log("browser")
    with live.stack.client() as c:
        listed = c.get("/api/v1/shift-report/shifts").json()
        last = c.get("/api/v1/shift-report").json()
    assert listed["timezone"] == "Asia/Almaty"
    current, previous = listed["shifts"][0], listed["shifts"][1]
    assert not current["done"] and previous["done"] and previous["end"] == current["start"]
    assert last["start"] == previous["start"]

    driver.get(live.stack.dashboard_url + "/shift-report")
    until(driver, lambda d: d.find_elements(By.ID, "sr-summary"), 30, "no report shown")
    assert driver.find_element(By.ID, "sr-summary").text.startswith(
        f"{last['alerts']['raised']} alerts raised")
    assert driver.find_element(By.ID, "sr-when").text.startswith(
        last["start"][:16].replace("T", " "))
    nav = [e.text for e in driver.find_elements(By.CLASS_NAME, "kz-nav-link")]
    assert "Shift report" in nav

    # The shift in progress: the feeder's telemetry is in it.
    driver.get(live.stack.dashboard_url + f"/shift-report?at={current['start']}")
    until(driver, lambda d: "so far" in d.find_element(By.ID, "sr-when").text, 30,
          "the shift in progress never showed")
    with live.stack.client() as c:
        now = c.get("/api/v1/shift-report", params={"at": current["start"]}).json()
    battery = driver.find_element(By.ID, "sr-battery").text
    for sat in now["battery_soc_min"]:
        assert sat in battery
    assert " %" in battery, battery
    ebn0 = driver.find_element(By.ID, "sr-ebn0").text
    assert {x["station"] for x in now["ebn0_db"]} and all(
        x["station"] in ebn0 for x in now["ebn0_db"]), ebn0
    assert " dB" in ebn0, ebn0
    save_screenshot(driver, "shift-report")
    assert severe_logs(driver) == []
