"""Back-fill and live loops: drive the Model over time and hand line protocol to a writer.

History is planned first (`plan_history`: the model skips ahead, keeping a copy at each hour),
so live mode can start at once from the present while `write_history` writes the past, newest
hour first, in the same process; the store takes late samples and keeps rollups right."""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TextIO

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from orbit.geometry import from_ns
from simulator.lineprotocol import batches, lines
from simulator.model import Model

log = logging.getLogger(__name__)
S = 10**9


class Sink(Protocol):
    def submit(self, body: str, values: int) -> None: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...


class FileSink:
    """Line protocol to a file or stdout (for inspection, or piping to another tool)."""

    def __init__(self, stream: TextIO):
        self.stream = stream
        self._lock = threading.Lock()  # history and live mode write from two threads

    def submit(self, body: str, values: int) -> None:
        with self._lock:
            self.stream.write(body + "\n")

    def write(self, ls: list[str]) -> None:
        if ls:
            with self._lock:
                self.stream.write("\n".join(ls) + "\n")

    def flush(self) -> None:
        self.stream.flush()

    def close(self) -> None:
        self.stream.flush()
        if self.stream is not sys.stdout:
            self.stream.close()


def backfill(
    model: Model,
    sink: Sink,
    t0_ns: int,
    t1_ns: int,
    step_s: float | None = None,
    batch_values: int = 10_000,
    on_window: Callable[[float, int], None] | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Write [t0, t1) in time order as fast as the sink takes it; returns field values written.
    on_window(simulated seconds, values) follows each window; `stop` ends it between windows."""
    window = int(min(max(900 * (step_s or 1), 900), 6 * 3600) * S)
    total = 0
    a = t0_ns
    while a < t1_ns and not (stop and stop.is_set()):
        b = min(a + window, t1_ns)
        n = 0
        for body, count in batches(
            model.generate(a, b, step_s), model.catalogue.params, batch_values
        ):
            sink.submit(body, count)
            n += count
        total += n
        if on_window:
            on_window((b - a) / S, n)
        a = b
    return total


@dataclass
class Chunk:
    """A span of history and a model in its state at the span's start."""

    model: Model
    t0_ns: int
    t1_ns: int


def plan_history(
    model: Model, t0_ns: int, t1_ns: int, step_s: float | None = None, chunk_s: float = 3600.0
) -> list[Chunk]:
    """Advance the model over [t0, t1) (its state only, no samples: a few seconds a day), with a
    copy at the start of each chunk. The model then goes on from t1 (live at once) while the
    chunks are written in any order, each the same telemetry a run from t0 would have made."""
    chunks = []
    a = t0_ns
    while a < t1_ns:
        b = min(a + int(chunk_s * S), t1_ns)
        chunks.append(Chunk(model.checkpoint(), a, b))
        model.advance(a, b, step_s)
        a = b
    return chunks


def write_history(
    chunks: list[Chunk],
    sink: Sink,
    step_s: float | None = None,
    batch_values: int = 10_000,
    show_progress: bool = True,
    stop: threading.Event | None = None,
) -> int:
    """Write the chunks newest first, so the recent past is there to replay first; returns
    field values written. Each chunk's model is let go once written. Without a progress bar
    (behind live mode, which shares the terminal), a log line every tenth of the span."""
    span_s = sum(c.t1_ns - c.t0_ns for c in chunks) / S
    total, done_s, logged = 0, 0.0, 0
    started = time.monotonic()
    with Progress(
        TextColumn("[bold]back-fill[/] {task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        disable=not show_progress,
        console=Console(stderr=True),  # stdout may be carrying line protocol (--output -)
        transient=False,
    ) as bar:
        task = bar.add_task("", total=span_s)

        def on_window(seconds: float, values: int) -> None:
            nonlocal total, done_s, logged
            total += values
            done_s += seconds
            rate = total / max(time.monotonic() - started, 1e-9)
            bar.update(task, completed=done_s, description=f"{total:,} values, {rate:,.0f}/s")
            if not show_progress and int(10 * done_s / span_s) > logged:
                logged = int(10 * done_s / span_s)
                log.info("back-fill %d%% (newest first): %s values, %s/s", 10 * logged,
                         f"{total:,}", f"{rate:,.0f}")

        while chunks and not (stop and stop.is_set()):
            c = chunks.pop()
            backfill(c.model, sink, c.t0_ns, c.t1_ns, step_s, batch_values, on_window, stop)
    return total


class HistoryThread:
    """write_history in a thread beside live mode. `check()` raises what stopped it (live mode
    calls it every tick, so a refused body stops the run); `finish()` waits for it."""

    def __init__(
        self,
        chunks: list[Chunk],
        sink: Sink,
        step_s: float | None,
        batch_values: int,
        on_complete: Callable[[int], None],
    ):
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self.complete = False

        def run() -> None:
            try:
                n = write_history(chunks, sink, step_s, batch_values, False, self._stop)
                sink.flush()  # delivered, not only sent
                if not self._stop.is_set():
                    self.complete = True
                    on_complete(n)
            except BaseException as exc:  # handed to the main thread by check()
                self._error = exc

        self._thread = threading.Thread(target=run, name="history", daemon=True)
        self._thread.start()

    def check(self) -> None:
        if self._error:
            raise self._error

    def finish(self, cut_short: bool) -> bool:
        """Wait until the history is written (or, cut short, until the body in hand is); True
        when all of it was."""
        if cut_short:
            self._stop.set()
        self._thread.join()
        self.check()
        return self.complete


class AheadOfTimeError(RuntimeError):
    """Simulated time would pass the furthest ahead of the clock that the backend accepts."""


def live(
    model: Model,
    write: Callable[[list[str]], None],
    sim_start_ns: int,
    speed: float = 1.0,
    tick_s: float = 1.0,
    stop_after_s: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    max_ahead_s: float | None = None,
    wall_ns: Callable[[], int] = time.time_ns,
    written_to_ns: int | None = None,
) -> int:
    """Generate up to the simulated now each tick: sim time = start + wall elapsed * speed.
    Samples before written_to_ns (default: the start) are taken as written, the rest up to the
    start go out in the first tick (the tail of a catch-up after a back-fill).
    Returns field values written. Stops after stop_after_s wall seconds, or on Ctrl-C. With
    max_ahead_s, writes up to wall clock + max_ahead_s and then raises AheadOfTimeError rather
    than send samples the backend would refuse (it takes none more than a day ahead)."""
    wall0 = clock()
    done_ns = sim_start_ns if written_to_ns is None else written_to_ns
    total = 0
    try:
        while True:
            elapsed = clock() - wall0
            now_ns = sim_start_ns + int(elapsed * speed * S)
            limit_ns = None if max_ahead_s is None else wall_ns() + int(max_ahead_s * S)
            ahead = limit_ns is not None and now_ns > limit_ns
            if limit_ns is not None and ahead:
                now_ns = limit_ns
            if now_ns > done_ns:
                out: list[str] = []
                for ls, n in lines(model.generate(done_ns, now_ns), model.catalogue.params):
                    out.extend(ls)
                    total += n
                write(out)
                done_ns = now_ns
            if ahead:
                assert limit_ns is not None and max_ahead_s is not None  # ahead: a limit is set
                raise AheadOfTimeError(
                    f"simulated time has reached {from_ns(limit_ns):%Y-%m-%dT%H:%M:%SZ}, "
                    f"{max_ahead_s / 3600:.1f} h ahead of the clock (at {speed:g}x since "
                    f"{from_ns(sim_start_ns):%Y-%m-%dT%H:%M:%SZ}); the backend refuses samples "
                    "more than a day ahead, so live mode stops here. Start further in the past "
                    "(--start), lower --speed or set --duration."
                )
            if stop_after_s is not None and elapsed >= stop_after_s:
                break
            sleep(max(tick_s - (clock() - wall0 - elapsed), 0.0))
    except KeyboardInterrupt:
        log.info("stopped; flushing what was generated")
    return total
