"""Rate limits kept in the API process's memory: failed logins (sliding window per user name
and per client address) and ingest requests (token bucket per token).

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


class SlidingWindow:
    """At most `limit` events per key in any `window_s` seconds."""

    def __init__(self, limit: int, window_s: float, clock: Clock = time.monotonic) -> None:
        self.limit = limit
        self.window_s = window_s
        self.clock = clock
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float] | None:
        events = self._events.get(key)
        if events is not None:
            while events and events[0] <= now - self.window_s:
                events.popleft()
            if not events:
                del self._events[key]
                return None
        return events

    def retry_after(self, key: str) -> float | None:
        """Seconds until the key may act again, or None when it may now."""
        with self._lock:
            now = self.clock()
            events = self._recent(key, now)
            if events is None or len(events) < self.limit:
                return None
            return max(events[-self.limit] + self.window_s - now, 0.001)

    def record(self, key: str) -> None:
        with self._lock:
            now = self.clock()
            events = self._recent(key, now)
            if events is None:
                if len(self._events) >= MAX_KEYS:
                    self._events.pop(next(iter(self._events)))
                events = self._events[key] = deque(maxlen=max(self.limit, 1))
            events.append(now)

    def reset(self, key: str) -> None:
        with self._lock:
            self._events.pop(key, None)


class LoginThrottle:
    """Failed logins per user name and per client address. A success clears its name's
    count but not its address's, so one valid account cannot shield guessing at others."""

    def __init__(self, per_name: int, per_address: int, window_s: float,
                 clock: Clock = time.monotonic) -> None:
        self.names = SlidingWindow(per_name, window_s, clock)
        self.addresses = SlidingWindow(per_address, window_s, clock)

    def retry_after(self, name: str, address: str) -> float | None:
        waits = [w for w in (self.names.retry_after(name.lower()),
                             self.addresses.retry_after(address)) if w is not None]
        return max(waits) if waits else None

    def failed(self, name: str, address: str) -> None:
        self.names.record(name.lower())
        self.addresses.record(address)

    def succeeded(self, name: str) -> None:
        self.names.reset(name.lower())


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
