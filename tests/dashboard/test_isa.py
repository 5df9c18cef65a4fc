"""The alarm-health page's words and figure (dashboard/isa.py)."""

from __future__ import annotations

import datetime as dt

from dashboard import isa

MEASURES = {"alarms": 700, "start": "2026-11-01T00:00:00.000Z",
            "per_10min": {"average": 0.162, "peak": 30, "counts": [0, 3, 30, 1],
                          "period_s": 600},
            "flood": {"threshold": 10, "periods": 3, "percent": 0.069}}


def test_the_health_page_offers_the_last_twelve_months() -> None:
    got = isa.months(dt.date(2026, 2, 14))
    assert got[:3] == ["2026-02", "2026-01", "2025-12"] and len(got) == 12
    assert got[-1] == "2025-03"


def test_the_summary_says_whether_the_flood_target_is_met() -> None:
    text, ok = isa.summary(MEASURES)
    assert ok and text == ("700 alarms · 0.162 per 10 min on average, 30 at the peak · in "
                           "flood (more than 10 in 10 min) 0.069 % of the time (within the "
                           "ISA-18.2 target of 1 %)")
    _, ok = isa.summary({**MEASURES, "flood": {**MEASURES["flood"], "percent": 1.5}})
    assert not ok


def test_the_rate_figure_has_a_bar_per_period_and_the_threshold() -> None:
    fig = isa.rate_figure(MEASURES)
    [bars] = fig.data
    assert list(bars.y) == [0, 3, 30, 1]
    assert bars.x[2] == dt.datetime(2026, 11, 1, 0, 20, tzinfo=dt.UTC)
    assert fig.layout.shapes[0].y0 == 10
