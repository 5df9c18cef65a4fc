"""Replay in a real browser over history written through the API first: an hour of 1 Hz
bus voltage (and a link's Eb/N0) that ramps, so the panels differ at every cursor time.
Plays an hour at 600x, downloads a CSV, opens an alert email's replay link, zooms."""

from __future__ import annotations

import csv
import datetime as dt
import io
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest
from selenium.webdriver.common.by import By

from backend.notify import AlertFacts, replay_url
from backend.settings import Settings
from tests.browser.conftest import Live, save_screenshot
from tests.browser.test_dashboard import dash_id, open_page, severe_logs, text_of, until

pytestmark = pytest.mark.browser

SAMPLES = 3600
VOLT = ("kazsat-2", None, "bus_voltage")
EBN0 = ("kazsat-2", "akkol", "ebn0_db")


def volts(i: int) -> float:
    """Bus voltage i seconds into the hour: 99 V rising to 101 V, inside every limit."""
    return 99.0 + 2.0 * i / SAMPLES


def ebn0(i: int) -> float:
    return 10.0 + 4.0 * i / SAMPLES


class History(NamedTuple):
    start: dt.datetime  # first sample; one a second for an hour

    def at(self, seconds: float) -> str:
        t = self.start + dt.timedelta(seconds=seconds)
        return t.strftime("%Y-%m-%dT%H:%M:%SZ")

    @property
    def range_query(self) -> str:
        return f"start={self.at(0)}&end={self.at(SAMPLES)}"


@pytest.fixture(scope="module")
def history(live: Live) -> History:
    """Three hours ago, an hour of ramps, written in one batch (second precision)."""
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    start = now - dt.timedelta(hours=3)
    t0 = int(start.timestamp())
    lines = []
    for i in range(SAMPLES):
        lines.append(f"power,satellite=kazsat-2 bus_voltage={volts(i)!r} {t0 + i}")
        lines.append(f"link,satellite=kazsat-2,station=akkol ebn0_db={ebn0(i)!r} {t0 + i}")
    response = live.stack.write("\n".join(lines), precision="s")
    assert response.status_code == 204, response.text
    return History(start)


def cell(driver: object, key: str, page: str = "replay") -> str:
    return text_of(driver, "v", page, key)


def cursor(driver: object) -> str:
    return driver.find_element(By.ID, "rp-cursor-text").text


RECORD = """
const el = document.getElementById(arguments[0]);
window.kzValues = [];
new MutationObserver(() => window.kzValues.push(el.textContent + " @ " +
  document.getElementById("rp-cursor-text").textContent))
  .observe(el, {childList: true, characterData: true, subtree: true});
"""


def open_replay(driver: object, live: Live, query: str) -> None:
    open_page(driver, live, f"/replay?{query}")
    assert "REPLAY" in driver.find_element(By.CLASS_NAME, "kz-replay-mark").text


def chart_points(driver: object) -> list[int]:
    return driver.execute_script(
        "const g = document.querySelector('#rp-chart .js-plotly-plot');"
        "return g && g.data ? g.data.map(t => (t.x || []).length) : [];")


def test_plays_an_hour_at_600x_and_the_panels_move(driver: object, live: Live,
                                                   history: History) -> None:
    open_replay(driver, live, f"satellite=kazsat-2&parameter=bus_voltage&{history.range_query}")
    key = "kazsat-2||bus_voltage"
    until(driver, lambda d: cell(d, key) == "99.00", 15, "the panel never showed 99.00 V")
    assert cell(driver, key, "replay-sat") == "99.00"  # the satellite page's table too
    driver.find_element(By.CSS_SELECTOR, "#rp-speed input[value='600']").click()
    until(driver, lambda d: "600x" in cursor(d), 10, "600x was not taken")
    # The browser notes every value the cell takes, so that this test's own polling (slow
    # on a loaded machine) cannot miss a step.
    driver.execute_script(RECORD, dash_id("v", "replay", key))
    driver.find_element(By.ID, "rp-play").click()
    until(driver, lambda d: "playing" in cursor(d), 10, "play did not start")
    end = history.at(SAMPLES)[11:19]
    until(driver, lambda d: end in cursor(d) and "paused" in cursor(d)
          and cell(d, key) == "101.00", 40, f"playback did not reach the end: {cursor(driver)}")
    seen = driver.execute_script("return window.kzValues;")
    values = [float(v.split(" @ ")[0]) for v in seen]
    # Ten-minute steps over an hour: 99.33, 99.67, ... 101.00, rising with the ramp.
    assert len(set(values)) >= 5, values
    assert values == sorted(values), values
    assert cell(driver, key, "replay-sat") == "101.00"
    assert text_of(driver, "v", "replay", "banner|asof") == f"at {history.at(SAMPLES)[11:19]} UTC"
    save_screenshot(driver, "replay-end")
    assert severe_logs(driver) == []


def test_downloads_the_range_as_csv(driver: object, live: Live, history: History) -> None:
    folder = Path(tempfile.mkdtemp(prefix="kazsat-download-"))
    driver.execute_cdp_cmd("Browser.setDownloadBehavior",
                           {"behavior": "allow", "downloadPath": str(folder)})
    open_replay(driver, live, f"satellite=kazsat-2&parameter=bus_voltage&{history.range_query}")
    until(driver, lambda d: cell(d, "kazsat-2||bus_voltage") == "99.00", 15)
    driver.find_element(By.ID, "rp-csv").click()

    def downloaded(_: object) -> Path | None:
        done = [p for p in folder.glob("*.csv") if p.stat().st_size > 0]
        partial = list(folder.glob("*.crdownload"))
        return done[0] if done and not partial else None

    path = until(driver, downloaded, 20, "no CSV arrived in the download folder")
    assert path.name.startswith("kazsat_kazsat-2_")
    rows = list(csv.reader(io.StringIO(path.read_text())))
    assert rows[0] == ["time", "satellite", "station", "parameter", "value"]
    assert len(rows) == 1 + SAMPLES  # [start, end): every sample written, once
    assert rows[1][:4] == [history.at(0).replace("Z", ".000Z"), "kazsat-2", "", "bus_voltage"]
    assert float(rows[1][4]) == pytest.approx(volts(0))
    assert float(rows[-1][4]) == pytest.approx(volts(SAMPLES - 1))


@pytest.mark.parametrize("series", [VOLT, EBN0], ids=["satellite", "link"])
def test_alert_email_link_lands_at_its_time(driver: object, live: Live, history: History,
                                            series: tuple) -> None:
    sat, station, parameter = series
    event = history.start + dt.timedelta(minutes=20)
    facts = AlertFacts(id=1, kind="limit", satellite=sat, station=station, parameter=parameter,
                       severity="warning", state="raised", value=None, limit="",
                       raised_t=0, updated_t=0, event_t=int(event.timestamp()) * 10**9)
    url = replay_url(Settings(public_dashboard_url=live.stack.dashboard_url), facts)
    assert "t=" in url and (station is None or f"station={station}" in url)
    driver.get(url)
    until(driver, lambda d: f"{history.at(1200)[11:19]} UTC" in cursor(d), 20,
          "the cursor is not at the link's time")
    key = "|".join(s or "" for s in series)
    # The linked series is the one chosen (chart and export)...
    label = "Power · Bus voltage" if parameter == "bus_voltage" else "Akkol · Link · Eb/N0"
    until(driver, lambda d: label in d.find_element(By.ID, "rp-parameters").text, 10,
          f"{label} is not the chosen parameter")
    until(driver, lambda d: len(chart_points(d)) == 1 and chart_points(d)[0] > 0, 15,
          "the chart did not draw the linked series")
    # ...and the panels show its value at that time.
    expected = f"{volts(1200):.2f}" if parameter == "bus_voltage" else f"{ebn0(1200):.1f}"
    until(driver, lambda d: cell(d, key) == expected, 15,
          f"{parameter} at the link's time is not {expected}: {cell(driver, key)!r}")
    save_screenshot(driver, f"replay-deep-link-{parameter}")
    assert severe_logs(driver) == []


def test_zooming_in_fetches_finer_data(driver: object, live: Live, history: History) -> None:
    open_replay(driver, live, f"satellite=kazsat-2&parameter=bus_voltage&{history.range_query}")
    note = driver.find_element(By.ID, "rp-resolution")
    until(driver, lambda d: "buckets" in note.text, 15, f"no resolution shown: {note.text!r}")
    whole = chart_points(driver)[0]
    assert whole < SAMPLES  # an hour of 1 Hz is more than the chart asks for: bucket means
    driver.execute_script(
        "const g = document.querySelector('#rp-chart .js-plotly-plot');"
        "Plotly.relayout(g, {'xaxis.range[0]': arguments[0], 'xaxis.range[1]': arguments[1]});",
        *(history.at(s).replace("T", " ").rstrip("Z") for s in (600, 900)))
    until(driver, lambda d: "raw samples" in note.text, 15, f"no finer data: {note.text!r}")
    assert chart_points(driver) == [300]  # five minutes of 1 Hz, every sample
    save_screenshot(driver, "replay-zoomed")
    assert severe_logs(driver) == []


@pytest.fixture(autouse=True)
def _fresh_page(driver: object) -> Iterator[None]:
    driver.get("about:blank")
    yield


def test_overview_shows_the_next_eclipse(driver: object, live: Live) -> None:
    """GET /api/v1/eclipses feeds the overview too: the next eclipse's start and length (or
    the time left in the current one), from its first paint."""
    now = dt.datetime.now(dt.UTC)
    with live.stack.client() as c:
        found = c.get("/api/v1/eclipses", params={
            "satellite": "kazsat-2", "start": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "end": (now + dt.timedelta(days=200)).strftime("%Y-%m-%dT%H:%M:%SZ")}).json()
    e = found["eclipses"][0]
    start = dt.datetime.fromisoformat(e["start"].replace("Z", "+00:00"))
    expected = "IN ECLIPSE" if start <= now else \
        f"{start:%d %b %H:%M} UTC · {e['duration_s'] / 60:.0f} min"
    driver.get(live.stack.dashboard_url + "/")
    until(driver, lambda d: expected in text_of(d, "v", "overview", "eclipse|kazsat-2"), 15,
          f"the overview does not show {expected!r}")
