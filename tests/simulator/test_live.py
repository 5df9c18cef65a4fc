"""Writers against a real HTTP server (http.server in a thread on a free port)."""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest
from typer.testing import CliRunner

from simulator.cli import simulate
from simulator.model import Model
from simulator.runner import live
from simulator.writer import BackfillWriter, LiveWriter, WriteRefusedError

from .conftest import utc
from .test_lineprotocol import parse


class Recorder:
    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.answers: list[int] = []  # status codes to give first, then 204
        self.lock = threading.Lock()


@pytest.fixture
def server() -> Iterator[tuple[str, Recorder]]:
    rec = Recorder()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
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
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", rec
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
    n = backfill(model, sink, t0 - 600 * 10**9, t0, show_progress=False)
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
