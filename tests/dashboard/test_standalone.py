"""The dashboard is a client of the API and nothing more: it imports no other part of the
project, reads its own settings from the stack's variables and learns permissions from the API."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from flask import Flask, session

from backend.settings import Settings
from dashboard import session as dashboard_session
from dashboard.settings import DashboardSettings
from kazsat.stack import ROOT

# Every dashboard module imported and the app built, in a fresh interpreter: which of the
# project's other parts (and the database layer they bring) came along.
PROBE = """
import importlib, json, pkgutil, sys
import dashboard
for m in pkgutil.walk_packages(dashboard.__path__, "dashboard."):
    if not m.name.startswith("dashboard.pages"):  # pages register with the app: built below
        importlib.import_module(m.name)
from dashboard.app import create_app
create_app()
print(json.dumps(sorted(n for n in sys.modules if n.split(".")[0] in
                        ("backend", "simulator", "kazsat", "tests", "sqlalchemy")
                        and not n.startswith("sqlalchemy."))))
"""


def test_the_dashboard_imports_no_backend_simulator_or_database(tmp_path) -> None:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT),
           "KAZSAT_DATA_DIR": str(tmp_path / "data")}
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == []


def test_settings_come_from_the_stacks_own_variables(monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path) -> None:
    values = {"KAZSAT_API_URL": "http://api.example:9000", "KAZSAT_DASHBOARD_HOST": "0.0.0.0",
              "KAZSAT_DASHBOARD_PORT": "8123", "KAZSAT_DATA_DIR": str(tmp_path),
              "KAZSAT_SECRET_KEY": "k" * 40, "KAZSAT_SECRET_KEY_FILE": "/run/key",
              "KAZSAT_COOKIE_SECURE": "true", "KAZSAT_SESSION_MAX_S": "600",
              "KAZSAT_PASSWORD_MIN_LENGTH": "16", "KAZSAT_PROXY_SECRET": "p" * 40,
              "KAZSAT_LOG_FORMAT": "json", "KAZSAT_LOG_LEVEL": "WARNING"}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    s = DashboardSettings()
    assert (s.api_url, s.dashboard_host, s.dashboard_port, s.data_dir) == (
        "http://api.example:9000", "0.0.0.0", 8123, tmp_path)
    assert (s.secret_key, s.secret_key_file, s.cookie_secure) == ("k" * 40, "/run/key", True)
    assert (s.session_max_s, s.password_min_length) == (600.0, 16)
    assert s.proxy_secret == "p" * 40
    assert (s.log_format, s.log_level) == ("json", "WARNING")
    # Every field is one of those variables: nothing the stack does not already set.
    assert {f"KAZSAT_{f.upper()}" for f in DashboardSettings.model_fields} == set(values)


def test_what_both_read_has_the_same_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KAZSAT_API_URL", "KAZSAT_DATA_DIR", "KAZSAT_SESSION_MAX_S",
                 "KAZSAT_PASSWORD_MIN_LENGTH", "KAZSAT_PROXY_SECRET", "KAZSAT_LOG_FORMAT",
                 "KAZSAT_LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    ours, theirs = DashboardSettings(_env_file=None), Settings(_env_file=None)
    shared = set(DashboardSettings.model_fields) & set(Settings.model_fields)
    assert shared == {"api_url", "data_dir", "session_max_s", "password_min_length",
                      "proxy_secret", "log_format", "log_level"}
    assert {f: getattr(ours, f) for f in shared} == {f: getattr(theirs, f) for f in shared}


def test_buttons_follow_the_permissions_the_api_gave_at_login() -> None:
    app = Flask(__name__)
    app.secret_key = "test"
    with app.test_request_context():
        assert not dashboard_session.may("ack")  # nobody signed in
        session.update(token="kss_x", name="olga", role="operator",
                       permissions=["ack", "mission", "read"])
        assert dashboard_session.may("ack") and not dashboard_session.may("limits")
        session["permissions"] = ["mission", "read"]
        assert not dashboard_session.may("ack")
