"""`kazsat up` start and stop times, each run in a fresh data folder:
  - failing API: a broken mission file; from launch until `kazsat up` has exited (the API dies
    at once, and `up` must not wait out its 60 s for /healthz);
  - ready: from launch (no back-fill) until the dashboard's login page answers;
  - Ctrl-C: from SIGINT to the process group until `kazsat up` and every part have exited;
  - first start: `kazsat up` as the README's first command runs it (the default back-fill of
    24 h), from launch until the dashboard answers and until the back-fill is complete (the
    data folder's `backfilled` marker is written).

    .venv/bin/python benchmarks/startup.py               # 3 runs of each
    .venv/bin/python benchmarks/startup.py --runs 1 --no-first-start
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated

import httpx
import psutil
import typer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from kazsat.stack import ROOT, free_port

UP_FIRST = [sys.executable, "-m", "kazsat", "up"]
UP = [*UP_FIRST, "--backfill", ""]


def up_env(folder: Path, **extra: str) -> dict[str, str]:
    api, dash = free_port(), free_port()
    return {**os.environ, "PYTHONPATH": str(ROOT), "KAZSAT_DATA_DIR": str(folder / "data"),
            "KAZSAT_API_PORT": str(api), "KAZSAT_API_URL": f"http://127.0.0.1:{api}",
            "KAZSAT_DASHBOARD_PORT": str(dash),
            "KAZSAT_PUBLIC_DASHBOARD_URL": f"http://127.0.0.1:{dash}", **extra}


def failing_api(folder: Path) -> float:
    """Seconds until `kazsat up` gives up on an API that exits at once."""
    broken = folder / "mission.yaml"
    broken.write_text("satellites: {kazsat-2: {}}\n")
    began = time.monotonic()
    done = subprocess.run(UP, cwd=folder, env=up_env(folder, KAZSAT_MISSION_FILE=str(broken)),
                          capture_output=True, text=True, timeout=300)
    took = time.monotonic() - began
    if done.returncode != 1 or "the API exited" not in " ".join(done.stderr.split()):
        raise SystemExit(f"unexpected end of `kazsat up`:\n{done.stderr[-3000:]}")
    return took


def ready_and_ctrl_c(folder: Path, command: list[str] = UP, history: bool = False,
                     polls: list[tuple[float, int]] | None = None) -> tuple[float, float, float]:
    """Seconds from launch until the dashboard answers, from Ctrl-C until all exited and,
    with history, from launch until the back-fill's marker is written (before Ctrl-C; 0
    without). Meanwhile the live /api/v1/latest is read each second, as a dashboard does,
    and its (seconds, stale series) appended to polls."""
    env = up_env(folder)
    login = f"http://127.0.0.1:{env['KAZSAT_DASHBOARD_PORT']}/login"
    marker = folder / "data" / "backfilled"
    began = time.monotonic()
    up = subprocess.Popen(command, cwd=folder, env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, start_new_session=True)
    parts: list[psutil.Process] = []
    try:
        while True:
            if up.poll() is not None:
                raise SystemExit(f"`kazsat up` exited during start-up (code {up.returncode})")
            try:
                if httpx.get(login, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() - began > 300:
                raise SystemExit("the dashboard did not come up within 300 s")
            time.sleep(0.05)
        ready = time.monotonic() - began
        tokens = dict(line.split("=", 1) for line in
                      (folder / "data" / "tokens.env").read_text().split())
        viewer = {"Authorization": f"Token {tokens['KAZSAT_VIEWER_TOKEN']}"}
        while history and not marker.exists():
            if up.poll() is not None:
                raise SystemExit(f"`kazsat up` exited during the back-fill ({up.returncode})")
            if time.monotonic() - began > 1800:
                raise SystemExit("the back-fill did not finish within 1800 s")
            asked = time.monotonic()
            r = httpx.get(f"{env['KAZSAT_API_URL']}/api/v1/latest", headers=viewer, timeout=60)
            if polls is not None:
                polls.append((time.monotonic() - asked, r.json()["summary"]["stale"]))
            time.sleep(max(1.0 - (time.monotonic() - asked), 0.0))
        complete = time.monotonic() - began if history else 0.0
        parts = psutil.Process(up.pid).children(recursive=True)
        stopping = time.monotonic()
        os.killpg(up.pid, signal.SIGINT)
        up.wait(120)
        _, alive = psutil.wait_procs(parts, timeout=60)
        if alive:
            raise SystemExit(f"still running after Ctrl-C: {[p.cmdline() for p in alive]}")
        return ready, time.monotonic() - stopping, complete
    finally:  # the parts run in sessions of their own: a failed run must not leave them
        for p in [*parts, psutil.Process(up.pid)] if up.poll() is None else parts:
            if p.is_running():
                p.kill()


def main(runs: Annotated[int, typer.Option(help="runs of each measurement")] = 3,
         first_start: Annotated[bool, typer.Option(
             help="also time first starts with the default back-fill")] = True) -> None:
    failing, ready, stop, first_ready, first_complete = [], [], [], [], []
    polls: list[tuple[float, int]] = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="kazsat-startup-") as tmp:
            failing.append(failing_api(Path(tmp)))
        with tempfile.TemporaryDirectory(prefix="kazsat-startup-") as tmp:
            r, s, _ = ready_and_ctrl_c(Path(tmp))
            ready.append(r)
            stop.append(s)
        if first_start:
            with tempfile.TemporaryDirectory(prefix="kazsat-startup-") as tmp:
                r, _, c = ready_and_ctrl_c(Path(tmp), UP_FIRST, history=True, polls=polls)
                first_ready.append(r)
                first_complete.append(c)
    results = [("stop on a failing API", failing), ("ready (dashboard answers)", ready),
               ("stop on Ctrl-C", stop)]
    if first_start:
        results += [("first start: ready", first_ready),
                    ("first start: history done", first_complete)]
    for name, values in results:
        print(f"{name:28} median {statistics.median(values):5.2f} s   "
              f"max {max(values):5.2f} s   ({len(values)} runs)")
    if polls:
        took = sorted(t for t, _ in polls)
        p95 = took[int(0.95 * len(took))]
        print(f"during the back-fill, live /api/v1/latest each second: median "
              f"{1000 * statistics.median(took):.0f} ms, p95 {1000 * p95:.0f} ms, "
              f"max {1000 * took[-1]:.0f} ms; stale series in it: at most "
              f"{max(n for _, n in polls)}, in {sum(1 for _, n in polls if n)} of {len(polls)}")


if __name__ == "__main__":
    typer.run(main)
