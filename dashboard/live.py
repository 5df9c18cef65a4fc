"""The tick shared by live pages: one /latest request, a page-specific model, the banner."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from dashboard import api_client
from dashboard.snapshot import Model, Snapshot

Builder = Callable[[Snapshot, Model], None]


def tick(build: Builder, at: str | None = None) -> dict:
    """The model one tick sends: the page's cells (built by `build`), the banner, and the
    API notice. One request to the API, whatever the page shows."""
    mission = api_client.mission()
    try:
        if mission is None:
            raise api_client.ApiUnavailable("mission not loaded")
        body = api_client.latest(at)
    except api_client.ApiUnavailable:
        since = api_client.down_since() or dt.datetime.now(dt.UTC).timestamp()
        stamp = dt.datetime.fromtimestamp(since, dt.UTC).strftime("%H:%M:%S UTC")
        return {"down": f"API unreachable since {stamp} — showing the last values received; "
                        "reconnecting by itself"}
    snap = Snapshot(mission, body)
    model = Model()
    build(snap, model)
    banner_cells(snap, model)
    return {**model.as_dict(), "now": snap.now, "at": snap.at}


def banner_cells(snap: Snapshot, model: Model) -> None:
    s = snap.summary
    critical, warning = s.get("critical", 0), s.get("warning", 0)
    lock, stale = s.get("links_out_of_lock", 0), s.get("stale", 0)
    alerts = (s.get("alerts") or {}).get("unacknowledged")
    model.cell("banner|critical", f"✖ {critical} CRITICAL" if critical else "0 critical",
               "critical" if critical else None)
    model.cell("banner|warning", f"▲ {warning} WARNING" if warning else "0 warning",
               "warning" if warning else None)
    model.cell("banner|lock", f"⛓ {lock} LINK{'S' if lock != 1 else ''} OUT OF LOCK" if lock
               else "all links locked", "critical" if lock else None)
    model.cell("banner|alerts", "" if alerts is None else
               (f"◆ {alerts} UNACKNOWLEDGED ALERT{'S' if alerts != 1 else ''}" if alerts
                else "no open alerts"),
               "warning" if alerts else None)
    model.cell("banner|stale", f"◌ {stale} stale" if stale else "", "stale" if stale else None)
    calm = not (critical or warning or lock or alerts)
    model.cell("banner|all", "● ALL NOMINAL" if calm else "", "nominal" if calm else None)
    # A visible heartbeat: the API's time of the answer this tick drew.
    stamp = (snap.at or snap.now)[11:19]
    model.cell("banner|asof", f"{'at' if snap.at else 'updated'} {stamp} UTC", None)
