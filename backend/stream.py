"""The live stream hub: numbered updates in, subscribers out.

Its input is one call, `publish(seq, samples, changes)`, made by whoever numbers the updates
(in this API process, backend.stream_feed after each committed write or alert change). The
hub assumes nothing else of the publisher: not that it runs in this process, not how the
numbers are made, only that they grow by one from update to update. It keeps:

- the last `buffer_events` updates, so that a client reconnecting with the number of the
  last update it saw (`Last-Event-ID`) gets exactly what it missed; a position no longer in
  the buffer (too old, from before a restart, or never seen here) is answered "refetch";
- per subscriber a queue of at most `queue_events` updates, filled by `publish` without
  ever waiting (publish runs in ingest threads): a subscriber further behind is marked
  lagged, its queue emptied, and its stream ends telling it to resync; nobody else, and
  no ingest, waits for it;
- a count of subscribers per user and in all, refusing past the limits (StreamRefused).

Subscribers are read from an asyncio event loop (the API's); publish may be called from any
thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

log = logging.getLogger(__name__)

Row = dict[str, Any]  # one series' latest sample and state, as GET /api/v1/latest has it


@dataclass(frozen=True)
class Changes:
    """What moved besides new samples: series whose state changed with no new sample (gone
    stale, back), alerts (as GET /api/v1/alerts has them), and the banner counts when they
    changed (as /latest's `summary`)."""

    states: Sequence[tuple[int, Row]] = ()
    alerts: Sequence[Row] = ()
    summary: Row | None = None


NO_CHANGES = Changes()


@dataclass(frozen=True)
class Filter:
    """What a subscriber asked for: series ids (None: all), and for alerts the entity and
    parameters (an alert of another satellite, station or parameter is left out)."""

    series: frozenset[int] | None = None
    satellite: str | None = None
    station: str | None = None
    parameters: frozenset[str] | None = None

    def alert(self, row: Row) -> bool:
        return (self.satellite is None or row.get("satellite") == self.satellite) \
            and (self.station is None or row.get("station") == self.station) \
            and (self.parameters is None or row.get("parameter") is None
                 or row.get("parameter") in self.parameters)


@dataclass
class Update:
    """One numbered update. Its text on the wire is made once per distinct filter."""

    seq: int
    samples: Sequence[tuple[int, Row]]  # (series id, row): each series' newest sample
    changes: Changes
    _wire: dict[Filter, bytes | None] = field(default_factory=dict, repr=False)

    def wire(self, f: Filter) -> bytes | None:
        """The SSE message for a subscriber with filter `f`, or None when nothing in this
        update is for it."""
        if f not in self._wire:
            self._wire[f] = self._render(f)
        return self._wire[f]

    def _render(self, f: Filter) -> bytes | None:
        rows = [row for sid, row in (*self.samples, *self.changes.states)
                if f.series is None or sid in f.series]
        alerts = [a for a in self.changes.alerts if f.alert(a)]
        summary = self.changes.summary
        if not (rows or alerts or summary):
            return None
        body: Row = {"seq": self.seq, "series": rows}
        if alerts:
            body["alerts"] = alerts
        if summary:
            body["summary"] = summary
        return message("update", body, self.seq)


def message(event: str, data: object, event_id: int | None = None) -> bytes:
    """One Server-Sent Events message: optional id, the event name, JSON data."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: ".encode() + orjson.dumps(data) + b"\n\n"


class StreamRefused(Exception):
    """Past a subscriber limit: the message says which and what to do."""


class Lagged(Exception):
    """The subscriber fell more than its queue behind; its stream ends, telling it to
    resync (reconnecting with its last id resumes it from the buffer when still there)."""


class Subscription:
    def __init__(self, who: str, f: Filter, loop: asyncio.AbstractEventLoop) -> None:
        self.who = who
        self.filter = f
        self.since = 0  # the last update number before this subscription began
        self.refetch = False  # asked to resume from a position the hub no longer has
        self.lagged = False
        self._pending: deque[Update] = deque()
        self._loop = loop
        self._wake = asyncio.Event()

    def _offer(self, update: Update, limit: int) -> None:
        """Under the hub's lock, from any thread; never waits."""
        if self.lagged:
            return
        if len(self._pending) >= limit:
            self.lagged = True
            self._pending.clear()
        else:
            self._pending.append(update)
        with contextlib.suppress(RuntimeError):  # a closed loop: the API is stopping
            self._loop.call_soon_threadsafe(self._wake.set)

    async def next(self, timeout_s: float) -> Update | None:
        """The next update, or None after `timeout_s` without one; Lagged when it fell
        behind."""
        while True:
            if self.lagged:
                raise Lagged
            if self._pending:
                return self._pending.popleft()
            self._wake.clear()
            if self._pending or self.lagged:
                continue  # offered between the check and the clear
            # asyncio.timeout, not wait_for: on Python 3.11 a cancel arriving as the
            # timeout fires (both due at once after the process was stopped, SIGSTOP or a
            # paused VM) is lost in wait_for, and the stream's task never ends.
            try:
                async with asyncio.timeout(timeout_s):
                    await self._wake.wait()
            except TimeoutError:
                return None


class StreamHub:
    def __init__(self, last_seq: int, buffer_events: int = 4096, queue_events: int = 256,
                 max_per_user: int = 32, max_total: int = 256) -> None:
        """`last_seq`: the number before the first update this hub will be given."""
        self.queue_events = queue_events
        self.max_per_user = max_per_user
        self.max_total = max_total
        self.last_seq = last_seq
        self._lock = threading.Lock()
        self._buffer: deque[Update] = deque(maxlen=buffer_events)
        self._subs: set[Subscription] = set()
        self.dropped = 0  # subscribers dropped for falling behind, since start

    # ---- in -----------------------------------------------------------------------------------

    def publish(self, seq: int, samples: Sequence[tuple[int, Row]],
                changes: Changes = NO_CHANGES) -> None:
        """Add update `seq` (one more than the last) and offer it to every subscriber."""
        update = Update(seq, samples, changes)
        with self._lock:
            if seq != self.last_seq + 1:
                # A gap or a repeat: positions before it can no longer be resumed exactly.
                log.warning("live stream: update %d after %d; earlier positions are "
                            "refetched", seq, self.last_seq)
                self._buffer.clear()
            self._buffer.append(update)
            self.last_seq = seq
            for sub in self._subs:
                if sub.lagged:
                    continue
                sub._offer(update, self.queue_events)
                if sub.lagged:
                    self.dropped += 1
                    log.warning("live stream of %s dropped: more than %d updates behind; "
                                "told to resync", sub.who, self.queue_events)

    # ---- out ----------------------------------------------------------------------------------

    def subscribe(self, who: str, f: Filter, after: int | None = None,
                  loop: asyncio.AbstractEventLoop | None = None) -> Subscription:
        """A subscription for `who` (a user or token name). With `after`, the updates since
        that one are queued first when the buffer still has them all (else `refetch` is
        set). StreamRefused past a limit."""
        sub = Subscription(who, f, loop or asyncio.get_running_loop())
        with self._lock:
            if len(self._subs) >= self.max_total:
                raise StreamRefused(
                    "live streaming is off on this server" if self.max_total == 0 else
                    f"the server has {self.max_total} live streams open, its limit; "
                    "retry later (KAZSAT_STREAM_MAX_TOTAL)")
            mine = sum(1 for s in self._subs if s.who == who)
            if mine >= self.max_per_user:
                raise StreamRefused(
                    f"{who} has {mine} live streams open, the limit per user; close one "
                    "(KAZSAT_STREAM_MAX_PER_USER)")
            sub.since = self.last_seq
            if after is not None:
                missed = self._since(after)
                if missed is None or len(missed) > self.queue_events:
                    sub.refetch = True
                else:
                    sub._pending.extend(missed)
            self._subs.add(sub)
        return sub

    def _since(self, after: int) -> list[Update] | None:
        """The buffered updates after `after`, or None when the buffer cannot say (the
        position is older than the buffer, or newer than anything here)."""
        if after > self.last_seq:
            return None
        first = self._buffer[0].seq if self._buffer else self.last_seq + 1
        if after < first - 1:
            return None
        return [u for u in self._buffer if u.seq > after]

    def position(self, sub: Subscription) -> int | None:
        """The last update number when the subscriber has been offered everything up to it
        (its queue is empty), else None: the id a heartbeat may carry."""
        with self._lock:
            return None if sub._pending or sub.lagged else self.last_seq

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            self._subs.discard(sub)

    def count(self, who: str | None = None) -> int:
        with self._lock:
            return sum(1 for s in self._subs if who is None or s.who == who)
