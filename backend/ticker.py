"""A daemon thread calling a function at a fixed interval (the alert server's tick, the
retention job)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class Ticker:
    """Calls `fn` every `interval_s` (the first time after `first_s`, by default the same)
    until stopped; an exception is logged, not fatal. The thread carries `name`, which
    /healthz looks for."""

    def __init__(self, name: str, fn: Callable[[], None], interval_s: float,
                 first_s: float | None = None) -> None:
        self.name = name
        self._fn, self._interval = fn, interval_s
        self._first = interval_s if first_s is None else first_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start calling (again, after a stop: the cluster's duties move between sites)."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(self._stop,), name=self.name,
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout_s)

    def stopping(self) -> bool:
        """True once stop was asked: long work in `fn` may end early."""
        return self._stop.is_set()

    def _run(self, stop: threading.Event) -> None:
        delay = self._first
        while not stop.wait(delay):
            try:
                self._fn()
            except Exception:
                log.exception("%s failed; next in %g s", self.name, self._interval)
            delay = self._interval
