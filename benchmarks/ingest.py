"""Ingest throughput over HTTP: N field values in batches of 5,000, through /api/v2/write.

Starts its own API on a fresh store (SQLite by default; --store-url for PostgreSQL) unless
--api-url is given, and reports field values per second, the backend's peak memory, and —
with --compare-limits — the same run with limit checking off.

    .venv/bin/python benchmarks/ingest.py --points 2000000
    .venv/bin/python benchmarks/ingest.py --store-url postgresql+psycopg://postgres@127.0.0.1/postgres

With a PostgreSQL URL, each run gets a new database on that server, dropped afterwards.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Annotated

import httpx
import typer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from backend.mission import load_mission
from backend.settings import Settings
from benchmarks.scratch import scratch_database
from kazsat.stack import Stack

# One line per entity and timestamp, with every 1-second parameter of the mission: what the
# simulator sends live. Values wobble inside the warning band, as a healthy spacecraft's do.


def make_bodies(points: int, batch_values: int, start_ns: int) -> list[str]:
    mission = load_mission(Settings().mission_file)
    groups: dict[tuple, list] = {}
    for sat, sta, key in mission.series:
        p = mission.parameters[key]
        if p.period_s == 1 and p.type in ("float", "int", "bool"):
            groups.setdefault((p.subsystem, sat, sta), []).append(p)
    bodies, lines, values, second = [], [], 0, 0
    while values < points:
        t = start_ns + second * 1_000_000_000
        for (subsystem, sat, sta), params in groups.items():
            tags = "".join(f",{k}={v}" for k, v in (("satellite", sat), ("station", sta)) if v)
            fields = ",".join(f"{p.key}={_value(p, second)}" for p in params)
            lines.append(f"{subsystem}{tags} {fields} {t}")
            values += len(params)
            if values >= (len(bodies) + 1) * batch_values:
                bodies.append("\n".join(lines))
                lines = []
        second += 1
    if lines:
        bodies.append("\n".join(lines))
    return bodies


def _value(p, second: int) -> str:
    if p.type == "bool":
        return "true"
    if p.type == "int":
        return "0i"
    band = p.limits.warning or p.limits.critical
    low, high = (band.low, band.high) if band else (None, None)
    if low is not None and high is not None:
        mid, swing = (low + high) / 2, (high - low) / 10
    else:
        mid = low * 1.5 if low is not None else high / 2 if high is not None else 1.0
        swing = abs(mid) / 20
    return f"{mid + swing * ((second % 7) - 3) / 3:.6g}"


def run(api_url: str, token: str, bodies: list[str], clients: int) -> float:
    def post(client: httpx.Client, body: str) -> None:
        r = client.post("/api/v2/write", params={"precision": "ns"}, content=body)
        if r.status_code != 204:
            raise SystemExit(f"write failed: {r.status_code} {r.text}")

    headers = {"Authorization": f"Token {token}"}
    pool = [httpx.Client(base_url=api_url, headers=headers, timeout=60) for _ in range(clients)]
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as ex:
        list(ex.map(lambda i: [post(pool[i], b) for b in bodies[i::clients]], range(clients)))
    return time.perf_counter() - started


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def one_run(points: int, store_url: str, clients: int, check_limits: bool) -> float:
    """One run on a fresh API and store; prints and returns field values per second."""
    with tempfile.TemporaryDirectory() as tmp, scratch_database(store_url) as store_url:
        env = {"KAZSAT_CHECK_LIMITS": str(check_limits).lower()}
        if store_url:
            env["KAZSAT_DATABASE_URL"] = store_url
        stack = Stack(Path(tmp) / "data", extra_env=env)
        stack.start_api()
        try:
            bodies = make_bodies(points, 5000, (time.time_ns() // 10**9 - 86_000) * 10**9)
            values = sum(b.count("=") - b.count(",station=") - b.count(",satellite=")
                         for b in bodies)
            seconds = run(stack.api_url, stack.tokens["ingest"], bodies, clients)
            rss = peak_rss_mb(stack.api.proc.pid)
        finally:
            stack.stop()
    label = "on " if check_limits else "off"
    print(f"  limits {label}  {values:>10,} values in {seconds:6.1f} s = "
          f"{values / seconds:>9,.0f} values/s   backend peak RSS {rss:,.0f} MB")
    return values / seconds


def one_store(points: int, store_url: str, clients: int, compare_limits: bool,
              repeats: int) -> dict[bool, float]:
    """Median values/s per limit-checking setting on one store."""
    print(f"store {store_name(store_url)}:")
    # The first run of a process was consistently the slowest here, whichever setting it
    # had: a discarded warm-up, then on and off alternated, medians reported.
    one_run(min(points, 200_000), store_url, clients, check_limits=True)
    rates: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(repeats):
        for setting in (True, False) if compare_limits else (True,):
            rates[setting].append(one_run(points, store_url, clients, check_limits=setting))
    return {k: statistics.median(v) for k, v in rates.items() if v}


def store_name(url: str) -> str:
    return url.split("@")[-1] if url else "SQLite (embedded)"


def main(points: int = 1_000_000,
         store_url: Annotated[list[str], typer.Option(
             help="a store to measure, repeatable: 'sqlite' (embedded) or a PostgreSQL URL; "
                  "several are printed side by side")] = ["sqlite"],  # noqa: B006
         clients: int = 2, compare_limits: bool = True, repeats: int = 3) -> None:
    urls = ["" if u == "sqlite" else u for u in store_url]
    print(f"ingest benchmark: {points:,} field values, batches of 5,000, {clients} client(s)")
    results = {url: one_store(points, url, clients, compare_limits, repeats) for url in urls}
    print(f"\n{'store':<34} {'limits on':>14} {'limits off':>14} {'checking costs':>15}")
    for url, rate in results.items():
        off = rate.get(False)
        cost = f"{(1 - rate[True] / off) * 100:.0f} %" if off else "-"
        print(f"{store_name(url):<34} {rate[True]:>10,.0f} v/s "
              f"{f'{off:,.0f} v/s' if off else '-':>14} {cost:>15}")


if __name__ == "__main__":
    typer.run(main)
