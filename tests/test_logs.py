"""KAZSAT_LOG_FORMAT=json: every part (API, dashboard, simulator, the `kazsat` command) writes
one JSON object per line through logsetup/, as real processes; text stays the default."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx

from kazsat.stack import ROOT, Stack

JSON = {"KAZSAT_LOG_FORMAT": "json"}


def records(text: str) -> list[dict]:
    """Every line of a part's output as a JSON log record (a line that is not fails)."""
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines, "no log lines"
    parsed = []
    for line in lines:
        record = json.loads(line)
        assert {"time", "level", "logger", "message"} <= record.keys(), record
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", record["time"]), record
        parsed.append(record)
    return parsed


def test_every_part_logs_json_lines_when_asked(tmp_path: Path) -> None:
    stack = Stack(tmp_path / "data", extra_env=JSON)
    stack.start_api()
    stack.start_dashboard()
    try:
        r = httpx.post(f"{stack.api_url}/api/v1/auth/login", timeout=30,
                       json={"username": "nobody", "password": "not-a-password"})
        assert r.status_code == 401
        simulated = subprocess.run(
            [sys.executable, "-m", "simulator", "--api-url", stack.api_url, "--seed", "3",
             "--backfill", "2m", "--backfill-step", "60", "--no-live"],
            env=stack.env, cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert simulated.returncode == 0, simulated.stderr
        cli = subprocess.run([sys.executable, "-m", "kazsat", "db", "upgrade"], env=stack.env,
                             cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert cli.returncode == 0, cli.stderr
    finally:
        stack.stop()
    api = records(stack.api.log())
    assert any(r["logger"] == "backend.api.app" and r["message"].startswith("API ready")
               for r in api)
    failed = [r for r in api if r["message"].startswith("login failed for 'nobody'")]
    assert failed and failed[0]["level"] == "WARNING" and failed[0]["thread"]
    dashboard = records(stack.dashboard.log())
    assert any(r["logger"] == "dashboard.app" for r in dashboard), dashboard
    simulator = records(simulated.stderr)  # no progress bar among them: log lines only
    assert any(r["logger"] == "simulator" and "back-fill done" in r["message"]
               for r in simulator), simulator
    assert any("database schema at revision" in r["message"] for r in records(cli.stderr))


def test_text_is_the_default(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAZSAT_LOG_")}
    done = subprocess.run([sys.executable, "-m", "kazsat", "db", "upgrade"], cwd=ROOT,
                          env={**env, "KAZSAT_DATA_DIR": str(tmp_path)}, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert re.search(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ INFO    backend\.db: database schema "
                     r"at revision \d{4}$", done.stderr, re.MULTILINE), done.stderr
