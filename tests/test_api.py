"""The HTTP API as a real process over a real SQLite file."""

import gzip
import time

import pytest

from backend.timeutil import format_time

pytestmark = pytest.mark.usefixtures("stack")


def now_ns() -> int:
    return time.time_ns()


def test_health_needs_no_token(stack):
    import httpx

    assert httpx.get(f"{stack.api_url}/healthz").json() == {"status": "ok"}


def test_written_batch_reads_back(stack):
    t = now_ns()
    r = stack.write(f"power,satellite=kazsat-2 bus_voltage=100.3,battery_soc=97.2 {t}\n"
                    f'aocs,satellite=kazsat-2 aocs_mode="normal",earth_sensor_valid=true {t}')
    assert r.status_code == 204, r.text
    with stack.client() as c:
        rows = c.get("/api/v1/latest", params={"satellite": "kazsat-2"}).json()["series"]
    got = {r["parameter"]: (r["value"], r["state"], r["time"]) for r in rows}
    assert got["bus_voltage"] == (100.3, "nominal", format_time(t))
    assert got["aocs_mode"][0] == "normal"
    assert got["earth_sensor_valid"][0] is True


def test_gzip_body_and_second_precision(stack):
    t = now_ns() // 10**9
    body = gzip.compress(f"power,satellite=kazsat-3 bus_voltage=99.9 {t}".encode())
    with stack.client("ingest") as c:
        r = c.post("/api/v2/write", params={"precision": "s", "org": "kazsat",
                                             "bucket": "telemetry"},
                   content=body, headers={"Content-Encoding": "gzip"})
    assert r.status_code == 204, r.text
    with stack.client() as c:
        row = c.get("/api/v1/latest", params={"satellite": "kazsat-3"}).json()["series"][0]
    assert row["value"] == 99.9 and row["time"] == format_time(t * 10**9)


def test_refused_batch_is_refused_whole(stack):
    t = now_ns()
    r = stack.write(f"power,satellite=kazsat-2 bus_voltage=101 {t}\n"
                    f"power,satellite=kazsat-2 bus_voltage=oops {t}")
    assert r.status_code == 400
    assert r.json() == {"code": "invalid", "line": 2,
                        "message": "line 2: field 'bus_voltage': value 'oops' is not a number"}
    with stack.client() as c:
        assert c.get("/api/v1/latest").json()["series"] == []


@pytest.mark.parametrize(("headers", "status"), [
    ({}, 401), ({"Authorization": "Token nope"}, 401), ({"Authorization": "Basic x"}, 401)])
def test_write_without_a_good_token_is_401(stack, headers, status):
    import httpx

    r = httpx.post(f"{stack.api_url}/api/v2/write", content=b"m f=1", headers=headers)
    assert r.status_code == status
    assert r.json()["code"] == "unauthorized"


def test_viewer_may_not_write_and_ingest_may_not_read(stack):
    with stack.client("viewer") as c:
        assert c.post("/api/v2/write", content=b"m f=1").status_code == 403
    with stack.client("ingest") as c:
        assert c.get("/api/v1/latest").status_code == 403


def test_body_over_the_limit_is_413(tmp_path):
    from kazsat.stack import Stack

    s = Stack(tmp_path / "data", extra_env={"KAZSAT_MAX_BODY_BYTES": "1000"})
    s.start_api()
    try:
        line = f"power,satellite=kazsat-2 bus_voltage=100 {now_ns()}\n"
        assert s.write(line * 10).status_code == 204
        assert s.write(line * 40).status_code == 413
        with s.client("ingest") as c:
            bomb = gzip.compress(line.encode() * 100)  # small on the wire, big inside
            r = c.post("/api/v2/write", content=bomb, headers={"Content-Encoding": "gzip"})
        assert r.status_code == 413
    finally:
        s.stop()


def test_bad_gzip_and_bad_utf8_are_400(stack):
    with stack.client("ingest") as c:
        r = c.post("/api/v2/write", content=b"not gzip", headers={"Content-Encoding": "gzip"})
        assert r.status_code == 400 and "gzip" in r.json()["message"]
        r = c.post("/api/v2/write", content=b"power,satellite=kazsat-2 bus_voltage=\xff")
        assert r.status_code == 400 and "UTF-8" in r.json()["message"]


def test_series_raw_then_buckets(stack):
    t0 = (now_ns() // 10**9 - 7200) * 10**9
    lines = [f"power,satellite=kazsat-2 bus_voltage={100 + (i % 10) / 10} {t0 + i * 10**9}"
             for i in range(3600)]
    assert stack.write("\n".join(lines)).status_code == 204
    with stack.client() as c:
        q = {"satellite": "kazsat-2", "parameter": "bus_voltage", "start": format_time(t0),
             "end": format_time(t0 + 3600 * 10**9)}
        raw = c.get("/api/v1/series", params={**q, "max_points": 5000}).json()["series"][0]
        assert raw["resolution"] == "raw" and len(raw["value"]) == 3600
        agg = c.get("/api/v1/series", params={**q, "max_points": 100}).json()["series"][0]
    assert agg["bucket_s"] >= 36 and "value" not in agg and len(agg["time"]) <= 100
    assert sum(agg["count"]) == 3600
    assert min(agg["min"]) == 100.0 and max(agg["max"]) == 100.9


def test_series_several_parameters_and_clear_errors(stack):
    with stack.client() as c:
        ok = c.get("/api/v1/series", params={"satellite": "kazsat-2",
                                              "start": "2026-01-01T00:00:00Z",
                                              "parameter": ["bus_voltage", "battery_soc"]})
        assert [s["parameter"] for s in ok.json()["series"]] == ["bus_voltage", "battery_soc"]
        bad_time = c.get("/api/v1/series", params={"parameter": "x", "start": "yesterday"})
        assert bad_time.status_code == 400 and "start" in bad_time.json()["message"]
        missing = c.get("/api/v1/series", params={"satellite": "kazsat-2", "parameter": "nope",
                                                  "start": "2026-01-01T00:00:00Z"})
        assert missing.status_code == 404 and "kazsat-2/nope" in missing.json()["message"]
        no_start = c.get("/api/v1/series", params={"parameter": "bus_voltage"})
        assert no_start.status_code == 400 and "start" in no_start.json()["message"]
        bad_max = c.get("/api/v1/series", params={"parameter": "bus_voltage", "max_points": 0,
                                                  "start": "2026-01-01T00:00:00Z"})
        assert bad_max.status_code == 400 and "max_points" in bad_max.json()["message"]
        reversed_range = c.get("/api/v1/series", params={
            "satellite": "kazsat-2", "parameter": "bus_voltage",
            "start": "2026-02-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"})
        assert reversed_range.status_code == 400
        # Past int64 nanoseconds (year 2262) a time cannot be stored: 400, not a 500.
        far = c.get("/api/v1/latest", params={"at": "9999-01-01T00:00:00Z"})
        assert far.status_code == 400 and "at" in far.json()["message"]
        # A time parse_time accepts with surrounding whitespace must not reach a header.
        export = c.get("/api/v1/export", params={"satellite": "kazsat-2",
                                                 "parameter": "bus_voltage",
                                                 "start": "\n2026-01-01T00:00:00Z"})
        assert export.status_code == 200
        assert "kazsat-kazsat-2-raw-2026-01-01.csv" in export.headers["content-disposition"]


def test_latest_at_a_past_time(stack):
    t = now_ns()
    stack.write(f"power,satellite=kazsat-2 bus_voltage=100.1 {t - 10 * 10**9}\n"
                f"power,satellite=kazsat-2 bus_voltage=104 {t}")
    with stack.client() as c:
        then = c.get("/api/v1/latest", params={"at": format_time(t - 9 * 10**9)}).json()
        now = c.get("/api/v1/latest").json()
    assert [(r["value"], r["state"]) for r in then["series"]] == [(100.1, "nominal")]
    assert now["series"][0]["value"] == 104


def test_snapshot_states_honour_active_when(stack):
    """Replay draws what live checking saw: the reserve's lock is no alarm, the prime's is."""
    t = now_ns() - 5 * 10**9
    stack.write(f"link,station=kokterek,satellite=kazsat-2 carrier_lock=false,is_prime=false {t}\n"
                f"link,station=akkol,satellite=kazsat-2 carrier_lock=false,is_prime=true {t}")
    with stack.client() as c:
        rows = c.get("/api/v1/latest", params={"at": format_time(t + 10**9)}).json()["series"]
    states = {(r["station"], r["parameter"]): r["state"] for r in rows}
    assert states[("kokterek", "carrier_lock")] == "nominal"
    assert states[("akkol", "carrier_lock")] == "critical"


def test_stations_report_links_and_prime(stack):
    t = now_ns()
    stack.write(f"link,station=akkol,satellite=kazsat-2 carrier_lock=true,ebn0_db=12.1,"
                f"is_prime=true,frames_received=10i {t}\n"
                f"link,station=kokterek,satellite=kazsat-2 carrier_lock=true,is_prime=false {t}\n"
                f"station,station=akkol network_ok=true,mains_power_ok=true {t}\n"
                f"station,station=kokterek network_ok=false,mains_power_ok=true {t}")
    with stack.client() as c:
        stations = {s["id"]: s for s in c.get("/api/v1/stations").json()["stations"]}
    akkol = stations["akkol"]
    assert akkol["online"] is True and akkol["prime_for"] == ["kazsat-2"]
    assert akkol["links"]["kazsat-2"]["ebn0_db"] == 12.1
    assert akkol["links"]["kazsat-2"]["last_frame_time"] == format_time(t)
    assert stations["kokterek"]["prime_for"] == [] and stations["kokterek"]["online"] is False


def test_mission_is_served(stack):
    with stack.client() as c:
        m = c.get("/api/v1/mission").json()
    assert set(m["satellites"]) == {"kazsat-2", "kazsat-3"}
    assert m["parameters"]["bus_voltage"]["limits"]["critical"] == {"low": 97.0, "high": 103.0}
    assert ["kazsat-3", "akkol", "ebn0_db"] in m["series"]


def test_openapi_docs_are_served(stack):
    import httpx

    assert httpx.get(f"{stack.api_url}/docs").status_code == 200
    assert "/api/v2/write" in httpx.get(f"{stack.api_url}/openapi.json").json()["paths"]


def test_sigkill_after_204_keeps_the_batch(stack):
    t = now_ns()
    assert stack.write(f"power,satellite=kazsat-2 bus_voltage=100.2 {t}").status_code == 204
    stack.api.stop(kill=True)
    stack.start_api()
    with stack.client() as c:
        assert c.get("/api/v1/latest").json()["series"][0]["value"] == 100.2


def test_export_csv_raw_and_rollup(stack):
    t0 = (now_ns() // 10**9 // 60 * 60 - 600) * 10**9
    lines = [f"power,satellite=kazsat-2 bus_voltage={100 + i / 100} {t0 + i * 10**9}"
             for i in range(300)]
    lines += [f'aocs,satellite=kazsat-2 aocs_mode="safe" {t0}']
    assert stack.write("\n".join(lines)).status_code == 204
    q = {"satellite": "kazsat-2", "parameter": ["bus_voltage", "aocs_mode"],
         "start": format_time(t0), "end": format_time(t0 + 300 * 10**9)}
    with stack.client() as c:
        raw = c.get("/api/v1/export", params=q)
        minute = c.get("/api/v1/export", params={**q, "resolution": "1m"})
    assert raw.status_code == 200 and raw.headers["content-type"].startswith("text/csv")
    assert "attachment" in raw.headers["content-disposition"]
    rows = raw.text.strip().split("\n")
    assert rows[0] == "time,satellite,station,parameter,value"
    assert rows[1] == f"{format_time(t0)},kazsat-2,,bus_voltage,100.0"
    assert rows[-1] == f"{format_time(t0)},kazsat-2,,aocs_mode,safe"
    assert len(rows) == 1 + 300 + 1
    mrows = [r.split(",") for r in minute.text.strip().split("\n")[1:]]
    bus = [r for r in mrows if r[3] == "bus_voltage"]
    assert len(bus) == 5 and [int(r[7]) for r in bus] == [60] * 5
    assert float(bus[0][4]) == 100.0 and float(bus[0][5]) == 100.59


def test_export_parquet(stack):
    import io

    import pyarrow.parquet as pq

    t = now_ns()
    stack.write(f"power,satellite=kazsat-3 bus_voltage=99.5 {t}")
    with stack.client() as c:
        r = c.get("/api/v1/export", params={"satellite": "kazsat-3", "parameter": "bus_voltage",
                                            "start": format_time(t - 10**9), "format": "parquet"})
    assert r.status_code == 200
    table = pq.read_table(io.BytesIO(r.content))
    assert table.column("value").to_pylist() == [99.5]
    assert table.column("parameter").to_pylist() == ["bus_voltage"]


def test_export_refuses_bad_resolution(stack):
    with stack.client() as c:
        r = c.get("/api/v1/export", params={"parameter": "bus_voltage", "satellite": "kazsat-2",
                                            "start": "2026-01-01T00:00:00Z", "resolution": "5m"})
    assert r.status_code == 400 and "resolution" in r.json()["message"]


def test_eclipses_past_and_predicted(stack):
    with stack.client() as c:
        equinox = c.get("/api/v1/eclipses", params={"start": "2027-03-20T00:00:00Z",
                                                     "end": "2027-03-21T00:00:00Z"}).json()
        solstice = c.get("/api/v1/eclipses", params={"start": "2026-12-10T00:00:00Z",
                                                      "end": "2027-01-10T00:00:00Z"}).json()
        one = c.get("/api/v1/eclipses", params={"satellite": "kazsat-3",
                                                 "start": "2027-03-20T00:00:00Z",
                                                 "end": "2027-03-21T00:00:00Z"}).json()
        too_long = c.get("/api/v1/eclipses", params={"start": "2026-01-01T00:00:00Z",
                                                      "end": "2028-01-01T00:00:00Z"})
    by_sat = {e["satellite"]: e for e in equinox["eclipses"]}
    assert set(by_sat) == {"kazsat-2", "kazsat-3"}
    assert all(65 * 60 <= e["duration_s"] <= 73 * 60 for e in by_sat.values())
    # Centred near each satellite's local midnight: 24:00 - longitude/15 h in UTC.
    assert by_sat["kazsat-2"]["start"].startswith("2027-03-20T17:")
    assert by_sat["kazsat-3"]["start"].startswith("2027-03-20T19:")
    assert solstice["eclipses"] == []
    assert [e["satellite"] for e in one["eclipses"]] == ["kazsat-3"]
    assert too_long.status_code == 400 and "400 days" in too_long.json()["message"]
