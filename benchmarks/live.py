"""Live by push: how soon a sample reaches the page, what a page costs, and what a wall of
pages costs the API and dashboard. Starts its own API and dashboard on free ports.

    .venv/bin/python benchmarks/live.py [--samples 30] [--seconds 30]

Prints, with the machine's load average beside each figure (the machine is shared):
- sample acknowledged by the API (204) → its value in the overview's DOM, p50 / p95, by
  the live stream, and by the 1 s poll the page falls back to (target ≤ 100 / ≤ 300 ms);
- bytes per second to a browser on the overview, the simulator writing nominal telemetry
  live (target < 2 KB);
- API + dashboard CPU with 20 pages open by their streams, overviews and satellite pages
  (target < 0.5 core);
- ingest rate with 20 live subscribers to the API's stream vs none, same run (≥ 0.9×).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import selectors
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psutil
import websockets

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402

from kazsat.stack import Stack  # noqa: E402
from tests.browser.conftest import sign_in  # noqa: E402
from tests.browser.feed import Feeder  # noqa: E402

USER, PASSWORD = "bench", "kokterek-night-shift"
SERIES = ("kazsat-2", None, "bus_voltage")
CELL = json.dumps({"key": "kazsat-2||bus_voltage", "kz": "v", "page": "overview"},
                  separators=(",", ":"))
# Notes, in the page, when the cell first shows the text awaited (the browser's clock and
# this script's are the machine's one clock).
WATCH = """
const [id, text] = arguments;
const el = document.getElementById(id);
window.kzShown = null;
const seen = () => { if (el.textContent === text && !window.kzShown) window.kzShown = Date.now(); };
new MutationObserver(seen).observe(el, {childList: true, characterData: true, subtree: true});
seen();
"""
MODE = """
const f = document.querySelector('.kz-frame');
return f ? f.dataset.kzMode + ' ' + f.dataset.kzLive : '';
"""
# The fallback, forced: the page's stream closed and not retried, so the 1 s tick feeds it.
POLL = """
const f = document.querySelector('.kz-frame');
f.kzRetry = Infinity;
if (f.kzStream) f.kzStream.close();
f.kzStream = null;
f.dataset.kzMode = 'poll';
"""


def load() -> str:
    return "load average " + ", ".join(f"{x:.1f}" for x in psutil.getloadavg())


def browser() -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu",
                "--disable-background-networking", "--disable-component-update",
                "--no-first-run", "--disable-dev-shm-usage", "--window-size=1920,1080",
                "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
                f"--user-data-dir={tempfile.mkdtemp(prefix='kazsat-bench-')}"):
        options.add_argument(arg)
    options.binary_location = "/usr/bin/chromium"
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"),
                              options=options)
    driver.set_script_timeout(30)
    return driver


def wait_mode(driver: webdriver.Chrome, mode: str, limit_s: float = 180) -> None:
    deadline = time.monotonic() + limit_s
    while driver.execute_script(MODE) != f"{mode} yes":
        if time.monotonic() > deadline:
            raise SystemExit(f"the page never became live by {mode}: "
                             f"{driver.execute_script(MODE)!r}")
        time.sleep(0.1)


def latency(driver: webdriver.Chrome, feeder: Feeder, samples: int) -> list[float]:
    """ms from each bus voltage write's 204 to the overview cell showing it."""
    out = []
    for i in range(samples):
        value = 100.0 + (i % 50 + 1) / 100 * (1 if i % 2 else -1)
        text = f"{value:.2f}"
        driver.execute_script(WATCH, CELL, text)
        time.sleep(0.3 + (i * 0.37) % 0.7)  # spread over the tick's phase
        with feeder._writing:
            feeder.overrides[SERIES] = value
            r = feeder.stack.write(feeder.lines(time.time_ns(), only=SERIES))
            acked = time.time() * 1000
        assert r.status_code == 204, r.text
        deadline = time.monotonic() + 10
        shown = None
        while shown is None and time.monotonic() < deadline:
            shown = driver.execute_script("return window.kzShown;")
            if shown is None:
                time.sleep(0.02)
        out.append(shown - acked if shown is not None else float("inf"))
    return out


def percentiles(values: list[float]) -> str:
    q = statistics.quantiles(values, n=20, method="inclusive")
    return (f"p50 {statistics.median(values):.0f} ms, p95 {q[18]:.0f} ms, max "
            f"{max(values):.0f} ms ({len(values)} samples)")


def overview_bytes(driver: webdriver.Chrome, url: str, seconds: float) -> dict[str, float]:
    """Bytes per second received by the overview: its stream's messages (their payload as
    sent, before the WebSocket's own compression, if any), and Dash's requests (as on the
    wire)."""
    driver.get(url + "/")
    wait_mode(driver, "stream")
    time.sleep(5)  # past the first full model and the page's one-off loads
    driver.get_log("performance")
    started = time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - started
    got: dict[str, float] = {"stream": 0.0, "other": 0.0}
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        params = msg["params"]
        if msg["method"] == "Network.webSocketFrameReceived":
            got["stream"] += len(params["response"]["payloadData"].encode()) + 4  # + header
        elif msg["method"] == "Network.loadingFinished":
            got["other"] += params["encodedDataLength"]
    return {k: v / elapsed for k, v in got.items()}


def cpu(pids: list[int], seconds: float) -> list[float]:
    procs = [psutil.Process(p) for p in pids]
    before = [p.cpu_times() for p in procs]
    started = time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - started
    return [((a.user - b.user) + (a.system - b.system)) / elapsed
            for a, b in zip([p.cpu_times() for p in procs], before, strict=True)]


def wall(url: str, pids: list[int], seconds: float) -> tuple[list[float], int]:
    """CPU of the API and dashboard with 20 pages open (10 overviews, 10 satellite pages),
    each held as a browser holds it: a WebSocket to the dashboard's live stream, as the
    signed-in user. (Twenty Chromium windows on this 2-core machine measure the browser, not
    the server; Dash's slow timers, a request each 3 s per satellite page chart, are not
    counted here.)"""
    cookie = session_cookie(url)
    pages = ["/", "/satellite/kazsat-2", "/", "/satellite/kazsat-3"] * 5
    opened = threading.Barrier(len(pages) + 1)
    stop = threading.Event()

    def hold(path: str) -> None:
        async def run() -> None:
            ws_url = url.replace("http://", "ws://") + f"/live/stream?path={path}"
            async with websockets.connect(ws_url, additional_headers={
                    "Cookie": f"kazsat_session={cookie}", "Origin": url},
                    max_size=None) as ws:
                await ws.recv()
                opened.wait()
                while not stop.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(ws.recv(), 1)

        asyncio.run(run())

    threads = [threading.Thread(target=hold, args=(p,), daemon=True) for p in pages]
    for t in threads:
        t.start()
    opened.wait(120)
    time.sleep(5)
    try:
        return cpu(pids, seconds), len(pages)
    finally:
        stop.set()


def session_cookie(url: str) -> str:
    with httpx.Client(base_url=url, timeout=60) as c:
        csrf = re.search(r"name='csrf' value='([^']+)'", c.get("/login").text)
        assert csrf
        r = c.post("/login", data={"csrf": csrf.group(1), "username": USER,
                                   "password": PASSWORD})
        assert r.status_code == 303, r.text
        return c.cookies["kazsat_session"]


def ingest_rate(stack: Stack, seconds: float) -> float:
    """Values per second written in `seconds`: batches of about 5,000 present-time values
    (every series, 17 timestamps a millisecond apart), one request at a time."""
    template = Feeder(stack).lines(0).splitlines()
    per_t = sum(line.count("=") for line in template)
    stamps = max(1, 5000 // per_t)
    heads = [line.rsplit(" ", 1)[0] + " " for line in template]
    written = 0
    with stack.client("ingest") as c:
        deadline = time.monotonic() + seconds
        started = time.monotonic()
        while time.monotonic() < deadline:
            t0 = time.time_ns()
            body = "\n".join(h + str(t0 + i * 1_000_000) for i in range(stamps) for h in heads)
            r = c.post("/api/v2/write", content=body)
            assert r.status_code == 204, r.text
            written += per_t * stamps
        return written / (time.monotonic() - started)


def subscribers(stack: Stack, n: int) -> tuple[list[threading.Thread], threading.Event]:
    """n subscribers to every series of the API's stream, reading and dropping what comes:
    plain sockets read by one thread, so that the readers cost this shared machine as
    little as they can."""
    stop = threading.Event()
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", stack.api_port))
        s.sendall(f"GET /api/v1/stream HTTP/1.1\r\nHost: bench\r\nAuthorization: Token "
                  f"{stack.tokens['viewer']}\r\n\r\n".encode())
        assert s.recv(1 << 16).startswith(b"HTTP/1.1 200")
        s.setblocking(False)
        socks.append(s)

    def read() -> None:
        with selectors.DefaultSelector() as sel:
            for s in socks:
                sel.register(s, selectors.EVENT_READ)
            buffer = bytearray(1 << 20)
            while not stop.is_set():
                for key, _ in sel.select(0.5):
                    with contextlib.suppress(BlockingIOError):
                        key.fileobj.recv_into(buffer)  # type: ignore[union-attr]
        for s in socks:
            s.close()

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return [thread], stop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--only", default="latency,bytes,cpu,ingest",
                        help="which figures, comma-separated (default: all)")
    args = parser.parse_args()
    only = set(args.only.split(","))
    stack = Stack(Path(tempfile.mkdtemp(prefix="kazsat-bench-")) / "data")
    stack.add_user(USER, "viewer", PASSWORD)
    stack.start_api()
    feeder = Feeder(stack)
    feeder.write_now()
    feeder.start()
    stack.start_dashboard()
    sim = None
    pids = [stack.api.proc.pid, stack.dashboard.proc.pid]
    try:
        driver = browser()
        try:
            sign_in(driver, stack, USER, PASSWORD)
            driver.get(stack.dashboard_url + "/")
            wait_mode(driver, "stream")
            if "latency" in only:
                shown = latency(driver, feeder, args.samples)
                print(f"sample acknowledged → value in the overview's DOM, by the live "
                      f"stream: {percentiles(shown)} (target ≤ 100 / ≤ 300 ms; {load()})",
                      flush=True)
                driver.execute_script(POLL)
                wait_mode(driver, "poll")
                shown = latency(driver, feeder, args.samples)
                print(f"the same by the 1 s poll (the fallback): {percentiles(shown)} "
                      f"({load()})", flush=True)
            feeder.stop()
            feeder = None
            sim = subprocess.Popen(
                [sys.executable, "-m", "kazsat", "simulate", "--speed", "1", "--seed", "1",
                 "--api-url", stack.api_url], cwd=ROOT,
                env={**stack.env, "KAZSAT_INGEST_TOKEN": stack.tokens["ingest"]},
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(5)
            if "bytes" in only:
                rates = overview_bytes(driver, stack.dashboard_url, args.seconds)
                print(f"bytes to a browser on the overview, simulator live and nominal: "
                      f"{(rates['stream'] + rates['other']) / 1024:.2f} KB/s (stream "
                      f"{rates['stream'] / 1024:.2f} KB/s, Dash's other requests "
                      f"{rates['other'] / 1024:.2f} KB/s; target < 2 KB/s; {load()})",
                      flush=True)
        finally:
            driver.quit()
        if "cpu" in only:
            (api_cpu, dash_cpu), streamed = wall(stack.dashboard_url, pids, args.seconds)
            print(f"CPU with {streamed} pages open by their streams (10 overviews, 10 satellite "
                  f"pages), simulator live: API {api_cpu:.2f} + dashboard {dash_cpu:.2f} = "
                  f"{api_cpu + dash_cpu:.2f} of a core (target < 0.5; {load()})", flush=True)
        sim.terminate()
        sim.wait(30)
        sim = None
        if "ingest" not in only:
            return
        time.sleep(2)
        none_before = ingest_rate(stack, args.seconds / 2)
        _, stop = subscribers(stack, 20)
        time.sleep(2)
        with_subs = ingest_rate(stack, args.seconds / 2)
        stop.set()
        time.sleep(3)
        none_after = ingest_rate(stack, args.seconds / 2)
        baseline = (none_before + none_after) / 2
        print(f"ingest, batches of ~5,000 present-time values: {none_before / 1000:.0f} k "
              f"values/s with no subscriber, {with_subs / 1000:.0f} k with 20 subscribers to "
              f"every series, {none_after / 1000:.0f} k with none again: "
              f"{with_subs / baseline:.2f}× (target ≥ 0.9×; {load()})", flush=True)
        print(f"machine: {psutil.cpu_count()} cores, {load()}")
    finally:
        if sim:
            sim.terminate()
        if feeder:
            feeder.stop()
        stack.stop()


if __name__ == "__main__":
    main()
