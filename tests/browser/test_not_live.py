"""Live pages never lie: whatever way the API fails (refused, hung, slow, 500, or its process
frozen with SIGSTOP), every live page says it is not live and since when, greys its values,
drops "ALL NOMINAL", and comes back by itself when the API answers again.

The dashboard reaches the API through a fault-injecting proxy (faulty_proxy.py); the
feeder writes to the API directly, so telemetry keeps arriving throughout. Every case runs
twice: with pages fed by their live stream, and with the API refusing streams (its limit
at 0), so that pages fall back to the 1 s poll."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple

import pytest
from selenium.common.exceptions import TimeoutException

from kazsat.stack import Stack
from tests.browser.conftest import PASSWORD, USERS, save_screenshot, sign_in
from tests.browser.faulty_proxy import FaultyProxy
from tests.browser.feed import Feeder
from tests.browser.test_dashboard import dash_id, open_page, shown, text_of, until

pytestmark = pytest.mark.browser

LIVE_PAGES = {"overview": "/", "satellite": "/satellite/kazsat-3", "station": "/station/kokterek",
              "alerts": "/alerts"}
FAULTS = ("refuse", "hang", "slow", "500")
# The watchdog gives up on ticks after 4 s without a fresh one; this is only how long
# the test waits for it (a loaded machine is slow), not a bound on the dashboard.
PATIENCE_S = 60


class Proxied(NamedTuple):
    stack: Stack
    feeder: Feeder
    proxy: FaultyProxy
    mode: str  # how pages are fed: "stream", or "poll" (the API refuses streams)


@pytest.fixture(scope="module", params=["stream", "poll"])
def proxied(tmp_path_factory: pytest.TempPathFactory, driver: object,
            request: pytest.FixtureRequest) -> Iterator[Proxied]:
    """API and dashboard as processes, the dashboard's API URL pointing at the proxy, fed
    nominal telemetry once a second; the browser logged in as `operator`."""
    limit = {"stream": {}, "poll": {"KAZSAT_STREAM_MAX_TOTAL": "0"}}[request.param]
    stack = Stack(tmp_path_factory.mktemp("not-live") / "data", extra_env=limit)
    for name, role in USERS.items():
        stack.add_user(name, role, PASSWORD)
    stack.start_api()
    proxy = FaultyProxy(stack.api_port)
    stack.extra_env["KAZSAT_API_URL"] = proxy.url  # the dashboard's way to the API
    feeder = Feeder(stack)
    feeder.write_now()
    feeder.start()
    try:
        stack.start_dashboard()
        sign_in(driver, stack, "operator")
        yield Proxied(stack, feeder, proxy, request.param)
    finally:
        driver.get("about:blank")
        driver.get_log("browser")  # the failed loads of this module are not the next one's
        proxy.set_mode("pass")
        if stack.api and stack.api.proc:
            os.kill(stack.api.proc.pid, signal.SIGCONT)  # never leave it frozen
        feeder.stop()
        stack.stop()
        proxy.close()


LIVE_STATE = """
const f = document.getElementById(arguments[0]);
if (!f) return null;
const banner = f.querySelector('.kz-banner');
const nominal = document.getElementById(arguments[1]);
return {live: f.dataset.kzLive || '', filter: banner ? getComputedStyle(banner).filter : '',
        nominal: !!(nominal && nominal.offsetParent && nominal.innerText.trim()),
        mode: f.dataset.kzMode || ''};
"""


def state(driver: object, page: str) -> dict:
    return driver.execute_script(LIVE_STATE, dash_id("frame", page, "f"),
                                 dash_id("vc", page, "banner|all")) or {}


def notice(driver: object, page: str) -> str:
    return text_of(driver, "down", page, "notice") if shown(driver, "down", page, "notice") \
        else ""


def not_live(driver: object, page: str) -> bool:
    s = state(driver, page)
    return s.get("live") == "no" and "grayscale" in s.get("filter", "") \
        and not s.get("nominal") and "NOT LIVE" in notice(driver, page)


def is_live(driver: object, page: str) -> bool:
    s = state(driver, page)
    return s.get("live") == "yes" and s.get("nominal") and not notice(driver, page)


def asof(driver: object, page: str) -> str:
    return text_of(driver, "v", page, "banner|asof")


def wait_fresh(driver: object, page: str, why: str, mode: str) -> None:
    """Until the page is live, fed as `mode` says, and a model newer than the one on screen
    now has drawn."""
    before = asof(driver, page)
    try:
        until(driver, lambda d: is_live(d, page) and asof(d, page) not in ("", before)
              and state(d, page).get("mode") == mode, PATIENCE_S)
    except TimeoutException:
        raise AssertionError(f"{page}: {why} ({state(driver, page)}, notice "
                             f"{notice(driver, page)!r}, banner {asof(driver, page)!r} "
                             f"was {before!r})") from None


def check_not_live(driver: object, page: str, what: str) -> str:
    """Wait for the not-live state; return the notice (it says since when)."""
    until(driver, lambda d: not_live(d, page), PATIENCE_S,
          f"{page} with the API {what}: still looks live ({state(driver, page)}, "
          f"notice {notice(driver, page)!r})")
    text = notice(driver, page)
    assert "since" in text and " UTC" in text, text
    return text


@pytest.mark.parametrize("name", list(LIVE_PAGES))
def test_each_way_the_api_fails_shows_not_live_and_recovers(
        driver: object, proxied: Proxied, name: str) -> None:
    page = name  # the keys of LIVE_PAGES are the pages' own names
    proxied.proxy.set_mode("pass")
    open_page(driver, proxied, LIVE_PAGES[name])
    wait_fresh(driver, page, "never live with the API answering", proxied.mode)
    for fault in FAULTS:
        proxied.proxy.set_mode(fault)
        text = check_not_live(driver, page, fault)
        print(f"{name}, API {fault}: {text}")
        if name == "overview" and fault == "hang":
            save_screenshot(driver, f"overview-not-live-hang-{proxied.mode}")
        proxied.proxy.set_mode("pass")
        wait_fresh(driver, page, f"did not come back live after the API {fault}", proxied.mode)


@contextmanager
def frozen(pid: int) -> Iterator[None]:
    """The process stopped (SIGSTOP) for the block, then let run again (SIGCONT)."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def test_frozen_api_process_shows_not_live_and_recovers(driver: object,
                                                       proxied: Proxied) -> None:
    """The API process itself stopped (SIGSTOP): connections are accepted by the kernel
    and never answered, as with a stuck database lock or a paused VM."""
    proxied.proxy.set_mode("pass")
    open_page(driver, proxied, "/")
    wait_fresh(driver, "overview", "never live with the API answering", proxied.mode)
    with frozen(proxied.stack.api.proc.pid):
        text = check_not_live(driver, "overview", "frozen (SIGSTOP)")
        print(f"overview, API process stopped: {text}")
        save_screenshot(driver, f"overview-not-live-sigstop-{proxied.mode}")
    wait_fresh(driver, "overview", "did not come back live after SIGCONT", proxied.mode)


def test_frozen_dashboard_server_shows_not_live_by_the_page_alone(driver: object,
                                                                  proxied: Proxied) -> None:
    """With the dashboard's own server stopped no callback answers at all: the page's own
    watchdog says it is not live, and the page recovers when the server runs again."""
    proxied.proxy.set_mode("pass")
    open_page(driver, proxied, "/")
    wait_fresh(driver, "overview", "never live with the API answering", proxied.mode)
    with frozen(proxied.stack.dashboard.proc.pid):
        text = check_not_live(driver, "overview", "answering, the dashboard server frozen")
        assert "no fresh telemetry since" in text, text
        save_screenshot(driver, f"overview-not-live-dashboard-stopped-{proxied.mode}")
    wait_fresh(driver, "overview", "did not come back live after the dashboard's SIGCONT",
               proxied.mode)
