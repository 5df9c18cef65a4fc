"""The dashboard's only way to the backend: HTTP calls to its API.

The dashboard never opens the database. Every request goes through `request()`, which
carries the logged-in user's session token (dashboard/session.py), so the API applies that
user's role; and which records whether the API answered, so that every page can show "API
unreachable since …" and recover by itself when it answers again.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from typing import Any

import httpx
import orjson

from dashboard import session
from dashboard.settings import get_settings

# Well under the 5 s in which a page must say it is not live, and short enough that a hung
# API cannot hold many of the server's threads (see also the one probe at a time below).
TIMEOUT = httpx.Timeout(2.0, connect=1.0)
LATEST_TTL_S = 0.4  # browsers ticking in the same second share one /latest answer
# The mission carries the effective limits: an engineer's change reaches every page within
# seconds, at one /mission request per few seconds per process, not one per tick.
MISSION_TTL_S = 3.0
ALERTS_TTL_S = 2.0  # every chart of a page asks at once when its markers refresh
# An export streams for as long as it takes; only a long silence between chunks is a failure.
STREAM_TIMEOUT = httpx.Timeout(60.0, connect=1.0)


class ApiUnavailable(Exception):
    """The API did not answer (refused, timed out, or a 5xx)."""


class InvalidInput(ValueError):
    """A value from the browser is not what it must be; the message says what and where."""


_DIGITS = re.compile(r"[0-9]{1,18}")  # ASCII only: str.isdigit() also takes "²" and "٣"


def whole_number(value: object, what: str) -> int:
    """`value` (from the browser: an int, or a string of ASCII digits) as an int, else
    InvalidInput naming `what`. Ids go into URL paths only through this."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidInput(f"{what} must be a whole number, not {value!r:.40}")
    if isinstance(value, str):
        if not _DIGITS.fullmatch(value):
            raise InvalidInput(f"{what} must be a whole number, not {value!r:.40}")
        value = int(value)
    if value < 0:
        raise InvalidInput(f"{what} must not be negative, not {value}")
    return value


_local = threading.local()
_status_lock = threading.Lock()
_down_since: float | None = None
# While the API is down, one request at a time finds out whether it is back; the others
# fail at once instead of each holding a server thread for the whole timeout.
_probe = threading.Lock()


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
    probing = _down_since is not None
    if probing and not _probe.acquire(blocking=False):
        raise ApiUnavailable(f"{path}: API down, another request is checking")
    try:
        response = _client().request(method, path, headers=headers, **kwargs)
    except httpx.HTTPError as exc:
        _mark(up=False)
        raise ApiUnavailable(str(exc)) from exc
    finally:
        if probing:
            _probe.release()
    _check(path, response)
    if response.headers.get("content-type", "").startswith("application/json"):
        return orjson.loads(response.content)
    return response.content


def stream(path: str, params: list[tuple[str, str]]) -> httpx.Response:
    """GET `path` as the logged-in user, its body left unread for the caller to pass on a
    chunk at a time (`iter_bytes`) and then close: an export of a year is never held here.
    Raises as `request` does; on a refusal the (small) body is read, for its message."""
    token = session.token()
    if not token:
        raise session.SessionExpired(path)
    client = _client()
    sent = client.build_request("GET", path, params=params, timeout=STREAM_TIMEOUT,
                                headers={"Authorization": f"Token {token}"})
    try:
        response = client.send(sent, stream=True)
        if response.is_error:
            response.read()
            response.close()
    except httpx.HTTPError as exc:
        _mark(up=False)
        raise ApiUnavailable(str(exc)) from exc
    _check(path, response)
    return response


def _check(path: str, response: httpx.Response) -> None:
    """Note whether the API answered; raise for a refusal (401: the session ended)."""
    if response.status_code >= 500:
        _mark(up=False)
        raise ApiUnavailable(f"{path}: HTTP {response.status_code}")
    _mark(up=True)
    if response.status_code == 401:
        session.ended()
        raise session.SessionExpired(path)
    response.raise_for_status()


_mission: dict | None = None
_mission_at = 0.0
_mission_lock = threading.Lock()


def mission() -> dict | None:
    """The mission database with its effective limits, shared by every page and user and
    fetched again once it is MISSION_TTL_S old. While a refresh is in flight or the API is
    down the copy in hand serves; None until a first fetch succeeds."""
    global _mission, _mission_at
    if _mission is not None and time.monotonic() - _mission_at < MISSION_TTL_S:
        return _mission
    # One refresh at a time: the other threads keep the copy they have (or, with none
    # yet, wait for the first).
    if not _mission_lock.acquire(blocking=_mission is None):
        return _mission
    try:
        if _mission is None or time.monotonic() - _mission_at >= MISSION_TTL_S:
            with contextlib.suppress(ApiUnavailable, httpx.HTTPStatusError,
                                     session.SessionExpired):
                _mission = request("GET", "/api/v1/mission")
            _mission_at = time.monotonic()
    finally:
        _mission_lock.release()
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
           severity: str | None = None, start: str | None = None, end: str | None = None,
           limit: int = 200) -> dict:
    """Alerts, newest first (with `start` or `end`, those open at some time in the range),
    and the counts for the banner."""
    params = {"status": status, "limit": limit, "satellite": satellite, "station": station,
              "severity": severity, "start": start, "end": end}
    return request("GET", "/api/v1/alerts",
                   params={k: v for k, v in params.items() if v is not None})


_alerts_cache: dict[str, tuple[float, list[dict]]] = {}


def recent_alerts(start: str) -> list[dict]:
    """Every alert open at some time since `start`, for chart markers: one answer shared
    for ALERTS_TTL_S by the charts and browsers asking with the same `start`."""
    now = time.monotonic()
    cached = _alerts_cache.get(start)
    if cached and now - cached[0] < ALERTS_TTL_S:
        return cached[1]
    found = alerts("all", start=start, limit=2000)["alerts"]
    for key in [k for k, (t, _) in list(_alerts_cache.items()) if now - t >= ALERTS_TTL_S]:
        _alerts_cache.pop(key, None)
    _alerts_cache[start] = (now, found)
    return found


def acknowledge(alert_id: int | str, comment: str) -> None:
    """InvalidInput unless `alert_id` is a whole number (a browser's `1/../../alerts/2`
    never becomes a path)."""
    alert = whole_number(alert_id, "alert id")
    request("POST", f"/api/v1/alerts/{alert}/ack", json={"comment": comment})


def shelve(alert_id: int | str, minutes: int | str, comment: str) -> None:
    """InvalidInput unless `alert_id` and `minutes` are whole numbers."""
    alert = whole_number(alert_id, "alert id")
    request("POST", f"/api/v1/alerts/{alert}/shelve",
            json={"minutes": whole_number(minutes, "shelve minutes"), "comment": comment})


def alarm_health(month: str) -> dict:
    """The alarm system's ISA-18.2 measures over a month ('2026-11')."""
    if not (len(month) == 7 and month[4] == "-" and (month[:4] + month[5:]).isdigit()):
        raise InvalidInput(f"month must be YYYY-MM, not {month!r}")
    return dict(request("GET", "/api/v1/alarm-health", params={"month": month}))


def shifts() -> dict:
    """The shift in progress and the two weeks of shifts before it, newest first."""
    return dict(request("GET", "/api/v1/shift-report/shifts"))


def shift_report(at: str) -> dict:
    """The report of the shift that `at` (RFC 3339) falls in."""
    return dict(request("GET", "/api/v1/shift-report", params={"at": at}))


def send_test_page(severity: str, entity: str | None) -> dict:
    """Page every tier of the ladder for (severity, entity) with a test message."""
    if severity not in ("warning", "critical"):
        raise InvalidInput(f"severity must be warning or critical, not {severity!r}")
    return dict(request("POST", "/api/v1/escalation/test",
                        json={"severity": severity, "entity": entity or None}))


def test_page(test_id: int | str) -> dict:
    """A test page's tiers and their delivery."""
    return dict(request("GET", f"/api/v1/escalation/tests/{whole_number(test_id, 'test')}"))


def eclipses(start: str, end: str) -> list[dict]:
    """Every satellite's eclipses overlapping [start, end)."""
    return request("GET", "/api/v1/eclipses", params={"start": start, "end": end})["eclipses"]
