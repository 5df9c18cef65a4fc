"""Who may do what, route by route: every operation of the served OpenAPI description,
called as each kind of caller, against the status written in one table below. A route the
API serves without a row here fails the test, so a new route gets its row (its access
decided) before it can be merged.

Callers: no credentials, an API token of each role, a logged-in person of each role, and a
person whose account was disabled after logging in (their session must be dead at once).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from backend import users
from backend.services import open_database
from backend.settings import Settings
from backend.timeutil import format_time
from kazsat.stack import Stack

PASSWORD = "steppe-wind-1997"
CALLERS = ("none", "ingest", "viewer", "operator", "engineer", "metrics",
           "viewer session", "operator session", "engineer session", "disabled session")
NOW = time.time_ns()
HOUR_AGO, IN_A_DAY = format_time(NOW - 3600 * 10**9), format_time(NOW + 86400 * 10**9)
PEOPLE = {"viewer session": "vera", "operator session": "oleg", "engineer session": "erzhan",
          "disabled session": "dora"}
SERIES = {"parameter": "bus_voltage", "satellite": "kazsat-2", "start": HOUR_AGO}

# (method, path as in the OpenAPI description): the request made, and the status expected
# per caller in CALLERS order. Ids that do not exist (999999) answer 404 to those allowed.
#                                                   none ing  view oper eng  met  s-v  s-o  s-e  dis
TABLE: dict[tuple[str, str], tuple[dict, tuple[int, ...]]] = {
    ("GET", "/healthz"): ({}, (200, 200, 200, 200, 200, 200, 200, 200, 200, 200)),
    ("GET", "/readyz"): ({}, (200, 200, 200, 200, 200, 200, 200, 200, 200, 200)),
    ("GET", "/metrics"): ({}, (401, 403, 403, 403, 200, 200, 403, 403, 200, 401)),
    ("POST", "/api/v1/auth/login"): (
        {"json": {"username": "vera", "password": PASSWORD}},
        (200, 200, 200, 200, 200, 200, 200, 200, 200, 200)),
    ("GET", "/api/v1/auth/me"): ({}, (401, 200, 200, 200, 200, 200, 200, 200, 200, 401)),
    ("POST", "/api/v1/auth/password"): (  # tokens: "log in as a user"; sessions: wrong old
        {"json": {"old": "not-the-password", "new": "kokterek-night-shift"}},
        (401, 400, 400, 400, 400, 400, 400, 400, 400, 401)),
    ("POST", "/api/v1/auth/logout"): (  # with a session of its own (see `call`)
        {}, (401, 400, 400, 400, 400, 400, 204, 204, 204, 401)),
    ("GET", "/api/v1/tokens"): ({}, (401, 403, 403, 403, 200, 403, 403, 403, 200, 401)),
    ("POST", "/api/v1/tokens/{token_id}/revoke"): (
        {"path": {"token_id": 999999}}, (401, 403, 403, 403, 404, 403, 403, 403, 404, 401)),
    ("POST", "/api/v1/auth/locks/{name}/clear"): (
        {"path": {"name": "vera"}}, (401, 403, 403, 403, 200, 403, 403, 403, 200, 401)),
    ("POST", "/api/v2/write"): (
        {"content": f"power,satellite=kazsat-2 bus_voltage=100 {NOW}"},
        (401, 204, 403, 403, 403, 403, 403, 403, 403, 401)),
    ("GET", "/api/v1/mission"): ({}, (401, 200, 200, 200, 200, 403, 200, 200, 200, 401)),
    ("GET", "/api/v1/latest"): ({}, (401, 403, 200, 200, 200, 403, 200, 200, 200, 401)),
    ("GET", "/api/v1/series"): (
        {"params": SERIES}, (401, 403, 200, 200, 200, 403, 200, 200, 200, 401)),
    ("GET", "/api/v1/stations"): ({}, (401, 403, 200, 200, 200, 403, 200, 200, 200, 401)),
    ("GET", "/api/v1/stream"): (  # the stream's status, then the connection is closed
        {"params": {"satellite": "kazsat-2"}}, (401, 403, 200, 200, 200, 403, 200, 200, 200, 401)),
    ("GET", "/api/v1/export"): (
        {"params": SERIES}, (401, 403, 200, 200, 200, 403, 200, 200, 200, 401)),
    ("GET", "/api/v1/alerts"): ({}, (401, 403, 200, 200, 200, 403, 200, 200, 200, 401)),
    ("GET", "/api/v1/alerts/{alert_id}"): (
        {"path": {"alert_id": 999999}}, (401, 403, 404, 404, 404, 403, 404, 404, 404, 401)),
    ("POST", "/api/v1/alerts/{alert_id}/ack"): (
        {"path": {"alert_id": 999999}, "json": {"comment": "seen"}},
        (401, 403, 403, 404, 404, 403, 403, 404, 404, 401)),
    ("POST", "/api/v1/alerts/{alert_id}/shelve"): (
        {"path": {"alert_id": 999999}, "json": {"minutes": 5}},
        (401, 403, 403, 404, 404, 403, 403, 404, 404, 401)),
    ("GET", "/api/v1/audit"): ({}, (401, 403, 200, 200, 200, 403, 200, 200, 200, 401)),
    ("GET", "/api/v1/escalation"): ({}, (401, 403, 200, 200, 200, 403, 200, 200, 200, 401)),
    ("POST", "/api/v1/escalation/test"): (  # this stack has no ladder: 400 once allowed
        {"json": {"severity": "critical"}}, (401, 403, 403, 403, 400, 403, 403, 403, 400, 401)),
    ("GET", "/api/v1/escalation/tests/{test_id}"): (
        {"path": {"test_id": 999999}}, (401, 403, 404, 404, 404, 403, 404, 404, 404, 401)),
    ("GET", "/api/v1/shift-report"): ({}, (401, 403, 200, 200, 200, 403, 200, 200, 200, 401)),
    ("GET", "/api/v1/shift-report.pdf"): (
        {}, (401, 403, 200, 200, 200, 403, 200, 200, 200, 401)),
    ("GET", "/api/v1/shift-report/shifts"): (
        {}, (401, 403, 200, 200, 200, 403, 200, 200, 200, 401)),
    ("GET", "/api/v1/alarm-health"): (
        {"params": {"month": "2026-11"}}, (401, 403, 200, 200, 200, 403, 200, 200, 200, 401)),
    ("GET", "/api/v1/outbox"): ({}, (401, 403, 200, 200, 200, 403, 200, 200, 200, 401)),
    ("GET", "/api/v1/limits"): ({}, (401, 403, 200, 200, 200, 403, 200, 200, 200, 401)),
    ("PUT", "/api/v1/limits/{parameter}"): (
        {"path": {"parameter": "battery_temp"},
         "json": {"warning": {"low": 4, "high": 26}, "critical": {"low": 0, "high": 30}}},
        (401, 403, 403, 403, 200, 403, 403, 403, 200, 401)),
    ("DELETE", "/api/v1/limits/{parameter}"): (
        {"path": {"parameter": "battery_temp"}},
        (401, 403, 403, 403, 200, 403, 403, 403, 200, 401)),
    ("GET", "/api/v1/eclipses"): (
        {"params": {"satellite": "kazsat-2", "start": HOUR_AGO, "end": IN_A_DAY}},
        (401, 403, 200, 200, 200, 403, 200, 200, 200, 401)),
    ("GET", "/api/v1/cluster"): ({}, (401, 403, 200, 200, 200, 403, 200, 200, 200, 401)),
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # Many logins from this one address: its failure count must not get in the way.
    s = Stack(Path(tmp_path_factory.mktemp("roles")) / "data",
              extra_env={"KAZSAT_LOGIN_MAX_FAILURES_PER_ADDRESS": "1000",
                         "KAZSAT_LOGIN_MAX_FAILURES": "1000"})
    for name, role in (("vera", "viewer"), ("oleg", "operator"), ("erzhan", "engineer"),
                       ("dora", "viewer")):
        s.add_user(name, role, PASSWORD)
    s.start_api()
    yield s
    s.stop()


def served_operations(stack: Stack) -> list[tuple[str, str]]:
    spec = httpx.get(f"{stack.api_url}/openapi.json").json()
    return [(method.upper(), path) for path, ops in spec["paths"].items() for method in ops]


def credentials(stack: Stack) -> dict[str, str | None]:
    """A token per caller; the disabled person's session is refused before this returns."""
    made: dict[str, str | None] = {"none": None,
                                   **{role: stack.tokens[role] for role in
                                      ("ingest", "viewer", "operator", "engineer", "metrics")}}
    for caller, name in PEOPLE.items():
        made[caller] = stack.login(name, PASSWORD)
    engine = open_database(Settings(data_dir=stack.data_dir))
    try:
        users.set_disabled(engine, "dora")
    finally:
        engine.dispose()
    with stack.as_token(made["disabled session"]) as c:
        deadline = time.monotonic() + 30  # the API rechecks a cached session within 5 s
        while c.get("/api/v1/auth/me").status_code != 401:
            assert time.monotonic() < deadline, "a disabled person's session still works"
            time.sleep(0.2)
    return made


def call(stack: Stack, token: str | None, method: str, path: str, request: dict,
         caller: str) -> httpx.Response:
    if path == "/api/v1/auth/logout" and caller in PEOPLE and caller != "disabled session":
        token = stack.login(PEOPLE[caller], PASSWORD)  # one to end, not the one in use
    url = path.format(**request.get("path", {}))
    headers = {"Authorization": f"Token {token}"} if token else {}
    # A live stream answers with its status and goes on: read the status, then leave.
    with httpx.stream(method, stack.api_url + url, headers=headers, timeout=30,
                      params=request.get("params"), json=request.get("json"),
                      content=request.get("content")) as r:
        if r.headers.get("content-type", "").startswith("text/event-stream"):
            return r
        r.read()
        return r


def test_every_served_route_has_a_row(stack: Stack) -> None:
    served = served_operations(stack)
    missing = [op for op in served if op not in TABLE]
    assert not missing, f"routes without a row in the role table: {missing}"
    gone = [op for op in TABLE if op not in served]
    assert not gone, f"rows for routes the API no longer serves: {gone}"


def test_each_caller_gets_the_status_the_table_says(stack: Stack) -> None:
    tokens = credentials(stack)
    wrong = []
    for (method, path), (request, expected) in TABLE.items():
        assert len(expected) == len(CALLERS), (method, path)
        for caller, status in zip(CALLERS, expected, strict=True):
            r = call(stack, tokens[caller], method, path, request, caller)
            if r.status_code != status:
                wrong.append(f"{method} {path} as {caller}: {r.status_code}, expected "
                             f"{status} ({r.text[:120]})")
    assert not wrong, "\n".join(wrong)
