"""Rate limits, on the `limits` library's moving windows: failed logins (growing delays per user
name and address, per address, per name; device cookies apart), counted in the SQL database
every API process shares (backend/ratelimit_store.py), and ingest requests per token, counted
in this process's memory.

Two API processes on one database (the two sites) therefore hold one set of failed-login
counts: a name locked out at Akkol is locked out at Kokterek, an unlock at either clears it
everywhere, and a restart forgets nothing. Ingest limits stay per process: each is a guard on
that process's own load, and a writer fails over to the other site with its own allowance.
"""

from __future__ import annotations

import math
import time
from urllib.parse import quote

from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from backend.ratelimit_store import SqlStorage
from backend.settings import Settings

COUNTS = "login"  # namespace of the failure counts: login/KIND/NAME[/OTHER]/...
WAITS = "login-wait"  # namespace of the delays a failure past the free ones started


def doubling_delays(first_s: float, max_s: float) -> list[int]:
    """first, twice that, four times … up to and ending with max, in whole seconds (the
    library's granularity): 1, 2, 4 … 256, 300."""
    first, top = max(1, math.ceil(first_s)), max(1, math.ceil(max_s))
    delays = []
    while first < top:
        delays.append(first)
        first *= 2
    return [*delays, top]


class Backoff:
    """Failures per key within `window_s`: the first `free` cost nothing, then each one more
    makes the next attempt wait longer (`first_delay_s`, twice that, four times … at most
    `max_delay_s`), counted from that failure.

    In `limits` terms: a moving window of failures per key, and per delay a moving window
    of one: the n-th failure past the free ones takes an entry in the n-th delay's window,
    and the key is closed while any delay's window holds one."""

    def __init__(self, storage: SqlStorage, kind: str, free: int, window_s: float,
                 max_delay_s: float, first_delay_s: float = 1.0) -> None:
        self.storage = storage
        self.limiter = MovingWindowRateLimiter(storage)
        self.kind = kind
        self.free = max(free, 1)
        delays = doubling_delays(first_delay_s, max_delay_s)
        # Enough to reach the longest delay: older failures change nothing.
        self.failures = RateLimitItemPerSecond(self.free + len(delays),
                                               max(1, math.ceil(window_s)), COUNTS)
        self.waits = [RateLimitItemPerSecond(1, delay, WAITS) for delay in delays]

    def retry_after(self, *key: str) -> float | None:
        """Seconds until the key may try again, or None when it may now."""
        counted = self.limiter.get_window_stats(self.failures, self.kind, *key)
        if counted.remaining == self.failures.amount:
            return None  # no failure in the window: no delay either (the common case)
        now = self.storage.clock()
        waits = [stats.reset_time - now for stats in
                 (self.limiter.get_window_stats(wait, self.kind, *key) for wait in self.waits)
                 if stats.remaining == 0]
        wait = max(waits, default=0.0)
        return wait if wait > 0 else None

    def failed(self, *key: str) -> None:
        self.limiter.hit(self.failures, self.kind, *key)
        count = self.failures.amount - \
            self.limiter.get_window_stats(self.failures, self.kind, *key).remaining
        if count >= self.free:
            self.limiter.hit(self.waits[min(count - self.free, len(self.waits) - 1)],
                             self.kind, *key)

    def clear(self, *key: str) -> int:
        """Forget the failures of the key and of every key it starts (a name: from every
        address); how many counts were cleared."""
        prefix = "/".join((self.kind, *key)) + "/"
        self.storage.clear_prefix(f"{WAITS}/{prefix}")
        return self.storage.clear_prefix(f"{COUNTS}/{prefix}")


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

    def __init__(self, storage: SqlStorage, per_name: int, per_address: int, window_s: float,
                 per_name_any_address: int = 50, max_delay_s: float = 300.0,
                 first_delay_s: float = 1.0) -> None:
        def backoff(kind: str, free: int) -> Backoff:
            return Backoff(storage, kind, free, window_s, max_delay_s, first_delay_s)

        self.pairs = backoff("pair", per_name)
        self.addresses = backoff("address", per_address)
        self.names = backoff("name", per_name_any_address)
        self.devices = backoff("device", per_name)

    @classmethod
    def from_settings(cls, storage: SqlStorage, settings: Settings) -> LoginThrottle:
        return cls(storage, settings.login_max_failures, settings.login_max_failures_per_address,
                   settings.login_window_s, settings.login_max_failures_per_name,
                   settings.login_max_delay_s, settings.login_first_delay_s)

    @staticmethod
    def _name(name: str) -> str:
        return quote(name.lower(), safe="")  # no '/' of its own: keys split on it

    def retry_after(self, name: str, address: str, device: str | None = None) -> float | None:
        """Seconds until this client may try the name again, or None when it may now.
        `device`: the key of a valid device cookie for the name, if the client has one."""
        name = self._name(name)
        if device is not None:
            return self.devices.retry_after(name, device)
        waits = [w for w in (self.pairs.retry_after(name, address),
                             self.addresses.retry_after(address),
                             self.names.retry_after(name)) if w is not None]
        return max(waits) if waits else None

    def failed(self, name: str, address: str, device: str | None = None) -> None:
        name = self._name(name)
        if device is not None:
            self.devices.failed(name, device)
            return
        self.pairs.failed(name, address)
        self.addresses.failed(address)
        self.names.failed(name)

    def succeeded(self, name: str, address: str, device: str | None = None) -> None:
        name = self._name(name)
        if device is not None:
            self.devices.clear(name, device)
        self.pairs.clear(name, address)

    def clear(self, name: str) -> int:
        """Forget every failure counted for the name (from any address); the number of
        counts cleared. Failures counted for an address alone stay."""
        name = self._name(name)
        return self.names.clear(name) + self.pairs.clear(name) + self.devices.clear(name)


class IngestLimiter:
    """Ingest requests per token: at most `burst` within any `burst / rate` seconds (rounded
    up to a whole second, the library's granularity), i.e. `rate` a second on average with
    bursts of `burst`; 1,000 per 5 s by default. A moving window in this process's memory."""

    def __init__(self, rate_per_s: float, burst: int) -> None:
        self.limiter = MovingWindowRateLimiter(MemoryStorage())
        self.item = None if rate_per_s <= 0 else RateLimitItemPerSecond(
            max(burst, 1), max(1, math.ceil(max(burst, 1) / rate_per_s)), "ingest")

    def take(self, key: str) -> float | None:
        """Take one request's worth; None if allowed, else seconds until one is."""
        if self.item is None or self.limiter.hit(self.item, key):
            return None
        reset = self.limiter.get_window_stats(self.item, key).reset_time
        return max(reset - time.time(), 0.0)


def retry_after_header(seconds: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, math.ceil(seconds)))}
