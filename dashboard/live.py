"""The tick shared by live pages: one /latest request, a page-specific model, the banner;
the pages' live streams (what each streams, dashboard/stream.py serves them); and the slow
refresh that keeps limits text on the effective limits."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import dash
from dash import ALL, Output, State, callback
from dash.exceptions import PreventUpdate

from dashboard import api_client
from dashboard.snapshot import Model, Snapshot
from dashboard.widgets import ids, limits_text, slow_input

Builder = Callable[[Snapshot, Model], None]


@dataclass(frozen=True)
class LivePage:
    """What a page's live stream draws (its builder) from which series of the API's
    stream (`params`, as GET /api/v1/stream takes them: {} for every series)."""

    build: Builder
    params: dict[str, str]
    charts: bool = False  # whether chart points go with the cells


# Per live page, a function of a URL path: the page's LivePage, or None when the path is
# not that page's. Called in a worker thread (it may ask the API, as the logged-in user).
_streamed: list[Callable[[str], LivePage | None]] = []


def register_stream(page: Callable[[str], LivePage | None]) -> None:
    _streamed.append(page)


def live_page(path: str) -> LivePage | None:
    """The live page at `path`, or None when no live page is there."""
    for page in _streamed:
        found = page(path)
        if found is not None:
            return found
    return None


def down_notice(since: float | None) -> str:
    """The notice of a page whose API stopped answering at `since` (epoch seconds)."""
    since = since or dt.datetime.now(dt.UTC).timestamp()
    stamp = dt.datetime.fromtimestamp(since, dt.UTC).strftime("%H:%M:%S UTC")
    return (f"NOT LIVE — API unreachable since {stamp}; the values shown are the last "
            "received. Reconnecting by itself.")


def model(build: Builder, snap: Snapshot) -> dict:
    """The model of a page drawn from `snap`: its cells and the banner's."""
    made = Model()
    build(snap, made)
    banner_cells(snap, made)
    return {**made.as_dict(), "now": snap.now, "at": snap.at}


def tick(build: Builder, at: str | None = None) -> dict:
    """The model one tick sends: the page's cells (built by `build`), the banner, and the
    API notice. One request to the API, whatever the page shows."""
    mission = api_client.mission()
    try:
        if mission is None:
            raise api_client.ApiUnavailable("mission not loaded")
        body = api_client.latest(at)
    except api_client.ApiUnavailable:
        return {"down": down_notice(api_client.down_since())}
    return model(build, Snapshot(mission, body))


def banner_cells(snap: Snapshot, model: Model) -> None:
    s = snap.summary
    critical, warning = s.get("critical", 0), s.get("warning", 0)
    lock, stale = s.get("links_out_of_lock", 0), s.get("stale", 0)
    counts = s.get("alerts") or {}
    alerts, critical_alerts = counts.get("unacknowledged"), counts.get("critical", 0)
    model.cell("banner|critical", f"✖ {critical} CRITICAL" if critical else "0 critical",
               "critical" if critical else None)
    model.cell("banner|warning", f"▲ {warning} WARNING" if warning else "0 warning",
               "warning" if warning else None)
    model.cell("banner|lock", f"⛓ {lock} LINK{'S' if lock != 1 else ''} OUT OF LOCK" if lock
               else "all links locked", "critical" if lock else None)
    model.cell("banner|alerts", *alerts_part(alerts, critical_alerts))
    model.cell("banner|stale", f"◌ {stale} stale" if stale else "", "stale" if stale else None)
    calm = not (critical or warning or lock or alerts)
    model.cell("banner|all", "● ALL NOMINAL" if calm else "", "nominal" if calm else None)
    # A visible heartbeat: the API's time of the answer this tick drew.
    stamp = (snap.at or snap.now)[11:19]
    model.cell("banner|asof", f"{'at' if snap.at else 'updated'} {stamp} UTC", None)


def alerts_part(unacknowledged: int | None, critical: int) -> tuple[str, str | None]:
    """The banner's unacknowledged alerts: critical in its own colour, symbol and words
    when any of them is critical."""
    if unacknowledged is None:
        return "", None
    if not unacknowledged:
        return "no open alerts", None
    text = f"{unacknowledged} UNACKNOWLEDGED ALERT{'S' if unacknowledged != 1 else ''}"
    if critical:
        return f"✖ {text} · {critical} CRITICAL", "critical"
    return f"▲ {text}", "warning"


def register_limits(page: str) -> None:
    """Keep a page's limits text (widgets.param_row) on the effective limits, so that an
    engineer's change shows within seconds without a reload; a slow-timer check against
    the cached mission, which costs the API nothing."""

    @callback(Output(ids("lim", page, ALL), "children"), slow_input(page),
              State(ids("lim", page, ALL), "id"), State(ids("lim", page, ALL), "children"),
              prevent_initial_call=True)
    def refresh_limits(_: int, cells: list[dict], shown: list[str | None]) -> list:
        mission = api_client.mission()
        if mission is None:
            raise PreventUpdate
        params = mission["parameters"]
        texts = [limits_text(params[c["key"].rsplit("|", 1)[-1]]) for c in cells]
        if texts == shown:
            raise PreventUpdate
        return [t if t != s else dash.no_update for t, s in zip(texts, shown, strict=True)]
