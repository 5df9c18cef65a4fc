"""Getting line protocol to the backend (any InfluxDB v2 write endpoint).

Both writers take a list of endpoints, one per site, their own site's first
(simulator/endpoints.py): a write that gets no answer, a 5xx or a 429 moves to the next, and
after a round of failures they wait, doubling the wait up to 30 s. Data is kept meanwhile.

- `BackfillWriter`: history as fast as the backend takes it: large bodies (about 10,000 field
  values), optional gzip, 1-2 requests in flight (httpx), a 413 splits the body, a 400 or 401
  stops with the reason.
- `LiveWriter`: batches of up to 5,000 lines every 100 ms from a thread of its own, in order,
  each written with influxdb-client's synchronous write API (so it is what any
  influxdb-client program does, with the endpoint list on top). A refused batch (400) is logged
  as an error with the backend's reason; a refused token (401, 403) stops the run at the next
  write.
"""

from __future__ import annotations

import gzip
import json
import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

import httpx

from simulator.endpoints import Endpoints

log = logging.getLogger(__name__)

ORG, BUCKET = "kazsat", "telemetry"


class WriteRefusedError(RuntimeError):
    """The backend refused a batch for a reason retrying cannot fix (400, 401, 403)."""


class BackfillWriter:
    def __init__(
        self,
        api_urls: str | list[str],
        token: str,
        concurrency: int = 2,
        use_gzip: bool = False,
        max_retry_s: float = 600.0,
        retry_delay_s: float = 0.5,
        timeout_s: float = 120.0,
    ):
        self.endpoints = Endpoints(api_urls)
        self.params = {"org": ORG, "bucket": BUCKET, "precision": "ns"}
        self.headers = {
            "Authorization": f"Token {token}",
            "Content-Type": "text/plain; charset=utf-8",
        }
        if use_gzip:
            self.headers["Content-Encoding"] = "gzip"
        self.use_gzip = use_gzip
        self.max_retry_s = max_retry_s
        self.retry_delay_s = retry_delay_s
        self.client = httpx.Client(
            timeout=timeout_s, limits=httpx.Limits(max_connections=concurrency + 1)
        )
        self.pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="backfill")
        self.slots = threading.BoundedSemaphore(concurrency * 2)  # bodies in flight or queued
        self.pending: list[Future[None]] = []
        self.sent_values = 0
        self.sent_bytes = 0
        self._lock = threading.Lock()

    def submit(self, body: str, values: int) -> None:
        """Queue one body; blocks while enough are in flight (back-pressure on the generator)."""
        self._raise_failures()
        self.slots.acquire()
        fut = self.pool.submit(self._send, body, values)
        fut.add_done_callback(lambda _: self.slots.release())
        self.pending.append(fut)

    def _raise_failures(self) -> None:
        done = [f for f in self.pending if f.done()]
        self.pending = [f for f in self.pending if not f.done()]
        for f in done:
            f.result()

    def _send(self, body: str, values: int) -> None:
        data = body.encode()
        payload = gzip.compress(data, compresslevel=1) if self.use_gzip else data
        deadline = time.monotonic() + self.max_retry_s
        delay = self.retry_delay_s
        while True:
            url = self.endpoints.current
            try:
                r = self.client.post(
                    f"{url}/api/v2/write", params=self.params, headers=self.headers,
                    content=payload,
                )
            except httpx.TransportError as exc:
                status, reason = None, str(exc) or type(exc).__name__
            else:
                status, reason = r.status_code, r.text[:500]
                if status in (200, 204):
                    with self._lock:
                        self.sent_values += values
                        self.sent_bytes += len(payload)
                    return
                if status == 413 and "\n" in body:
                    lines = body.split("\n")
                    half = len(lines) // 2
                    self._send("\n".join(lines[:half]), values // 2)
                    self._send("\n".join(lines[half:]), values - values // 2)
                    return
                if status in (400, 401, 403, 404, 413):
                    raise WriteRefusedError(f"backend answered {status}: {reason}")
            if time.monotonic() > deadline:
                raise WriteRefusedError(
                    f"gave up after {self.max_retry_s:.0f} s: {status} {reason}"
                )
            if self.endpoints.failed(url, f"{status or 'no answer'} {reason[:120]}"):
                log.warning("write failed at every endpoint, retrying in %.1f s", delay)
                time.sleep(delay)
                delay = min(delay * 2, 30.0)

    def flush(self) -> None:
        for f in list(self.pending):
            f.result()
        self.pending = []

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self.pool.shutdown(wait=True)
            self.client.close()


class LiveWriter:
    """Live lines in batches, in order, from a thread of its own, kept and retried (moving
    between endpoints) while no endpoint takes them, for up to max_retry_time_s."""

    def __init__(
        self,
        api_urls: str | list[str],
        token: str,
        flush_ms: int = 100,
        max_retry_time_s: float = 3600.0,
        batch_size: int = 5_000,
        timeout_s: float = 5.0,
    ):
        from influxdb_client import InfluxDBClient
        from influxdb_client.client.write_api import SYNCHRONOUS

        self.endpoints = Endpoints(api_urls)
        # No retries inside the client: a failure moves to the next endpoint here.
        self._apis = {}
        self._clients = []
        for url in self.endpoints.urls:
            client = InfluxDBClient(url=url, token=token, org=ORG, timeout=int(timeout_s * 1000),
                                    retries=False)
            self._clients.append(client)
            self._apis[url] = client.write_api(write_options=SYNCHRONOUS)
        self.flush_s = flush_ms / 1000
        self.max_retry_s = max_retry_time_s
        self.batch_size = batch_size
        self.errors = 0
        self.retries = 0
        self.fatal: WriteRefusedError | None = None  # a refusal every later batch would get too
        self._queue: list[str] = []
        self._cv = threading.Condition()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="live-writer", daemon=True)
        self._thread.start()

    def write(self, lines: list[str]) -> None:
        """Queue lines; raises WriteRefusedError once the backend refused the token or URL."""
        if self.fatal:
            raise self.fatal
        if lines:
            with self._cv:
                self._queue.extend(lines)
                if len(self._queue) >= self.batch_size:
                    self._cv.notify()

    def close(self) -> None:
        """Deliver everything queued (waiting out retries) and close."""
        with self._cv:
            self._closing = True
            self._cv.notify()
        self._thread.join()
        for client in self._clients:
            client.close()

    def _run(self) -> None:
        while True:
            with self._cv:
                if not self._closing and len(self._queue) < self.batch_size:
                    self._cv.wait(self.flush_s)
                batch, self._queue = self._queue[:self.batch_size], self._queue[self.batch_size:]
                done = self._closing and not batch
            if done:
                return
            if batch:
                self._deliver(batch)

    def _deliver(self, batch: list[str]) -> None:
        from influxdb_client.rest import ApiException

        deadline = time.monotonic() + self.max_retry_s
        delay = 1.0
        while not self.fatal:
            url = self.endpoints.current
            try:
                # influxdb-client annotates the precision as its WritePrecision class, whose
                # members are plain strings: "ns" is what it takes.
                self._apis[url].write(bucket=BUCKET, org=ORG, record=batch,
                                      write_precision="ns")  # type: ignore[arg-type]
                return
            except ApiException as exc:
                status, why = exc.status, _reason(exc)
                if status in (400, 413):
                    self.errors += 1
                    log.error("the backend refused a live batch (%s); its samples are lost: %s",
                              status, why)
                    return
                if status in (401, 403, 404):
                    self.errors += 1
                    log.error("the backend refused a live batch (%s): %s", status, why)
                    self.fatal = WriteRefusedError(f"backend answered {status}: {why}")
                    return
            except Exception as exc:  # no connection, no answer in time
                status, why = None, str(exc).strip().splitlines()[0] if str(exc).strip() \
                    else type(exc).__name__
            self.retries += 1
            if time.monotonic() > deadline:
                self.errors += 1
                log.error("live write dropped a batch of %d lines after %.0f s of retries: %s",
                          len(batch), self.max_retry_s, why)
                return
            if self.endpoints.failed(url, f"{status or 'no answer'}: {why}"):
                log.warning("live write failed at every endpoint (%s), retrying in %.0f s",
                            why[:200], delay)
                time.sleep(delay)
                delay = min(delay * 2, 30.0)


def _reason(exc: Exception) -> str:
    """The backend's {"message", "line"} from an influxdb-client error, else its text."""
    body = getattr(exc, "body", None) or ""
    try:
        doc = json.loads(body)
        return f"{doc['message']} (line {doc['line']})" if doc.get("line") else str(doc["message"])
    except (TypeError, ValueError, KeyError, AttributeError):
        return str(getattr(exc, "message", None) or exc).strip()[:500]
