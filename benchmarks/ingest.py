"""Ingest throughput over HTTP: N field values in batches of 5,000, through /api/v2/write.

Starts its own API on a fresh store (SQLite by default; --store-url for PostgreSQL) unless
--api-url is given, and reports field values per second, the backend's peak memory, and —
with --compare-limits — the same run with limit checking off. Then (--memory) the largest
bodies the request limits accept, each on a fresh API: its peak memory over idle.

    .venv/bin/python benchmarks/ingest.py --points 2000000
    .venv/bin/python benchmarks/ingest.py --store-url postgresql+psycopg://postgres@127.0.0.1/postgres

With a PostgreSQL URL, each run gets a new database on that server, dropped afterwards.
"""

from __future__ import annotations

import gzip
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
    return rss_mb(pid, "VmHWM:")


def rss_mb(pid: int, field: str = "VmRSS:") -> float:
    """A process's resident memory (VmRSS) or its peak so far (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field):
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


def worst_bodies(settings: Settings, start_ns: int) -> dict[str, tuple[bytes, bool]]:
    """The costliest bodies the default request limits still accept, as (body, gzipped):
    the most values packed into the widest lines, the most values each on its own line and
    time, and the largest body (padded with comments to the size limit, plain and gzip,
    ASCII and not, where each line is read and decoded on its own)."""
    values, fields = settings.max_values_per_body, settings.max_fields_per_line
    key = "link,station=akkol,satellite=kazsat-2"
    wide = "\n".join(f"{key} " + ",".join(["ber=0.001"] * fields) + f" {start_ns + i}"
                     for i in range(values // fields)).encode()
    tall = "\n".join(f"{key} ber=0.001 {start_ns + i}" for i in range(values)).encode()

    def padded(lines: bytes, filler: str) -> bytes:
        comment = ("# " + filler * (settings.max_line_bytes // len(filler.encode()))).encode()
        comment = comment[:settings.max_line_bytes].decode(errors="ignore").encode()
        room = settings.max_body_bytes - len(lines) - 1
        pad = b"\n".join([comment] * (room // (len(comment) + 1)))
        return (pad + b"\n" + lines)[:settings.max_body_bytes]

    full = padded(tall, "x")
    return {"widest lines, most values": (wide, False),
            "one value a line, most values": (tall, False),
            "largest body, most values": (full, False),
            "largest body, non-ASCII": (padded(tall, "\u00e9\u4e2d\U0001f6f0"), False),
            "largest body, gzip": (gzip.compress(full, compresslevel=6), True)}


def memory_runs(store_url: str) -> None:
    """Each worst body on a fresh API: 204, and the API's peak RSS over its idle RSS."""
    settings = Settings()
    start_ns = (time.time_ns() // 10**9 - 86_000) * 10**9
    print(f"\npeak memory of the worst accepted bodies (limits: {settings.max_body_bytes:,} "
          f"bytes, {settings.max_line_bytes:,}-byte lines, {settings.max_fields_per_line:,} "
          f"fields a line, {settings.max_values_per_body:,} values):")
    for name, (body, gzipped) in worst_bodies(settings, start_ns).items():
        with tempfile.TemporaryDirectory() as tmp, scratch_database(store_url) as url:
            stack = Stack(Path(tmp) / "data",
                          extra_env={"KAZSAT_DATABASE_URL": url} if url else {})
            stack.start_api()
            try:
                # warm: the first write loads what every write uses
                stack.write(f"link,station=akkol,satellite=kazsat-2 ber=0.001 {start_ns - 1}")
                pid = stack.api.proc.pid
                idle = rss_mb(pid, "VmRSS:")
                headers = {"Content-Encoding": "gzip"} if gzipped else {}
                with stack.client("ingest") as client:
                    r = client.post("/api/v2/write", content=body, headers=headers, timeout=300)
                if r.status_code != 204:
                    raise SystemExit(f"{name}: refused, {r.status_code} {r.text}")
                peak = peak_rss_mb(pid)
            finally:
                stack.stop()
        print(f"  {name:<32} {len(body) / 2**20:6.1f} MiB sent   idle {idle:5.0f} MB   "
              f"peak {peak:5.0f} MB   +{peak - idle:4.0f} MB")


def store_name(url: str) -> str:
    return url.split("@")[-1] if url else "SQLite (embedded)"


def main(points: int = 1_000_000,
         store_url: Annotated[list[str], typer.Option(
             help="a store to measure, repeatable: 'sqlite' (embedded) or a PostgreSQL URL; "
                  "several are printed side by side")] = ["sqlite"],  # noqa: B006
         clients: int = 2, compare_limits: bool = True, repeats: int = 3,
         throughput: Annotated[bool, typer.Option(help="measure values/s")] = True,
         memory: Annotated[bool, typer.Option(
             help="peak memory of the worst bodies the limits accept")] = True) -> None:
    urls = ["" if u == "sqlite" else u for u in store_url]
    if throughput:
        throughput_runs(points, urls, clients, compare_limits, repeats)
    if memory:
        for url in urls:
            memory_runs(url)


def throughput_runs(points: int, urls: list[str], clients: int, compare_limits: bool,
                    repeats: int) -> None:
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
