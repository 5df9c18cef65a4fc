"""The simulator, as a separate process speaking only line protocol, against the real API:
what it writes is what the API serves back."""

from __future__ import annotations

import subprocess
import sys
import time

from backend.mission import load_mission
from backend.settings import Settings
from backend.timeutil import format_time
from kazsat.stack import ROOT
from simulator.model import Model

NS = 1_000_000_000
# Noon yesterday: the run is deterministic for its seed and start, and stays inside raw
# retention whatever today's date (a fixed instant aged past it and read back rollups).
START = (int(time.time()) // 86_400 * 86_400 - 43_200) * NS
SPAN_S = 600


def mission_dict() -> dict:
    return load_mission(Settings().mission_file).document()


def test_simulator_backfill_reads_back_exactly(stack):
    done = subprocess.run(
        [sys.executable, "-m", "kazsat", "simulate", "--seed", "7", "--backfill",
         f"{SPAN_S}s", "--no-live", "--start", format_time(START), "--api-url", stack.api_url],
        cwd=ROOT, env={**stack.env, "KAZSAT_INGEST_TOKEN": stack.tokens["ingest"]},
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]

    # The same model, run here, says what should have arrived.
    mission = mission_dict()
    model = Model(mission, seed=7, start_ns=START)
    blocks = model.generate(START - SPAN_S * NS, START)
    expected = {}
    for b in blocks:
        for key, values in b.fields.items():
            if key in ("bus_voltage", "ebn0_db", "wheel_1_speed", "battery_temp"):
                expected[(b.tags.get("satellite"), b.tags.get("station"), key)] = \
                    (b.times.tolist(), values.tolist())
    assert len(expected) == 2 + 4 + 2 + 2

    with stack.client() as c:
        for (sat, sta, key), (times, values) in expected.items():
            params = {"parameter": key, "start": format_time(START - SPAN_S * NS),
                      "end": format_time(START), "max_points": 5000}
            params.update({k: v for k, v in (("satellite", sat), ("station", sta)) if v})
            got = c.get("/api/v1/series", params=params).json()["series"][0]
            assert got["resolution"] == "raw"
            assert got["time"] == [format_time(t) for t in times], key
            # The wire carries each value to one decimal more than the mission displays.
            digits = mission["parameters"][key]["decimals"] + 1
            assert got["value"] == [float(f"{v:.{digits}f}") for v in values], key
        latest = c.get("/api/v1/latest").json()
    assert len(latest["series"]) == len(mission["series"])  # every series arrived
