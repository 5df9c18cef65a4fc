"""Nominal telemetry for every series of the mission, written through the API once a second,
with per-series overrides so a test can put one parameter out of limits."""

from __future__ import annotations

import threading
import time

import httpx

from kazsat.stack import Stack

Series = tuple[str | None, str | None, str]


class WriteRefused(AssertionError):
    """The API answered a write with something other than 204: the test's data is wrong."""


def nominal(p: dict, station: str | None, stations: dict) -> object:
    """A value inside every limit of the parameter, derived from the mission's own limits."""
    if p["key"] == "is_prime":
        return station is not None and stations[station]["role"] == "primary"
    if p["type"] == "bool":
        return "true" not in (p.get("states") or {})
    if p["type"] == "enum":
        bad = set(p.get("states") or {})
        return next(v for v in p["values"] if v not in bad)
    band = (p.get("limits") or {}).get("warning") or (p.get("limits") or {}).get("critical") or {}
    low, high = band.get("low"), band.get("high")
    if low is not None and high is not None:
        value = (low + high) / 2
    elif low is not None:
        value = low + (abs(low) * 0.2 or 1)
    elif high is not None:
        value = high - (abs(high) * 0.2 or 1)
    else:
        value = 10.0
    return int(value) if p["type"] == "int" else value


def field(p: dict, value: object) -> str:
    if p["type"] == "bool":
        return "true" if value else "false"
    if p["type"] == "enum":
        return f'"{value}"'
    if p["type"] == "int":
        return f"{int(value)}i"
    return repr(float(value))


class Feeder(threading.Thread):
    """Writes every series once a second (the API may be down for a while: it keeps trying)."""

    def __init__(self, stack: Stack) -> None:
        super().__init__(daemon=True)
        self.stack = stack
        with stack.client() as c:
            self.mission = c.get("/api/v1/mission").json()
        self.overrides: dict[Series, object] = {}
        self._halt = threading.Event()
        # One write at a time: a nominal batch landing after a breach burst would reset the
        # limit's persistence count.
        self._writing = threading.Lock()
        self.error: WriteRefused | None = None

    def lines(self, t_ns: int, only: Series | None = None) -> str:
        params, stations = self.mission["parameters"], self.mission["stations"]
        groups: dict[tuple[str, str], list[str]] = {}
        for sat, sta, key in self.mission["series"]:
            if only is not None and (sat, sta, key) != only:
                continue
            p = params[key]
            value = self.overrides.get((sat, sta, key), nominal(p, sta, stations))
            tags = ",".join(f"{k}={v}" for k, v in (("satellite", sat), ("station", sta)) if v)
            groups.setdefault((p["subsystem"], tags), []).append(f"{key}={field(p, value)}")
        return "\n".join(f"{m},{tags} {','.join(f)} {t_ns}" for (m, tags), f in groups.items())

    def _write(self, lines: str) -> None:
        r = self.stack.write(lines)
        if r.status_code != 204:
            raise WriteRefused(f"write answered {r.status_code}: {r.text[:500]}")

    def write_now(self) -> None:
        """One sample of every series now; WriteRefused on any answer but 204, httpx's
        error when the API does not answer."""
        with self._writing:
            self._write(self.lines(time.time_ns()))

    def breach(self, series: Series, value: object, samples: int = 5) -> None:
        """Hold a series at `value`, writing a burst of samples a millisecond apart so that
        the limit's persistence (counted in samples) is met now rather than seconds later.
        Fails at once with the API's answer when the write is refused."""
        self.check()
        with self._writing:
            self.overrides[series] = value
            now = time.time_ns()
            batch = [self.lines(now + i * 1_000_000, only=series) for i in range(samples)]
            self._write("\n".join(batch))

    def run(self) -> None:
        while not self._halt.is_set():
            started = time.monotonic()
            try:
                self.write_now()
            except httpx.TransportError:
                pass  # the API is down or restarting (an outage test): keep trying
            except WriteRefused as exc:
                self.error = exc  # check() and stop() raise it in the test
                return
            self._halt.wait(max(0.0, 1.0 - (time.monotonic() - started)))

    def check(self) -> None:
        """Raise the refusal that stopped the once-a-second writes, if one did."""
        if self.error is not None:
            raise self.error

    def stop(self) -> None:
        self._halt.set()
        self.join(5)
        self.check()
