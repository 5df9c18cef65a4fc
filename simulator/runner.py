"""Back-fill and live loops: drive the Model over time and hand line protocol to a writer."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
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

    def submit(self, body: str, values: int) -> None:
        self.stream.write(body + "\n")

    def write(self, ls: list[str]) -> None:
        if ls:
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
    show_progress: bool = True,
) -> int:
    """Write [t0, t1) as fast as the sink takes it; returns field values written."""
    window = int(min(max(900 * (step_s or 1), 900), 6 * 3600) * S)
    total = 0
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
        task = bar.add_task("", total=(t1_ns - t0_ns) / S)
        a = t0_ns
        while a < t1_ns:
            b = min(a + window, t1_ns)
            for body, n in batches(
                model.generate(a, b, step_s), model.catalogue.params, batch_values
            ):
                sink.submit(body, n)
                total += n
            rate = total / max(time.monotonic() - started, 1e-9)
            bar.update(
                task, completed=(b - t0_ns) / S, description=f"{total:,} values, {rate:,.0f}/s"
            )
            a = b
    return total


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
