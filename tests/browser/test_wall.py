"""A wall of screens: twenty live pages (overviews and satellite pages) open in one headless
Chromium, each fed by its own live stream, all see a limit breach. How soon is measured by
benchmarks/live.py; here only that every page sees it, by push."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from kazsat.stack import Stack
from tests.browser.conftest import PASSWORD, save_screenshot, sign_in
from tests.browser.feed import Feeder
from tests.browser.test_dashboard import dash_id, until

pytestmark = pytest.mark.browser

PAGES = ["/", "/", "/", "/satellite/kazsat-2"] * 5
PATIENCE_S = 180  # bounds on a broken test, not timings: the machine may be loaded
SERIES = ("kazsat-2", None, "bus_voltage")
# Notes in the page when its banner's critical count turns critical.
WATCH = """
const el = document.getElementById(arguments[0]);
window.kzSeen = null;
new MutationObserver((_, obs) => {
  if (el.classList.contains("kz-c")) { window.kzSeen = Date.now(); obs.disconnect(); }
}).observe(el, {attributes: true, attributeFilter: ["class"]});
"""


@pytest.fixture(scope="module")
def wall(tmp_path_factory: pytest.TempPathFactory, driver: object) -> Iterator[Feeder]:
    stack = Stack(tmp_path_factory.mktemp("wall") / "data")
    stack.add_user("wall", "viewer", PASSWORD)
    stack.start_api()
    feeder = Feeder(stack)
    feeder.write_now()
    feeder.start()
    first = driver.current_window_handle
    try:
        stack.start_dashboard()
        sign_in(driver, stack, "wall")
        yield feeder
    finally:
        for handle in driver.window_handles:
            if handle != first:
                driver.switch_to.window(handle)
                driver.close()
        driver.switch_to.window(first)
        driver.get("about:blank")
        driver.get_log("browser")
        feeder.stop()
        stack.stop()


def page_of(path: str) -> str:
    return "overview" if path == "/" else "satellite"


def test_twenty_streamed_pages_all_see_a_breach(driver: object, wall: Feeder) -> None:
    handles = [driver.current_window_handle]
    for _ in PAGES[1:]:
        driver.switch_to.new_window("window")
        handles.append(driver.current_window_handle)
    for handle, path in zip(handles, PAGES, strict=True):
        driver.switch_to.window(handle)  # as a person opens each screen: by its address
        driver.get(wall.stack.dashboard_url + path)
    for handle, path in zip(handles, PAGES, strict=True):
        driver.switch_to.window(handle)
        frame = dash_id("frame", page_of(path), "f")
        until(driver, lambda d, frame=frame: d.execute_script(
            "const f = document.getElementById(arguments[0]);"
            "return f && f.dataset.kzMode === 'stream' && f.dataset.kzLive === 'yes';", frame),
            PATIENCE_S, f"{path} is not live by its stream")
        driver.execute_script(WATCH, dash_id("vc", page_of(path), "banner|critical"))
    wall.breach(SERIES, 95.0)  # below the critical low bound, persistence met at once
    written_ms = time.time() * 1000
    seen = {}
    for handle, path in zip(handles, PAGES, strict=True):
        driver.switch_to.window(handle)
        until(driver, lambda d: d.execute_script("return window.kzSeen;"), PATIENCE_S,
              f"{path} never showed the breach")
        seen[handle] = driver.execute_script("return window.kzSeen;") - written_ms
        cell = dash_id("vc", page_of(path), "tile|kazsat-2|power") if path == "/" else \
            dash_id("vc", "satellite", "kazsat-2||bus_voltage")
        assert "kz-c" in driver.execute_script(
            "return document.getElementById(arguments[0]).className;", cell), path
    driver.switch_to.window(handles[0])
    save_screenshot(driver, "wall-overview-breach")
    driver.switch_to.window(handles[1])
    save_screenshot(driver, "wall-satellite-breach")
    print("breach seen after the write was acknowledged, ms: "
          + ", ".join(f"{v:.0f}" for v in sorted(seen.values())))
