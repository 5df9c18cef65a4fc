"""Replay of the history a first start writes shows what an operator would have seen then: no
stale series and a known prime station for each satellite at any cursor, with rollups equal
to the raw samples, though the history arrives newest hour first and beside live mode.

The history is written by the simulator exactly as `kazsat up` starts it (its arguments come
from `kazsat.cli.simulate_args`) into a real API process, over 10 minutes to keep it short.
The same check over the old coarse back-fill (a sample every 10 s) must find it failing."""

from __future__ import annotations

import sqlite3
import statistics
import sys
import time
from pathlib import Path

import pytest

from backend.timeutil import format_time, parse_time
from kazsat.cli import simulate_args
from kazsat.stack import Process, Stack

NS = 10**9
SPAN_S = 600


def write_first_start_history(stack: Stack, folder: Path,
                              extra: list[str]) -> tuple[Process, int, int]:
    """The simulator as `kazsat up` starts it on a first start, until its marker says the
    history is delivered (it stays live). Returns it and the wall times (ns) of its launch
    and of the marker: the history is [s - SPAN, s) for some s between them."""
    marker = folder / "backfilled"
    args = simulate_args(stack.api_url, 2026, None, f"{SPAN_S}s", marker)
    launched = time.time_ns()
    sim = Process([sys.executable, "-m", *args, *extra], stack.env,
                  folder / "simulate.log").start()
    deadline = time.monotonic() + 300
    while not marker.exists():
        assert sim.proc.poll() is None, sim.log()[-3000:]
        assert time.monotonic() < deadline, "no back-fill marker:\n" + sim.log()[-3000:]
        time.sleep(0.1)
    return sim, launched, time.time_ns()


def replay_faults(snapshot: dict, series: list[list]) -> list[str]:
    """What a replayed snapshot shows wrong: missing or stale series, and satellites whose
    prime station is not known (the dashboard's rule: one station's fresh is_prime true)."""
    rows = snapshot["series"]
    faults = [f"stale: {r['satellite']}/{r['station']}/{r['parameter']}"
              for r in rows if r["state"] == "stale"]
    if len(rows) != len(series):
        faults.append(f"{len(series) - len(rows)} series without a value")
    for sat in {s for s, _, _ in series if s}:
        primes = [r["station"] for r in rows if r["satellite"] == sat
                  and r["parameter"] == "is_prime" and r["state"] != "stale" and r["value"]]
        if len(primes) != 1:
            faults.append(f"{sat}: prime {primes or 'unknown'}")
    return faults


# "blocks": the API's compactor seals everything, the running segment too, every second, so
# the replay reads history from blocks, and late history arrives into sealed segments.
SEALING = {"KAZSAT_COMPACT_INTERVAL_S": "1", "KAZSAT_COMPACT_SETTLE_S": "-21600"}


@pytest.fixture
def stack(tmp_path, request):
    s = Stack(tmp_path / "data", extra_env=SEALING if getattr(request, "param", "") == "blocks"
              else {})
    s.start_api()
    yield s
    s.stop()


def cursors(launched: int, marked: int) -> list[int]:
    """Replay cursors surely inside the history (a minute and a half after its start, so each
    series has had a sample, half a minute before the live part), off the 10 s grid."""
    first, last = marked - (SPAN_S - 90) * NS, launched - 30 * NS
    assert last - first > 60 * NS, "the back-fill took too long to leave room for cursors"
    return [(t // (10 * NS)) * 10 * NS + int(6.5 * NS)
            for t in range(first, last, (last - first) // 5)]


@pytest.mark.parametrize("stack", ["rows", "blocks"], indirect=True)
def test_replay_of_the_first_start_history_shows_what_an_operator_saw(stack, tmp_path) -> None:
    sim, launched, marked = write_first_start_history(stack, tmp_path, [])
    try:
        with stack.client() as c:
            series = c.get("/api/v1/mission").json()["series"]
            for at in cursors(launched, marked):
                snap = c.get("/api/v1/latest", params={"at": format_time(at)}).json()
                assert replay_faults(snap, series) == [], format_time(at)
                assert snap["summary"]["stale"] == 0
            # Live goes on beside the late history:
            # every series' latest comes to be a live sample (after the marker: not history).
            deadline = time.monotonic() + 180
            while old := [r for r in c.get("/api/v1/latest").json()["series"]
                          if r["time"] < format_time(marked)]:
                assert time.monotonic() < deadline, old[:5]
                time.sleep(0.5)
            # Rollups written with the late samples equal the raw samples.
            minute = 60 * NS
            start = -(-(marked - (SPAN_S - 60) * NS) // minute) * minute
            span = {"start": format_time(start), "end": format_time(start + 6 * minute),
                    "satellite": "kazsat-2", "parameter": "battery_voltage"}
            raw = c.get("/api/v1/series", params={**span, "max_points": 20000}).json()
            rolled = c.get("/api/v1/series", params={**span, "max_points": 3}).json()
    finally:
        sim.stop()
    if stack.extra_env:  # the history was read from blocks
        with sqlite3.connect(stack.data_dir / "kazsat.db") as conn:
            assert conn.execute("SELECT count(*) FROM blocks").fetchone()[0] >= 296
    raw, rolled = raw["series"][0], rolled["series"][0]
    assert raw["resolution"] == "raw" and len(raw["value"]) == 360  # 1 Hz, none missing
    # Buckets fall on multiples of their width: the edge ones are partial, summed exactly.
    assert rolled["resolution"] == "1m" and sum(rolled["count"]) == 360
    n = int(rolled["bucket_s"])
    for i, bucket in enumerate(rolled["time"]):
        values = [v for t, v in zip(raw["time"], raw["value"], strict=True)
                  if bucket <= t < format_time(parse_time(bucket, "t") + n * NS)]
        assert rolled["count"][i] == len(values)
        assert rolled["min"][i] == min(values) and rolled["max"][i] == max(values)
        assert rolled["mean"][i] == pytest.approx(statistics.fmean(values), abs=1e-9)

def test_the_check_finds_the_old_coarse_back_fill_failing(stack, tmp_path) -> None:
    """A sample every 10 s (what `kazsat up` wrote before): 1 Hz series stale, prime unknown."""
    sim, launched, marked = write_first_start_history(stack, tmp_path,
                                                      ["--backfill-step", "10"])
    try:
        with stack.client() as c:
            series = c.get("/api/v1/mission").json()["series"]
            at = cursors(launched, marked)[0]
            faults = replay_faults(
                c.get("/api/v1/latest", params={"at": format_time(at)}).json(), series)
    finally:
        sim.stop()
    assert any("stale: kazsat-2/None/battery_voltage" in f for f in faults), faults
    assert "kazsat-2: prime unknown" in faults and "kazsat-3: prime unknown" in faults
