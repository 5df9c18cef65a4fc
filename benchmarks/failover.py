"""The two-site cluster's figures (docs/cluster.md), on a cluster of its own on loopback ports
(kazsat/cluster.py): etcd at both sites and a witness, PostgreSQL at Akkol and Kokterek under
Patroni, both sites' APIs.

- Unplanned failovers (--failovers, default 5): writers stream through both sites' APIs; the
  primary's database node is killed (Patroni and PostgreSQL, SIGKILL); the time from the kill
  to the surviving site's API acknowledging writes again, and the acknowledged samples that
  are not on the new primary (the target is 0). The killed node is brought back (it rejoins
  as a replica) before the next round, which kills the new primary.
- A planned switchover back and forth: the longest time writes were refused meanwhile.
- Ingest with synchronous two-site replication against one node (the standby stopped), in
  the same run: batches of 5,000 values through one API.
- Replication lag under the simulator's live load (both stations' feeds at 1x): p50, p95.

    .venv/bin/python benchmarks/failover.py
    .venv/bin/python benchmarks/failover.py --patroni-defaults   # ttl 30, loop_wait 10
"""

from __future__ import annotations

import itertools
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Annotated

import httpx
import psycopg
import typer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.ingest import make_bodies, run
from kazsat.cluster import SITES, Cluster, Timing, free_ports

NS = 10**9


class Writers:
    """A writer per site through its own API, a line every 20 ms, each answer timed."""

    def __init__(self, cluster: Cluster, token: str) -> None:
        self.cluster, self.token = cluster, token
        # (site, sample t, wall time it was sent, wall time it was acknowledged)
        self.acked: list[tuple[str, int, float, float]] = []
        self.refused: list[tuple[str, float]] = []  # (site, wall time) of each failure
        self.errors: dict[str, int] = {}
        self.stop = threading.Event()
        self.base_t = (time.time_ns() // NS - 3000) * NS
        self._i = 0
        self._lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=(s,), daemon=True)
                        for s in SITES]
        for t in self.threads:
            t.start()

    def _next_t(self) -> int:
        with self._lock:
            self._i += 1
            return self.base_t + self._i * 10_000_000

    def _run(self, site: str) -> None:
        series = {"akkol": "kazsat-2", "kokterek": "kazsat-3"}[site]
        with httpx.Client(base_url=self.cluster.api_url(site), timeout=30,
                          headers={"Authorization": f"Token {self.token}"}) as c:
            while not self.stop.is_set():
                t = self._next_t()
                sent = time.time()
                try:
                    r = c.post("/api/v2/write", content=f"power,satellite={series} "
                               f"bus_current=33.5 {t}")
                    ok, what = r.status_code == 204, str(r.status_code)
                except httpx.HTTPError as exc:
                    ok, what = False, type(exc).__name__
                now = time.time()
                with self._lock:
                    if ok:
                        self.acked.append((site, t, sent, now))
                    else:
                        self.refused.append((site, now))
                        self.errors[what] = self.errors.get(what, 0) + 1
                self.stop.wait(0.02)

    def finish(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(60)

    def first_ack_after(self, site: str, wall: float) -> float | None:
        """When the first write sent after `wall` to the site was acknowledged."""
        with self._lock:
            return next((done for s, _, sent, done in self.acked if s == site and sent > wall),
                        None)

    def lost(self, cluster: Cluster) -> int:
        """Acknowledged samples not on the primary now."""
        primary = str(cluster.wait_until("a primary", cluster.primary))
        with psycopg.connect(host="127.0.0.1", port=cluster.ports[primary].postgres,
                             user="postgres", dbname="kazsat") as conn:
            stored = {row[0] for row in conn.execute(
                "SELECT s.t FROM samples s JOIN series r ON r.id = s.series_id "
                "WHERE r.parameter = 'bus_current' AND s.t >= %s", (self.base_t,))}
        return sum(1 for _, t, _, _ in self.acked if t not in stored)

    def longest_gap(self, since: float) -> float:
        """The longest time no write was acknowledged at any site, after `since`."""
        with self._lock:
            times = sorted(done for _, _, _, done in self.acked if done >= since)
        return max((b - a for a, b in itertools.pairwise(times)), default=float("nan"))


def failovers(cluster: Cluster, tokens: dict[str, str], rounds: int) -> None:
    print(f"unplanned failovers ({rounds}): the primary's database node killed (SIGKILL)")
    took, lost_total = [], 0
    for i in range(rounds):
        dead = cluster.wait_replicating()
        alive = next(s for s in SITES if s != dead)
        writers = Writers(cluster, tokens["ingest"])
        time.sleep(3)
        killed = time.time()
        cluster.kill(dead, ("patroni",))
        while writers.first_ack_after(alive, killed) is None:
            time.sleep(0.05)
        back = writers.first_ack_after(alive, killed) or killed
        time.sleep(2)
        writers.finish()
        lost = writers.lost(cluster)
        lost_total += lost
        took.append(back - killed)
        print(f"  {i + 1}: {dead} killed; {alive} accepting writes {back - killed:5.1f} s "
              f"later; {len(writers.acked):,} writes acknowledged, {lost} of them lost; "
              f"refusals {writers.errors}")
        cluster.start_site(dead, tokens, dashboards=False, feeds=False)
        cluster.wait_replicating()
    print(f"  from the kill to writes accepted: p50 {statistics.median(took):.1f} s, max "
          f"{max(took):.1f} s (target ≤ 30 s with Patroni's defaults, aim ≤ 10 s)")
    print(f"  acknowledged samples lost over {rounds} failovers: {lost_total} (target 0)")


def switchovers(cluster: Cluster, tokens: dict[str, str]) -> None:
    print("planned switchovers: the longest time no write was acknowledged")
    for _ in range(2):
        writers = Writers(cluster, tokens["ingest"])
        time.sleep(2)
        before = cluster.wait_replicating()
        started = time.time()
        after = cluster.switchover()
        time.sleep(2)
        writers.finish()
        print(f"  {before} → {after}: writes refused for {writers.longest_gap(started):.1f} s, "
              f"{writers.lost(cluster)} acknowledged samples lost (target ≤ 5 s, 0)")


def ingest(cluster: Cluster, tokens: dict[str, str], points: int) -> None:
    """A warm-up, then synchronous two-site and one node alternated twice: medians."""
    print(f"ingest, {points:,} values in batches of 5,000 through one API")
    primary = cluster.wait_replicating()
    other = next(s for s in SITES if s != primary)
    rates: dict[str, list[float]] = {"two sites, synchronous": [], "one node": []}
    for n, label in enumerate(["warm-up", *list(rates) * 2]):
        if label == "one node":
            cluster.kill(other, ("patroni",))
            time.sleep(2 * cluster.timing.loop_wait + 2)  # Patroni drops the standby
        bodies = make_bodies(points, 5000, (time.time_ns() // NS - 86_000 + n * 2000) * NS)
        values = sum(b.count("=") - b.count(",station=") - b.count(",satellite=")
                     for b in bodies)
        seconds = run(cluster.api_url(primary), tokens["ingest"], bodies, 2)
        print(f"  {label:24} {values / seconds:>9,.0f} values/s")
        if label != "warm-up":
            rates[label].append(values / seconds)
        if label == "one node":
            cluster.start_site(other, tokens, dashboards=False, feeds=False)
            cluster.wait_replicating()
    two, one = (statistics.median(v) for v in rates.values())
    print(f"  medians: two sites {two:,.0f}, one node {one:,.0f} values/s: "
          f"{two / one:.2f}x (target ≥ 0.5x)")


def lag(cluster: Cluster, tokens: dict[str, str], seconds: float) -> None:
    print(f"replication lag under the simulator's live load ({seconds:.0f} s, both feeds)")
    cluster.origin_ns = time.time_ns()
    for site in SITES:
        cluster.start_feed(site, tokens)
    primary = cluster.wait_replicating()
    samples: list[float] = []
    time.sleep(10)  # the feeds fetch the mission and catch up their first seconds
    deadline = time.monotonic() + seconds
    with psycopg.connect(host="127.0.0.1", port=cluster.ports[primary].postgres,
                         user="postgres", dbname="postgres", autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute("SELECT EXTRACT(EPOCH FROM replay_lag) * 1000, "
                               "pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn) "
                               "FROM pg_stat_replication").fetchone()
            if row is not None:
                samples.append(float(row[0]) if row[0] is not None else 0.0)
            time.sleep(0.25)
    for site in SITES:
        cluster.stop(site, ("feed",))
    samples.sort()
    p95 = samples[int(0.95 * (len(samples) - 1))]
    print(f"  replay lag p50 {statistics.median(samples):.1f} ms, p95 {p95:.1f} ms, "
          f"max {samples[-1]:.1f} ms over {len(samples)} looks (target p95 < 100 ms)")


def load() -> str:
    return Path("/proc/loadavg").read_text()[:14]


def main(failover_rounds: Annotated[int, typer.Option("--failovers")] = 5,
         patroni_defaults: Annotated[bool, typer.Option(
             help="Patroni's own ttl 30, loop_wait 10, retry_timeout 10")] = False,
         points: int = 500_000, lag_s: float = 60.0) -> None:
    timing = Timing(30, 10, 10) if patroni_defaults else Timing()
    with tempfile.TemporaryDirectory() as tmp:
        cluster = Cluster(Path(tmp) / "cluster", free_ports(), timing)
        print(f"Patroni ttl {timing.ttl} s, loop_wait {timing.loop_wait} s, retry_timeout "
              f"{timing.retry_timeout} s; load average {load()}")
        try:
            tokens = cluster.up(dashboards=False, feeds=False)
            failovers(cluster, tokens, failover_rounds)
            switchovers(cluster, tokens)
            ingest(cluster, tokens, points)
            lag(cluster, tokens, lag_s)
        finally:
            cluster.remove()
        print(f"load average at the end {load()}")


if __name__ == "__main__":
    typer.run(main)
