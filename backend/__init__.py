"""KazSat ground-segment monitor: ingest, storage, limits, alerts and the HTTP API."""
