"""The InfluxDB store without an InfluxDB: line protocol, window choice, CSV parsing, and the
real influxdb-client talking to a small fake server that records requests and answers with
canned responses.

What these tests show: the bytes the store sends (line protocol, chunking, retries and their
back-off) and how it maps CSV records back to series. What they do not show: that InfluxDB
accepts the Flux the store writes or answers in the shape the canned CSV has; the text and the
CSV here were written by hand. That is the store contract suite's job
(tests/test_store_contract.py), which runs every query against a real InfluxDB 2.x when
KAZSAT_TEST_INFLUX_URL, _TOKEN and _ORG are set, and otherwise skips saying so."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from influxdb_client import InfluxDBClient

from backend import db
from backend.mission import load_mission
from backend.series import SeriesRegistry
from backend.settings import Settings
from backend.store.base import NS, Batch, StoreUnavailable
from backend.store.influx import (
    InfluxStore,
    csv_rows,
    flux_time,
    line_prefix,
    lines,
    parse_time,
    series_filter,
    window_for,
    window_query,
)

T0 = 1_764_000_000 * NS


@pytest.fixture(scope="module")
def registry(tmp_path_factory) -> SeriesRegistry:
    engine = db.make_engine(f"sqlite:///{tmp_path_factory.mktemp('influx') / 'k.db'}")
    db.upgrade(engine)
    return SeriesRegistry(engine, load_mission(Settings().mission_file))


def find(registry, key="bus_voltage", sat="kazsat-2", sta=None):
    return registry.find(sat, sta, key)


def link_series(registry):
    return next(s for s in registry.by_id.values() if s.satellite and s.station)


# ---- plain functions ----------------------------------------------------------------------

def test_series_map_to_measurement_tags_and_field_as_on_the_wire(registry):
    bus = find(registry)
    assert line_prefix(bus) == f"{bus.parameter.subsystem},satellite=kazsat-2 bus_voltage="
    link = link_series(registry)
    assert line_prefix(link) == (f"{link.parameter.subsystem},satellite={link.satellite},"
                                 f"station={link.station} {link.parameter.key}=")
    body = lines({bus.id: line_prefix(bus)}, Batch([bus.id, bus.id], [T0, T0 + 1], [100.0, 0.1]))
    assert body == [f"{line_prefix(bus)}100.0 {T0}", f"{line_prefix(bus)}0.1 {T0 + 1}"]


def test_times_keep_nanoseconds_both_ways():
    t = T0 + 123_456_789
    assert flux_time(t) == "2025-11-24T16:00:00.123456789Z"
    assert parse_time(flux_time(t)) == t
    assert parse_time("2025-11-24T16:00:00Z") == T0
    assert parse_time("2025-11-24T16:00:00.5Z") == T0 + NS // 2


@pytest.mark.parametrize("span_s", [600, 3601, 86_400, 30 * 86_400, 365 * 86_400 + 7])
@pytest.mark.parametrize("max_points", [2, 500, 1000])
def test_the_window_keeps_any_range_within_max_points(span_s, max_points):
    for offset in (0, 17 * NS + 3, 59 * NS):
        start = T0 + offset
        end = start + span_s * NS
        w = window_for(end - start, max_points)
        windows = (end - 1) // w - start // w + 1  # epoch-aligned windows the range touches
        assert windows <= max_points
        if w >= NS:
            assert w % NS == 0


def test_flux_text_of_a_series_and_of_a_windowed_range(registry):
    """Pins the Flux text only (one series' filter, windows aggregated at query time, the
    nanosecond range): a change to it shows here. Whether InfluxDB runs it is not shown."""
    bus = find(registry)
    assert series_filter(bus) == (
        f'r._measurement == "{bus.parameter.subsystem}" and '
        'r._field == "bus_voltage" and r.satellite == "kazsat-2" and not exists r.station')
    q = window_query("kazsat", bus, T0, T0 + 86_400 * NS, 87 * NS)
    for fn in ("min", "max", "mean", "count"):
        assert (f'aggregateWindow(every: 87s, fn: {fn}, createEmpty: false, timeSrc: "_start")'
                in q)
    assert q.count('from(bucket: "kazsat")') == 4
    assert 'pivot(rowKey: ["_time"], columnKey: ["agg"], valueColumn: "_value")' in q
    assert "range(start: 2025-11-24T16:00:00.000000000Z, stop: 2025-11-25T16:00:00.0" in q


def test_csv_tables_with_different_columns_and_errors():
    rows = [["", "result", "table", "_time", "_value"], ["", "_result", "0", "t1", "1"], [],
            ["", "result", "table", "_time", "_value", "station"],
            ["", "_result", "1", "t2", "2", "akkol"]]
    assert [r.get("station") for r in csv_rows(iter(rows))] == [None, "akkol"]
    with pytest.raises(StoreUnavailable, match="boom"):
        list(csv_rows(iter([["", "error", "reference"], ["", "boom", ""]])))


# ---- the real client against a fake server ------------------------------------------------

class FakeInflux(BaseHTTPRequestHandler):
    server: ThreadingHTTPServer

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        state = self.server.state
        if self.path.startswith("/api/v2/write"):
            state["writes"].append((self.path, body))
            status = state["write_status"].pop(0) if state["write_status"] else 204
            self.send_response(status)
            if status == 503:
                self.send_header("Retry-After", "0")
            payload = b"" if status == 204 else json.dumps(
                {"code": "x", "message": f"fake {status}"}).encode()
        else:
            state["queries"].append(json.loads(body)["query"])
            self.send_response(200)
            self.send_header("Content-Type", "text/csv; charset=utf-8")
            payload = state["csv"].pop(0).encode() if state["csv"] else b""
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def fake(registry) -> Iterator[tuple[InfluxStore, dict]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeInflux)
    server.state = {"writes": [], "queries": [], "csv": [], "write_status": [], "sleeps": []}
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client = InfluxDBClient(url=f"http://127.0.0.1:{server.server_port}", token="t", org="o")
    store = InfluxStore(client, "kazsat", registry, retries=3, chunk_points=2,
                        sleep=server.state["sleeps"].append)
    yield store, server.state
    store.close()
    server.shutdown()
    server.server_close()


def test_write_posts_line_protocol_in_chunks(fake, registry):
    store, state = fake
    a, b = find(registry).id, find(registry, "battery_soc").id
    stored = store.write(Batch([a, b, a, a], [T0, T0, T0 + 1, T0 + 1], [1.0, 2.0, 3.0, 4.0]))
    # The repeat of (a, T0+1) overwrites in InfluxDB: the later value is what is stored.
    assert (stored.series_ids, stored.times, stored.values) == (
        [a, a, b], [T0, T0 + 1, T0], [1.0, 4.0, 2.0])
    assert len(state["writes"]) == 2  # chunks of 2 points
    path, body = state["writes"][0]
    assert "bucket=kazsat" in path and "org=o" in path and "precision=ns" in path
    assert body.split("\n") == [f"{store.prefixes[a]}1.0 {T0}", f"{store.prefixes[b]}2.0 {T0}"]


def test_write_retries_overload_then_succeeds(fake, registry):
    store, state = fake
    state["write_status"] = [503, 429]
    store.write(Batch([find(registry).id], [T0], [1.0]))
    assert len(state["writes"]) == 3
    # The 503 said Retry-After: 0 and is retried at once; the 429 said nothing and waits the
    # back-off, by then doubled from 1 s.
    assert state["sleeps"] == [0.0, 2.0]


def test_write_backs_off_exponentially_without_retry_after(fake, registry):
    store, state = fake
    state["write_status"] = [429, 500, 502]
    store.write(Batch([find(registry).id], [T0], [1.0]))
    assert len(state["writes"]) == 4 and state["sleeps"] == [1.0, 2.0, 4.0]


def test_write_gives_up_after_the_retries(fake, registry):
    store, state = fake
    state["write_status"] = [503] * 10
    with pytest.raises(StoreUnavailable, match="503"):
        store.write(Batch([find(registry).id], [T0], [1.0]))
    assert len(state["writes"]) == 4 and state["sleeps"] == [0.0] * 3


def test_a_refused_write_is_not_retried(fake, registry):
    store, state = fake
    state["write_status"] = [401]
    with pytest.raises(StoreUnavailable, match="401"):
        store.write(Batch([find(registry).id], [T0], [1.0]))
    assert len(state["writes"]) == 1 and state["sleeps"] == []


def test_non_finite_values_are_refused_before_sending(fake, registry):
    store, state = fake
    with pytest.raises(ValueError, match="finite"):
        store.write(Batch([find(registry).id], [T0], [float("inf")]))
    assert state["writes"] == []


def test_unreachable_server_is_unavailable(registry):
    client = InfluxDBClient(url="http://127.0.0.1:9", token="t", org="o", timeout=2000)
    store = InfluxStore(client, "kazsat", registry, retries=1, sleep=lambda _: None)
    with pytest.raises(StoreUnavailable, match="unreachable"):
        store.write(Batch([find(registry).id], [T0], [1.0]))
    with pytest.raises(StoreUnavailable):
        store.latest()
    store.close()


def test_latest_and_at_map_records_back_to_series(fake, registry):
    """Hand-written CSV in InfluxDB's shape: records map back to the right series (a foreign
    measurement is ignored), times keep their nanoseconds, booleans become 0/1."""
    store, state = fake
    bus, link = find(registry), link_series(registry)
    p = bus.parameter
    state["csv"] = [
        ",result,table,_start,_stop,_time,_value,_field,_measurement,satellite\r\n"
        f",_result,0,x,y,2025-11-24T16:00:00.000000007Z,100.5,bus_voltage,{p.subsystem},"
        "kazsat-2\r\n"
        ",_result,1,x,y,2025-11-24T16:00:01Z,1,bus_voltage,other,kazsat-2\r\n\r\n"
        ",result,table,_start,_stop,_time,_value,_field,_measurement,satellite,station\r\n"
        f",_result,2,x,y,2025-11-24T16:00:02Z,true,{link.parameter.key},"
        f"{link.parameter.subsystem},{link.satellite},{link.station}\r\n"]
    assert store.at(T0 + 10) == {bus.id: (T0 + 7, 100.5), link.id: (T0 + 2 * NS, 1.0)}
    assert "range(start: 1970-01-01T00:00:00Z, stop: 2025-11-24T16:00:00.000000011Z)" in \
        state["queries"][0] and state["queries"][0].endswith("|> last()")


def test_range_raw_then_windows(fake, registry):
    """Hand-written CSV: raw points come back sorted, and a range with more points than
    max_points is read again as whole windows of the size window_for chose."""
    store, state = fake
    bus = find(registry)
    state["csv"] = [",result,table,_time,_value\r\n"
                    ",_result,0,2025-11-24T16:00:01Z,2\r\n,_result,0,2025-11-24T16:00:00Z,1\r\n"]
    r = store.range(bus.id, T0, T0 + 60 * NS, 10)
    assert (r.resolution, r.times, r.values) == ("raw", [T0, T0 + NS], [1.0, 2.0])
    assert "|> limit(n: 11)" in state["queries"][0]

    state["csv"] = [",result,table,_time,_value\r\n" + "".join(
        f",_result,0,2025-11-24T16:00:0{i}Z,{i}\r\n" for i in range(4)),
        ",result,table,_time,count,max,mean,min\r\n"
        ",_result,0,2025-11-24T16:00:00.5Z,2,1,0.5,0\r\n"
        ",_result,0,2025-11-24T16:00:02Z,2,3,2.5,2\r\n"]
    r = store.range(bus.id, T0 + NS // 2, T0 + 4 * NS, 3)
    assert (r.resolution, r.bucket_s) == ("2s", 2.0)
    b = r.buckets
    assert (b.times, b.min, b.max, b.mean, b.count) == (
        [T0, T0 + 2 * NS], [0.0, 2.0], [1.0, 3.0], [0.5, 2.5], [2, 2])
    assert "aggregateWindow(every: 2s, fn: mean" in state["queries"][-1]


def test_export_levels_are_whole_windows(fake, registry):
    """Hand-written CSV: an export at a level starts at the first whole window of the range."""
    store, state = fake
    bus = find(registry)
    state["csv"] = [",result,table,_time,count,first,last,max,mean,min\r\n"
                    ",_result,0,2025-11-24T16:01:00Z,60,5,6,9,5.5,1\r\n"]
    rows = list(store.export([bus.id], T0 + 7 * NS, T0 + 61 * NS, 60))
    assert rows == [(bus.id, T0 + 60 * NS, 1.0, 9.0, 5.5, 60, 5.0, 6.0)]
    assert "range(start: 2025-11-24T16:01:00.000000000Z, stop: 2025-11-24T16:02:00.0" in \
        state["queries"][0]
    assert not hasattr(store, "rebuild_rollups")  # not a capability of this store


def test_rebuild_rollups_on_the_influx_store_is_refused_with_the_reason(
        tmp_path, monkeypatch) -> None:
    """`kazsat db rebuild-rollups` over InfluxDB (here the fake server, answering the start-up
    query for latest values) says the store keeps no rollups and exits 2: not "0 rebuilt"."""
    from typer.testing import CliRunner

    from backend.settings import get_settings
    from kazsat.cli import app

    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeInflux)
    server.state = {"writes": [], "queries": [], "csv": [], "write_status": [], "sleeps": []}
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.delenv("KAZSAT_DATABASE_URL", raising=False)
    for name, value in {"KAZSAT_STORE": "influxdb", "KAZSAT_INFLUX_TOKEN": "t",
                        "KAZSAT_INFLUX_URL": f"http://127.0.0.1:{server.server_port}",
                        "KAZSAT_DATA_DIR": str(tmp_path / "data")}.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["db", "rebuild-rollups"])
    finally:
        get_settings.cache_clear()
        server.shutdown()
        server.server_close()
    assert result.exit_code == 2, result.output
    assert "keeps no rollups" in result.output
    assert server.state["queries"] and not server.state["writes"]  # it ran, and wrote nothing
