"""Answer times under fuzzing: the schemathesis sweep of tests/test_fuzz.py (every
operation of the served OpenAPI, generated parameters and bodies, valid and not), run as
each kind of caller against a fresh API, timing every answer. The API should answer every
request, refusals included, within 1 s.

    .venv/bin/python benchmarks/fuzz_latency.py                 # 30 examples per operation
    .venv/bin/python benchmarks/fuzz_latency.py --examples 10

Prints per caller: requests, 5xx, p95 and max answer time, whether max < 1 s, and the
slowest request.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from schemathesis import Case
from schemathesis.core.transport import Response

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from kazsat import fuzz

BOUND_S = 1.0


def measure(caller: str, examples: int) -> tuple[list[float], int, str]:
    """Answer times of one sweep as the caller on a fresh stack, the 5xx count, and the
    slowest request."""
    times: list[float] = []
    errors = 0
    slowest = (0.0, "")

    def timed(case: Case, response: Response) -> None:
        nonlocal errors, slowest
        times.append(response.elapsed)
        errors += response.status_code >= 500
        if response.elapsed > slowest[0]:
            slowest = (response.elapsed,
                       f"{case.method} {case.formatted_path} -> {response.status_code}")

    with tempfile.TemporaryDirectory(prefix="kazsat-fuzz-") as folder:
        stack = fuzz.fuzz_stack(Path(folder) / "data")
        try:
            fuzz.sweep(stack, fuzz.headers_for(stack, caller), examples, timed)
        finally:
            stack.stop()
    return times, errors, slowest[1]


def main(examples: Annotated[int, typer.Option(help="examples per operation")] = 30) -> None:
    print(f"{'caller':9} {'requests':>8} {'5xx':>4} {'p95 ms':>8} {'max ms':>8}  < 1 s  slowest")
    worst = 0.0
    for caller in fuzz.CALLERS:
        times, errors, slowest = measure(caller, examples)
        p95 = statistics.quantiles(times, n=20)[-1] if len(times) > 1 else times[0]
        worst = max(worst, max(times))
        print(f"{caller:9} {len(times):>8} {errors:>4} {p95 * 1000:>8.1f} "
              f"{max(times) * 1000:>8.1f}  {'yes' if max(times) < BOUND_S else 'NO ':5}  "
              f"{slowest[:70]}", flush=True)
    print(f"every answer within {BOUND_S:.0f} s: {'yes' if worst < BOUND_S else 'no'} "
          f"(slowest {worst * 1000:.0f} ms)")


if __name__ == "__main__":
    typer.run(main)
