"""GET /api/v1/cluster: the monitor's own health in the two-site deployment (each site's API
and database role, replication, the last failover and switchover; backend/cluster.py)."""

from __future__ import annotations

from fastapi import APIRouter

from backend.api.deps import OrjsonResponse, Reader, ServicesDep

router = APIRouter(prefix="/api/v1", tags=["cluster"], default_response_class=OrjsonResponse)


@router.get("/cluster")
def cluster(services: ServicesDep, _: Reader) -> OrjsonResponse:
    """{"mode": "single"} for one site; with two sites {"mode": "two-site", "site": this
    API's, "sites": [{"site", "name", "api": up|down, "database": primary|replica|down,
    "sync", "streaming", "lag_bytes", "lag_ms", "timeline"}], "primary", "primary_since",
    "redundant", "last_failover", "last_switchover", "read_at"}."""
    if services.cluster is None:
        return OrjsonResponse({"mode": "single"})
    return OrjsonResponse({"mode": "two-site", "site": services.settings.site,
                           **services.cluster.status().as_dict()})
