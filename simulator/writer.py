"""Getting line protocol to the backend (any InfluxDB v2 write endpoint).

- `BackfillWriter`: history as fast as the backend takes it: large bodies (about 10,000 field
  values), optional gzip, 1-2 requests in flight, retry with back-off on 5xx/429/connection
  errors (data is kept until delivered), a 413 splits the body, a 400 or 401 stops with the reason.
- `LiveWriter`: influxdb-client's batching WriteApi, which keeps samples and retries with back-off
  while the backend is down and delivers them when it returns. A refused batch (400) is logged as
  an error with the backend's reason; a refused token (401, 403) stops the run at the next write.
"""

from __future__ import annotations

import gzip
import json
import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

import httpx

log = logging.getLogger(__name__)

ORG, BUCKET = "kazsat", "telemetry"


class WriteRefusedError(RuntimeError):
    """The backend refused a batch for a reason retrying cannot fix (400, 401, 403)."""


class BackfillWriter:
    def __init__(
        self,
        api_url: str,
        token: str,
        concurrency: int = 2,
        use_gzip: bool = False,
        max_retry_s: float = 600.0,
        retry_delay_s: float = 0.5,
        timeout_s: float = 120.0,
    ):
        self.url = f"{api_url.rstrip('/')}/api/v2/write"
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
            try:
                r = self.client.post(
                    self.url, params=self.params, headers=self.headers, content=payload
                )
            except httpx.TransportError as exc:
                status, reason = None, str(exc)
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
            log.warning("write failed (%s %s), retrying in %.1f s", status, reason[:120], delay)
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
    """influxdb-client WriteApi in batching mode (retries with back-off, keeps data meanwhile)."""

    def __init__(
        self, api_url: str, token: str, flush_ms: int = 100, max_retry_time_s: float = 3600.0
    ):
        from influxdb_client import InfluxDBClient, WriteOptions

        self.client = InfluxDBClient(url=api_url.rstrip("/"), token=token, org=ORG, timeout=30_000)
        self.errors = 0
        self.retries = 0
        self.fatal: WriteRefusedError | None = None  # a refusal every later batch would get too

        def on_error(conf: object, data: object, exc: Exception) -> None:
            self.errors += 1
            status = getattr(exc, "status", None)
            if status not in (400, 401, 403, 404, 413):
                log.error("live write dropped a batch after retries: %s", exc)
                return
            reason = _reason(exc)
            log.error(
                "the backend refused a live batch (%s); its samples are lost: %s", status, reason
            )
            if status in (401, 403, 404):
                self.fatal = WriteRefusedError(f"backend answered {status}: {reason}")

        def on_retry(conf: object, data: object, exc: Exception) -> None:
            self.retries += 1
            log.warning("live write failed, retrying: %s", exc)

        self.api = self.client.write_api(
            write_options=WriteOptions(
                batch_size=5_000,
                flush_interval=flush_ms,
                jitter_interval=0,
                retry_interval=1_000,
                max_retries=10_000,
                max_retry_delay=30_000,
                exponential_base=2,
                max_retry_time=int(max_retry_time_s * 1000),
            ),
            error_callback=on_error,
            retry_callback=on_retry,
        )

    def write(self, lines: list[str]) -> None:
        """Queue lines; raises WriteRefusedError once the backend refused the token or URL."""
        if self.fatal:
            raise self.fatal
        if lines:
            # influxdb-client annotates the precision as its WritePrecision class, whose members
            # are plain strings: "ns" is what it takes.
            self.api.write(bucket=BUCKET, org=ORG, record=lines,
                           write_precision="ns")  # type: ignore[arg-type]

    def close(self) -> None:
        """Flush everything queued (waits for retries) and close."""
        self.api.close()
        self.client.close()


def _reason(exc: Exception) -> str:
    """The backend's {"message", "line"} from an influxdb-client error, else its text."""
    body = getattr(exc, "body", None) or ""
    try:
        doc = json.loads(body)
        return f"{doc['message']} (line {doc['line']})" if doc.get("line") else str(doc["message"])
    except (TypeError, ValueError, KeyError, AttributeError):
        return str(getattr(exc, "message", None) or exc).strip()[:500]
