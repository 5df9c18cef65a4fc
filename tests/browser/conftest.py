"""Real headless Chromium against a real API and dashboard (tests/stack.py)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from tests.browser.feed import Feeder
from tests.stack import ROOT, Stack

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREENSHOTS = ROOT / "artifacts" / "screenshots"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if CHROMIUM.exists() and CHROMEDRIVER.exists():
        return
    skip = pytest.mark.skip(reason="needs Debian chromium and chromedriver at /usr/bin "
                                   "(the project's test command installs them)")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def driver() -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="kazsat-chromium-")
    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu",
                "--disable-background-networking", "--disable-component-update",
                "--no-first-run", "--disable-dev-shm-usage", "--window-size=1920,1080",
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


class Live(NamedTuple):
    stack: Stack
    feeder: Feeder


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """API and dashboard as processes, fed nominal telemetry once a second."""
    stack = Stack(tmp_path_factory.mktemp("browser") / "data")
    stack.start_api()
    feeder = Feeder(stack)
    feeder.write_now()
    feeder.start()
    try:
        stack.start_dashboard()
        yield Live(stack, feeder)
    finally:
        feeder.stop()
        stack.stop()


def save_screenshot(driver: object, name: str) -> Path:
    """The whole page at 1920 wide (the window grows to the page's height, then back)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1920, max(1080, min(int(height) + 140, 6000)))
    driver.save_screenshot(str(path))
    driver.set_window_size(1920, 1080)
    return path
