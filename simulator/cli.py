"""`kazsat simulate` / `python -m simulator`: back-fill history and/or run live."""

from __future__ import annotations

import datetime as dt
import logging
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
import yaml

import logsetup
from orbit.geometry import from_ns, to_ns
from simulator.catalogue import fetch_mission, load_mission_file
from simulator.faults import load_scenario, parse_duration
from simulator.model import Model
from simulator.runner import (
    AheadOfTimeError,
    FileSink,
    HistoryThread,
    Sink,
    live,
    plan_history,
    write_history,
)
from simulator.writer import BackfillWriter, LiveWriter, WriteRefusedError

log = logging.getLogger("simulator")
# The backend refuses samples more than a day ahead of its clock (README, Ingest); live mode
# stops 10 min short of that, leaving room for batching, retries and a little clock difference.
MAX_AHEAD_S = 86_400.0 - 600.0


def _parse_time(text: str | None) -> int:
    if not text or text == "now":
        return to_ns(dt.datetime.now(dt.UTC))
    t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return to_ns(t if t.tzinfo else t.replace(tzinfo=dt.UTC))


def simulate(
    speed: Annotated[
        float,
        typer.Option(
            help="Simulated seconds per wall-clock second. Faster than 1 runs ahead of the clock: "
            "live mode stops once simulated time would be a day ahead, which the backend refuses."
        ),
    ] = 1.0,
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
            "--backfill",
            help="Write this much history ending at --start (e.g. 24h, 30d), newest hour first; "
            "with --live, beside live mode, which starts at once.",
        ),
    ] = None,
    backfill_step: Annotated[
        float | None,
        typer.Option(
            help="Sample the back-fill every N seconds at most (coarser = faster; a step longer "
            "than a parameter's stale limit shows it stale in replay). Default: each own rate."
        ),
    ] = None,
    backfill_marker: Annotated[
        Path | None,
        typer.Option(
            help="Once the back-fill is delivered, write the time here (kazsat up: back-fill "
            "only on the first start)."
        ),
    ] = None,
    then_live: Annotated[
        bool, typer.Option("--live/--no-live", help="After a back-fill, keep running live.")
    ] = True,
    duration: Annotated[
        str | None, typer.Option(help="Stop live mode after this wall time (e.g. 10m).")
    ] = None,
    api_url: Annotated[
        str,
        typer.Option(
            envvar="KAZSAT_API_URL",
            help="Backend base URL, or several comma-separated (one per site, this site's "
            "first): a write that gets no answer moves to the next.",
        ),
    ] = "http://127.0.0.1:8000",
    station: Annotated[
        str | None,
        typer.Option(
            help="Send only what this station receives (its equipment, its links, the "
            "satellites' telemetry while its link has frame sync): one site's feed."
        ),
    ] = None,
    origin: Annotated[
        str | None,
        typer.Option(
            help="Start the model's state here (ISO 8601, UTC) and carry it silently to the "
            "first sample written: feeds started at different times from one origin send the "
            "same samples. Default: the first sample written."
        ),
    ] = None,
    faults_file: Annotated[
        Path | None,
        typer.Option(
            help="Faults with absolute times (from:, until:), read again whenever the file "
            "changes: faults injected into a running simulation."
        ),
    ] = None,
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
    log_format: Annotated[
        str, typer.Option(envvar="KAZSAT_LOG_FORMAT", help="Log lines: text or json.")
    ] = "text",
    log_level: Annotated[
        str, typer.Option(envvar="KAZSAT_LOG_LEVEL", help="Lowest log level written.")
    ] = "INFO",
) -> None:
    """Simulate KazSat-2, KazSat-3, Akkol and Kokterek and send telemetry as line protocol."""
    try:
        logsetup.configure(log_format, log_level)  # the same lines as the other parts
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--log-format") from None
    if speed <= 0:
        raise typer.BadParameter("must be more than 0", param_hint="--speed")
    if output is None and not token:
        raise typer.BadParameter(
            "an ingest token is needed: --token or KAZSAT_INGEST_TOKEN", param_hint="--token"
        )
    mission = load_mission_file(mission_file) if mission_file else fetch_mission(api_url, token)
    start_ns = _parse_time(start)
    from_now = start in (None, "now")
    span_ns = int(parse_duration(backfill_span) * 1e9) if backfill_span else 0
    first_ns = start_ns - span_ns  # the first sample written
    origin_ns = _parse_time(origin) if origin else first_ns
    if origin_ns > first_ns:
        raise typer.BadParameter("must not be after the first sample written",
                                 param_hint="--origin")
    model = Model(
        mission,
        seed=seed,
        start_ns=start_ns,
        scenario=scenario,
        storms_per_year=storms_per_year,
        failover_s=failover_s,
        station=station,
    )
    live_faults = LiveFaults(faults_file, model) if faults_file else None
    # The state up to the first sample (nothing without an origin), a day at a time: memory
    # stays flat for an origin months back.
    for a in range(origin_ns, first_ns, 86_400 * 10**9):
        model.advance(a, min(a + 86_400 * 10**9, first_ns))
    stream = (
        None
        if output is None
        else (sys.stdout if output == "-" else open(output, "w", encoding="utf-8"))  # noqa: SIM115
    )
    history: HistoryThread | None = None
    sink: Sink | None = None

    def mark_done(n: int) -> None:
        log.info("back-fill done: %s field values", f"{n:,}")
        if backfill_marker:
            backfill_marker.write_text(dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))

    try:
        if backfill_span:
            sink = (
                FileSink(stream)
                if stream
                else BackfillWriter(api_url, token or "", concurrency, gzip_body)
            )
            log.info(
                "back-fill %s .. %s, newest hour first%s",
                from_ns(start_ns - span_ns).isoformat(),
                from_ns(start_ns).isoformat(),
                ", beside live mode" if then_live else "",
            )
            chunks = plan_history(model, start_ns - span_ns, start_ns, backfill_step)
            if not then_live:
                try:
                    n = write_history(
                        chunks, sink, backfill_step, batch_values,
                        # a bar for a person; JSON log lines only for a collector
                        show_progress=log_format == "text"
                        and (sys.stderr.isatty() or output != "-"),
                    )  # fmt: skip
                    sink.flush()
                except KeyboardInterrupt:
                    log.info("back-fill interrupted; flushing")
                    return
                finally:
                    sink.close()  # raises if the backend refused a body: no marker then
                mark_done(n)
                return
            # Live mode goes on from the end of the history at once; the past is written
            # beside it by a thread of this process.
            history = HistoryThread(chunks, sink, backfill_step, batch_values, mark_done)
        stop = parse_duration(duration) if duration else None
        # Starting "now": live runs on the clock from here, its first tick filling what is left
        # since the history (or the start) ended; an explicit --start is kept as given.
        written_to = start_ns
        if from_now:
            start_ns = max(to_ns(dt.datetime.now(dt.UTC)), written_to)
        live_sink: FileSink | LiveWriter = (
            sink if isinstance(sink, FileSink)
            else FileSink(stream) if stream
            else LiveWriter(api_url, token or "")
        )  # fmt: skip

        def write(ls: list[str]) -> None:
            if history:
                history.check()  # a refused history body stops the run
            if live_faults:
                live_faults.check()
            live_sink.write(ls)

        began = time.monotonic()
        cut_short = True
        try:
            if not stream:
                log.info("live from %s at %gx", from_ns(written_to).isoformat(), speed)
                _warn_if_ahead(start_ns, speed, stop)
            live(
                model,
                write,
                start_ns,
                speed,
                stop_after_s=stop,
                max_ahead_s=None if stream else MAX_AHEAD_S,
                written_to_ns=written_to,
            )
            # live returns on Ctrl-C or after --duration: only a Ctrl-C (or an error) cuts the
            # history short; after --duration it is written to the end.
            cut_short = stop is None or time.monotonic() - began < stop
        finally:
            try:
                if history:
                    history.finish(cut_short)
            finally:
                if sink:
                    sink.close()
                if isinstance(live_sink, LiveWriter):
                    live_sink.close()
    except (WriteRefusedError, AheadOfTimeError) as exc:
        log.error("%s", exc)
        raise typer.Exit(2) from exc
    finally:
        if stream and stream is not sys.stdout:
            stream.close()


class LiveFaults:
    """A faults file (absolute times) read again whenever it changes, its faults joining the
    model's scenario: the two-site demo writes a lost site here for every feed to know."""

    def __init__(self, path: Path, model: Model) -> None:
        self.path, self.model = path, model
        self.base = list(model.scenario.faults)
        self.seen: float | None = None
        self.check()

    def check(self) -> None:
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            mtime = None
        if mtime == self.seen:
            return
        self.seen = mtime
        cat = self.model.catalogue
        known = {"satellite": set(cat.satellites), "station": set(cat.stations)}
        try:
            live = load_scenario(self.path, 0, known).faults if mtime is not None else []
        except (OSError, ValueError, yaml.YAMLError) as exc:
            log.error("faults file %s not taken: %s", self.path, exc)
            return
        self.model.scenario.faults[:] = self.base + live  # every part holds this scenario
        log.info("faults file %s: %d fault(s) in force or planned", self.path, len(live))


def _warn_if_ahead(start_ns: int, speed: float, stop_after_s: float | None) -> None:
    """Say up front when (in wall time) a fast run will reach the backend's horizon."""
    if speed <= 1:
        return
    room_s = (to_ns(dt.datetime.now(dt.UTC)) - start_ns) / 1e9 + MAX_AHEAD_S
    wall_s = max(room_s, 0.0) / (speed - 1)
    if stop_after_s is None or wall_s < stop_after_s:
        log.warning(
            "at %gx simulated time runs ahead of the clock: in %.1f h of wall time it will be a "
            "day ahead, which the backend refuses, and live mode will stop there",
            speed,
            wall_s / 3600,
        )


def main() -> None:
    typer.run(simulate)


if __name__ == "__main__":
    main()
