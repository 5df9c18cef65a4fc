"""The probes: /healthz says whether the process should be restarted (its background
workers stopped), /readyz whether it can serve (database takes writes, store answers),
with real failures: a stopped PostgreSQL server and a full disk."""

from __future__ import annotations

import subprocess
import time

import httpx
from fastapi.testclient import TestClient

from backend.settings import Settings
from kazsat.stack import Stack
from tests.test_faults import NS, PrivatePostgres, _can_mount_tmpfs, batch_lines


def probes(stack: Stack) -> tuple[httpx.Response, httpx.Response]:
    return httpx.get(f"{stack.api_url}/healthz"), httpx.get(f"{stack.api_url}/readyz")


def test_liveness_fails_when_a_background_worker_stops(tmp_path) -> None:
    from backend.api.app import create_app

    with TestClient(create_app(Settings(data_dir=tmp_path / "data"))) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        client.app.state.services.sender.stop()  # the alert-email sender is gone
        r = client.get("/healthz")
        assert r.status_code == 503 and r.json() == {"status": "failing",
                                                     "stopped": ["outbox-sender"]}


def test_readiness_follows_the_database_server(tmp_path) -> None:
    pg = PrivatePostgres()
    pg.start()
    stack = Stack(tmp_path / "data", extra_env={"KAZSAT_DATABASE_URL": pg.url})
    try:
        stack.start_api()
        live, ready = probes(stack)
        assert live.status_code == ready.status_code == 200
        assert ready.json() == {"status": "ready", "checks": {"database": "ok", "store": "ok"}}
        pg.stop()
        live, ready = probes(stack)
        assert live.status_code == 200  # restarting the API would not bring the server back
        assert ready.status_code == 503, ready.text
        assert ready.json()["checks"]["database"] == "unreachable"
        assert str(pg.port) not in ready.text and "127.0.0.1" not in ready.text
        assert "postgres" not in ready.text.lower()
        pg.start()
        deadline = time.monotonic() + 30
        while (ready := probes(stack)[1]).status_code != 200:
            assert time.monotonic() < deadline, ready.text
            time.sleep(0.2)
    finally:
        stack.stop()
        pg.remove()


def test_readiness_says_out_of_disk_space(tmp_path) -> None:
    disk = tmp_path / "disk"
    if not _can_mount_tmpfs(disk):
        import pytest

        pytest.skip("needs root and permission to mount a small tmpfs for the full disk")
    subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)
    stack = Stack(disk / "data")
    try:
        stack.start_api()
        assert probes(stack)[1].status_code == 200
        subprocess.run(["mount", "-o", "remount,size=3m", str(disk)], check=True)
        t0 = (time.time_ns() // NS - 86_000) * NS
        for i in range(400):
            if stack.write(batch_lines(i, t0)).status_code != 204:
                break
        live, ready = probes(stack)
        assert live.status_code == 200
        assert ready.status_code == 503 and \
            ready.json()["checks"]["database"] == "out of disk space", ready.text
        subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)
        assert probes(stack)[1].status_code == 200
    finally:
        stack.stop()
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)
