"""The dashboard's only way to the backend: HTTP calls to its API.

The dashboard never opens the database. Every request goes through `request()`, which
carries the logged-in user's session token (dashboard/session.py), so the API applies that
user's role; and which records whether the API answered, so that every page can show "API
unreachable since …" and recover by itself when it answers again.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import orjson

from backend.settings import get_settings
from dashboard import session

TIMEOUT = httpx.Timeout(3.0, connect=1.0)
LATEST_TTL_S = 0.4  # browsers ticking in the same second share one /latest answer


class ApiUnavailable(Exception):
    """The API did not answer (refused, timed out, or a 5xx)."""


class NotAvailableYet(Exception):
    """The endpoint does not exist (404): a feature the backend has not shipped yet."""


_local = threading.local()
_status_lock = threading.Lock()
_down_since: float | None = None


def _client() -> httpx.Client:
    # One keep-alive client per server thread: httpx clients are not shared across threads.
    client = getattr(_local, "client", None)
    if client is None:
        client = httpx.Client(base_url=get_settings().api_url.rstrip("/"), timeout=TIMEOUT)
        _local.client = client
    return client


def _mark(up: bool) -> None:
    global _down_since
    with _status_lock:
        if up:
            _down_since = None
        elif _down_since is None:
            _down_since = time.time()


def down_since() -> float | None:
    """When the API stopped answering (epoch seconds), or None while it answers."""
    return _down_since


def request(method: str, path: str, **kwargs: Any) -> Any:
    """Call the API as the logged-in user and return its decoded JSON body (or raw bytes
    for non-JSON). SessionExpired when there is no user or the API refuses the session."""
    token = session.token()
    if not token:
        raise session.SessionExpired(path)
    headers = {"Authorization": f"Token {token}"}
    try:
        response = _client().request(method, path, headers=headers, **kwargs)
    except httpx.HTTPError as exc:
        _mark(up=False)
        raise ApiUnavailable(str(exc)) from exc
    if response.status_code >= 500:
        _mark(up=False)
        raise ApiUnavailable(f"{path}: HTTP {response.status_code}")
    _mark(up=True)
    if response.status_code == 401:
        session.ended()
        raise session.SessionExpired(path)
    if _route_missing(response):
        raise NotAvailableYet(path)
    response.raise_for_status()
    if response.headers.get("content-type", "").startswith("application/json"):
        return orjson.loads(response.content)
    return response.content


def _route_missing(response: httpx.Response) -> bool:
    # FastAPI's own "Not Found" means no such route; a 404 naming an unknown satellite or
    # series is an answer from a route that exists.
    if response.status_code not in (404, 405):
        return False
    try:
        body = orjson.loads(response.content)
        message = body.get("message") or body.get("detail")
    except (orjson.JSONDecodeError, AttributeError):
        return True
    return message in ("Not Found", "Method Not Allowed")


_mission: dict | None = None
_mission_lock = threading.Lock()


def mission() -> dict | None:
    """The mission database, fetched once (as the first logged-in user) and cached; None
    while the API is not up yet or nobody is logged in (the next call tries again)."""
    global _mission
    if _mission is None:
        with _mission_lock:
            if _mission is None:
                try:
                    _mission = request("GET", "/api/v1/mission")
                except (ApiUnavailable, httpx.HTTPStatusError, NotAvailableYet,
                        session.SessionExpired):
                    return None
    return _mission


_latest_cache: dict[str | None, tuple[float, dict]] = {}


def latest(at: str | None = None) -> dict:
    """Every series' latest value and state (or the snapshot at `at`, for replay)."""
    now = time.monotonic()
    cached = _latest_cache.get(at)
    if cached and now - cached[0] < LATEST_TTL_S:
        return cached[1]
    body = request("GET", "/api/v1/latest", params={"at": at} if at else None)
    _latest_cache.clear()
    _latest_cache[at] = (now, body)
    return body


def series(parameters: list[str], start: str, end: str = "now", satellite: str | None = None,
           station: str | None = None, max_points: int = 1000) -> dict:
    """History of up to 20 parameters of one entity."""
    params: list[tuple[str, str | int]] = [("parameter", p) for p in parameters]
    params += [("start", start), ("end", end), ("max_points", max_points)]
    params += [(k, v) for k, v in (("satellite", satellite), ("station", station)) if v]
    return request("GET", "/api/v1/series", params=params)


def alerts(status: str = "active", satellite: str | None = None, station: str | None = None,
           severity: str | None = None, limit: int = 200) -> dict:
    """Alerts and their counts (an empty list until the backend serves /alerts)."""
    params = {"status": status, "limit": limit, "satellite": satellite, "station": station,
              "severity": severity}
    try:
        return request("GET", "/api/v1/alerts",
                       params={k: v for k, v in params.items() if v is not None})
    except NotAvailableYet:
        return {"alerts": [], "counts": {}, "unavailable": True}


def acknowledge(alert_id: int | str, comment: str) -> None:
    request("POST", f"/api/v1/alerts/{alert_id}/ack", json={"comment": comment})


def shelve(alert_id: int | str, minutes: int, comment: str) -> None:
    request("POST", f"/api/v1/alerts/{alert_id}/shelve",
            json={"minutes": minutes, "comment": comment})


def eclipses(start: str, end: str) -> list[dict]:
    """Current and next eclipse per satellite; empty until the backend serves /eclipses."""
    try:
        body = request("GET", "/api/v1/eclipses", params={"start": start, "end": end})
    except NotAvailableYet:
        return []
    if isinstance(body, dict):
        body = body.get("eclipses", [])
    return body if isinstance(body, list) else []


def export_csv(params: list[tuple[str, str]]) -> bytes | None:
    """The CSV export for a replay selection; None until the backend serves /export."""
    try:
        body = request("GET", "/api/v1/export", params=params)
    except NotAvailableYet:
        return None
    return body if isinstance(body, bytes) else orjson.dumps(body)
