"""GET /metrics of a real running API (kazsat/stack.py) after real ingest, refusals, login
failures, an alert with its email waiting and a retention pass, read with prometheus_client's
own text parser and checked value by value; on SQLite and PostgreSQL. Also: who may scrape,
and that the Grafana dashboard in docs/ queries only metrics the API serves."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from backend import db
from kazsat.stack import ROOT, Stack

NS = 10**9
PASSWORD = "steppe-wind-1997"
DASHBOARD = ROOT / "docs" / "grafana-dashboard.json"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(stack: Stack, role: str = "metrics") -> Samples:
    with stack.client(role) as c:
        r = c.get("/metrics")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == CONTENT_TYPE_LATEST
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(r.text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


@pytest.fixture
def observed(tmp_path: Path, store_env: dict[str, str]) -> Iterator[tuple[Stack, dict]]:
    """A stack that has seen known traffic; `facts` says what was sent and when."""
    stack = Stack(tmp_path / "data", extra_env={
        "KAZSAT_EMAIL_TO": "oncall@kazsat.example", "KAZSAT_STALE_ALERT_S": "0",
        "KAZSAT_RETENTION_RAW_DAYS": "1", "KAZSAT_LOGIN_MAX_FAILURES": "2",
        "KAZSAT_LOGIN_FIRST_DELAY_S": "60", "KAZSAT_MAX_BODY_BYTES": "20000", **store_env})
    stack.add_user("asel", "operator", PASSWORD)
    stack.add_user("vera", "viewer", PASSWORD)
    stack.start_api()
    try:
        start = time.time()
        now = time.time_ns()
        old = now - 3 * 86400 * NS
        newest = now - 5 * NS
        accepted = [  # (body, field values)
            ("\n".join(f"power,satellite=kazsat-2 battery_temp={v} {now - (20 - i) * NS}"
                       for i, v in enumerate([15.0, 27.0, 27.0, 31.0, 31.0])), 5),
            ("\n".join(f"power,satellite=kazsat-3 bus_voltage={100 + i / 10},bus_current=35 "
                       f"{old + i * 10 * NS}" for i in range(20)), 40),
            (f"power,satellite=kazsat-3 bus_voltage=100.5,bus_current=35.5 {newest}", 2),
        ]
        for body, _ in accepted:
            assert stack.write(body).status_code == 204
        assert stack.write("power,satellite=kazsat-2 no_such_field=1").status_code == 400
        assert stack.write("x" * 30000).status_code == 413
        assert httpx.post(f"{stack.api_url}/api/v2/write", content=b"").status_code == 401
        with stack.client("viewer") as c:
            assert c.post("/api/v2/write", content=accepted[2][0]).status_code == 403
        stack.login("vera", PASSWORD)  # one open session
        login = f"{stack.api_url}/api/v1/auth/login"
        codes = [httpx.post(login, json={"username": "asel", "password": p}, timeout=30)
                 .status_code for p in ("guess-one-1", "guess-two-2", PASSWORD)]
        assert codes == [401, 401, 429]
        yield stack, {"start": start, "newest": newest, "accepted": len(accepted),
                      "values": sum(n for _, n in accepted), "old_values": 40}
    finally:
        stack.stop()


def test_metrics_after_real_traffic(observed: tuple[Stack, dict]) -> None:
    stack, facts = observed
    m = scrape(stack)
    batches = "kazsat_ingest_batches_total"
    assert value(m, batches, outcome="accepted") == facts["accepted"]
    for outcome in ("invalid", "too_large", "unauthorized", "forbidden"):
        assert value(m, batches, outcome=outcome) == 1, outcome
    assert value(m, "kazsat_ingest_values_total") == facts["values"]
    assert value(m, "kazsat_ingest_samples_stored_total") == facts["values"]  # all new
    assert value(m, "kazsat_ingest_duration_seconds_count") == facts["accepted"]
    assert 0 < value(m, "kazsat_ingest_duration_seconds_sum") < 60
    assert value(m, "kazsat_login_failures_total", reason="wrong_password") == 2
    assert value(m, "kazsat_login_failures_total", reason="throttled") == 1
    assert value(m, "http_requests_total", handler="/api/v2/write", method="POST",
                 status="204") == facts["accepted"]

    # State, read from the database at the scrape.
    assert value(m, "kazsat_alerts_open", severity="critical", acknowledged="no") == 1
    assert value(m, "kazsat_alerts_open", severity="warning", acknowledged="no") == 0
    with db.make_engine(stack.env.get("KAZSAT_DATABASE_URL") or
                        f"sqlite:///{stack.data_dir / 'kazsat.db'}").connect() as conn:
        waiting, first = conn.execute(select(func.count(), func.min(db.outbox.c.created_t))
                                      .where(db.outbox.c.sent_t.is_(None))).one()
    assert waiting >= 1 and value(m, "kazsat_outbox_backlog") == waiting
    age = value(m, "kazsat_outbox_oldest_unsent_age_seconds")
    assert first / NS >= facts["start"] - 1 and 0 < age <= time.time() - first / NS + 1
    assert value(m, "kazsat_outbox_failed") == 0
    assert value(m, "kazsat_database_size_bytes") > 100_000
    newest_age = value(m, "kazsat_newest_sample_age_seconds")
    assert 5 <= newest_age <= time.time() - facts["newest"] / NS + 1
    for level in ("1m", "10m", "1h", "1d"):  # rollups are written with their samples
        assert value(m, "kazsat_rollup_lag_seconds", level=level) == 0
    assert value(m, "kazsat_sessions_open") == 1
    for worker in ("alert-tick", "outbox-sender", "retention"):
        assert value(m, "kazsat_worker_up", worker=worker) == 1

    # An acknowledgement moves the alert; the retention pass (10 s after start) is counted.
    with stack.client("operator") as c:
        [alert] = c.get("/api/v1/alerts").json()["alerts"]
        assert c.post(f"/api/v1/alerts/{alert['id']}/ack", json={}).status_code == 200
    deadline = time.monotonic() + 90
    while (m := scrape(stack)).get(("kazsat_retention_runs_total",
                                    frozenset({("outcome", "ok")}))) != 1:
        assert time.monotonic() < deadline, "no retention pass counted"
        time.sleep(0.5)
    assert value(m, "kazsat_alerts_open", severity="critical", acknowledged="yes") == 1
    assert value(m, "kazsat_alerts_open", severity="critical", acknowledged="no") == 0
    assert value(m, "kazsat_retention_rows_deleted_total", resolution="raw") == \
        facts["old_values"]
    assert value(m, "kazsat_retention_rows_deleted_total", resolution="1m") == 0
    assert facts["start"] < value(m, "kazsat_retention_last_success_timestamp_seconds") \
        <= time.time()
    assert value(m, "kazsat_retention_runs_total", outcome="failed") == 0
    assert value(m, batches, outcome="rate_limited") == 0  # known outcomes start at 0


def test_only_a_metrics_token_or_an_engineer_scrapes(observed: tuple[Stack, dict]) -> None:
    stack, _ = observed
    assert httpx.get(f"{stack.api_url}/metrics").status_code == 401
    for role, status in (("ingest", 403), ("viewer", 403), ("operator", 403),
                         ("engineer", 200), ("metrics", 200)):
        with stack.client(role) as c:
            assert c.get("/metrics").status_code == status, role
    with stack.client("metrics") as c:  # the metrics token reads nothing else
        assert c.get("/api/v1/latest").status_code == 403
        assert c.get("/api/v1/mission").status_code == 403


def test_the_grafana_dashboard_queries_metrics_the_api_serves(
        observed: tuple[Stack, dict]) -> None:
    stack, _ = observed
    served = {name for name, _ in scrape(stack)}
    board = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for panel in board["panels"] for t in panel.get("targets", [])]
    assert len(exprs) >= 12
    used = {name for expr in exprs for name in re.findall(r"\b(?:kazsat|http)_[a-z_]+", expr)}
    assert used and used <= served, sorted(used - served)
    for wanted in ("kazsat_ingest_values_total", "kazsat_ingest_batches_total",
                   "kazsat_ingest_duration_seconds_bucket", "kazsat_alerts_open",
                   "kazsat_outbox_backlog", "kazsat_outbox_oldest_unsent_age_seconds",
                   "kazsat_database_size_bytes", "kazsat_rollup_lag_seconds",
                   "kazsat_retention_runs_total", "kazsat_login_failures_total"):
        assert wanted in used, f"the dashboard draws no {wanted}"
    assert all(panel.get("datasource", {}).get("uid") == "${datasource}"
               for panel in board["panels"] if panel.get("targets"))
