"""Real headless Chromium against a real API and dashboard (kazsat/stack.py)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from kazsat.stack import ROOT, Stack
from tests.browser.feed import Feeder
from tests.ci import missing, on_ci

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREENSHOTS = ROOT / "artifacts" / "screenshots"


BROWSER_MISSING = ("needs Debian chromium and chromedriver at /usr/bin (the project's test "
                   "command installs them)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # On CI the driver fixture fails instead (tests.ci.missing): no browser is a broken run.
    if (CHROMIUM.exists() and CHROMEDRIVER.exists()) or on_ci():
        return
    skip = pytest.mark.skip(reason=BROWSER_MISSING)
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def driver() -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        missing(BROWSER_MISSING)
    profile = tempfile.mkdtemp(prefix="kazsat-chromium-")
    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu",
                "--disable-background-networking", "--disable-component-update",
                "--no-first-run", "--disable-dev-shm-usage", "--window-size=1920,1080",
                # Every window is on screen, as on a control room's wall: none is throttled
                # as a background tab would be (tests/browser/test_wall.py opens twenty).
                "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
                "--disable-backgrounding-occluded-windows",
                f"--user-data-dir={profile}"):
        options.add_argument(arg)
    # Set explicitly so selenium-manager never tries to download a browser or driver.
    options.binary_location = str(CHROMIUM)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)),
                               options=options)
    browser.set_window_size(1920, 1080)
    yield browser
    browser.quit()
    shutil.rmtree(profile, ignore_errors=True)


# People every browser stack has (made before the API starts; no one-time passwords).
PASSWORD = "akkol-control-room"
USERS = {"operator": "operator", "vera": "viewer", "erlan": "engineer"}


class Live(NamedTuple):
    stack: Stack
    feeder: Feeder


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, driver: object) -> Iterator[Live]:
    """API and dashboard as processes, fed nominal telemetry once a second, with the
    browser logged in as `operator`."""
    # Login delays long enough to hold while a test looks at them (the rate-limit test
    # clears its lock-out afterwards).
    stack = Stack(tmp_path_factory.mktemp("browser") / "data",
                  extra_env={"KAZSAT_LOGIN_FIRST_DELAY_S": "60"})
    for name, role in USERS.items():
        stack.add_user(name, role, PASSWORD)
    stack.start_api()
    feeder = Feeder(stack)
    feeder.write_now()
    feeder.start()
    try:
        stack.start_dashboard()
        sign_in(driver, stack, "operator")
        yield Live(stack, feeder)
    finally:
        # No page of this stack left polling while it stops: its failed requests would
        # land in the next module's browser log.
        driver.get("about:blank")
        feeder.stop()
        stack.stop()


def sign_in(driver: object, stack: Stack, name: str, password: str = PASSWORD,
            expect: str = "in") -> str:
    """Sign in through the login page; returns the page's message when it stays there."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    # A blank page first, so that no dashboard page is left polling (it would meet 401s
    # once signed out, and log them); then /logout, which lands on /login.
    driver.get("about:blank")
    driver.get(stack.dashboard_url + "/logout")
    wait = WebDriverWait(driver, 20, poll_frequency=0.05)
    wait.until(lambda d: d.find_elements(By.ID, "username"), "no login form")
    driver.find_element(By.ID, "username").send_keys(name)
    driver.find_element(By.ID, "password").send_keys(password)
    old = driver.find_element(By.TAG_NAME, "form")
    driver.find_element(By.ID, "login-submit").click()
    wait.until(lambda d: not _attached(old))  # the answer page has loaded
    if expect == "in":
        try:
            wait.until(lambda d: "/login" not in d.current_url)
        except TimeoutException:
            raise AssertionError(f"{name} was not signed in: {driver.current_url} "
                                 f"{driver.find_element(By.TAG_NAME, 'body').text}") from None
        return ""
    message = driver.find_element(By.ID, "login-message").text
    # The refusal came as a 401 or 429 page, which the browser logs as a failed load:
    # expected here, and not to be reported by a later test's check of the log.
    driver.get_log("browser")
    return message


def _attached(element: object) -> bool:
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException

    try:
        element.is_enabled()
        return True
    except StaleElementReferenceException:
        return False
    except WebDriverException as exc:
        # Asked while the next page replaces the document, chromedriver may say this instead.
        if "does not belong to the document" in str(exc):
            return False
        raise


def save_screenshot(driver: object, name: str) -> Path:
    """The whole page at 1920 wide (the window grows to the page's height, then back)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1920, max(1080, min(int(height) + 140, 6000)))
    driver.save_screenshot(str(path))
    driver.set_window_size(1920, 1080)
    return path
