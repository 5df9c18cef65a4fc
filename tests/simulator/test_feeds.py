"""One site's feed (two-site deployment): writers that move between the sites' endpoints,
a station's share of the telemetry, feeds from one origin that agree, live faults."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from simulator.cli import LiveFaults
from simulator.model import Model
from simulator.runner import backfill
from simulator.writer import BackfillWriter, LiveWriter

from .conftest import utc
from .helpers import run, series
from .test_lineprotocol import parse
from .test_live import Recorder, _lines, start_server

T0 = utc(2026, 11, 25, 12)
S = 10**9


@pytest.fixture
def two() -> Iterator[tuple[tuple[str, Recorder], tuple[str, Recorder]]]:
    """Two write endpoints, as Akkol's and Kokterek's APIs."""
    made = []
    for _ in range(2):
        rec = Recorder()
        url, httpd = start_server(rec)
        made.append((url, rec, httpd))
    yield (made[0][0], made[0][1]), (made[1][0], made[1][1])
    for _, _, httpd in made:
        httpd.shutdown()
        httpd.server_close()


def closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"  # nobody listens there after this


def test_the_live_writer_moves_to_the_other_site_when_its_own_does_not_answer(
        two: tuple[tuple[str, Recorder], tuple[str, Recorder]]) -> None:
    (_, _), (kokterek, rec) = two
    writer = LiveWriter([closed_port(), kokterek], "tok", flush_ms=20)
    lines = [f"power,satellite=kazsat-2 bus_voltage=100.{i} {T0 + i * S}" for i in range(50)]
    for line in lines:
        writer.write([line])
    writer.close()
    assert _lines(rec) == lines  # every line, once, in order
    assert writer.endpoints.current == kokterek and writer.errors == 0


def test_the_live_writer_moves_on_when_its_site_has_no_database(
        two: tuple[tuple[str, Recorder], tuple[str, Recorder]]) -> None:
    (akkol, a), (kokterek, k) = two
    a.answers = [503] * 3  # Akkol's API is up, its database is not
    writer = LiveWriter(f"{akkol},{kokterek}", "tok", flush_ms=20)
    writer.write(["power,satellite=kazsat-2 bus_voltage=100.0 1764072000000000000"])
    writer.close()
    assert [r["status"] for r in a.requests] == [503]
    assert _lines(k) == ["power,satellite=kazsat-2 bus_voltage=100.0 1764072000000000000"]


def test_the_backfill_writer_moves_between_sites_and_loses_nothing(
        mission: dict, two: tuple[tuple[str, Recorder], tuple[str, Recorder]]) -> None:
    (akkol, a), (kokterek, k) = two
    a.answers = [204, 503]  # one body at Akkol, then Akkol's database goes
    k.answers = [204, 502]  # then Kokterek's fails once: back to Akkol, which is back
    sink = BackfillWriter([akkol, kokterek], "tok", concurrency=1, retry_delay_s=0.01)
    n = backfill(Model(mission, seed=1, start_ns=T0), sink, T0 - 600 * S, T0,
                 batch_values=20_000)
    sink.close()
    delivered = [parse(ln) for ln in _lines(a) + _lines(k)]
    assert sink.sent_values == n == sum(len(p[2]) for p in delivered)
    assert len({(p[0], tuple(sorted(p[1].items())), p[3]) for p in delivered}) == len(delivered)


def test_a_station_feed_sends_its_own_equipment_links_and_what_it_decodes(mission: dict) -> None:
    # Heavy rain at Akkol: its links fade and lose frame sync for a while; Kokterek's don't.
    whole = run(Model(mission, seed=3, start_ns=T0, scenario="heavy_rain_akkol"), T0, 3)
    feeds = {st: run(Model(mission, seed=3, start_ns=T0, scenario="heavy_rain_akkol",
                           station=st), T0, 3) for st in ("akkol", "kokterek")}
    for st, blocks in feeds.items():
        assert {b.tags.get("station") for b in blocks} <= {st, None}
    t_all, v_all = series(whole, "bus_voltage", satellite="kazsat-2")
    t_ak, v_ak = series(feeds["akkol"], "bus_voltage", satellite="kazsat-2")
    t_ko, _ = series(feeds["kokterek"], "bus_voltage", satellite="kazsat-2")
    _, sync = series(whole, "frame_sync", station="akkol", satellite="kazsat-2")
    assert (~sync).any() and sync.any(), "the scenario should fade Akkol's link for a while"
    np.testing.assert_array_equal(t_ak, t_all[sync])  # bus voltage is a 1 s parameter
    np.testing.assert_array_equal(v_ak, v_all[sync])  # the same samples, bit for bit
    assert set(t_all) == set(t_ak) | set(t_ko)  # together the sites lose nothing


def test_feeds_started_apart_from_one_origin_send_the_same_samples(mission: dict) -> None:
    first = Model(mission, seed=5, start_ns=T0, station="akkol")
    first.advance(T0, T0 + 3600 * S)
    a = run(first, T0 + 3600 * S, 0.1, window_h=10 / 3600)  # live, a few seconds at a time
    later = Model(mission, seed=5, start_ns=T0, station="kokterek")
    later.advance(T0, T0 + 3780 * S)  # started three minutes after the first
    b = run(later, T0 + 3780 * S, 0.05, window_h=10 / 3600)
    t_a, v_a = series(a, "battery_soc", satellite="kazsat-3")
    t_b, v_b = series(b, "battery_soc", satellite="kazsat-3")
    common, ia, ib = np.intersect1d(t_a, t_b, return_indices=True)
    assert len(common) > 30
    np.testing.assert_array_equal(v_a[ia], v_b[ib])


def test_a_faults_file_takes_a_site_away_while_the_simulation_runs(
        mission: dict, tmp_path: Path) -> None:
    path = tmp_path / "faults.yaml"
    model = Model(mission, seed=2, start_ns=T0, failover_s=30)
    faults = LiveFaults(path, model)  # no file yet: no fault
    run(model, T0, 0.1, window_h=10 / 3600)
    lost = T0 + 600 * S
    path.write_text("faults:\n  - fault: site_loss\n    station: akkol\n"
                    "    from: 2026-11-25T12:10:00Z\n")
    faults.check()
    blocks = run(model, T0 + 360 * S, 0.2, window_h=10 / 3600)
    t, lock = series(blocks, "carrier_lock", station="akkol", satellite="kazsat-2")
    assert lock[t < lost].all() and not lock[t >= lost].any()
    t, prime = series(blocks, "is_prime", station="kokterek", satellite="kazsat-2")
    assert not prime[t < lost].any() and prime[t >= lost + 31 * S].all()
    path.write_text("faults:\n  - fault: site_loss\n    station: akkol\n"
                    "    from: 2026-11-25T12:10:00Z\n    until: 2026-11-25T12:15:00Z\n")
    faults.check()  # the site is back at 12:15
    blocks = run(model, T0 + 1080 * S, 0.05, window_h=10 / 3600)
    _, lock = series(blocks, "carrier_lock", station="akkol", satellite="kazsat-2")
    assert lock.all()
