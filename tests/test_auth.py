"""People over the API, as a real process: login, roles, logout, expiry, the one-time
password, rate limits, strict parameters, body limits, CORS, and no secret in the log."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from backend import users
from backend.services import open_database
from backend.settings import Settings
from kazsat.stack import ROOT, Stack

NS = 10**9
PASSWORD = "steppe-wind-1997"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory,
          module_store_env: dict[str, str]) -> Iterator[Stack]:
    # Per-address failures high: every test here logs in from 127.0.0.1 (see `strict`).
    s = Stack(Path(tmp_path_factory.mktemp("auth")) / "data",
              extra_env={"KAZSAT_LOGIN_MAX_FAILURES_PER_ADDRESS": "1000",
                         "KAZSAT_SMTP_PASSWORD": "smtp-secret-0xC0FFEE", **module_store_env})
    for name, role in (("vera", "viewer"), ("oleg", "operator"), ("erzhan", "engineer")):
        s.add_user(name, role, PASSWORD)
    s.start_api()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory,
           module_store_env: dict[str, str]) -> Iterator[Stack]:
    """Small limits: 3 failures per name, 5 per address, 2 s sessions, 2 writes a second."""
    s = Stack(Path(tmp_path_factory.mktemp("strict")) / "data",
              extra_env={"KAZSAT_LOGIN_MAX_FAILURES": "3",
                         "KAZSAT_LOGIN_MAX_FAILURES_PER_ADDRESS": "5",
                         "KAZSAT_SESSION_MAX_S": "2", "KAZSAT_INGEST_RATE_PER_S": "2",
                         "KAZSAT_INGEST_BURST": "3", "KAZSAT_MAX_JSON_BYTES": "2000",
                         **module_store_env})
    for name in ("asel", "bolat", "kanat"):
        s.add_user(name, "operator", PASSWORD)
    s.start_api()
    yield s
    s.stop()


def login(stack: Stack, name: str, password: str) -> httpx.Response:
    return httpx.post(f"{stack.api_url}/api/v1/auth/login", timeout=30,
                      json={"username": name, "password": password})


def raise_alert(stack: Stack) -> int:
    """A battery temperature breach on KazSat-2; returns the open alert's id."""
    t0 = time.time_ns() - 100 * NS
    body = "\n".join(f"power,satellite=kazsat-2 battery_temp={v} {t0 + i * NS}"
                     for i, v in enumerate([15.0, 27.0, 27.0, 27.0]))
    assert stack.write(body).status_code == 204
    with stack.client() as c:
        [a] = [a for a in c.get("/api/v1/alerts").json()["alerts"]
               if a["parameter"] == "battery_temp" and a["acked_by"] is None]
    return a["id"]


def test_login_gives_a_session_that_reads_and_says_who(stack: Stack) -> None:
    r = login(stack, "vera", PASSWORD)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"token", "name", "role", "expires", "must_change_password"}
    assert (body["name"], body["role"], body["must_change_password"]) == ("vera", "viewer",
                                                                          False)
    assert body["token"].startswith("kss_") and body["expires"].endswith("Z")
    assert r.headers["cache-control"] == "no-store"
    with stack.as_token(body["token"]) as c:
        assert c.get("/api/v1/latest").status_code == 200
        me = c.get("/api/v1/auth/me").json()
        assert me == {"name": "vera", "role": "viewer", "kind": "session",
                      "expires": body["expires"], "must_change_password": False}
    # Bearer works as well as Token; API tokens still work and say so.
    r = httpx.get(f"{stack.api_url}/api/v1/auth/me",
                  headers={"Authorization": f"Bearer {body['token']}"})
    assert r.json()["name"] == "vera"
    with stack.client("operator") as c:
        assert c.get("/api/v1/auth/me").json()["kind"] == "token"
        assert c.post("/api/v1/auth/logout").status_code == 400


def test_wrong_name_and_wrong_password_answer_alike(stack: Stack) -> None:
    wrong_password = login(stack, "vera", "not-her-password")
    no_such_user = login(stack, "nobody", PASSWORD)
    assert wrong_password.status_code == no_such_user.status_code == 401
    assert wrong_password.json() == no_such_user.json() == {
        "code": "unauthorized", "message": "wrong user name or password"}
    r = httpx.post(f"{stack.api_url}/api/v1/auth/login", json={"username": "vera"})
    assert r.status_code == 400 and "password" in r.json()["message"]


def test_roles_hold_for_sessions_viewer_403_operator_200(stack: Stack) -> None:
    alert_id = raise_alert(stack)
    path = f"/api/v1/alerts/{alert_id}/ack"
    with stack.as_token(stack.login("vera", PASSWORD)) as viewer:
        r = viewer.post(path, json={"comment": "seen"})
        assert r.status_code == 403 and "viewer" in r.json()["message"]
        assert viewer.post(f"/api/v1/alerts/{alert_id}/shelve",
                           json={"minutes": 5}).status_code == 403
    with stack.as_token(stack.login("oleg", PASSWORD)) as operator:
        r = operator.post(path, json={"comment": "battery heater checked"})
        assert r.status_code == 200, r.text
        assert r.json()["acked_by"] == "oleg"  # the person, not a shared token
        assert operator.put("/api/v1/limits/battery_temp",
                            json={"warning": {"low": 0, "high": 30}}).status_code == 403
        audit = operator.get("/api/v1/audit").json()["audit"]
        assert audit[0]["actor"] == "oleg"
    with stack.as_token(stack.login("erzhan", PASSWORD)) as engineer:
        assert engineer.get("/api/v1/limits").status_code == 200


def test_logout_ends_the_session_at_once(stack: Stack) -> None:
    token = stack.login("oleg", PASSWORD)
    with stack.as_token(token) as c:
        assert c.get("/api/v1/latest").status_code == 200
        assert c.post("/api/v1/auth/logout").status_code == 204
        r = c.get("/api/v1/latest")
        assert r.status_code == 401 and r.json()["code"] == "unauthorized"
        assert c.post("/api/v1/auth/logout").status_code == 401
    with stack.as_token("kss_" + "A" * 43) as c:
        assert c.get("/api/v1/latest").status_code == 401


def test_one_time_password_must_be_changed_first(stack: Stack) -> None:
    first = stack.add_user("dina", "operator", must_change=True)
    r = login(stack, "dina", first)
    assert r.status_code == 200 and r.json()["must_change_password"] is True
    with stack.as_token(r.json()["token"]) as c:
        r = c.get("/api/v1/latest")
        assert r.status_code == 403 and "one-time password" in r.json()["message"]
        assert c.get("/api/v1/auth/me").json()["must_change_password"] is True
        for body, message in (({"old": "wrong", "new": PASSWORD}, "current password is wrong"),
                              ({"old": first, "new": "short"}, "at least 12"),
                              ({"old": first, "new": first}, "differ"),
                              ({"old": first, "new": "dina-2026-akkol"}, "user name")):
            r = c.post("/api/v1/auth/password", json=body)
            assert r.status_code == 400 and message in r.json()["message"], r.text
        r = c.post("/api/v1/auth/password", json={"old": first, "new": PASSWORD})
        assert r.status_code == 200 and r.json()["must_change_password"] is False
        assert c.get("/api/v1/latest").status_code == 200  # the same session, now allowed
    assert login(stack, "dina", first).status_code == 401
    assert login(stack, "dina", PASSWORD).json()["must_change_password"] is False


def test_a_user_disabled_from_the_cli_is_out_within_seconds(stack: Stack) -> None:
    stack.add_user("ruslan", "viewer", PASSWORD)
    with stack.as_token(stack.login("ruslan", PASSWORD)) as c:
        assert c.get("/api/v1/latest").status_code == 200
        done = subprocess.run([sys.executable, "-m", "kazsat", "user", "disable", "ruslan"],
                              env=stack.env, cwd=ROOT, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        deadline = time.monotonic() + 15
        while c.get("/api/v1/latest").status_code == 200:
            assert time.monotonic() < deadline, "a disabled user's session still works"
            time.sleep(0.2)
        assert c.get("/api/v1/latest").status_code == 401
    assert login(stack, "ruslan", PASSWORD).status_code == 401


def test_failed_logins_are_rate_limited_by_name_and_address(strict: Stack) -> None:
    for _ in range(3):
        assert login(strict, "asel", "guess-guess-guess").status_code == 401
    r = login(strict, "asel", PASSWORD)  # even the right password waits now
    assert r.status_code == 429 and r.json()["code"] == "too many requests"
    assert 1 <= int(r.headers["retry-after"]) <= 300
    assert "try again in" in r.json()["message"]
    # Another name from the same address: allowed until the address's limit (5) is reached.
    assert login(strict, "bolat", PASSWORD).status_code == 200
    assert login(strict, "bolat", "guess-guess-guess").status_code == 401
    assert login(strict, "bolat", "guess-guess-guess").status_code == 401
    assert login(strict, "kanat", PASSWORD).status_code == 429  # address: 5 failures
    # The dashboard (a trusted proxy: this host) logs in for a browser at another address.
    r = httpx.post(f"{strict.api_url}/api/v1/auth/login", headers={"X-Forwarded-For": "10.1.1.7"},
                   json={"username": "kanat", "password": PASSWORD})
    assert r.status_code == 200


def test_a_session_ends_at_its_lifetime(strict: Stack) -> None:
    strict.add_user("zhanna", "viewer", PASSWORD)
    # A fresh name, but this address may be over its failure limit from the test above.
    strict.api.stop()
    strict.start_api()
    with strict.as_token(strict.login("zhanna", PASSWORD)) as c:
        assert c.get("/api/v1/latest").status_code == 200
        deadline = time.monotonic() + 10
        while c.get("/api/v1/latest").status_code == 200:  # KAZSAT_SESSION_MAX_S=2
            assert time.monotonic() < deadline, "the session outlived its lifetime"
            time.sleep(0.1)
        assert c.get("/api/v1/latest").status_code == 401


def test_ingest_is_rate_limited_per_token(strict: Stack) -> None:
    t = time.time_ns()
    codes = [strict.write(f"power,satellite=kazsat-2 bus_voltage=100 {t + i}").status_code
             for i in range(8)]
    assert codes[:3] == [204, 204, 204] and 429 in codes
    with strict.client("ingest") as c:
        deadline = time.monotonic() + 10
        line = f"power,satellite=kazsat-2 bus_voltage=100 {t + 100}".encode()
        while (r := c.post("/api/v2/write", content=line)).status_code == 429:
            assert int(r.headers["retry-after"]) >= 1
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert r.status_code == 204


def test_json_bodies_over_the_limit_are_413(strict: Stack) -> None:
    r = httpx.post(f"{strict.api_url}/api/v1/auth/login",
                   json={"username": "asel", "password": "x" * 5000})
    assert r.status_code == 413 and r.json()["code"] == "request too large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams
        yield b'{"username": "asel", "password": "'
        for _ in range(10):
            yield b"y" * 500
        yield b'"}'

    r = httpx.post(f"{strict.api_url}/api/v1/auth/login", content=chunks())
    assert r.status_code == 413


@pytest.mark.parametrize(("path", "message"), [
    ("/api/v1/latest?satelite=kazsat-2", "unknown query parameter 'satelite'"),
    ("/api/v1/alerts?limit=0", "limit"),
    ("/api/v1/alerts?status=open", "status"),
    ("/api/v1/latest?satellite=KAZSAT%202", "satellite"),
    ("/api/v1/alerts/0", "alert_id")])
def test_query_parameters_are_checked_strictly(stack: Stack, path: str, message: str) -> None:
    with stack.client() as c:
        r = c.get(path)
    assert r.status_code in (400, 422) and r.json()["code"] == "invalid", r.text
    assert message in r.json()["message"]


def test_security_headers_and_cors_closed_by_default(stack: Stack) -> None:
    r = httpx.options(f"{stack.api_url}/api/v1/latest",
                      headers={"Origin": "https://evil.example",
                               "Access-Control-Request-Method": "GET"})
    assert "access-control-allow-origin" not in r.headers
    r = httpx.get(f"{stack.api_url}/healthz")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"


def test_cors_opens_only_to_configured_origins(tmp_path) -> None:
    from backend.api.app import create_app

    app = create_app(Settings(data_dir=tmp_path, cors_origins="https://ops.kazsat.kz"))
    client = TestClient(app)  # no lifespan: CORS answers before any route runs
    pre = {"Access-Control-Request-Method": "GET", "Access-Control-Request-Headers":
           "authorization"}
    ok = client.options("/api/v1/latest", headers={"Origin": "https://ops.kazsat.kz", **pre})
    assert ok.headers["access-control-allow-origin"] == "https://ops.kazsat.kz"
    bad = client.options("/api/v1/latest", headers={"Origin": "https://evil.example", **pre})
    assert "access-control-allow-origin" not in bad.headers


def test_no_token_or_password_reaches_the_log(stack: Stack) -> None:
    secrets_seen: list[str] = [PASSWORD, "smtp-secret-0xC0FFEE", *stack.tokens.values()]
    session = stack.login("erzhan", PASSWORD)
    secrets_seen.append(session)
    login(stack, "erzhan", "wrong-but-secret-guess")
    secrets_seen.append("wrong-but-secret-guess")
    with stack.as_token(session) as c:
        c.get("/api/v1/latest")
        c.post("/api/v1/auth/password", json={"old": "also-a-secret-guess", "new": "x"})
        secrets_seen.append("also-a-secret-guess")
        c.post("/api/v1/auth/logout")
    stack.write(f"power,satellite=kazsat-3 bus_voltage=100 {time.time_ns()}")
    httpx.get(f"{stack.api_url}/api/v1/latest", headers={"Authorization": "Token ksat_leak"})
    secrets_seen.append("ksat_leak")
    log = stack.api.log()
    assert "login failed for 'erzhan'" in log and "erzhan (engineer) logged in" in log
    for secret in secrets_seen:
        assert secret not in log
    # Settings marked secret never show in their repr (what a log line of them would show).
    settings = Settings(smtp_password="p4ss-word", secret_key="k3y", ingest_token="t0k")
    assert not {"p4ss-word", "k3y", "t0k"} & set(repr(settings).replace("'", " ").split())


def test_database_url_is_logged_without_its_password() -> None:
    s = Settings(database_url="postgresql+psycopg://kazsat:hunter2-db@db.local:5432/kazsat")
    assert "hunter2" not in s.sql_url_for_log() and "db.local" in s.sql_url_for_log()


def test_cli_user_add_prints_a_one_time_password(tmp_path) -> None:
    env = {**__import__("os").environ, "KAZSAT_DATA_DIR": str(tmp_path / "data")}

    def kazsat(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "kazsat", *args], env=env, cwd=ROOT,
                              capture_output=True, text=True, input=stdin, timeout=60)

    added = kazsat("user", "add", "gulnara", "--role", "operator")
    assert added.returncode == 0, added.stderr
    password = added.stdout.strip()
    assert len(password) == 16 and "change" in added.stderr
    engine = open_database(Settings(data_dir=tmp_path / "data"))
    try:
        user = users.authenticate(engine, "gulnara", password)
        assert user and user.role == "operator" and user.must_change_password
        given = kazsat("user", "add", "arman", "--role", "viewer", "--password-stdin",
                       stdin=PASSWORD + "\n")
        assert given.returncode == 0 and given.stdout == ""
        assert users.authenticate(engine, "arman", PASSWORD).must_change_password
        listed = kazsat("user", "list").stdout
        assert "gulnara" in listed and "arman" in listed and "must change password" in listed
        reset = kazsat("user", "reset-password", "arman")
        assert reset.returncode == 0 and users.authenticate(engine, "arman",
                                                            reset.stdout.strip())
        assert password not in added.stderr
    finally:
        engine.dispose()


def test_the_cookie_signing_key_is_made_once_and_private(tmp_path) -> None:
    from dashboard.session import secret_key

    settings = Settings(data_dir=tmp_path / "data")
    key = secret_key(settings)
    path = tmp_path / "data" / "secret_key"
    assert len(key) >= 32 and (path.stat().st_mode & 0o777) == 0o600
    assert secret_key(settings) == key  # the same on every start: sessions survive restarts
    assert secret_key(Settings(data_dir=tmp_path / "other")) != key  # random, not a constant
    assert secret_key(Settings(data_dir=tmp_path / "data", secret_key="s" * 40)) == "s" * 40


@pytest.mark.parametrize(("target", "expected"), [
    ("/alerts?status=all", "/alerts?status=all"), ("//evil.example/x", "/"),
    ("/\\evil.example", "/"), ("https://evil.example", "/"), ("/logout", "/"),
    ("/login?next=/x", "/"), ("/a\r\nSet-Cookie: x", "/")])
def test_login_returns_only_to_a_path_of_this_site(target: str, expected: str) -> None:
    from flask import Flask

    from dashboard.session import _next_path

    with Flask(__name__).test_request_context("/login", query_string={"next": target}):
        assert _next_path() == expected
