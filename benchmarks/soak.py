"""Soak: the simulator live at N× the mission's rates into a real API, with three
dashboards' worth of polling, for a set time. Prints ingest throughput, API latency
(p50/p95/max of the dashboards' requests) and the backend's memory at start and end.

    .venv/bin/python benchmarks/soak.py --minutes 60            # the real soak
    .venv/bin/python benchmarks/soak.py --minutes 3             # a short one

Targets: memory flat within 10 %, p95 under 100 ms.
"""

from __future__ import annotations

import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import typer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from kazsat.stack import ROOT, Stack


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def samples_stored(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return conn.execute("SELECT sum(count) FROM rollups WHERE level = 86400").fetchone()[0] or 0


def dashboard(stack: Stack, stop: threading.Event, latencies: list[float],
              errors: list[str]) -> None:
    """What one open dashboard asks of the API: /latest every second, alerts and stations
    every 5 s, a 15-minute chart every 30 s."""
    with stack.client() as c:
        tick = 0
        while not stop.is_set():
            started = time.monotonic()
            paths = [("/api/v1/latest", {})]
            if tick % 5 == 0:
                paths += [("/api/v1/alerts", {"status": "active"}), ("/api/v1/stations", {})]
            if tick % 30 == 0:
                paths.append(("/api/v1/series", {
                    "satellite": "kazsat-2", "parameter": ["bus_voltage", "battery_soc"],
                    "start": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                           time.gmtime(time.time() - 900))}))
            for path, params in paths:
                t0 = time.perf_counter()
                try:
                    r = c.get(path, params=params)
                    if r.status_code != 200:
                        errors.append(f"{path}: {r.status_code}")
                except httpx.HTTPError as exc:
                    errors.append(f"{path}: {exc}")
                latencies.append((time.perf_counter() - t0) * 1000)
            tick += 1
            stop.wait(max(0.0, 1.0 - (time.monotonic() - started)))


def main(minutes: float = 3.0, speed: float = 10.0, dashboards: int = 3,
         warmup_s: float = 60.0) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        stack = Stack(Path(tmp) / "data")
        stack.start_api()
        sim = subprocess.Popen(
            [sys.executable, "-m", "kazsat", "simulate", "--speed", str(speed), "--seed", "1",
             "--api-url", stack.api_url], cwd=ROOT,
            env={**stack.env, "KAZSAT_INGEST_TOKEN": stack.tokens["ingest"]},
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            stop = threading.Event()
            latencies: list[float] = []
            errors: list[str] = []
            pollers = [threading.Thread(target=dashboard, args=(stack, stop, latencies, errors))
                       for _ in range(dashboards)]
            for p in pollers:
                p.start()
            # Warm up under the whole load (caches, the first rollup rows, every series' limit
            # state, the pollers' first answers) before the baseline: flat means no growth
            # once the process has settled. Latencies count from the baseline on.
            time.sleep(warmup_s)
            del latencies[:]
            db = Path(tmp) / "data" / "kazsat.db"
            pid = stack.api.proc.pid
            rss0, n0, t0 = rss_mb(pid), samples_stored(db), time.monotonic()
            rss_track = [rss0]
            deadline = t0 + minutes * 60
            while time.monotonic() < deadline:
                time.sleep(min(10.0, max(0.0, deadline - time.monotonic())))
                rss_track.append(rss_mb(pid))
                if len(rss_track) % 6 == 1:
                    print(f"  {(time.monotonic() - t0) / 60:4.1f} min: backend RSS "
                          f"{rss_track[-1]:.0f} MB", flush=True)
                if sim.poll() is not None:
                    raise SystemExit(f"the simulator stopped: {sim.stderr.read()[-2000:]}")
            stop.set()
            for p in pollers:
                p.join()
            elapsed = time.monotonic() - t0
            rss1, n1 = rss_mb(pid), samples_stored(db)
        finally:
            sim.terminate()
            sim.wait(30)
            stack.stop()
    lat = np.array(latencies)
    print(f"soak: {minutes:g} min, simulator at {speed:g}x the mission's rates, "
          f"{dashboards} dashboards polling")
    print(f"  ingest      {(n1 - n0) / elapsed:,.0f} field values/s "
          f"({n1 - n0:,} in {elapsed:.0f} s)")
    print(f"  API latency p50 {np.percentile(lat, 50):.1f} ms  p95 {np.percentile(lat, 95):.1f} ms"
          f"  max {lat.max():.0f} ms over {len(lat):,} requests, {len(errors)} errors"
          + (f" (first: {errors[0]})" if errors else ""))
    growth = (rss1 / rss0 - 1) * 100
    print(f"  backend RSS start {rss0:.0f} MB  end {rss1:.0f} MB  ({growth:+.1f} %)"
          f"  min {min(rss_track):.0f}  max {max(rss_track):.0f}  median "
          f"{statistics.median(rss_track):.0f}")
    p95 = np.percentile(lat, 95)
    print(f"  targets: memory flat within 10 % {'met' if abs(growth) <= 10 else 'MISSED'}; "
          f"p95 under 100 ms {'met' if p95 < 100 else 'MISSED'}")
    if errors:
        raise SystemExit(f"soak: the API answered {len(errors)} requests with an error")


if __name__ == "__main__":
    typer.run(main)
