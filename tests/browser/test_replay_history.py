"""Replay in a real browser over history written through the API first: an hour of 1 Hz
bus voltage (and a link's Eb/N0) that ramps, so the panels differ at every cursor time, with
one spike and one dip a bucket's mean would hide. Plays an hour at 600x, downloads CSV (raw
and a rollup) and Parquet through the dashboard, opens an alert email's replay link, zooms,
and draws the min-max envelope when zoomed out."""

from __future__ import annotations

import csv
import datetime as dt
import io
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import httpx
import pyarrow.parquet as pq
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


# One-second excursions, inside every limit, off the cursor's 600x steps (multiples of 600).
SPIKE, SPIKE_V = 1234, 101.4
DIP, DIP_V = 2345, 98.6


def volts(i: int) -> float:
    """Bus voltage i seconds into the hour: 99 V rising to 101 V, but for the spike and dip."""
    return {SPIKE: SPIKE_V, DIP: DIP_V}.get(i, 99.0 + 2.0 * i / SAMPLES)


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
    """Points of each series' line (traces with meta; an envelope's band has none)."""
    return driver.execute_script(
        "const g = document.querySelector('#rp-chart .js-plotly-plot');"
        "return g && g.data ? g.data.filter(t => t.meta).map(t => (t.x || []).length) : [];")


def chart_traces(driver: object) -> list[dict]:
    return driver.execute_script(
        "const g = document.querySelector('#rp-chart .js-plotly-plot');"
        "return g && g.data ? g.data.map(t => ({name: t.name, meta: t.meta || null,"
        " fill: t.fill || '', x: Array.from(t.x || []), y: Array.from(t.y || [])})) : [];")


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


def choose(driver: object, dropdown: str, label: str) -> None:
    """Pick `label` in a Dash dropdown as a person would: open it, click the option."""
    driver.find_element(By.ID, dropdown).click()
    option = until(driver, lambda d: next((o for o in d.find_elements(
        By.CSS_SELECTOR, "[role='option']") if o.text.strip() == label), None), 5,
        f"{dropdown} offers no {label!r}")
    option.click()
    until(driver, lambda d: label in d.find_element(By.ID, dropdown).text, 5,
          f"{dropdown} did not take {label!r}")


def download(driver: object, ext: str, query: str) -> Path:
    """Click the page's download link once its query holds `query`; the file it gives."""
    folder = Path(tempfile.mkdtemp(prefix="kazsat-download-"))
    driver.execute_cdp_cmd("Browser.setDownloadBehavior",
                           {"behavior": "allow", "downloadPath": str(folder)})
    link = driver.find_element(By.ID, "rp-download")
    until(driver, lambda d: query in (link.get_attribute("href") or ""), 10,
          f"the download link lacks {query!r}: {link.get_attribute('href')!r}")
    link.click()

    def arrived(_: object) -> Path | None:
        done = [p for p in folder.glob(f"*.{ext}") if p.stat().st_size > 0]
        return done[0] if done and not list(folder.glob("*.crdownload")) else None

    return until(driver, arrived, 20, f"no .{ext} arrived in the download folder")


def test_downloads_the_range_raw_and_as_a_rollup(driver: object, live: Live,
                                                 history: History) -> None:
    """Through the dashboard's streaming route, with the API's file name."""
    open_replay(driver, live, f"satellite=kazsat-2&parameter=bus_voltage&{history.range_query}")
    until(driver, lambda d: cell(d, "kazsat-2||bus_voltage") == "99.00", 15)
    day = history.at(0)[:10]
    path = download(driver, "csv", "resolution=raw&format=csv")
    assert path.name == f"kazsat-kazsat-2-raw-{day}.csv"
    rows = list(csv.reader(io.StringIO(path.read_text())))
    assert rows[0] == ["time", "satellite", "station", "parameter", "value"]
    assert len(rows) == 1 + SAMPLES  # [start, end): every sample written, once
    assert rows[1][:4] == [history.at(0).replace("Z", ".000Z"), "kazsat-2", "", "bus_voltage"]
    assert [float(r[4]) for r in rows[1:]] == pytest.approx([volts(i) for i in range(SAMPLES)])

    choose(driver, "rp-export-resolution", "1 min")
    path = download(driver, "csv", "resolution=1m&format=csv")
    assert path.name == f"kazsat-kazsat-2-1m-{day}.csv"
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    assert len(rows) == SAMPLES // 60
    assert list(rows[0]) == ["time", "satellite", "station", "parameter", "min", "max", "mean",
                             "count", "first", "last"]
    for k, row in enumerate(rows):
        minute = [volts(i) for i in range(60 * k, 60 * k + 60)]
        assert row["time"] == history.at(60 * k).replace("Z", ".000Z")
        assert int(row["count"]) == 60
        assert float(row["min"]) == pytest.approx(min(minute))
        assert float(row["max"]) == pytest.approx(max(minute))
        assert float(row["mean"]) == pytest.approx(sum(minute) / 60)
        assert float(row["first"]) == pytest.approx(minute[0])
        assert float(row["last"]) == pytest.approx(minute[-1])
    assert float(rows[SPIKE // 60]["max"]) == pytest.approx(SPIKE_V)

    choose(driver, "rp-export-resolution", "raw samples")
    choose(driver, "rp-export-format", "Parquet")
    path = download(driver, "parquet", "resolution=raw&format=parquet")
    table = pq.read_table(path)
    assert table.num_rows == SAMPLES
    assert table.column("value").to_pylist()[SPIKE] == pytest.approx(SPIKE_V)
    save_screenshot(driver, "replay-download")
    assert severe_logs(driver) == []

    # A satellite's series and a link's, in one CSV: the second export's rows follow the
    # first's under the one header (asked with the browser's own session cookie).
    cookie = driver.get_cookie("kazsat_session")["value"]
    with httpx.stream("GET", f"{live.stack.dashboard_url}/download/export", params=[
            ("series", "kazsat-2||bus_voltage"), ("series", "kazsat-2|akkol|ebn0_db"),
            ("start", history.at(0)), ("end", history.at(SAMPLES)), ("resolution", "raw"),
            ("format", "csv")], cookies={"kazsat_session": cookie}, timeout=30) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(r.read().decode())))
    assert rows[0] == ["time", "satellite", "station", "parameter", "value"]
    assert len(rows) == 1 + 2 * SAMPLES
    assert rows[SAMPLES + 1][1:4] == ["kazsat-2", "akkol", "ebn0_db"]
    assert float(rows[SAMPLES + 1][4]) == pytest.approx(ebn0(0))


def test_a_refused_export_reads_as_a_message(driver: object, live: Live,
                                             history: History) -> None:
    """The API's refusals and the dashboard's own checks of the link come back as a page
    saying why, with a way back; without a session the route sends to the login page like
    every other."""
    url = f"{live.stack.dashboard_url}/download/export?resolution=raw"
    cases = {f"series=kazsat-2||bus_voltage&start={history.at(60)}&end={history.at(0)}"
             "&format=csv": (400, "The API refused the export: end must be after start."),
             # Checked against the mission before any request to the API is built.
             f"series=kazsat-2||no_such_thing&{history.range_query}&format=csv":
             (400, "The export link names a series the dashboard does not know: "
                   "'kazsat-2||no_such_thing'."),
             f"series=kazsat-2||..%2Falerts%2F2%2Fack&{history.range_query}&format=csv":
             (400, "The export link names a series the dashboard does not know"),
             f"series=kazsat-2||bus_voltage&{history.range_query}&format=xml":
             (400, "The export link asks for resolution 'raw' and format 'xml'"),
             f"series=kazsat-2||bus_voltage&series=kazsat-2|akkol|ebn0_db&{history.range_query}"
             "&format=parquet": (400, "A Parquet export takes the parameters of one")}
    for query, (status, message) in cases.items():
        driver.get(f"{url}&{query}")
        text = until(driver, lambda d: d.find_elements(By.ID, "login-message"), 10,
                     f"no message for {query}")[0].text
        assert text.startswith(message) and "Traceback" not in driver.page_source
        assert driver.find_element(By.TAG_NAME, "h1").text == "Export refused"
        assert "/replay?" in driver.find_element(By.ID, "notice-back").get_attribute("href")
        logged = severe_logs(driver)  # the browser logs the page's status as a failed load
        assert all(f"status of {status}" in m for m in logged), logged
    r = httpx.get(f"{url}&series=kazsat-2||bus_voltage&{history.range_query}")
    assert r.status_code == 302 and r.headers["location"].startswith("/login?next=")


def test_zoomed_out_chart_draws_the_min_max_envelope(driver: object, live: Live,
                                                     history: History) -> None:
    """A week around the hour: buckets many minutes wide, whose means flatten the spike and
    the dip; the band behind the mean line still reaches both."""
    week = f"start={history.at(SAMPLES - 7 * 86400)}&end={history.at(SAMPLES)}"
    for query, name in ((week, "week"), (history.range_query, "hour")):
        open_replay(driver, live, f"satellite=kazsat-2&parameter=bus_voltage&{query}")
        until(driver, lambda d: "min–max" in shows(d) and len(chart_traces(d)) == 3, 15,
              f"no envelope: {shows(driver)!r}")
        low, high, mean = chart_traces(driver)
        assert [low["meta"], high["meta"], mean["meta"][0]] == [None, None,
                                                                "kazsat-2||bus_voltage"]
        assert high["fill"] == "tonexty" and low["fill"] in ("", "none")  # band: max to min
        assert low["x"] == high["x"] == mean["x"] and len(mean["x"]) > 1
        # The bucket holding each excursion reaches it; no mean comes near.
        peak = high["y"].index(max(high["y"]))
        assert high["y"][peak] == pytest.approx(SPIKE_V)
        assert _t(mean["x"][peak]) <= _t(history.at(SPIKE)) < _t(mean["x"][peak + 1])
        trough = low["y"].index(min(low["y"]))
        assert low["y"][trough] == pytest.approx(DIP_V)
        assert _t(mean["x"][trough]) <= _t(history.at(DIP)) < _t(mean["x"][trough + 1])
        assert max(mean["y"]) < 101.1 and min(mean["y"]) > 98.9
        assert all(lo <= m <= hi for lo, m, hi in zip(low["y"], mean["y"], high["y"]))
        save_screenshot(driver, f"replay-envelope-{name}")
    # Zoomed in to raw samples: a plain line again, no band.
    driver.execute_script(
        "const g = document.querySelector('#rp-chart .js-plotly-plot');"
        "Plotly.relayout(g, {'xaxis.range[0]': arguments[0], 'xaxis.range[1]': arguments[1]});",
        *(history.at(s).replace("T", " ").rstrip("Z") for s in (1200, 1300)))
    until(driver, lambda d: "raw samples" in shows(d) and len(chart_traces(d)) == 1, 15,
          f"no raw line: {shows(driver)!r}")
    assert max(chart_traces(driver)[0]["y"]) == pytest.approx(SPIKE_V)
    assert severe_logs(driver) == []


def shows(driver: object) -> str:
    """What the note over the chart says it draws."""
    return driver.find_element(By.ID, "rp-resolution").text


def _t(text: str) -> dt.datetime:
    """A time from the API or from Plotly ('2026-11-25 10:00:00') as an aware datetime."""
    return dt.datetime.fromisoformat(text.replace(" ", "T").replace("Z", "")).replace(
        tzinfo=dt.UTC)


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
