"""The dashboard in a real browser: pages load cleanly, values move, limit breaches and an API
outage show within seconds."""

from __future__ import annotations

import json
import time

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.conftest import Live, save_screenshot

pytestmark = pytest.mark.browser

PAGES = {"overview": "/", "satellite-kazsat-2": "/satellite/kazsat-2",
         "satellite-kazsat-3": "/satellite/kazsat-3", "station-akkol": "/station/akkol",
         "station-kokterek": "/station/kokterek", "alerts": "/alerts", "replay": "/replay"}


def dash_id(kind: str, page: str, key: str) -> str:
    """The DOM id Dash gives a pattern-matching id dict."""
    return json.dumps({"key": key, "kz": kind, "page": page}, separators=(",", ":"),
                      sort_keys=True)


def _prop(driver: object, kind: str, page: str, key: str, prop: str) -> str:
    # getElementById: the JSON ids Dash writes are awkward as CSS selectors.
    return driver.execute_script(
        "const e = document.getElementById(arguments[0]); return e ? e[arguments[1]] : '';",
        dash_id(kind, page, key), prop) or ""


def text_of(driver: object, kind: str, page: str, key: str) -> str:
    return _prop(driver, kind, page, key, "innerText")


def class_of(driver: object, kind: str, page: str, key: str) -> str:
    return _prop(driver, kind, page, key, "className")


def shown(driver: object, kind: str, page: str, key: str) -> bool:
    return bool(driver.execute_script(
        "const e = document.getElementById(arguments[0]); return !!(e && e.offsetParent);",
        dash_id(kind, page, key)))


def until(driver: object, condition: object, timeout: float = 10, message: str = "") -> object:
    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(
        lambda d: condition(d), message)


def severe_logs(driver: object) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def open_page(driver: object, live: Live, path: str) -> None:
    driver.get(live.stack.dashboard_url + path)
    until(driver, lambda d: " UTC" in (d.find_element(By.CLASS_NAME, "kz-banner").text or ""),
          20, f"{path}: the banner never filled")


def wait_ticking(driver: object, page: str) -> None:
    """Until the banner's 'updated' time has moved twice: the page is past its first render
    and ticking steadily."""
    seen: list[str] = []

    def moved(d: object) -> bool:
        text = text_of(d, "v", page, "banner|asof")
        if text and (not seen or seen[-1] != text):
            seen.append(text)
        return len(seen) >= 3

    until(driver, moved, 20, "the page does not tick")


@pytest.mark.parametrize("name", list(PAGES))
def test_page_loads_without_browser_errors(driver: object, live: Live, name: str) -> None:
    driver.get_log("browser")  # drop what earlier pages left
    open_page(driver, live, PAGES[name])
    if name.startswith(("satellite", "station")):
        until(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".kz-chart .scatterlayer"
                                                    " .trace")) > 0, 20, "charts never drew")
    save_screenshot(driver, name)
    assert severe_logs(driver) == []


def test_live_value_changes_without_reload(driver: object, live: Live) -> None:
    open_page(driver, live, "/")
    series = ("kazsat-2", "akkol", "ebn0_db")
    key = "|".join(s or "" for s in series)
    marker = driver.find_element(By.TAG_NAME, "header")  # must survive: no reload
    for value in (13.7, 9.4):
        live.feeder.overrides[series] = value
        until(driver, lambda d, v=value: text_of(d, "v", "overview", key) == f"{v:.1f}", 5,
              f"Eb/N0 never showed {value}")
    live.feeder.overrides.pop(series)
    assert marker.is_displayed()


def test_limit_breach_turns_tile_and_banner_critical(driver: object, live: Live) -> None:
    """How soon is measured by benchmarks/dashboard.py; here: that it shows, in words."""
    open_page(driver, live, "/")
    wait_ticking(driver, "overview")
    tile = ("vc", "overview", "tile|kazsat-2|power")
    assert "kz-n" in class_of(driver, *tile)
    series = ("kazsat-2", None, "bus_voltage")
    live.feeder.breach(series, 95.0)  # below the critical low bound of the mission
    until(driver, lambda d: "kz-c" in class_of(d, *tile)
          and "CRITICAL" in text_of(d, "vb", "overview", "tile|kazsat-2|power")
          and "1 CRITICAL" in text_of(d, "v", "overview", "banner|critical"), 20,
          "tile and banner did not turn critical")
    cell = ("vc", "overview", "kazsat-2||bus_voltage")
    assert "kz-c" in class_of(driver, *cell)
    assert "CRIT" in text_of(driver, "vb", "overview", "kazsat-2||bus_voltage")
    assert "bus voltage" in text_of(driver, "v", "overview", "alarms|kazsat-2|power").lower()
    save_screenshot(driver, "overview-critical")
    live.feeder.overrides.pop(series)
    live.feeder.breach(series, 100.0)
    until(driver, lambda d: "kz-n" in class_of(d, *tile), 20, "tile never came back nominal")


ROW = """
const out = {};
for (const sid of arguments[0]) {
  const link = document.querySelector(`.kz-station a[href='/station/${sid}']`);
  const panel = link && link.closest('.kz-station');
  if (!panel) continue;
  const r = panel.getBoundingClientRect();
  const row = panel.parentElement;
  out[sid] = {top: r.top, left: r.left, right: r.right, row: [...row.parentElement.children]
              .indexOf(row), text: panel.innerText};
}
return out;
"""


def test_overview_shows_both_stations_side_by_side_with_state_and_prime(
        driver: object, live: Live) -> None:
    open_page(driver, live, "/")
    wait_ticking(driver, "overview")
    until(driver, lambda d: "PRIME" in text_of(d, "v", "overview", "prime|akkol|kazsat-2"), 20,
          "Akkol never marked prime")
    panels = driver.execute_script(ROW, ["akkol", "kokterek"])
    akkol, kokterek = panels["akkol"], panels["kokterek"]
    # One row: the same top, Akkol (the primary) on the left, not overlapping.
    assert akkol["row"] == kokterek["row"]
    assert abs(akkol["top"] - kokterek["top"]) < 1
    assert akkol["right"] <= kokterek["left"]
    assert "PRIMARY" in akkol["text"] and "RESERVE" in kokterek["text"].upper()
    for sid in ("akkol", "kokterek"):
        assert "OK" in text_of(driver, "vb", "overview", f"tile|{sid}")  # its state in words
        for sat in ("kazsat-2", "kazsat-3"):
            prime = text_of(driver, "v", "overview", f"prime|{sid}|{sat}")
            marked = "kz-p" in class_of(driver, "vc", "overview", f"prime|{sid}|{sat}").split()
            if sid == "akkol":
                assert "PRIME" in prime and marked, (sid, sat, prime)
            else:
                assert "standby" in prime and not marked, (sid, sat, prime)


def test_api_outage_shows_notice_and_recovers(driver: object, live: Live) -> None:
    # A station page (test_not_live.py covers every live page and way of failing).
    open_page(driver, live, "/station/akkol")
    notice = ("down", "station", "notice")
    assert not shown(driver, *notice)
    live.stack.api.stop()
    until(driver, lambda d: "API unreachable since" in text_of(d, *notice), 10,
          "no notice while the API is down")
    save_screenshot(driver, "api-down")
    live.stack.start_api()  # same port, same data folder
    until(driver, lambda d: not shown(d, *notice), 15,
          "the notice stayed after the API came back")
    wait_ticking(driver, "station")
    assert "kz-n" in class_of(driver, "vc", "station", "tile|akkol")
    assert severe_logs(driver) == []


def test_replay_plays_and_draws_panels_at_the_cursor(driver: object, live: Live) -> None:
    open_page(driver, live, "/replay")
    mark = driver.find_element(By.CLASS_NAME, "kz-replay-mark")
    assert "REPLAY" in mark.text
    cursor = driver.find_element(By.ID, "rp-cursor-text")
    until(driver, lambda d: "paused" in cursor.text, 10)
    before = cursor.text
    driver.find_element(By.ID, "rp-last-hour").click()
    driver.find_element(By.ID, "rp-play").click()
    until(driver, lambda d: "playing" in cursor.text and cursor.text[:20] != before[:20], 10,
          "the cursor did not move when playing")
    driver.find_element(By.ID, "rp-pause").click()
    until(driver, lambda d: "paused" in cursor.text, 10)
    # The panels are drawn at the cursor: the banner says "at", not "updated".
    assert text_of(driver, "v", "replay", "banner|asof").startswith("at ")
    assert severe_logs(driver) == []


CHART = """
const e = document.getElementById(arguments[0]);
const g = e && e.querySelector('.js-plotly-plot');
if (!g || !g.layout || !g.data) return null;
return {shapes: g.layout.shapes || [], annotations: g.layout.annotations || [],
        x: g.data.map(t => Array.from(t.x || []))};
"""


def chart(driver: object, page: str, key: str) -> dict:
    """The drawn figure's shapes, annotations and each trace's times (from Plotly itself)."""
    return driver.execute_script(CHART, dash_id("chart", page, key)) or \
        {"shapes": [], "annotations": [], "x": []}


def limit_lines(driver: object, page: str, key: str, strip: str) -> list[float]:
    """The limit lines drawn across the strip titled `strip`."""
    drawn = chart(driver, page, key)
    titles = [a["text"] for a in drawn["annotations"] if a.get("xref") == "paper"]
    if strip not in titles:
        return []
    i = titles.index(strip)
    axis = "y" if i == 0 else f"y{i + 1}"
    return sorted(s["y0"] for s in drawn["shapes"]
                  if s.get("xref") == "paper" and s.get("yref") == axis)


def open_alert(live: Live, series: tuple, timeout: float = 10) -> dict:
    """The open alert of a series, polled for until it is raised."""
    sat, station, parameter = series
    deadline = time.monotonic() + timeout
    with live.stack.client() as c:
        while True:
            found = [a for a in c.get("/api/v1/alerts").json()["alerts"]
                     if (a["satellite"], a["station"], a["parameter"]) == series]
            if found:
                return found[0]
            assert time.monotonic() < deadline, f"no alert for {sat} {station} {parameter}"
            time.sleep(0.1)


def test_limit_changed_through_the_api_shows_on_the_open_satellite_page(
        driver: object, live: Live) -> None:
    open_page(driver, live, "/satellite/kazsat-2")
    key = "kazsat-2||bus_voltage"

    def limits(d: object) -> str:
        return " ".join(text_of(d, "lim", "satellite", key).split())

    def lines(d: object) -> list[float]:
        return limit_lines(d, "satellite", "power", "Bus voltage")

    assert limits(driver) == "W 98.50…101.50 C 97.00…103.00"
    until(driver, lambda d: lines(d) == [97.0, 98.5, 101.5, 103.0], 20,
          "the bus voltage strip does not show its default limits")
    new = {"warning": {"low": 98.0, "high": 102.0}, "critical": {"low": 96.5, "high": 103.5}}
    with live.stack.client("engineer") as c:
        try:
            r = c.put("/api/v1/limits/bus_voltage", json=new)
            assert r.status_code == 200, r.text
            changed = time.monotonic()
            # No reload: the open page follows the effective limits by itself.
            until(driver, lambda d: limits(d) == "W 98.00…102.00 C 96.50…103.50", 15,
                  "the limits text did not follow")
            until(driver, lambda d: lines(d) == [96.5, 98.0, 102.0, 103.5], 15,
                  "the chart's limit lines did not follow")
            print(f"new limits shown {time.monotonic() - changed:.1f} s after the change")
            save_screenshot(driver, "satellite-limits-changed")
        finally:
            assert c.delete("/api/v1/limits/bus_voltage").status_code == 200
    until(driver, lambda d: limits(d) == "W 98.50…101.50 C 97.00…103.00", 15,
          "the default limits did not come back")
    assert severe_logs(driver) == []


def test_breach_is_marked_on_the_strip_chart_and_in_replay(driver: object, live: Live) -> None:
    open_page(driver, live, "/satellite/kazsat-2")
    until(driver, lambda d: chart(d, "satellite", "power")["x"], 20, "the chart never drew")
    series = ("kazsat-2", None, "bus_voltage")
    live.feeder.breach(series, 102.2)  # over the warning high (101.5), under critical (103)
    try:
        alert = open_alert(live, series)
        name = f"alert {alert['id']}"
        until(driver, lambda d: name in [s.get("name") for s in
                                         chart(d, "satellite", "power")["shapes"]], 15,
              "no marker for the alert on the power chart")
        drawn = chart(driver, "satellite", "power")
        marker = next(s for s in drawn["shapes"] if s.get("name") == name)
        assert marker["x0"] == alert["raised"] and marker["line"]["color"] == "#f5a623"
        note = next(a for a in drawn["annotations"] if a.get("name") == name)
        assert note["text"] == "▲" and note["hovertext"].startswith("WARNING alert")
        # The marker came as a patch of the layout: the traces keep extending, each
        # sample once.
        last = max(xs[-1] for xs in drawn["x"] if xs)
        until(driver, lambda d: max(xs[-1] for xs in chart(d, "satellite", "power")["x"]
                                    if xs) > last, 15, "the chart stopped extending")
        for xs in chart(driver, "satellite", "power")["x"]:
            assert xs == sorted(set(xs)), "a sample drawn twice"
        save_screenshot(driver, "satellite-alert-marker")
    finally:
        live.feeder.overrides.pop(series)
        live.feeder.breach(series, 100.0)
    open_page(driver, live, f"/replay?satellite=kazsat-2&parameter=bus_voltage"
                            f"&t={alert['raised']}")
    until(driver, lambda d: name in [s.get("name") for s in d.execute_script(
        "const g = document.querySelector('#rp-chart .js-plotly-plot');"
        "return g && g.layout ? g.layout.shapes || [] : [];")], 15,
        "no marker for the alert on the replay chart")
    save_screenshot(driver, "replay-alert-marker")
    assert severe_logs(driver) == []


# What the alerts page's buttons send, as a browser could forge it: the act callback with a
# chosen button key and shelve minutes.
ACT = """
const [kind, key, minutes, done] = [arguments[0], arguments[1], arguments[2],
                                    arguments[arguments.length - 1]];
const button = {id: {kz: kind, key: key}, property: "n_clicks", value: 1};
const body = {
  output: "..al-result.children...al-changed.data..",
  outputs: [{id: "al-result", property: "children"}, {id: "al-changed", property: "data"}],
  inputs: [kind === "ack" ? [button] : [], kind === "shelve" ? [button] : []],
  changedPropIds: [JSON.stringify({key: key, kz: kind}) + ".n_clicks"],
  state: [{id: "al-comment", property: "value", value: "forged"},
          {id: "al-minutes", property: "value", value: minutes},
          {id: "al-changed", property: "data", value: 0}],
};
fetch("/_dash-update-component", {method: "POST", body: JSON.stringify(body),
                                  headers: {"Content-Type": "application/json"}})
  .then(r => r.text().then(t => done([r.status, t])), e => done([0, String(e)]));
"""


def test_forged_alert_ids_and_minutes_are_refused_with_a_message(driver: object,
                                                                 live: Live) -> None:
    """An alert key like `1/../../alerts/2` once made the dashboard acknowledge alert 2;
    shelving for "abc" minutes was a 500. Both are clear messages now, and nothing changes."""
    first, second = ("kazsat-2", None, "bus_voltage"), ("kazsat-3", None, "bus_voltage")
    live.feeder.breach(first, 95.0)
    live.feeder.breach(second, 95.0)
    try:
        target = open_alert(live, second)
        open_page(driver, live, "/alerts")
        driver.set_script_timeout(30)
        cases = [("ack", f"{open_alert(live, first)['id']}/../../alerts/{target['id']}", 60,
                  "alert id must be a whole number"),
                 ("shelve", str(target["id"]), "abc", "shelve minutes must be a whole number"),
                 ("shelve", f"{target['id']}?x=1", 60, "alert id must be a whole number")]
        for kind, key, minutes, message in cases:
            status, text = driver.execute_async_script(ACT, kind, key, minutes)
            assert status == 200 and message in text and "Nothing was changed" in text, \
                (kind, key, minutes, status, text[:300])
        with live.stack.client() as c:
            alerts = {a["id"]: a for a in
                      c.get("/api/v1/alerts", params={"status": "all"}).json()["alerts"]}
        assert not alerts[target["id"]]["acked_at"] and not alerts[target["id"]]["shelved_until"]
    finally:
        for series, value in ((first, 100.0), (second, 100.0)):
            live.feeder.overrides.pop(series, None)
            live.feeder.breach(series, value)
