"""`kazsat simulate` / `python -m simulator`: back-fill history and/or run live."""

from __future__ import annotations

import datetime as dt
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from simulator.catalogue import fetch_mission, load_mission_file
from simulator.faults import parse_duration
from simulator.geometry import from_ns, to_ns
from simulator.model import Model
from simulator.runner import FileSink, backfill, live
from simulator.writer import BackfillWriter, LiveWriter, WriteRefusedError

log = logging.getLogger("simulator")


def _parse_time(text: str | None) -> int:
    if not text or text == "now":
        return to_ns(dt.datetime.now(dt.UTC))
    t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return to_ns(t if t.tzinfo else t.replace(tzinfo=dt.UTC))


def simulate(
    speed: Annotated[float, typer.Option(help="Simulated seconds per wall-clock second.")] = 1.0,
    start: Annotated[
        str | None, typer.Option(help="Simulated start (ISO 8601, UTC); default now.")
    ] = None,
    seed: Annotated[
        int, typer.Option(help="Random seed: same seed and start, same telemetry.")
    ] = 0,
    scenario: Annotated[
        str | None,
        typer.Option(
            help="Fault scenario: a YAML file, or a packaged name (breach, akkol_power_loss, ...)."
        ),
    ] = None,
    backfill_span: Annotated[
        str | None,
        typer.Option(
            "--backfill", help="Write this much history ending at --start (e.g. 24h, 30d) first."
        ),
    ] = None,
    backfill_step: Annotated[
        float | None,
        typer.Option(help="Sample the back-fill every N seconds at most (coarser = faster)."),
    ] = None,
    then_live: Annotated[
        bool, typer.Option("--live/--no-live", help="After a back-fill, keep running live.")
    ] = True,
    duration: Annotated[
        str | None, typer.Option(help="Stop live mode after this wall time (e.g. 10m).")
    ] = None,
    api_url: Annotated[
        str, typer.Option(envvar="KAZSAT_API_URL", help="Backend base URL.")
    ] = "http://127.0.0.1:8000",
    token: Annotated[
        str | None, typer.Option(envvar="KAZSAT_INGEST_TOKEN", help="Ingest token.")
    ] = None,
    mission_file: Annotated[
        Path | None,
        typer.Option(
            help="Mission dict as JSON (GET /api/v1/mission); default: fetch it from the API."
        ),
    ] = None,
    output: Annotated[
        str | None,
        typer.Option(help="Write line protocol to this file ('-' for stdout) instead of the API."),
    ] = None,
    concurrency: Annotated[int, typer.Option(help="Back-fill requests in flight (1-4).")] = 2,
    gzip_body: Annotated[
        bool, typer.Option("--gzip/--no-gzip", help="Gzip back-fill bodies.")
    ] = False,
    batch_values: Annotated[int, typer.Option(help="Field values per back-fill request.")] = 10_000,
    failover_s: Annotated[
        float, typer.Option(help="Seconds without lock before the reserve takes over.")
    ] = 30.0,
    storms_per_year: Annotated[
        float, typer.Option(help="Natural heavy-rain storms a year per station.")
    ] = 3.0,
) -> None:
    """Simulate KazSat-2, KazSat-3, Akkol and Kokterek and send telemetry as line protocol."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is noise
    if output is None and not token:
        raise typer.BadParameter(
            "an ingest token is needed: --token or KAZSAT_INGEST_TOKEN", param_hint="--token"
        )
    mission = load_mission_file(mission_file) if mission_file else fetch_mission(api_url, token)
    start_ns = _parse_time(start)
    model = Model(
        mission,
        seed=seed,
        start_ns=start_ns,
        scenario=scenario,
        storms_per_year=storms_per_year,
        failover_s=failover_s,
    )
    stream = (
        None
        if output is None
        else (sys.stdout if output == "-" else open(output, "w", encoding="utf-8"))  # noqa: SIM115
    )
    try:
        if backfill_span:
            span_ns = int(parse_duration(backfill_span) * 1e9)
            sink = (
                FileSink(stream)
                if stream
                else BackfillWriter(api_url, token or "", concurrency, gzip_body)
            )
            log.info(
                "back-fill %s .. %s",
                from_ns(start_ns - span_ns).isoformat(),
                from_ns(start_ns).isoformat(),
            )
            try:
                n = backfill(
                    model,
                    sink,
                    start_ns - span_ns,
                    start_ns,
                    backfill_step,
                    batch_values,
                    show_progress=sys.stderr.isatty() or output != "-",
                )
                # The back-fill took wall time: catch up at full rate until history reaches now,
                # so live mode continues without a gap (only when the start is "now").
                while start is None and then_live:
                    now_ns = to_ns(dt.datetime.now(dt.UTC))
                    if now_ns - start_ns < 2 * 10**9:
                        break
                    n += backfill(model, sink, start_ns, now_ns, None, batch_values, False)
                    start_ns = now_ns
                log.info("back-fill done: %s field values", f"{n:,}")
            except KeyboardInterrupt:
                log.info("back-fill interrupted; flushing")
                then_live_now = False
            else:
                then_live_now = then_live
            finally:
                if not stream:
                    sink.close()
            if not then_live_now:
                return
        stop = parse_duration(duration) if duration else None
        if stream:
            sink_f = FileSink(stream)
            live(model, sink_f.write, start_ns, speed, stop_after_s=stop)
            return
        writer = LiveWriter(api_url, token or "")
        try:
            log.info("live from %s at %gx", from_ns(start_ns).isoformat(), speed)
            live(model, writer.write, start_ns, speed, stop_after_s=stop)
        finally:
            writer.close()
    except WriteRefusedError as exc:
        log.error("%s", exc)
        raise typer.Exit(2) from exc
    finally:
        if stream and stream is not sys.stdout:
            stream.close()


def main() -> None:
    typer.run(simulate)


if __name__ == "__main__":
    main()
