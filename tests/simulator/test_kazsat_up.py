"""`kazsat up` start-up: an API that dies at once (a broken mission file) stops it at once,
and Ctrl-C stops every part. How long each takes is measured by benchmarks/startup.py; here
the message says which way it ended (the API's exit, not the wait for /healthz timing out)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import typer

from kazsat.cli import wait_for_api
from kazsat.stack import ROOT, free_port


def test_wait_for_api_stops_when_the_api_process_exits(capsys) -> None:
    child = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    with pytest.raises(typer.Exit) as exc:
        wait_for_api(f"http://127.0.0.1:{free_port()}", timeout_s=60, child=child)
    err = " ".join(capsys.readouterr().err.split())  # rich wraps long lines
    # The child's exit ended the wait, not the 60 s: that would say "did not come up".
    assert exc.value.exit_code == 1 and "the API exited (code 3)" in err, err


def test_up_with_a_broken_mission_file_stops_with_its_message(tmp_path) -> None:
    broken = tmp_path / "mission.yaml"
    broken.write_text("satellites: {kazsat-2: {}}\n")
    api, dash = free_port(), free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "KAZSAT_DATA_DIR": str(tmp_path / "data"),
        "KAZSAT_MISSION_FILE": str(broken),
        "KAZSAT_API_PORT": str(api),
        "KAZSAT_API_URL": f"http://127.0.0.1:{api}",
        "KAZSAT_DASHBOARD_PORT": str(dash),
        "KAZSAT_PUBLIC_DASHBOARD_URL": f"http://127.0.0.1:{dash}",
    }
    done = subprocess.run(
        [sys.executable, "-m", "kazsat", "up"],
        cwd=tmp_path,  # no .env of the checkout
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr[-3000:]
    err = " ".join(done.stderr.split())  # rich wraps long lines
    assert "mission database refused" in err and "kazsat-2" in err  # the API's own message
    # "the API exited", not "did not come up within 60 s": the exit ended the wait.
    assert "the API exited" in err and "Traceback" not in done.stderr


def test_up_names_the_part_that_exits_and_fails(tmp_path) -> None:
    """A simulator that refuses its scenario stops `kazsat up` with the part named and a
    non-zero code (each child's name is kept beside its process)."""
    broken = tmp_path / "scenario.yaml"
    broken.write_text("faults: [{fault: no-such-fault}]\n")
    api, dash = free_port(), free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "KAZSAT_DATA_DIR": str(tmp_path / "data"),
           "KAZSAT_API_PORT": str(api), "KAZSAT_API_URL": f"http://127.0.0.1:{api}",
           "KAZSAT_DASHBOARD_PORT": str(dash),
           "KAZSAT_PUBLIC_DASHBOARD_URL": f"http://127.0.0.1:{dash}"}
    done = subprocess.run([sys.executable, "-m", "kazsat", "up", "--backfill", "", "--scenario",
                           str(broken)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=180)
    err = " ".join(done.stderr.split())  # rich wraps long lines
    assert done.returncode == 1, err[-3000:]
    # during start-up ("simulator (code 1) exited during start-up") or just after it
    assert "unknown fault 'no-such-fault'" in err and "stopped: simulator" in err, err[-3000:]


def test_ctrl_c_stops_every_part_even_when_sigint_came_ignored(tmp_path) -> None:
    """A shell that starts `kazsat up` in the background hands SIGINT down ignored; Ctrl-C
    (SIGINT to the process group) must still stop the API, simulator and dashboard."""
    import signal

    import httpx
    import psutil

    api, dash = free_port(), free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "KAZSAT_DATA_DIR": str(tmp_path / "data"),
           "KAZSAT_API_PORT": str(api), "KAZSAT_API_URL": f"http://127.0.0.1:{api}",
           "KAZSAT_DASHBOARD_PORT": str(dash),
           "KAZSAT_PUBLIC_DASHBOARD_URL": f"http://127.0.0.1:{dash}"}
    up = subprocess.Popen([sys.executable, "-m", "kazsat", "up", "--backfill", ""], cwd=tmp_path,
                          env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          start_new_session=True,
                          preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    parts: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert up.poll() is None, up.stderr.read()[-3000:]
            try:
                if httpx.get(f"http://127.0.0.1:{dash}/login", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        else:
            raise AssertionError("the dashboard did not come up")
        parts = psutil.Process(up.pid).children(recursive=True)
        assert len(parts) >= 3  # api, simulator, dashboard
        os.killpg(up.pid, signal.SIGINT)
        up.wait(60)
        _, alive = psutil.wait_procs(parts, timeout=30)
        assert not alive, [p.cmdline() for p in alive]
        assert "stopping" in up.stderr.read()
    finally:  # the parts run in sessions of their own: a failed run must not leave them
        for p in [*parts, psutil.Process(up.pid)] if up.poll() is None else parts:
            if p.is_running():
                p.kill()
