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
    """Small limits: 3 failures per name, 5 per address (then 30 s: longer than a test
    takes), 2 s sessions, 2 writes a second."""
    s = Stack(Path(tmp_path_factory.mktemp("strict")) / "data",
              extra_env={"KAZSAT_LOGIN_MAX_FAILURES": "3",
                         "KAZSAT_LOGIN_MAX_FAILURES_PER_ADDRESS": "5",
                         "KAZSAT_LOGIN_FIRST_DELAY_S": "30",
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


def forwarded(stack: Stack, address: str) -> dict[str, str]:
    """The headers the dashboard sends when it logs in a browser at `address`."""
    secret = (stack.data_dir / "proxy_secret").read_text().strip()
    return {"X-Forwarded-For": address, "X-Kazsat-Proxy": secret}


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
    assert set(body) == {"token", "name", "role", "expires", "must_change_password",
                         "device"}
    assert body["device"].startswith("ksd_")
    assert (body["name"], body["role"], body["must_change_password"]) == ("vera", "viewer",
                                                                          False)
    assert body["token"].startswith("kss_") and body["expires"].endswith("Z")
    assert r.headers["cache-control"] == "no-store"
    with stack.as_token(body["token"]) as c:
        assert c.get("/api/v1/latest").status_code == 200
        me = c.get("/api/v1/auth/me").json()
        assert me == {"name": "vera", "role": "viewer", "kind": "session",
                      "expires": body["expires"], "must_change_password": False,
                      "permissions": ["mission", "read"]}
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
                              ({"old": first, "new": "dina-2026-akkol"}, "user name"),
                              ({"old": first, "new": "abcdefghijkl"}, "sequences like"),
                              ({"old": first, "new": "kazsat-kazsat"}, "repeated words"),
                              ({"old": first, "new": "qwertyuiop[]"}, "too easy")):
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
    # A local process naming another address of its own is still counted as 127.0.0.1...
    r = httpx.post(f"{strict.api_url}/api/v1/auth/login", headers={"X-Forwarded-For": "10.1.1.7"},
                   json={"username": "kanat", "password": PASSWORD})
    assert r.status_code == 429
    r = httpx.post(f"{strict.api_url}/api/v1/auth/login",
                   headers={"X-Forwarded-For": "10.1.1.7", "X-Kazsat-Proxy": "guessed"},
                   json={"username": "kanat", "password": PASSWORD})
    assert r.status_code == 429
    # ...but the dashboard (which shows the proxy secret) logs in for a browser elsewhere.
    r = httpx.post(f"{strict.api_url}/api/v1/auth/login", headers=forwarded(strict, "10.1.1.7"),
                   json={"username": "kanat", "password": PASSWORD})
    assert r.status_code == 200
    # The counts are in the database: a restart of the API forgets none of them.
    strict.api.stop()
    strict.start_api()
    assert login(strict, "kanat", PASSWORD).status_code == 429
    assert login(strict, "asel", PASSWORD).status_code == 429


def test_a_session_ends_at_its_lifetime(strict: Stack) -> None:
    strict.add_user("zhanna", "viewer", PASSWORD)
    # A fresh name, but this address is over its failure limit from the test above: log in
    # as the dashboard does for a browser elsewhere.
    r = httpx.post(f"{strict.api_url}/api/v1/auth/login", headers=forwarded(strict, "10.1.1.8"),
                   json={"username": "zhanna", "password": PASSWORD}, timeout=30)
    assert r.status_code == 200, r.text
    with strict.as_token(r.json()["token"]) as c:
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
    from dashboard.settings import DashboardSettings

    shown = repr(Settings(smtp_password="p4ss-word", ingest_token="t0k")) + \
        repr(DashboardSettings(secret_key="k3y"))
    assert not {"p4ss-word", "k3y", "t0k"} & set(shown.replace("'", " ").split())


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
        weak = kazsat("user", "add", "aliya", "--role", "viewer", "--password-stdin",
                      stdin="abcdefghijkl\n")
        assert weak.returncode == 1 and "too easy to guess" in weak.stderr
        assert "sequences" in weak.stderr.lower()
        reset = kazsat("user", "reset-password", "arman")
        assert reset.returncode == 0 and users.authenticate(engine, "arman",
                                                            reset.stdout.strip())
        assert password not in added.stderr
    finally:
        engine.dispose()


def test_the_cookie_signing_key_is_made_once_and_private(tmp_path) -> None:
    from dashboard.session import secret_key
    from dashboard.settings import DashboardSettings

    settings = DashboardSettings(data_dir=tmp_path / "data")
    key = secret_key(settings)
    path = tmp_path / "data" / "secret_key"
    assert len(key) >= 32 and (path.stat().st_mode & 0o777) == 0o600
    assert secret_key(settings) == key  # the same on every start: sessions survive restarts
    assert secret_key(DashboardSettings(data_dir=tmp_path / "other")) != key  # not a constant
    assert secret_key(DashboardSettings(data_dir=tmp_path / "data", secret_key="s" * 40)) \
        == "s" * 40


@pytest.mark.parametrize(("target", "expected"), [
    ("/alerts?status=all", "/alerts?status=all"), ("//evil.example/x", "/"),
    ("/\\evil.example", "/"), ("https://evil.example", "/"), ("/logout", "/"),
    ("/login?next=/x", "/"), ("/a\r\nSet-Cookie: x", "/")])
def test_login_returns_only_to_a_path_of_this_site(target: str, expected: str) -> None:
    from flask import Flask

    from dashboard.session import _next_path

    with Flask(__name__).test_request_context("/login", query_string={"next": target}):
        assert _next_path() == expected


@pytest.fixture(scope="module")
def besieged(tmp_path_factory: pytest.TempPathFactory,
             module_store_env: dict[str, str]) -> Iterator[Stack]:
    """An API and a dashboard whose login delays are long enough to hold through a test:
    3 failures per name and address, 5 per address, 4 per name from everywhere, then 60 s."""
    s = Stack(Path(tmp_path_factory.mktemp("besieged")) / "data",
              extra_env={"KAZSAT_LOGIN_MAX_FAILURES": "3",
                         "KAZSAT_LOGIN_MAX_FAILURES_PER_ADDRESS": "5",
                         "KAZSAT_LOGIN_MAX_FAILURES_PER_NAME": "4",
                         "KAZSAT_LOGIN_FIRST_DELAY_S": "60", **module_store_env})
    s.add_user("aigerim", "operator", PASSWORD)
    s.start_api()
    s.start_dashboard()
    yield s
    s.stop()


def dashboard_login(stack: Stack, browser: httpx.Client, password: str) -> httpx.Response:
    """Sign in through the dashboard's form as a browser does (CSRF field, cookies)."""
    import re

    form = browser.get(f"{stack.dashboard_url}/login")
    csrf = re.search(r"name='csrf' value='([^']+)'", form.text).group(1)
    return browser.post(f"{stack.dashboard_url}/login",
                        data={"username": "aigerim", "password": password, "csrf": csrf,
                              "next": "/"})


def test_a_stranger_cannot_lock_the_user_of_a_known_browser_out(besieged: Stack) -> None:
    with httpx.Client(timeout=30) as browser:  # the operator's own browser, via the dashboard
        r = dashboard_login(besieged, browser, PASSWORD)
        assert r.status_code == 303 and r.headers["location"] == "/", r.text
        assert browser.cookies.get("kazsat_device", path="/login").startswith("ksd_")
        browser.get(f"{besieged.dashboard_url}/logout")
        # A stranger guesses the name from many addresses (as forwarded by a dashboard).
        codes = [httpx.post(f"{besieged.api_url}/api/v1/auth/login",
                            headers=forwarded(besieged, f"10.66.0.{i}"),
                            json={"username": "aigerim", "password": f"guess-{i}-{j}"}
                            ).status_code for i in range(1, 11) for j in range(2)]
        assert codes[:4] == [401] * 4 and set(codes[4:]) == {429}  # held back by name
        # Anyone without the operator's device cookie is held back too, right password or not…
        r = httpx.post(f"{besieged.api_url}/api/v1/auth/login",
                       headers=forwarded(besieged, "10.7.7.7"),
                       json={"username": "aigerim", "password": PASSWORD})
        assert r.status_code == 429
        with httpx.Client(timeout=30) as other_browser:
            assert dashboard_login(besieged, other_browser, PASSWORD).status_code == 429
        # …but the operator's own browser signs in, through the dashboard, during the attack.
        r = dashboard_login(besieged, browser, PASSWORD)
        assert r.status_code == 303 and r.headers["location"] == "/", r.text
        assert browser.get(f"{besieged.dashboard_url}/").status_code == 200
        # Signed in, the person may still change the password (a wrong current one is
        # counted per session, not with the strangers' guesses at the name).
        device = browser.cookies.get("kazsat_device", path="/login")
        r = httpx.post(f"{besieged.api_url}/api/v1/auth/login", json={
            "username": "aigerim", "password": PASSWORD, "device": device})
        assert r.status_code == 200, r.text
        with besieged.as_token(r.json()["token"]) as c:
            r = c.post("/api/v1/auth/password", json={"old": "not-it", "new": PASSWORD + "x"})
            assert r.status_code == 400 and "current password is wrong" in r.json()["message"]
    # A device cookie is good for its own name only, and only as signed.
    cookie = login(besieged, "erzhan-nobody", "x").status_code  # unknown name: 401, no cookie
    assert cookie == 401
    device = httpx.post(f"{besieged.api_url}/api/v1/auth/login", headers=forwarded(
        besieged, "10.8.8.8"), json={"username": "aigerim", "password": PASSWORD}).status_code
    assert device == 429
    forged = "ksd_" + "YWlnZXJpbXwxNzAwMDAwMDAwfDAwMDA" + "." + "0" * 64
    r = httpx.post(f"{besieged.api_url}/api/v1/auth/login",
                   json={"username": "aigerim", "password": PASSWORD, "device": forged},
                   headers=forwarded(besieged, "10.8.8.9"))
    assert r.status_code == 429


def test_an_engineer_clears_a_lock_out_from_the_cli(besieged: Stack) -> None:
    besieged.add_user("daulet", "viewer", PASSWORD)
    for i in range(6):
        httpx.post(f"{besieged.api_url}/api/v1/auth/login",
                   headers=forwarded(besieged, f"10.67.0.{i}"),
                   json={"username": "daulet", "password": "guess-guess"})
    assert login(besieged, "daulet", PASSWORD).status_code == 429
    done = subprocess.run([sys.executable, "-m", "kazsat", "user", "unlock", "daulet"],
                          env=besieged.env, cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert "cleared" in done.stderr
    assert login(besieged, "daulet", PASSWORD).status_code == 200
    with besieged.client("engineer") as c:
        audit = c.get("/api/v1/audit").json()["audit"]
    assert audit[0]["action"] == "login.unlock" and audit[0]["target"] == "user daulet"
    with besieged.client("operator") as c:  # engineers only
        assert c.post("/api/v1/auth/locks/daulet/clear").status_code == 403


def test_a_token_revoked_from_the_cli_is_refused_by_the_running_api(stack: Stack) -> None:
    from backend.tokens import TOKEN_RECHECK_S, create_token

    engine = open_database(Settings(data_dir=stack.data_dir,
                                    database_url=stack.extra_env.get("KAZSAT_DATABASE_URL", "")))
    try:
        token = create_token(engine, "viewer", "wall screen 3")
    finally:
        engine.dispose()

    def kazsat(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "kazsat", *args], env=stack.env,
                              cwd=ROOT, capture_output=True, text=True, timeout=60)

    with stack.as_token(token) as c:
        assert c.get("/api/v1/latest").status_code == 200  # now cached by the API
        listed = kazsat("token", "list")
        assert listed.returncode == 0, listed.stderr
        [row] = [line for line in listed.stdout.splitlines() if "wall screen 3" in line]
        assert "viewer" in row and "active" in row and token not in listed.stdout
        token_id = row.split()[0]
        revoked = kazsat("token", "revoke", token_id)
        assert revoked.returncode == 0 and "revoked" in revoked.stderr, revoked.stderr
        deadline = time.monotonic() + 3 * TOKEN_RECHECK_S  # generous: the API rechecks in 5 s
        while (r := c.get("/api/v1/latest")).status_code == 200:
            assert time.monotonic() < deadline, "a revoked token still works"
            time.sleep(0.2)
        assert r.status_code == 401
    assert "revoked" in next(line for line in kazsat("token", "list").stdout.splitlines()
                             if line.split()[0] == token_id)
    missing = kazsat("token", "revoke", "999999")
    assert missing.returncode == 1 and "no API token 999999" in missing.stderr
    with stack.client("engineer") as c:
        assert any(a["action"] == "token.revoke" and a["target"] == f"token {token_id}"
                   for a in c.get("/api/v1/audit").json()["audit"])


def test_a_parameter_named_many_times_is_read_once(stack: Stack) -> None:
    # An hour back, in a window of its own: other tests of this module's stack write the
    # same series near the present.
    t0 = (time.time_ns() // NS - 3600) * NS
    body = "\n".join(f"power,satellite=kazsat-2 bus_voltage={100 + i} {t0 + i * NS}"
                     for i in range(10))
    assert stack.write(body).status_code == 204
    window = {"start": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0 // NS - 1)),
              "end": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0 // NS + 10)),
              "satellite": "kazsat-2"}
    with stack.client() as c:
        once = c.get("/api/v1/export", params={"parameter": "bus_voltage", **window})
        many = c.get("/api/v1/export", params={"parameter": ["bus_voltage"] * 200, **window})
        assert once.status_code == many.status_code == 200, many.text
        assert many.text == once.text and len(once.text.splitlines()) == 11
        both = c.get("/api/v1/export", params={
            "parameter": ["bus_voltage", "battery_soc", "bus_voltage"] * 60, **window})
        assert both.text.count("bus_voltage") == 10
        series = c.get("/api/v1/series", params={"parameter": ["bus_voltage"] * 20,
                                                 **window})
        assert series.status_code == 200 and len(series.json()["series"]) == 1


def test_limits_must_be_finite_and_removing_one_is_named(stack: Stack) -> None:
    import json

    path = "/api/v1/limits/battery_temp"
    with stack.client("engineer") as c:
        before = c.get("/api/v1/limits").json()
        for text in ('{"warning": {"low": NaN, "high": 25}, "critical": {"low": 0, "high": 30}}',
                     '{"warning": {"low": 5, "high": 1e999}, "critical": {"low": 0, "high": 30}}',
                     '{"warning": {"low": 5, "high": 25}, "critical": {"low": -Infinity, '
                     '"high": 30}}'):
            r = c.put(path, content=text, headers={"Content-Type": "application/json"})
            assert r.status_code == 400 and r.json()["code"] == "invalid", (text, r.text)
        assert c.get("/api/v1/limits").json() == before  # nothing switched off
        # Leaving a limit out does not remove it; naming it null does, and the audit says so.
        dropped = {"warning": {"low": 5, "high": 25}, "critical": {"high": 30}}
        r = c.put(path, json=dropped)
        assert r.status_code == 400 and "critical.low" in r.json()["message"]
        assert "null" in r.json()["message"]
        r = c.put(path, content=json.dumps({"warning": {"low": 5, "high": 25},
                                            "critical": {"low": None, "high": 30}}),
                  headers={"Content-Type": "application/json"})
        assert r.status_code == 200, r.text
        [row] = [a for a in c.get("/api/v1/audit").json()["audit"]
                 if a["action"].startswith("limits") and a["target"].endswith("battery_temp")][:1]
        assert row["detail"]["removed"] == ["critical.low"], row
        assert c.delete(path).status_code == 200  # back to the mission's limits


def test_error_answers_quote_at_most_200_characters(stack: Stack) -> None:
    huge = "x" * 60_000  # within the line length limit, so the tag itself is refused
    r = stack.write(f"power,satellite={huge} bus_voltage=1 {time.time_ns()}")
    assert r.status_code == 400, r.text[:300]
    message = r.json()["message"]
    assert len(message) < 300 and "characters)" in message, message[:400]
    with stack.client() as c:
        r = c.get("/api/v1/latest", params={"at": "y" * 20_000})
    assert r.status_code == 400 and len(r.text) < 400, r.text[:500]


def test_secrets_and_the_database_are_private_from_the_start(tmp_path) -> None:
    import os
    import stat

    from fastapi.testclient import TestClient

    from backend.api.app import create_app
    from kazsat.cli import ensure_stack_tokens

    data = tmp_path / "data"
    env = {**os.environ, "KAZSAT_DATA_DIR": str(data)}
    done = subprocess.run(["sh", "-c", f"umask 022 && {sys.executable} -m kazsat db upgrade"],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    settings = Settings(data_dir=data)
    ensure_stack_tokens(settings)
    with TestClient(create_app(settings)):  # the API makes its device and proxy keys
        pass

    def mode(path: Path) -> int:
        return stat.S_IMODE(path.stat().st_mode)

    assert mode(data) == 0o700
    made = sorted(p.name for p in data.iterdir())
    assert {"kazsat.db", "tokens.env", "device_key", "proxy_secret"} <= set(made), made
    for path in data.iterdir():
        assert mode(path) == 0o600, (path.name, oct(mode(path)))


def test_two_api_processes_on_one_database_share_the_login_counts(
        tmp_path: Path, store_env: dict[str, str]) -> None:
    """The two sites: a name locked out through one API is locked out through the other, and
    an unlock at either clears it at both (the counts are in the shared database)."""
    env = {"KAZSAT_LOGIN_MAX_FAILURES": "3", "KAZSAT_LOGIN_FIRST_DELAY_S": "60", **store_env}
    akkol = Stack(tmp_path / "data", extra_env=env)
    akkol.add_user("saule", "operator", PASSWORD)
    akkol.start_api()
    kokterek = Stack(tmp_path / "data", extra_env=env, tokens=akkol.tokens)
    kokterek.start_api()
    try:
        for site in (akkol, kokterek, akkol):
            assert login(site, "saule", "guess-guess-guess").status_code == 401
        for site in (akkol, kokterek):
            r = login(site, "saule", PASSWORD)
            assert r.status_code == 429 and 55 <= int(r.headers["retry-after"]) <= 60
        with kokterek.client("engineer") as c:
            assert c.post("/api/v1/auth/locks/saule/clear").json()["cleared"] == 2
        assert login(akkol, "saule", PASSWORD).status_code == 200
    finally:
        kokterek.stop()
        akkol.stop()
