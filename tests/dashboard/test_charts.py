"""Strip charts (dashboard/charts.py): strips, limit lines, alert markers and envelopes drawn
from the mission, /series and /alerts answers."""

from __future__ import annotations

from itertools import pairwise

import dash
import pytest

from dashboard import charts
from dashboard import parameters as pm

WINDOW_S = 900.0


def power(mission: dict) -> tuple[list[pm.ChartRow], dict[int, list[charts.Trace]]]:
    """KazSat-2's power strips and their traces, as the satellite page builds them."""
    rows = pm.chart_rows(pm.parameters(mission, "power", "kazsat-2"))
    return rows, {i: [charts.Trace(pm.series_key("kazsat-2", None, p["key"]), pm.label(p),
                                   "kazsat-2", None, p["key"]) for p in row.params]
                  for i, row in enumerate(rows)}


def history(body: dict) -> dict[str, tuple[list, list]]:
    """A /series answer as the charts take it: times and values (or bucket means) per key."""
    return {pm.series_key(s["satellite"], s["station"], s["parameter"]):
            (s["time"], s["value"] if "value" in s else s["mean"]) for s in body["series"]}


def strip_of(rows: list[pm.ChartRow], key: str) -> int:
    return next(i for i, r in enumerate(rows) if any(p["key"] == key for p in r.params))


def test_one_strip_per_row_stacked_top_down_on_one_time_axis(mission: dict,
                                                             answers: dict) -> None:
    rows, traces_of = power(mission)
    fig = charts.strip_figure(rows, traces_of, history(answers["series"]), WINDOW_S)
    layout = fig["layout"]
    axes = [layout["yaxis" if i == 0 else f"yaxis{i + 1}"] for i in range(len(rows))]
    domains = [a["domain"] for a in axes]
    assert domains[0][1] == 1 and domains[-1][0] == pytest.approx(0)
    assert all(low < high for low, high in domains)
    assert all(below[1] < above[0] for above, below in pairwise(domains))
    assert [a["title"]["text"] for a in axes] == [r.unit for r in rows]
    assert layout["xaxis"]["anchor"] == f"y{len(rows)}"  # under the bottom strip
    titles = [n["text"] for n in layout["annotations"]]
    assert titles == [r.title for r in rows]
    assert charts.strip_height(len(rows)) == 40 + len(rows) * charts.STRIP_PX


def test_traces_carry_their_history_and_how_many_points_to_keep(mission: dict,
                                                                answers: dict) -> None:
    rows, traces_of = power(mission)
    fig = charts.strip_figure(rows, traces_of, history(answers["series"]), WINDOW_S)
    by_key = {t["meta"][0]: t for t in fig["data"]}
    assert set(by_key) == {t.key for ts in traces_of.values() for t in ts}
    voltage = by_key["kazsat-2||bus_voltage"]
    [answer] = [s for s in answers["series"]["series"] if s["parameter"] == "bus_voltage"]
    assert (voltage["x"], voltage["y"]) == (answer["time"], answer["value"])
    assert voltage["yaxis"] == "y" + ("" if strip_of(rows, "bus_voltage") == 0 else
                                      str(strip_of(rows, "bus_voltage") + 1))
    # A live trace keeps the window's worth of samples at the parameter's period, plus a few.
    assert voltage["meta"][1] == 905  # 1 s period
    assert by_key["kazsat-2||battery_temp"]["meta"][1] == 95  # 10 s period
    assert by_key["kazsat-2||battery_soc"]["x"] == []  # no history asked for: empty, drawn
    assert {t["type"] for t in fig["data"]} == {"scatter"}


def test_limits_are_lines_warning_dashed_critical_solid(mission: dict) -> None:
    rows, traces_of = power(mission)
    shapes = charts.strip_figure(rows, traces_of, {}, WINDOW_S)["layout"]["shapes"]
    i = strip_of(rows, "bus_voltage")
    axis = "y" if i == 0 else f"y{i + 1}"
    lines = {(s["y0"], s["line"]["color"], s["line"]["dash"]) for s in shapes
             if s["yref"] == axis}
    assert lines == {(98.5, charts.LIMIT_COLOUR["warning"], "dash"),
                     (101.5, charts.LIMIT_COLOUR["warning"], "dash"),
                     (97.0, charts.LIMIT_COLOUR["critical"], "solid"),
                     (103.0, charts.LIMIT_COLOUR["critical"], "solid")}
    # Array currents have no limits: no lines on their strip.
    j = strip_of(rows, "sa_north_current")
    assert not [s for s in shapes if s["yref"] == f"y{j + 1}"]


def test_alerts_are_marked_on_their_own_strip_with_symbol_and_words(mission: dict,
                                                                    answers: dict) -> None:
    rows, traces_of = power(mission)
    alerts = answers["alerts"]["alerts"]
    deco = charts.decorations(rows, traces_of, alerts)
    marks = {s["name"]: s for s in deco["shapes"] if s.get("name")}
    by_parameter = {a["parameter"]: a for a in alerts}
    voltage, temp = by_parameter["bus_voltage"], by_parameter["battery_temp"]
    # The carrier-lock alert is KazSat-3's link: not on KazSat-2's power chart.
    assert set(marks) == {f"alert {voltage['id']}", f"alert {temp['id']}"}
    mark = marks[f"alert {voltage['id']}"]
    i = strip_of(rows, "bus_voltage")
    assert (mark["x0"], mark["yref"]) == (voltage["raised"],
                                          f"{'y' if i == 0 else f'y{i + 1}'} domain")
    notes = {n["name"]: n for n in deco["annotations"] if n.get("name")}
    assert notes[f"alert {voltage['id']}"]["text"] == "✖"
    assert notes[f"alert {temp['id']}"]["text"] == "▲"
    assert notes[f"alert {voltage['id']}"]["hovertext"] == (
        f"CRITICAL alert · Bus voltage 104.00 V (critical high 103 V) · raised "
        f"{voltage['raised'][11:19]} UTC")


def test_bucketed_history_is_drawn_inside_its_envelope(mission: dict, answers: dict) -> None:
    rows, traces_of = power(mission)
    body = answers["series_buckets"]
    bands = {pm.series_key(s["satellite"], s["station"], s["parameter"]): (s["min"], s["max"])
             for s in body["series"]}
    fig = charts.strip_figure(rows, traces_of, history(body), WINDOW_S, bands=bands)
    names = [t["name"] for t in fig["data"]]
    at = names.index("Bus voltage")
    low, high, mean = fig["data"][at - 2:at + 1]
    [answer] = [s for s in body["series"] if s["parameter"] == "bus_voltage"]
    assert (low["name"], high["name"]) == ("Bus voltage min", "Bus voltage max")
    assert (low["y"], high["y"], mean["y"]) == (answer["min"], answer["max"], answer["mean"])
    assert high["fill"] == "tonexty" and "meta" not in low and "meta" not in high
    assert max(high["y"]) == 104.0 > max(mean["y"])  # the spike the mean hides
    assert len(fig["data"]) == len(names) == sum(map(len, traces_of.values())) + 2 * len(bands)


def test_a_long_history_is_drawn_with_webgl(mission: dict) -> None:
    rows, traces_of = power(mission)
    times = [f"2026-01-01T00:{m:02d}:{s:02d}.000Z" for m in range(60) for s in range(60)]
    fig = charts.strip_figure(rows, traces_of,
                              {"kazsat-2||bus_voltage": (times, [100.0] * len(times))}, WINDOW_S)
    types = {t["meta"][0]: t["type"] for t in fig["data"]}
    assert types["kazsat-2||bus_voltage"] == "scattergl"
    assert types["kazsat-2||bus_current"] == "scatter"


def test_a_live_chart_redraws_only_what_changed(mission: dict, answers: dict) -> None:
    rows, traces_of = power(mission)
    alerts = answers["alerts"]["alerts"]
    drawn = []

    def draw() -> dict:
        drawn.append(1)
        return charts.strip_figure(rows, traces_of, {}, WINDOW_S, alerts=alerts)

    figure, shows = charts.live_update(None, rows, traces_of, alerts, draw)
    assert figure["layout"]["shapes"] and len(drawn) == 1
    # Nothing new: nothing sent.
    assert charts.live_update(shows, rows, traces_of, alerts, draw) == (dash.no_update,
                                                                       dash.no_update)
    # Another satellite's alert gone: nothing on this chart changed.
    others = [a for a in alerts if a["satellite"] == "kazsat-2"]
    assert len(others) < len(alerts)
    assert charts.live_update(shows, rows, traces_of, others, draw)[0] is dash.no_update
    # One of its own alerts fewer: only the markers, as a patch; the traces are left alone.
    fewer = [a for a in alerts if a["parameter"] != "bus_voltage"]
    patch, shows2 = charts.live_update(shows, rows, traces_of, fewer, draw)
    assert isinstance(patch, dash.Patch) and shows2["strips"] == shows["strips"]
    assert shows2["marks"] != shows["marks"] and len(drawn) == 1
    # An engineer's limit change that splits a strip: drawn again.
    mission["parameters"]["sa_south_current"]["limits"] = {"warning": {"high": 30.0},
                                                           "critical": None}
    rows3, traces3 = power(mission)
    charts.live_update(shows, rows3, traces3, alerts, draw)
    assert len(drawn) == 2
