"""Rate limits kept in the API process's memory: failed logins (growing delays per user name
and address, per address, per name; device cookies apart) and ingest requests (token
bucket per token).

In memory on purpose: one API process serves a control room, and a restart forgetting
recent failures costs an attacker a restart they cannot cause. Several API processes behind
a balancer would each count on their own (a limit of N becomes N per process).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

Clock = Callable[[], float]
MAX_KEYS = 100_000  # beyond this many tracked keys the oldest state is dropped


class Backoff:
    """Failures per key within `window_s`: the first `free` cost nothing, then each one more
    doubles the wait before the next attempt (`first_delay_s`, twice that, four times …
    at most `max_delay_s`)."""

    def __init__(self, free: int, window_s: float, max_delay_s: float,
                 clock: Clock = time.monotonic, first_delay_s: float = 1.0) -> None:
        self.free = max(free, 1)
        self.window_s = window_s
        self.max_delay_s = max_delay_s
        self.first_delay_s = first_delay_s
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float] | None:
        failures = self._failures.get(key)
        if failures is not None:
            while failures and failures[0] <= now - self.window_s:
                failures.popleft()
            if not failures:
                del self._failures[key]
                return None
        return failures

    def retry_after(self, key: str) -> float | None:
        """Seconds until the key may try again, or None when it may now."""
        with self._lock:
            now = self.clock()
            failures = self._recent(key, now)
            if failures is None or len(failures) < self.free:
                return None
            delay = min(self.first_delay_s * 2.0 ** (len(failures) - self.free),
                        self.max_delay_s)
            wait = failures[-1] + delay - now
        return wait if wait > 0 else None

    def failed(self, key: str) -> None:
        with self._lock:
            now = self.clock()
            failures = self._recent(key, now)
            if failures is None:
                if len(self._failures) >= MAX_KEYS:
                    self._failures.pop(next(iter(self._failures)))
                # Enough to reach the longest delay; older ones change nothing.
                doublings = self.max_delay_s / max(self.first_delay_s, 1e-3)
                keep = self.free + math.ceil(math.log2(max(doublings, 1))) + 1
                failures = self._failures[key] = deque(maxlen=keep)
            failures.append(now)

    def clear(self, key: str) -> bool:
        """Forget the key's failures; whether it had any."""
        with self._lock:
            return self._failures.pop(key, None) is not None

    def clear_prefix(self, prefix: str) -> int:
        """Forget the failures of every key starting with `prefix`; how many keys."""
        with self._lock:
            keys = [key for key in self._failures if key.startswith(prefix)]
            for key in keys:
                del self._failures[key]
        return len(keys)


class LoginThrottle:
    """Failed logins, counted so that guessing slows down but a stranger cannot lock a
    person out (README "Security"):

    - per user name and client address, and per address (any name): a few failures free,
      then growing delays;
    - per user name from every address, for clients without a device cookie: spreading a
      guess over many addresses is held back too;
    - a client that logged in as that name before (a valid device cookie, backend/devices.py)
      is counted apart, under its cookie: none of the counts above holds it back, so a
      correct password from the operator's own browser goes through during an attack.

    A success clears its name-and-address (or device) count, never the address's or the
    name's, so one valid account cannot shield guessing at others. An engineer clears
    every count on a name with `clear` (CLI `kazsat user unlock`)."""

    def __init__(self, per_name: int, per_address: int, window_s: float,
                 per_name_any_address: int = 50, max_delay_s: float = 300.0,
                 clock: Clock = time.monotonic, first_delay_s: float = 1.0) -> None:
        def backoff(free: int) -> Backoff:
            return Backoff(free, window_s, max_delay_s, clock, first_delay_s)

        self.pairs = backoff(per_name)
        self.addresses = backoff(per_address)
        self.names = backoff(per_name_any_address)
        self.devices = backoff(per_name)

    @staticmethod
    def _pair(name: str, other: str) -> str:
        return f"{name.lower()}\n{other}"

    def retry_after(self, name: str, address: str, device: str | None = None) -> float | None:
        """Seconds until this client may try the name again, or None when it may now.
        `device`: the key of a valid device cookie for the name, if the client has one."""
        if device is not None:
            return self.devices.retry_after(self._pair(name, device))
        waits = [w for w in (self.pairs.retry_after(self._pair(name, address)),
                             self.addresses.retry_after(address),
                             self.names.retry_after(name.lower())) if w is not None]
        return max(waits) if waits else None

    def failed(self, name: str, address: str, device: str | None = None) -> None:
        if device is not None:
            self.devices.failed(self._pair(name, device))
            return
        self.pairs.failed(self._pair(name, address))
        self.addresses.failed(address)
        self.names.failed(name.lower())

    def succeeded(self, name: str, address: str, device: str | None = None) -> None:
        if device is not None:
            self.devices.clear(self._pair(name, device))
        self.pairs.clear(self._pair(name, address))

    def clear(self, name: str) -> int:
        """Forget every failure counted for the name (from any address); the number of
        counts cleared. Failures counted for an address alone stay."""
        name = name.lower()
        return (self.names.clear(name) + self.pairs.clear_prefix(f"{name}\n")
                + self.devices.clear_prefix(f"{name}\n"))


class TokenBucket:
    """`rate` requests per second per key on average, bursts of up to `burst`."""

    def __init__(self, rate: float, burst: int, clock: Clock = time.monotonic) -> None:
        self.rate = rate
        self.burst = max(burst, 1)
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, key: str) -> float | None:
        """Take one request's worth; None if allowed, else seconds until one is."""
        if self.rate <= 0:
            return None
        with self._lock:
            now = self.clock()
            tokens, at = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.rate)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                return (1.0 - tokens) / self.rate
            if key not in self._buckets and len(self._buckets) >= MAX_KEYS:
                self._buckets.pop(next(iter(self._buckets)))
            self._buckets[key] = (tokens - 1.0, now)
            return None


def retry_after_header(seconds: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, math.ceil(seconds)))}
