"""The README's live-stream example, run as it is printed there against a real API: it prints
the values as they are written, and carries on by itself across an API restart."""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from kazsat.stack import ROOT, Stack

MARK = "<!-- live-stream-example -->"


def example() -> str:
    text = (ROOT / "README.md").read_text()
    after = text[text.index(MARK) + len(MARK):]
    start = after.index("```python\n") + len("```python\n")
    return after[start:after.index("```", start)]


@pytest.fixture
def printed(stack: Stack) -> Iterator[queue.Queue[str]]:
    """The example running against `stack`; its printed lines as they come."""
    proc = subprocess.Popen([sys.executable, "-c", example()], cwd=ROOT, text=True,
                            env={**stack.env, "KAZSAT_VIEWER_TOKEN": stack.tokens["viewer"]},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True).start()
    try:
        yield lines
    finally:
        proc.terminate()
        proc.wait(10)


def wait_line(lines: queue.Queue[str], part: str, limit_s: float = 60) -> str:
    deadline, seen = time.monotonic() + limit_s, []
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            continue
        if part in line:
            return line
        seen.append(line)
    raise AssertionError(f"the example never printed {part!r}; it printed {seen[-10:]}")


def write(stack: Stack, value: float) -> None:
    r = stack.write(f"power,satellite=kazsat-2 bus_voltage={value},battery_soc=97.5 "
                    f"{time.time_ns()}")
    assert r.status_code == 204, r.text


def test_the_readme_example_prints_live_values(stack: Stack,
                                              printed: queue.Queue[str]) -> None:
    write(stack, 100.25)  # already stored: its snapshot shows it (stale, if it took long)
    wait_line(printed, "kazsat-2 bus_voltage 100.25 ")
    write(stack, 100.5)
    assert "battery_soc 97.5" in wait_line(printed, "battery_soc")
    wait_line(printed, "kazsat-2 bus_voltage 100.5 nominal")
    stack.api.stop()
    wait_line(printed, "reconnecting")
    stack.start_api()
    write(stack, 100.75)
    wait_line(printed, "kazsat-2 bus_voltage 100.75 nominal")
