"""Start real parts of the system as processes, for tests and benchmarks: the API (and the
dashboard) on free ports over a fresh data folder, with a token for every role."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from backend.services import open_database
from backend.settings import Settings
from backend.tokens import ROLES, create_token

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_tokens(settings: Settings) -> dict[str, str]:
    """One token per role, made in this process (what `kazsat token create` does)."""
    engine = open_database(settings)
    try:
        return {role: create_token(engine, role, f"test {role}") for role in ROLES}
    finally:
        engine.dispose()


@dataclass
class Process:
    """A child process with its log file; `stop` ends it (SIGINT, then SIGKILL)."""

    args: list[str]
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen | None = None

    def start(self) -> Process:
        with open(self.log_path, "ab") as log:  # the child keeps its own copy of the file
            self.proc = subprocess.Popen(self.args, env=self.env, cwd=ROOT, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def stop(self, kill: bool = False) -> None:
        if self.proc and self.proc.poll() is None:
            if kill:
                self.proc.kill()
            else:
                self.proc.send_signal(2)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@dataclass
class Stack:
    """An API (and optionally a dashboard) on free ports over a fresh data folder."""

    data_dir: Path
    api_port: int = field(default_factory=free_port)
    dashboard_port: int = field(default_factory=free_port)
    extra_env: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    api: Process | None = None
    dashboard: Process | None = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def dashboard_url(self) -> str:
        return f"http://127.0.0.1:{self.dashboard_port}"

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "KAZSAT_DATA_DIR": str(self.data_dir),
                "KAZSAT_API_URL": self.api_url, "KAZSAT_API_PORT": str(self.api_port),
                "KAZSAT_DASHBOARD_PORT": str(self.dashboard_port),
                "KAZSAT_PUBLIC_DASHBOARD_URL": self.dashboard_url,
                **{f"KAZSAT_{role.upper()}_TOKEN": tok for role, tok in self.tokens.items()},
                **self.extra_env}

    def make_tokens(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        url = self.extra_env.get("KAZSAT_DATABASE_URL", "")
        self.tokens.update(make_tokens(Settings(data_dir=self.data_dir, database_url=url)))

    def add_user(self, name: str, role: str, password: str | None = None,
                 must_change: bool = False) -> str:
        """A user made in this process (what `kazsat user add` does); returns the password."""
        from backend.users import create_user

        self.data_dir.mkdir(parents=True, exist_ok=True)
        url = self.extra_env.get("KAZSAT_DATABASE_URL", "")
        engine = open_database(Settings(data_dir=self.data_dir, database_url=url))
        try:
            return create_user(engine, name, role, password, must_change=must_change)
        finally:
            engine.dispose()

    def login(self, name: str, password: str) -> str:
        """A session token for the user (POST /api/v1/auth/login); fails loudly otherwise."""
        r = httpx.post(f"{self.api_url}/api/v1/auth/login", timeout=30,
                       json={"username": name, "password": password})
        r.raise_for_status()
        return r.json()["token"]

    def as_token(self, token: str) -> httpx.Client:
        return httpx.Client(base_url=self.api_url, timeout=30,
                            headers={"Authorization": f"Token {token}"})

    def start_api(self) -> None:
        if not self.tokens:
            self.make_tokens()
        self.api = Process([sys.executable, "-m", "kazsat", "api"], self.env,
                           self.data_dir / "api.log").start()
        wait_http(f"{self.api_url}/healthz", self.api)

    def start_dashboard(self) -> None:
        self.dashboard = Process([sys.executable, "-m", "kazsat", "dashboard"], self.env,
                                 self.data_dir / "dashboard.log").start()
        wait_http(self.dashboard_url, self.dashboard)

    def client(self, role: str = "viewer") -> httpx.Client:
        return httpx.Client(base_url=self.api_url, timeout=30,
                            headers={"Authorization": f"Token {self.tokens[role]}"})

    def write(self, lines: str, precision: str = "ns") -> httpx.Response:
        with self.client("ingest") as c:
            return c.post("/api/v2/write", params={"precision": precision}, content=lines)

    def stop(self) -> None:
        for part in (self.dashboard, self.api):
            if part:
                part.stop()


def wait_http(url: str, process: Process, timeout_s: float = 60) -> None:
    """Poll until the URL answers; fail with the process log if it exits or never answers."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.proc.poll() is not None:
            raise RuntimeError(f"{process.args} exited:\n{process.log()}")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout_s} s:\n{process.log()}")
