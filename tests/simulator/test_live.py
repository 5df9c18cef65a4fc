"""Writers against a real HTTP server (http.server in a thread on a free port)."""

from __future__ import annotations

import gzip
import json
import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest
from typer.testing import CliRunner

from orbit.geometry import from_ns
from simulator.cli import MAX_AHEAD_S, simulate
from simulator.model import Model
from simulator.runner import AheadOfTimeError, live
from simulator.writer import BackfillWriter, LiveWriter, WriteRefusedError

from .conftest import utc
from .test_lineprotocol import parse


class Recorder:
    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.answers: list[int] = []  # status codes to give first, then 204
        self.hold_first_s = 0.0  # keep the first request this long (a slow backend)
        self.lock = threading.Lock()


def start_server(rec: Recorder) -> tuple[str, ThreadingHTTPServer]:
    """A write endpoint on a free port answering as `rec` says."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with rec.lock:
                hold, rec.hold_first_s = rec.hold_first_s, 0.0
            time.sleep(hold)
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            with rec.lock:
                status = rec.answers.pop(0) if rec.answers else 204
                rec.requests.append(
                    {
                        "path": urlparse(self.path).path,
                        "query": parse_qs(urlparse(self.path).query),
                        "auth": self.headers.get("Authorization"),
                        "body": body.decode(),
                        "status": status,
                    }
                )
            self.send_response(status)
            payload = (
                b""
                if status == 204
                else json.dumps({"code": "invalid", "message": "no", "line": 1}).encode()
            )
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{httpd.server_address[1]}", httpd


@pytest.fixture
def server() -> Iterator[tuple[str, Recorder]]:
    rec = Recorder()
    url, httpd = start_server(rec)
    yield url, rec
    httpd.shutdown()
    httpd.server_close()


def _lines(rec: Recorder) -> list[str]:
    return [ln for r in rec.requests if r["status"] == 204 for ln in r["body"].split("\n") if ln]


def test_live_mode_posts_line_protocol(mission: dict, server: tuple[str, Recorder]) -> None:
    url, rec = server
    t0 = utc(2026, 11, 25, 12)
    now = [0.0]
    writer = LiveWriter(url, "secret-token", flush_ms=50)
    n = live(
        Model(mission, seed=1, start_ns=t0),
        writer.write,
        t0,
        speed=1.0,
        stop_after_s=5,
        clock=lambda: now[0],
        sleep=lambda s: now.__setitem__(0, now[0] + 1.0),
    )
    writer.close()  # flushes everything queued
    assert rec.requests and all(r["path"] == "/api/v2/write" for r in rec.requests)
    r = rec.requests[0]
    assert r["auth"] == "Token secret-token"
    assert r["query"]["org"] == ["kazsat"] and r["query"]["bucket"] == ["telemetry"]
    assert r["query"]["precision"] == ["ns"]
    parsed = [parse(ln) for ln in _lines(rec)]
    times = {p[3] for p in parsed}
    assert min(times) == t0 and max(times) == t0 + 4 * 10**9  # five simulated seconds
    assert sum(len(p[2]) for p in parsed) == n


def test_backfill_retries_while_backend_unavailable(
    mission: dict, server: tuple[str, Recorder]
) -> None:
    url, rec = server
    rec.answers = [503, 503]
    t0 = utc(2026, 11, 25, 12)
    model = Model(mission, seed=1, start_ns=t0)
    from simulator.runner import backfill

    sink = BackfillWriter(url, "tok", concurrency=2, use_gzip=True, retry_delay_s=0.01)
    n = backfill(model, sink, t0 - 600 * 10**9, t0)
    sink.close()
    assert sink.sent_values == n > 50_000
    assert [r["status"] for r in rec.requests].count(503) == 2
    assert sum(len(parse(ln)[2]) for ln in _lines(rec)) == n  # nothing lost, nothing doubled


def test_backfill_stops_on_a_refused_batch(mission: dict, server: tuple[str, Recorder]) -> None:
    url, rec = server
    rec.answers = [400]
    sink = BackfillWriter(url, "tok", concurrency=1)
    sink.submit("bad line", 1)
    with pytest.raises(WriteRefusedError, match="400"):
        sink.close()


def test_cli_backfill_then_stop(mission: dict, server: tuple[str, Recorder], tmp_path) -> None:
    import typer

    url, rec = server
    path = tmp_path / "mission.json"
    path.write_text(json.dumps(mission))
    app = typer.Typer()
    app.command()(simulate)
    result = CliRunner().invoke(
        app,
        [
            "--mission-file",
            str(path),
            "--api-url",
            url,
            "--token",
            "t",
            "--start",
            "2026-11-25T12:00:00Z",
            "--backfill",
            "2h",
            "--backfill-step",
            "60",
            "--no-live",
            "--scenario",
            "breach",
        ],
    )
    assert result.exit_code == 0, result.output
    times = {parse(ln)[3] for ln in _lines(rec)}
    assert min(times) == utc(2026, 11, 25, 10) and max(times) == utc(2026, 11, 25, 11, 59)
    assert all(t % (60 * 10**9) == 0 for t in times)


def test_ctrl_c_stops_live_mode_after_writing_what_was_generated(mission: dict) -> None:
    t0 = utc(2026, 11, 25, 12)
    now = [0.0]
    written: list[str] = []

    def sleep(s: float) -> None:
        now[0] += 1.0
        if now[0] >= 3:
            raise KeyboardInterrupt

    n = live(
        Model(mission, seed=1, start_ns=t0),
        written.extend,
        t0,
        speed=10.0,
        clock=lambda: now[0],
        sleep=sleep,
    )
    times = {parse(ln)[3] for ln in written}
    assert n > 0 and max(times) == t0 + 20 * 10**9 - 10**9  # 2 ticks at 10x, then Ctrl-C


DAY_S = 86_400  # the backend refuses samples more than a day ahead of its clock (README, Ingest)


def test_live_stops_before_a_day_ahead_of_the_clock(mission: dict) -> None:
    """At 600x from 23.5 h ahead, simulated time passes the backend's horizon on the third tick:
    samples are written up to the horizon, none beyond, then a clear error."""
    wall0 = utc(2026, 11, 25, 12)
    now = [0.0]
    written: list[str] = []
    with pytest.raises(AheadOfTimeError, match="ahead of the clock") as err:
        live(
            Model(mission, seed=1, start_ns=wall0),
            written.extend,
            wall0 + int(23.5 * 3600e9),
            speed=600.0,
            clock=lambda: now[0],
            sleep=lambda s: now.__setitem__(0, now[0] + 1.0),
            max_ahead_s=MAX_AHEAD_S,
            wall_ns=lambda: wall0 + int(now[0] * 1e9),
        )
    assert now[0] == 3.0  # ticks 0, 1, 2 wrote 20 simulated minutes; tick 3 would pass it
    times = [parse(ln)[3] for ln in written]
    assert max(times) < wall0 + 3 * 10**9 + DAY_S * 10**9  # never refused by the backend
    assert max(times) >= wall0 + 3 * 10**9 + (DAY_S - 601) * 10**9  # written up to 10 min short
    assert "--speed" in str(err.value) and "--start" in str(err.value)


def test_cli_fast_run_ahead_of_the_clock_stops_with_an_error(
    mission: dict, server: tuple[str, Recorder], tmp_path, caplog: pytest.LogCaptureFixture
) -> None:
    import typer

    url, rec = server
    path = tmp_path / "mission.json"
    path.write_text(json.dumps(mission))
    app = typer.Typer()
    app.command()(simulate)
    ahead = from_ns(time.time_ns() + int(23.95 * 3600e9)).isoformat()
    with caplog.at_level(logging.INFO):
        result = CliRunner().invoke(
            app,
            ["--mission-file", str(path), "--api-url", url, "--token", "t", "--start", ahead,
             "--speed", "10"],
        )  # fmt: skip
    assert result.exit_code == 2, result.output
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any("ahead of the clock" in m for m in errors), errors
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("day ahead" in m for m in warned), warned
    assert all(parse(ln)[3] < time.time_ns() + DAY_S * 10**9 for ln in _lines(rec))


def test_live_writer_logs_a_refused_batch_with_the_reason(
    server: tuple[str, Recorder], caplog: pytest.LogCaptureFixture
) -> None:
    url, rec = server
    rec.answers = [400]
    writer = LiveWriter(url, "tok", flush_ms=50)
    with caplog.at_level(logging.ERROR, logger="simulator.writer"):
        writer.write(["power,satellite=kazsat-2 bus_voltage=100.0 1764072000000000000"])
        writer.close()
    msgs = [r.getMessage() for r in caplog.records if r.name == "simulator.writer"]
    assert any("refused" in m and "400" in m and "no (line 1)" in m for m in msgs), msgs
    assert writer.errors == 1 and writer.fatal is None  # a bad batch; the next may be fine


def test_live_writer_stops_on_a_refused_token(server: tuple[str, Recorder]) -> None:
    url, rec = server
    rec.answers = [401]
    writer = LiveWriter(url, "wrong", flush_ms=50)
    writer.write(["power,satellite=kazsat-2 bus_voltage=100.0 1764072000000000000"])
    writer.close()  # delivers (and is refused) before it returns
    with pytest.raises(WriteRefusedError, match="401"):
        writer.write(["power,satellite=kazsat-2 bus_voltage=100.0 1764072001000000000"])


def test_cli_backfill_beside_live_mode_without_a_gap(
    mission: dict, server: tuple[str, Recorder], tmp_path
) -> None:
    """As `kazsat up` runs it on a first start: live mode from now at once, the history ending
    at now written beside it, with a slow backend (the first body held 3.5 s). A 1 s series
    must run on from the history into live mode without a missing second or a double, and the
    history is written to the end after --duration."""
    import typer

    url, rec = server
    rec.hold_first_s = 3.5
    path = tmp_path / "mission.json"
    path.write_text(json.dumps(mission))
    marker = tmp_path / "backfilled"
    app = typer.Typer()
    app.command()(simulate)
    t_call = time.time_ns()
    result = CliRunner().invoke(
        app,
        ["--mission-file", str(path), "--api-url", url, "--token", "t", "--backfill", "10m",
         "--backfill-step", "60", "--backfill-marker", str(marker), "--duration", "2s"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert marker.exists()
    times = sorted(
        p[3]
        for p in map(parse, _lines(rec))
        if p[0] == "aocs" and p[1] == {"satellite": "kazsat-2"} and "roll_error" in p[2]
    )
    assert len(times) == len(set(times))  # nothing sent twice
    last_gap = int(np.flatnonzero(np.diff(times) != 10**9)[-1])
    coarse, fine = times[: last_gap + 1], times[last_gap + 1 :]  # fine: every second to the end
    assert len(coarse) >= 9 and all(t % (60 * 10**9) == 0 for t in coarse)
    # The seconds run on from where the history ended (now, at the call) through 2 s of live.
    assert fine[0] - coarse[-1] <= 60 * 10**9 and fine[0] >= t_call
    assert fine[-1] - fine[0] >= 10**9


def test_cli_backfill_stops_live_mode_on_a_refused_history_body(
    mission: dict, server: tuple[str, Recorder], tmp_path
) -> None:
    """The history is written by a thread beside live mode: its refusal (a 400) still stops
    the run with the backend's reason, and no marker is written."""
    import typer

    url, rec = server
    rec.answers = [400] * 50  # whichever body comes first, history ones among them
    path = tmp_path / "mission.json"
    path.write_text(json.dumps(mission))
    marker = tmp_path / "backfilled"
    app = typer.Typer()
    app.command()(simulate)
    result = CliRunner().invoke(
        app,
        ["--mission-file", str(path), "--api-url", url, "--token", "t", "--backfill", "10m",
         "--backfill-marker", str(marker), "--duration", "600s"],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert not marker.exists()
