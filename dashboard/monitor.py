"""The monitor's own health, on the overview beside the stations (the two-site deployment,
docs/cluster.md): each site's API and database role, replication, the primary and since
when, redundancy, the last failover and switchover. An operator whose own site is working
through the loss of the other reads "Akkol site unreachable — Kokterek primary since
14:02:11", not a generic error. Absent with one site.

It refreshes on a slow timer of its own (what it shows changes seldom) and sends nothing
to the browser when nothing changed.
"""

from __future__ import annotations

import hashlib

import dash
import orjson
from dash import Input, Output, State, callback, dcc, html

from dashboard import api_client, session

REFRESH_MS = 2000


def strip() -> html.Div:
    """The strip as the page is first drawn (empty with one site or no answer)."""
    status = _status()
    if status is not None and status.get("mode") != "two-site":
        return html.Div()
    return html.Div([dcc.Interval(id="monitor-tick", interval=REFRESH_MS),
                     dcc.Store(id="monitor-digest", data=_digest(status)),
                     html.Div(render(status), id="monitor")])


@callback(Output("monitor", "children"), Output("monitor-digest", "data"),
          Input("monitor-tick", "n_intervals"), State("monitor-digest", "data"))
def refresh(_: int, seen: str | None) -> tuple[object, object]:
    status = _status()
    digest = _digest(status)
    if digest == seen:
        return dash.no_update, dash.no_update
    return render(status), digest


def _status() -> dict | None:
    try:
        return api_client.request("GET", "/api/v1/cluster")  # type: ignore[no-any-return]
    except (api_client.ApiUnavailable, session.SessionExpired):
        return None
    except Exception:  # a refusal of another kind: shown as unknown, not a broken page
        return None


def _digest(status: dict | None) -> str:
    """What is shown, without the time of reading (which changes every time)."""
    shown = {k: v for k, v in (status or {}).items() if k != "read_at"}
    return hashlib.sha1(orjson.dumps(shown, option=orjson.OPT_SORT_KEYS)).hexdigest()


def render(status: dict | None) -> list[object]:
    if status is None:
        return [html.Div("Monitor: this site's API does not answer about the cluster "
                         "right now", className="kz-monitor-note kz-monitor-bad")]
    sites = status["sites"]
    primary = next((s for s in sites if s["site"] == status.get("primary")), None)
    since = f" since {_clock(status['primary_since'])}" if status.get("primary_since") else ""
    notices = []
    for s in sites:
        if s["api"] == "down" and s["database"] == "down":
            head = f"{s['name']} site unreachable"
            notices.append(f"{head} — {primary['name']} primary{since}" if primary else
                           f"{head} — no primary database yet (failover under way)")
    if primary is None and not notices:
        notices.append("No primary database right now: a failover or switchover is under way")
    cards = [_card(s, s["site"] == status.get("site"), s is primary) for s in sites]
    redundancy = ("in step: every acknowledged sample is at both sites" if status["redundant"]
                  else "LOST: acknowledged samples are at one site only")
    facts = [html.Div([html.Span("Primary "), html.B(primary["name"] if primary else "none"),
                       html.Span(since)]),
             html.Div([html.Span("Redundancy "), html.B(redundancy)],
                      className="" if status["redundant"] else "kz-monitor-bad"),
             html.Div(_event("Last failover", status.get("last_failover"))),
             html.Div(_event("Last switchover", status.get("last_switchover")))]
    return [*[html.Div(n, className="kz-monitor-note kz-monitor-bad") for n in notices],
            html.Div([*cards, html.Div(facts, className="kz-monitor-facts")],
                     className="kz-monitor")]


def _card(s: dict, here: bool, primary: bool) -> html.Div:
    db = s["database"]
    if db == "primary":
        detail, health = "database PRIMARY", "ok"
    elif db == "replica":
        sync = "synchronous" if s.get("sync") else "asynchronous"
        flow = "" if s.get("streaming") else ", not streaming"
        lag = (f" · lag {_bytes(s['lag_bytes'])} / {s['lag_ms']:g} ms"
               if s.get("lag_bytes") is not None and s.get("lag_ms") is not None else "")
        detail = f"database replica, {sync}{flow}{lag}"
        health = "ok" if s.get("sync") and s.get("streaming") else "warn"
    elif db == "down":
        detail, health = "database unreachable", "bad"
    else:
        detail, health = f"database {db}", "warn"
    api = "API up" if s["api"] == "up" else "API unreachable"
    if s["api"] != "up":
        health = "bad"
    return html.Div([
        html.Div([html.Span(f"{s['name']} site", className="kz-h3"),
                  html.Span("THIS SITE", className="kz-monitor-here") if here else None,
                  html.Span("★ PRIMARY", className="kz-monitor-primary") if primary else None],
                 className="kz-monitor-head"),
        html.Div(api), html.Div(detail),
    ], className=f"kz-monitor-site kz-monitor-{health}", id=f"monitor|{s['site']}")


def _event(label: str, event: dict | None) -> list[object]:
    if not event:
        return [html.Span(f"{label} "), html.B("none recorded")]
    return [html.Span(f"{label} "), html.B(f"{event['at'][:10]} {_clock(event['at'])}"),
            html.Span(f" ({event['detail'].replace('->', '→')})")]


def _clock(rfc3339: str) -> str:
    """'14:02:11 UTC' from '2026-12-07T14:02:11.418Z'."""
    return f"{rfc3339[11:19]} UTC"


def _bytes(n: int) -> str:
    return f"{n} B" if n < 1024 else f"{n / 1024:.0f} KiB" if n < 2**20 else \
        f"{n / 2**20:.1f} MiB"
