"""Back-fill throughput: generating (and formatting) N days of full telemetry of both satellites,
both stations and all four links, then ingesting all of it over HTTP into a fresh API on the
embedded SQLite store this script starts (or into --api-url with --token).

    .venv/bin/python benchmarks/backfill.py                  # 30 days: generate, then ingest
    .venv/bin/python benchmarks/backfill.py --days 1 --no-ingest
    .venv/bin/python benchmarks/backfill.py --days 1 --api-url http://127.0.0.1:8000 --token T

Prints figures; targets are >= 1,000,000 generated field values a second and 30 days into the
SQLite store in under 30 minutes.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.ingest import peak_rss_mb
from orbit.geometry import to_ns
from simulator.lineprotocol import batches
from simulator.model import Model
from simulator.runner import plan_history, write_history
from simulator.writer import BackfillWriter


def _mission(mission_file: Path | None) -> dict:
    if mission_file:
        return json.loads(mission_file.read_text())
    from backend.mission import load_mission

    return load_mission(Path(__file__).resolve().parents[1] / "backend" / "mission.yaml").document()


def main(
    days: Annotated[float, typer.Option(help="Simulated days.")] = 30.0,
    step: Annotated[
        float | None, typer.Option(help="Back-fill step in seconds (default full rate).")
    ] = None,
    window_h: Annotated[
        float, typer.Option(help="Hours generated per Model.generate call.")
    ] = 0.25,
    format_lines: Annotated[
        bool, typer.Option("--format/--no-format", help="Also build line protocol.")
    ] = True,
    ingest: Annotated[bool, typer.Option(help="Ingest what was generated.")] = True,
    api_url: Annotated[
        str | None, typer.Option(help="Ingest into this backend (default: a fresh one on SQLite).")
    ] = None,
    token: Annotated[str | None, typer.Option(envvar="KAZSAT_INGEST_TOKEN")] = None,
    concurrency: Annotated[int, typer.Option()] = 2,
    batch_values: Annotated[int, typer.Option()] = 10_000,
    gzip_body: Annotated[bool, typer.Option("--gzip/--no-gzip")] = False,
    mission_file: Annotated[Path | None, typer.Option()] = None,
) -> None:
    mission = _mission(mission_file)
    end = to_ns(dt.datetime.now(dt.UTC).replace(microsecond=0))
    start = end - int(days * 86_400e9)
    window = int(window_h * 3600e9)

    model = Model(mission, seed=0, start_ns=end)
    t_gen = t_fmt = 0.0
    values = 0
    a = start
    while a < end:
        b = min(a + window, end)
        c0 = time.perf_counter()
        blocks = model.generate(a, b, step)
        c1 = time.perf_counter()
        if format_lines:
            for _body, _n in batches(blocks, model.catalogue.params, batch_values):
                pass
        t_gen += c1 - c0
        t_fmt += time.perf_counter() - c1
        values += sum(x.values for x in blocks)
        a = b
    print(f"simulated {days:g} days, step {step or 'full rate'}: {values:,} field values")
    print(f"generation:         {t_gen:8.1f} s  {values / t_gen:>12,.0f} values/s")
    if format_lines:
        print(f"line protocol:      {t_fmt:8.1f} s  {values / t_fmt:>12,.0f} values/s")
        print(
            f"generation+format:  {t_gen + t_fmt:8.1f} s  "
            f"{values / (t_gen + t_fmt):>12,.0f} values/s"
        )

    if not ingest:
        return
    if api_url:
        if not token:
            raise typer.BadParameter("--token (or KAZSAT_INGEST_TOKEN) is needed to ingest")
        ingest_into(mission, api_url, token, start, end, step, days, concurrency, batch_values,
                    gzip_body)
        return
    from kazsat.stack import Stack

    with tempfile.TemporaryDirectory() as tmp:
        stack = Stack(Path(tmp) / "data")
        stack.start_api()
        try:
            ingest_into(mission, stack.api_url, stack.tokens["ingest"], start, end, step, days,
                        concurrency, batch_values, gzip_body)
            db_file = Path(tmp) / "data" / "kazsat.db"
            print(f"  SQLite file {db_file.stat().st_size / 1e9:,.2f} GB; backend peak RSS "
                  f"{peak_rss_mb(stack.api.proc.pid):,.0f} MB")
        finally:
            stack.stop()


def ingest_into(mission: dict, api_url: str, token: str, start: int, end: int,
                step: float | None, days: float, concurrency: int, batch_values: int,
                gzip_body: bool) -> None:
    model = Model(mission, seed=0, start_ns=end)
    sink = BackfillWriter(api_url, token, concurrency=concurrency, use_gzip=gzip_body)
    c0 = time.perf_counter()
    try:  # as `kazsat simulate --backfill`: the model skips ahead, then hours newest first
        chunks = plan_history(model, start, end, step)
        planned = time.perf_counter() - c0
        n = write_history(chunks, sink, step, batch_values)
    finally:
        sink.close()
    el = time.perf_counter() - c0
    print(f"planning (the model skipping ahead, a copy each hour): {planned:.1f} s")
    mb = sink.sent_bytes / 1e6
    print(
        f"ingest (generation included): {el:8.1f} s  {n / el:>12,.0f} values/s  ({mb:,.0f} MB "
        f"sent, {concurrency} in flight, {batch_values:,} values/request, gzip {gzip_body})"
    )
    print(f"  {days:g} days back-filled in {el / 60:,.1f} min"
          + (f"; 30 days at this rate: {el * 30 / days / 60:,.1f} min" if days != 30 else ""))


if __name__ == "__main__":
    typer.run(main)
