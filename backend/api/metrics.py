"""GET /metrics: Prometheus's text format (backend/metrics.py), for a token of the role
`metrics` (or an engineer). On the API's own port behind a token rather than on a port of its
own: nothing more to expose, firewall or proxy, the token is made, listed and revoked like any
other (`kazsat token create --role metrics`), it reads nothing but these figures, and
Prometheus sends it as `authorization: {credentials: …}` (Bearer)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_fastapi_instrumentator import Instrumentator
from prometheus_fastapi_instrumentator import metrics as http_metrics
from prometheus_fastapi_instrumentator.metrics import Info

from backend import metrics
from backend.api.deps import require
from backend.tokens import Principal

router = APIRouter(tags=["metrics"])
WRITE_PATH = "/api/v2/write"


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {CONTENT_TYPE_LATEST: {}},
                             "description": "Prometheus text exposition format"}})
def scrape(request: Request,
           _: Annotated[Principal, Depends(require("metrics"))]) -> Response:
    """Every metric of this API process (docs/deployment.md, "Metrics")."""
    registry: CollectorRegistry = request.app.state.metrics_registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def ingest_outcome(info: Info) -> None:
    """Each answer to an ingest request: its outcome, and for an accepted batch its time."""
    if info.modified_handler != WRITE_PATH:
        return
    status = info.response.status_code if info.response is not None else 500
    metrics.INGEST_BATCHES.labels(metrics.OUTCOMES.get(status, "error")).inc()
    if status == 204:
        metrics.INGEST_SECONDS.observe(info.modified_duration)


def instrumentator(registry: CollectorRegistry) -> Instrumentator:
    """prometheus-fastapi-instrumentator's request metrics per route (http_requests_total,
    http_request_duration_seconds, sizes) and ingest's outcomes, into `registry`."""
    return (Instrumentator(should_group_status_codes=False, excluded_handlers=["/metrics"],
                           registry=registry)
            .add(http_metrics.default(registry=registry))
            .add(ingest_outcome))
