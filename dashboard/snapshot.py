"""One /latest answer, indexed, and turned into the compact model a page tick sends.

A tick sends the browser only what its page shows: per cell a formatted text and a one-letter
state, plus the raw number and sample time for chart traces. Clientside code (assets/live.js)
spreads it over the cells and extends the charts, so a tick costs a few kilobytes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from dashboard import parameters as pm

STATES = ("nominal", "warning", "critical", "stale")
CODE = {"nominal": "n", "warning": "w", "critical": "c", "stale": "s", None: "u"}
# Worst first when several states meet in one tile: a critical hides nothing else.
RANK = {"critical": 3, "warning": 2, "stale": 1, "nominal": 0, None: -1}


class Snapshot:
    """The rows of one /latest answer by series key, with the mission to read them."""

    def __init__(self, mission: pm.Mission, body: dict) -> None:
        self.mission = mission
        self.now: str = body.get("now", "")
        self.at: str | None = body.get("at")
        self.summary: dict = body.get("summary", {})
        self.rows: dict[str, dict] = {
            pm.series_key(r["satellite"], r["station"], r["parameter"]): r
            for r in body.get("series", [])}

    def row(self, key: str) -> dict | None:
        return self.rows.get(key)

    def value(self, key: str) -> Any:
        row = self.rows.get(key)
        return row["value"] if row else None

    def state(self, key: str) -> str | None:
        row = self.rows.get(key)
        return row["state"] if row else None

    def worst(self, keys: Iterable[str]) -> str | None:
        return max((self.state(k) for k in keys), key=RANK.__getitem__, default=None)


def worst(states: Iterable[str | None]) -> str | None:
    return max(states, key=RANK.__getitem__, default=None)


class Model:
    """What one tick sends to the browser for one page."""

    def __init__(self) -> None:
        self.cells: dict[str, list] = {}
        self.times: list[str] = []
        self._time_index: dict[str, int] = {}

    def cell(self, key: str, text: str, state: str | None) -> None:
        self.cells[key] = [text, CODE[state]]

    def series(self, snap: Snapshot, key: str) -> None:
        """A series' cell: formatted value and state, and its point for the charts."""
        row = snap.row(key)
        if row is None:
            self.cells[key] = ["—", "u"]
            return
        p = snap.mission["parameters"][row["parameter"]]
        entry: list = [pm.format_value(p, row["value"]), CODE[row["state"]]]
        y = pm.numeric(p, row["value"])
        if y is not None:
            t = row["time"]
            if t not in self._time_index:
                self._time_index[t] = len(self.times)
                self.times.append(t)
            entry += [self._time_index[t], round(y, p.get("decimals", 2) + 2)]
        self.cells[key] = entry

    def as_dict(self) -> dict:
        return {"cells": self.cells, "times": self.times}


def parse_time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def format_time(t: dt.datetime) -> str:
    """RFC 3339 with milliseconds and Z, as the API writes times."""
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
