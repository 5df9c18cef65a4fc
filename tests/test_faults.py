"""Faults survived, with real processes: a backend killed mid-stream, a writer outliving
the backend, a full disk, a stopped PostgreSQL server. Accepted means durable."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import httpx
import pytest

from backend.timeutil import format_time
from kazsat.stack import Stack, free_port

NS = 1_000_000_000
SERIES = "power,satellite=kazsat-2"


def batch_lines(index: int, t0: int, size: int = 500) -> str:
    """Batch `index`: `size` samples of bus voltage at whole seconds of its own."""
    base = t0 + index * size * NS
    return "\n".join(f"{SERIES} bus_voltage=100.{i % 10} {base + i * NS}" for i in range(size))


def stored_count(stack: Stack, start: int, end: int) -> int:
    with stack.client() as c:
        r = c.get("/api/v1/export", params={"satellite": "kazsat-2", "parameter": "bus_voltage",
                                             "start": format_time(start), "end": format_time(end)})
    r.raise_for_status()
    return r.text.count("\n") - 1


def test_sigkill_mid_stream_keeps_every_acknowledged_batch(stack):
    t0 = (time.time_ns() // NS - 86_000) * NS
    acked: list[int] = []
    stop = threading.Event()

    def writer(first: int) -> None:
        with httpx.Client(base_url=stack.api_url, timeout=10, headers={
                "Authorization": f"Token {stack.tokens['ingest']}"}) as c:
            for i in range(first, first + 10_000, 2):
                if stop.is_set():
                    return
                try:
                    if c.post("/api/v2/write", content=batch_lines(i, t0)).status_code == 204:
                        acked.append(i)
                except httpx.HTTPError:
                    return

    threads = [threading.Thread(target=writer, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while len(acked) < 20 and time.monotonic() < deadline:
        time.sleep(0.01)
    stack.api.stop(kill=True)  # SIGKILL with requests in flight
    stop.set()
    for t in threads:
        t.join()
    assert len(acked) >= 20
    stack.start_api()
    for i in range(max(acked) + 2):
        start = t0 + i * 500 * NS
        n = stored_count(stack, start, start + 500 * NS)
        assert n == 500 if i in acked else n in (0, 500), f"batch {i}: {n} samples"


def test_writer_keeps_samples_while_the_backend_is_down(stack):
    """influxdb-client's WriteApi (the simulator's live writer) through an outage."""
    from simulator.writer import LiveWriter

    t0 = (time.time_ns() // NS - 3600) * NS
    lines = [f"{SERIES} bus_voltage=100.1 {t0 + i * NS}" for i in range(60)]
    writer = LiveWriter(stack.api_url, stack.tokens["ingest"], flush_ms=100)
    writer.write(lines[:20])
    deadline = time.monotonic() + 30
    while stored_count(stack, t0, t0 + 60 * NS) < 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    stack.api.stop()
    writer.write(lines[20:])  # the backend is down: the writer must keep these
    deadline = time.monotonic() + 30
    while writer.retries == 0 and time.monotonic() < deadline:  # it has met the outage
        time.sleep(0.05)
    assert writer.retries > 0
    stack.start_api()
    writer.close()  # flushes, waiting on its retries
    assert stored_count(stack, t0, t0 + 60 * NS) == 60
    assert writer.errors == 0


def _can_mount_tmpfs(path: Path) -> bool:
    if os.geteuid() != 0:
        return False
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(path)],
                          capture_output=True)
    return done.returncode == 0


def test_full_disk_gives_503_and_recovers(tmp_path):
    disk = tmp_path / "disk"
    if not _can_mount_tmpfs(disk):
        pytest.skip("needs root and permission to mount a small tmpfs for the full disk")
    stack = Stack(disk / "data")
    try:
        stack.start_api()
        t0 = (time.time_ns() // NS - 86_000) * NS
        statuses = []
        for i in range(400):  # 3 MB fills within a few hundred batches
            r = stack.write(batch_lines(i, t0))
            statuses.append(r.status_code)
            if r.status_code != 204:
                break
        assert statuses[-1] == 503, statuses[-5:]
        assert "out of disk space" in r.json()["message"], r.json()
        acked = statuses.count(204)
        subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)
        assert stack.write(batch_lines(acked, t0)).status_code == 204  # space is back
        assert stored_count(stack, t0, t0 + (acked + 1) * 500 * NS) == (acked + 1) * 500
        stack.stop()
        db = sqlite3.connect(disk / "data" / "kazsat.db")
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        db.close()
    finally:
        stack.stop()
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


class PrivatePostgres:
    """A PostgreSQL server of the test's own (initdb in a temp folder), so the test may stop
    it without disturbing anything else on the machine."""

    def __init__(self) -> None:
        bins = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
        if not bins or os.geteuid() != 0 or shutil.which("su") is None:
            pytest.skip("needs Debian's PostgreSQL binaries and root to run a private server")
        # Not under pytest's tmp_path: the postgres user cannot enter root's private folders.
        folder = Path(tempfile.mkdtemp(prefix="kazsat-pg-"))
        self.bin, self.folder, self.port = bins[-1], folder, free_port()
        shutil.chown(folder, "postgres", "postgres")
        self._as_postgres(f"{self.bin}/initdb -D {folder}/pg -A trust -U postgres >/dev/null")

    def _as_postgres(self, command: str) -> None:
        subprocess.run(["su", "postgres", "-s", "/bin/sh", "-c", command], check=True,
                       capture_output=True, timeout=60)

    def start(self) -> None:
        self._as_postgres(f"{self.bin}/pg_ctl -D {self.folder}/pg -w -l {self.folder}/log "
                          f"-o '-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1' "
                          "start")

    def stop(self) -> None:
        self._as_postgres(f"{self.bin}/pg_ctl -D {self.folder}/pg -w -m fast stop")

    def remove(self) -> None:
        subprocess.run(["su", "postgres", "-s", "/bin/sh", "-c",
                        f"{self.bin}/pg_ctl -D {self.folder}/pg -m immediate stop"],
                       capture_output=True)
        shutil.rmtree(self.folder, ignore_errors=True)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"


def test_postgres_outage_gives_503_and_recovers(tmp_path):
    pg = PrivatePostgres()
    pg.start()
    stack = Stack(tmp_path / "data", extra_env={"KAZSAT_DATABASE_URL": pg.url})
    try:
        stack.start_api()
        t0 = (time.time_ns() // NS - 86_000) * NS
        assert stack.write(batch_lines(0, t0)).status_code == 204
        pg.stop()
        down = stack.write(batch_lines(1, t0))
        assert down.status_code == 503 and "unavailable" in down.json()["message"]
        with stack.client() as c:
            read = c.get("/api/v1/latest")
        assert read.status_code == 503
        for answer in (down, read):  # where the database is stays in the log
            assert str(pg.port) not in answer.text and "127.0.0.1" not in answer.text
            assert "postgres" not in answer.text.lower()
        assert str(pg.port) in stack.api.log()
        pg.start()
        assert stack.write(batch_lines(1, t0)).status_code == 204
        assert stored_count(stack, t0, t0 + 1000 * NS) == 1000
    finally:
        stack.stop()
        pg.remove()
