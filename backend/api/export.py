"""GET /api/v1/export: stream chosen parameters over a range as CSV or Parquet."""

from __future__ import annotations

import importlib.util
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import StreamingResponse

from backend import export
from backend.api.deps import Entity, Reader, ServicesDep, find_series, request_range
from backend.store.base import LEVEL_NAMES
from backend.timeutil import format_time

router = APIRouter(prefix="/api/v1", tags=["history"])
LEVELS = {name: seconds for seconds, name in LEVEL_NAMES.items()}


@router.get("/export", response_class=StreamingResponse,
            responses={200: {"content": {"text/csv": {}, "application/vnd.apache.parquet": {}}}})
def export_data(services: ServicesDep, _: Reader,
                parameter: Annotated[list[str], Query(min_length=1, max_length=200)],
                start: str, end: str = "now", satellite: Entity = None, station: Entity = None,
                resolution: Literal["raw", "1m", "10m", "1h", "1d"] = "raw",
                format: Literal["csv", "parquet"] = "csv") -> StreamingResponse:
    """Samples (raw) or rollups (1m, 10m, 1h, 1d: min, max, mean, count, first, last) of
    the chosen parameters in [start, end), streamed without holding them in memory."""
    start_ns, end_ns = request_range(start, end)
    series = find_series(services, satellite, station, parameter)
    level = LEVELS.get(resolution)
    columns = export.RAW_COLUMNS if level is None else export.ROLLUP_COLUMNS
    day = format_time(start_ns)[:10]
    name = f"kazsat-{satellite or station or 'export'}-{resolution}-{day}.{format}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if format == "parquet":
        if importlib.util.find_spec("pyarrow") is None:
            raise HTTPException(400, "Parquet export needs pyarrow installed on the server")
        lines = export.rows(services.store, series, start_ns, end_ns, level, decode=False)
        return StreamingResponse(export.parquet_chunks(lines, columns), headers=headers,
                                 media_type="application/vnd.apache.parquet")
    lines = export.rows(services.store, series, start_ns, end_ns, level)
    return StreamingResponse(export.csv_chunks(lines, columns), headers=headers,
                             media_type="text/csv")
