"""POST /api/v2/write: InfluxDB v2 compatible ingest (influxdb-client, Telegraf)."""

from __future__ import annotations

import logging
import time

from fastapi import APIRouter, HTTPException, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from backend import metrics
from backend.api.deps import ServicesDep, Writer
from backend.ingest import BodyTooLarge, IngestError, decode_body
from backend.limits import Transition
from backend.services import Services

router = APIRouter(tags=["ingest"])
log = logging.getLogger(__name__)


class RefusedBatch(Exception):
    """400 in InfluxDB's shape: {"code": "invalid", "message": ..., "line": N}."""

    def __init__(self, error: IngestError) -> None:
        self.error = error


@router.post("/api/v2/write", status_code=204, response_class=Response,
             responses={400: {"description": "batch refused whole; names the first bad line"},
                        401: {"description": "no or wrong token"},
                        413: {"description": "body over the configured limit"},
                        503: {"description": "store unavailable; nothing was stored"}})
async def write(request: Request, services: ServicesDep, _: Writer,
                precision: str = Query("ns", pattern="^(ns|us|ms|s)$"),
                org: str | None = None, bucket: str | None = None) -> Response:
    """Store a line-protocol batch; 204 once every sample of it is durable."""
    limit = services.settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"body of {declared} bytes is over the {limit}-byte limit")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPException(413, f"body is over the {limit}-byte limit")
    try:
        lines = decode_body(body, request.headers.get("content-encoding"), limit)
    except BodyTooLarge as exc:
        raise HTTPException(413, exc.message) from None
    except IngestError as exc:
        raise RefusedBatch(exc) from None
    del body  # a gzip body's compressed bytes are not needed while parsing
    await run_in_threadpool(ingest_text, services, lines, precision)
    return Response(status_code=204)


def ingest_text(services: Services, body: bytes | bytearray | str, precision: str) -> int:
    """Parse, validate, then store and check limits in one transaction (the alert changes
    and their email commit with the samples, or nothing does). Returns samples stored.
    One clock reading decides for the whole batch what is the present (a sample ahead of
    it is stored, but is neither the latest value nor limit checked)."""
    now = time.time_ns()
    try:
        batch = services.ingestor.parse(body, precision, now)
    except IngestError as exc:
        raise RefusedBatch(exc) from None
    except BodyTooLarge as exc:
        raise HTTPException(413, exc.message) from None
    transitions: list[Transition] = []
    if services.settings.check_limits:
        stored, transitions = services.alerts.ingest(services.store, batch, now)
    else:
        stored = services.store.write(batch, now)
    metrics.INGEST_VALUES.inc(len(batch.values))
    metrics.INGEST_STORED.inc(len(stored))
    services.feed.ingested(stored, transitions, now)  # to the live stream, once durable
    return len(stored)
