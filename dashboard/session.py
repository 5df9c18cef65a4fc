"""Who is looking at the dashboard: the login page, the forced password change, logout, and
the guard every request to the Dash server passes.

The API owns people and sessions (backend/users.py). Logging in here asks the API for a
session token and keeps it in Flask's signed session cookie (HttpOnly, SameSite=Strict), so
every API call made for this browser carries this user's token and role; the dashboard
itself holds no token of its own. When the API answers 401 (the session ended: expired,
logged out elsewhere, user disabled), the cookie is cleared and the browser is sent back to
/login (dashboard/assets/session.js).
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote

import httpx
from dash import Dash
from flask import Flask, Response, g, has_request_context, redirect, request, session
from itsdangerous import BadSignature
from markupsafe import Markup

from dashboard.settings import DashboardSettings, get_settings

log = logging.getLogger(__name__)
# Served without a session: the login page and the files any page (login too) loads.
PUBLIC = ("/login", "/assets/", "/_dash-component-suites/", "/_favicon.ico")
UNCACHED_OK = ("/assets/", "/_dash-component-suites/", "/_favicon.ico")
TIMEOUT = httpx.Timeout(10.0, connect=2.0)
# Kept by the browser across sessions: the API's proof that this browser logged in as a
# name before, which lets its user past a lock-out strangers cause (README "Security").
DEVICE_COOKIE = "kazsat_device"
LOGIN_CSRF_COOKIE = "kazsat_login_csrf"
DEVICE_MAX_AGE_S = 180 * 86400


class SessionExpired(Exception):
    """The API refused this browser's session token (401)."""


# The token of the browser a live stream serves (dashboard/stream.py), which runs outside
# any Flask request: set with `acting_as` for the API calls made on its behalf.
_acting: ContextVar[str | None] = ContextVar("acting", default=None)


def token() -> str | None:
    """The logged-in user's API session token: in a request for a browser, or while acting
    for a live stream's browser; else None."""
    return session.get("token") if has_request_context() else _acting.get()


@contextmanager
def acting_as(bearer: str) -> Iterator[None]:
    """API calls in this block (and threads started from it) carry `bearer`."""
    reset = _acting.set(bearer)
    try:
        yield
    finally:
        _acting.reset(reset)


def cookie_token(app: Flask, cookie: str | None) -> str | None:
    """The API session token in a session cookie this server signed, when it holds a
    usable one (signed by our key, not expired, no one-time password to change)."""
    if not cookie:
        return None
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    if serializer is None:
        return None
    try:
        data = serializer.loads(cookie, max_age=int(
            app.permanent_session_lifetime.total_seconds()))
    except BadSignature:
        return None
    if not isinstance(data, dict) or data.get("must_change"):
        return None
    found = data.get("token")
    return found if isinstance(found, str) and found else None


def user() -> dict | None:
    """{"name", "role"} of the logged-in user, or None."""
    if not token():
        return None
    return {"name": session.get("name", ""), "role": session.get("role", "")}


def may(permission: str) -> bool:
    """Whether the logged-in user's role may (the API decides anyway; this hides buttons).
    The permissions are the API's answer at login (GET /api/v1/auth/me)."""
    return bool(token()) and permission in session.get("permissions", ())


def _permissions(bearer: str) -> list[str]:
    r = _api("GET", "/api/v1/auth/me", bearer=bearer)
    r.raise_for_status()
    return list(r.json()["permissions"])


def ended() -> None:
    """Called by the API client on a 401: forget the session; the answer becomes a 401.
    (A live stream learns of it from its own stream and tells its browser.)"""
    if has_request_context():
        g.session_ended = True
        session.clear()


def secret_key(settings: DashboardSettings) -> str:
    """The key that signs session cookies: from the settings, else from a file made once with
    mode 0600 (data_dir/secret_key unless secret_key_file names another). Never a constant."""
    if settings.secret_key:
        return settings.secret_key
    return secret_file(Path(settings.secret_key_file or settings.data_dir / "secret_key"))


@lru_cache
def proxy_secret() -> str:
    """What the API wants in X-Kazsat-Proxy before it believes our X-Forwarded-For: the
    setting, else the secret the API and dashboard share in data_dir/proxy_secret."""
    settings = get_settings()
    return settings.proxy_secret or secret_file(settings.data_dir / "proxy_secret")


def secret_file(path: Path) -> str:
    """The secret kept in the file, made once (64 hex digits, mode 0600 from the first byte)
    when missing; the API, or another dashboard process, may make it first."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32) + "\n")
            log.info("made a secret in %s", path)
    if path.stat().st_mode & 0o077:
        log.warning("%s is readable by others than its owner; chmod 600 it", path)
    secret = path.read_text().strip()
    if len(secret) < 32:
        raise RuntimeError(f"{path} holds no usable secret (32 or more characters needed)")
    return secret


def _api(method: str, path: str, *, bearer: str | None = None, **kwargs: object) -> httpx.Response:
    # The browser's address, so that failed logins count per person, not per dashboard.
    headers = {"X-Forwarded-For": request.remote_addr or "", "X-Kazsat-Proxy": proxy_secret()}
    if bearer:
        headers["Authorization"] = f"Token {bearer}"
    return httpx.request(method, get_settings().api_url.rstrip("/") + path, headers=headers,
                         timeout=TIMEOUT, **kwargs)


def _next_path() -> str:
    target = request.values.get("next", "/")
    # Only a path on this site: "//host", "/\\host" (browsers read it as "//") or
    # "http://…" would make login an open redirect.
    return target if target.startswith("/") and not target.startswith("//") \
        and "\\" not in target and not any(c < " " for c in target) \
        and not target.startswith(("/login", "/logout", "/password")) else "/"


def _csrf() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    return session["csrf"]


def _csrf_ok(expected: str) -> bool:
    sent = request.form.get("csrf", "")
    return bool(sent) and secrets.compare_digest(sent, expected)


def _page(title: str, body: Markup, status: int = 200) -> Response:
    html = Markup(
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        "<title>KazSat monitor · {title}</title>"
        "<link rel='stylesheet' href='/assets/theme.css'>"
        "<link rel='stylesheet' href='/assets/login.css'></head>"
        "<body class='kz-login-body'><main class='kz-login'>"
        "<div class='kz-brand'><span class='kz-brand-strong'>KAZSAT</span>"
        "<span class='kz-brand-light'>ground segment</span></div>"
        "{body}</main></body></html>").format(title=title, body=body)
    return Response(str(html), status=status, mimetype="text/html")


def _message(text: str, kind: str = "error") -> Markup:
    return Markup("<p class='kz-login-msg kz-login-{kind}' id='login-message' "
                  "role='alert'>{text}</p>").format(kind=kind, text=text) if text else Markup("")


def notice_page(title: str, message: str, back: str, status: int) -> Response:
    """A plain page saying why something was refused, with a link back (the export route's
    answer when the API refuses: readable, not a stack trace or a JSON body)."""
    body = Markup("<h1>{title}</h1>{msg}<p class='kz-login-note'><a href='{back}' "
                  "id='notice-back'>Back</a></p>").format(title=title, msg=_message(message),
                                                          back=back)
    return _page(title, body, status)


def login_page(message: str = "", kind: str = "error", name: str = "",
               status: int = 200) -> Response:
    # The form's token lives in a cookie of its own, never in the session: a page that lands
    # here without the session cookie (a link from another site, which SameSite=Strict
    # keeps it from) must not replace the cookie every other open page is signed in with.
    csrf = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)
    form = Markup(
        "<h1>Sign in</h1>{msg}"
        "<form method='post' action='/login' class='kz-login-form'>"
        "<input type='hidden' name='csrf' value='{csrf}'>"
        "<input type='hidden' name='next' value='{next}'>"
        "<label for='username'>User name</label>"
        "<input id='username' name='username' value='{name}' autocomplete='username' "
        "autofocus required maxlength='64'>"
        "<label for='password'>Password</label>"
        "<input id='password' name='password' type='password' "
        "autocomplete='current-password' required maxlength='256'>"
        "<button type='submit' id='login-submit'>Sign in</button></form>"
    ).format(msg=_message(message, kind), csrf=csrf, next=_next_path(), name=name)
    answer = _page("Sign in", form, status)
    answer.set_cookie(LOGIN_CSRF_COOKIE, csrf, httponly=True, samesite="Strict", path="/login",
                      secure=get_settings().cookie_secure)
    return answer


def password_page(message: str = "", status: int = 200) -> Response:
    minimum = get_settings().password_min_length
    intro = "Choose your own password to replace the one-time password." \
        if session.get("must_change") else "Change your password."
    form = Markup(
        "<h1>Change password</h1><p class='kz-login-note'>{intro} At least {minimum} "
        "characters, not containing your user name, and hard to guess: no common "
        "passwords, sequences, keyboard patterns or repeated words.</p>{msg}"
        "<form method='post' action='/password' class='kz-login-form'>"
        "<input type='hidden' name='csrf' value='{csrf}'>"
        "<input type='hidden' name='username' value='{name}' autocomplete='username'>"
        "<label for='old'>Current password</label>"
        "<input id='old' name='old' type='password' autocomplete='current-password' required>"
        "<label for='new'>New password</label>"
        "<input id='new' name='new' type='password' autocomplete='new-password' required "
        "minlength='{minimum}'>"
        "<label for='repeat'>New password again</label>"
        "<input id='repeat' name='repeat' type='password' autocomplete='new-password' "
        "required>"
        "<button type='submit' id='password-submit'>Change password</button></form>"
        "<p class='kz-login-note'><a href='/logout'>Log out</a></p>"
    ).format(intro=intro, minimum=minimum, msg=_message(message), csrf=_csrf(),
             name=session.get("name", ""))
    return _page("Change password", form, status)


def do_login() -> Response:
    if request.method == "GET":
        if token():
            return redirect("/password" if session.get("must_change") else _next_path())
        expired = request.args.get("expired")
        return login_page("Your session ended; sign in again." if expired else "", "info")
    name = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    if not _csrf_ok(request.cookies.get(LOGIN_CSRF_COOKIE, "")):
        return login_page("The form was stale; try again.", name=name, status=400)
    if not name or not password:
        return login_page("Enter your user name and password.", name=name, status=400)
    try:
        r = _api("POST", "/api/v1/auth/login", json={
            "username": name, "password": password,
            "device": request.cookies.get(DEVICE_COOKIE, "")[:512] or None})
    except httpx.HTTPError:
        return login_page("The monitor's API is unreachable; try again shortly.", name=name,
                          status=503)
    if r.status_code == 429:
        wait = r.headers.get("retry-after", "a few")
        return login_page(f"Too many failed sign-ins. Wait {wait} s before trying again.",
                          name=name, status=429)
    if r.status_code in (400, 401, 413):
        return login_page("Wrong user name or password.", name=name, status=401)
    if r.status_code != 200:
        return login_page(f"The API could not sign you in ({r.status_code}); try again.",
                          name=name, status=502)
    body = r.json()
    try:
        permissions = _permissions(body["token"])
    except httpx.HTTPError:
        return login_page("The monitor's API is unreachable; try again shortly.", name=name,
                          status=503)
    session.clear()
    session.permanent = True
    session.update(token=body["token"], name=body["name"], role=body["role"],
                   must_change=bool(body["must_change_password"]), permissions=permissions)
    log.info("%s (%s) signed in from %s", body["name"], body["role"], request.remote_addr)
    answer = redirect("/password" if body["must_change_password"] else _next_path(), 303)
    if body.get("device"):
        answer.set_cookie(DEVICE_COOKIE, body["device"], max_age=DEVICE_MAX_AGE_S,
                          httponly=True, samesite="Strict", path="/login",
                          secure=get_settings().cookie_secure)
    return answer


def do_password() -> Response:
    if request.method == "GET":
        return password_page()
    if not _csrf_ok(session.get("csrf", "")):
        return password_page("The form was stale; try again.", 400)
    new = request.form.get("new", "")
    if new != request.form.get("repeat", ""):
        return password_page("The two new passwords differ.", 400)
    try:
        r = _api("POST", "/api/v1/auth/password", bearer=token(),
                 json={"old": request.form.get("old", ""), "new": new})
    except httpx.HTTPError:
        return password_page("The monitor's API is unreachable; try again shortly.", 503)
    if r.status_code == 401:
        session.clear()
        return redirect("/login?expired=1", 303)
    if r.status_code != 200:
        try:
            reason = str(r.json().get("message") or "")
        except ValueError:
            reason = ""
        reason = reason or f"refused by the API ({r.status_code})"
        reason = reason.rstrip(".")  # the estimator's advice ends its own sentences
        return password_page(reason[:1].upper() + reason[1:] + ".",
                             r.status_code if r.status_code < 500 else 502)
    session["must_change"] = False
    return redirect("/", 303)


def do_logout() -> Response:
    if token():
        try:
            _api("POST", "/api/v1/auth/logout", bearer=token())
        except httpx.HTTPError:
            log.warning("API unreachable at logout; the session ends at its expiry")
    session.clear()
    return redirect("/login", 303)


def guard() -> Response | None:
    """Before every request: no session, no dashboard (the login page instead); a one-time
    password must be changed before anything else."""
    path = request.path
    if path.startswith(PUBLIC) or path == "/logout":
        return None
    # Dash's own requests get a 401, on which the page's script goes to /login (session.js).
    dash_call = path.startswith("/_dash-") or request.method != "GET"
    if not token():
        if dash_call:
            return Response('{"message": "sign in"}', status=401, mimetype="application/json")
        full = request.full_path.rstrip("?")
        return redirect("/login" + (f"?next={quote(full)}" if full != "/" else ""))
    if session.get("must_change") and path != "/password":
        if dash_call:
            return Response('{"message": "change your password"}', status=401,
                            mimetype="application/json")
        return redirect("/password")
    return None


def content_security_policy(app: Dash) -> str:
    """Scripts only from this origin, plus Dash's inline scripts by their hashes (computed
    per HTML page: Dash adds some when it sets itself up at the first request). Styles need
    'unsafe-inline': Dash components set style attributes."""
    hashes = " ".join(app.csp_hashes())
    return ("default-src 'self'; "
            f"script-src 'self' {hashes}; "
            "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
            "font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
            "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'")


def install(app: Dash) -> None:
    """Sessions, the login and password pages, the guard and security headers on the Dash
    app's Flask server. Call after every callback is registered (for the CSP hashes)."""
    settings = get_settings()
    server = app.server
    server.secret_key = secret_key(settings)
    server.config.update(
        SESSION_COOKIE_NAME="kazsat_session", SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict", SESSION_COOKIE_SECURE=settings.cookie_secure,
        PERMANENT_SESSION_LIFETIME=timedelta(seconds=settings.session_max_s),
        # The cookie lives as long as the API session may; the API enforces idle time.
        # Not re-sent with every answer (a page polls every second).
        SESSION_REFRESH_EACH_REQUEST=False)
    server.add_url_rule("/login", "kz_login", do_login, methods=["GET", "POST"])
    server.add_url_rule("/password", "kz_password", do_password, methods=["GET", "POST"])
    server.add_url_rule("/logout", "kz_logout", do_logout, methods=["GET"])
    server.before_request(guard)
    csp = [content_security_policy(app)]

    @server.errorhandler(SessionExpired)
    def _expired(_: SessionExpired) -> Response:
        return Response('{"message": "session ended"}', status=401, mimetype="application/json")

    @server.after_request
    def _headers(response: Response) -> Response:
        if g.get("session_ended") and request.path.startswith("/_dash-"):
            response = Response('{"message": "session ended"}', status=401,
                                mimetype="application/json")
        h = response.headers
        if response.mimetype == "text/html":
            csp[0] = content_security_policy(app)
        h["Content-Security-Policy"] = csp[0]
        h["X-Frame-Options"] = "DENY"
        h["X-Content-Type-Options"] = "nosniff"
        h["Referrer-Policy"] = "no-referrer"
        if not request.path.startswith(UNCACHED_OK):
            h["Cache-Control"] = "no-store"
        return response
