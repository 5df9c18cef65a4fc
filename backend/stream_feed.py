"""What this API process publishes to the live stream (backend.stream), and the numbers it
gives its updates.

- After each committed write (backend/api/write.py `ingest_text`): every series' newest
  present sample in the batch, when newer than the one published before (back-filled, late
  and ahead-of-clock samples are history, not the present: the limit checker's rule), with
  its state after checking; series whose state moved without a new sample of their own (a
  gate closing); the banner counts when they changed.
- After each alert change (the alert server's `on_change`): the alerts as GET /alerts has
  them, and the banner counts.
- Once a second (`StateWatch`): series gone stale or back, and the banner counts (an alert
  shelf expiring moves them too).

Updates are numbered by an in-process counter that starts at the start time in
microseconds, so numbers keep growing across restarts: a client's position from before a
restart is older than anything buffered and is told to refetch. One lock orders numbering
and publishing, so the hub receives 1, 2, 3… in order whatever thread publishes.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import psycopg
from sqlalchemy import Engine

from backend import db_watch, status
from backend.alert_server import AlertServer
from backend.alert_sync import CHANNEL
from backend.alerts import AlertNotFound
from backend.limits import LimitChecker, Transition
from backend.series import SeriesRegistry
from backend.store.base import NS, Batch
from backend.stream import Changes, Row, StreamHub
from backend.ticker import Ticker

log = logging.getLogger(__name__)


def first_seq() -> int:
    """Where this process's update numbers start: the time in microseconds."""
    return time.time_ns() // 1000


class LiveFeed:
    def __init__(self, hub: StreamHub, registry: SeriesRegistry, checker: LimitChecker,
                 alerts: AlertServer, clock_tolerance_s: float) -> None:
        self.hub = hub
        self.registry = registry
        self.checker = checker
        self.alerts = alerts
        self.tolerance_ns = int(clock_tolerance_s * NS)
        self._lock = threading.Lock()
        self._next = hub.last_seq + 1
        self._t: dict[int, int] = {}  # series id -> time of its published sample
        self._rows: dict[int, Row] = {}  # series id -> its published row
        self._summary: Row | None = None

    def prime(self, latest: dict[int, tuple[int, float]], now: int) -> None:
        """Start from the stored latest samples (no update is published)."""
        with self._lock:
            for sid, (t, v) in latest.items():
                info = self.registry.by_id.get(sid)
                if info is not None:
                    self._t[sid] = t
                    self._rows[sid] = status.series_row(
                        info, t, v, status.live_state(self.checker, info, t, now))
            self._summary = self._counts()

    # ---- what happened ------------------------------------------------------------------------

    def ingested(self, stored: Batch, transitions: list[Transition], now: int) -> None:
        """A committed write: its stored samples and the state changes checking made."""
        newest = self._newest(stored, now + self.tolerance_ns) if stored else {}
        if not newest and not transitions:
            return
        with self._lock:
            samples = []
            for sid, (t, v) in newest.items():
                if t <= self._t.get(sid, -1):
                    continue  # history: not newer than what was published
                info = self.registry.by_id[sid]
                row = status.series_row(info, t, v, status.live_state(self.checker, info, t,
                                                                      now))
                self._t[sid], self._rows[sid] = t, row
                samples.append((sid, row))
            published = {sid for sid, _ in samples}
            states = self._restated({tr.series_id for tr in transitions} - published, now)
            summary = self._changed_summary()
            if samples or states or summary:
                self._publish(samples, Changes(states=states, summary=summary))

    def alerts_changed(self, alert_ids: list[int]) -> None:
        """Alerts raised, moved, cleared, acknowledged or shelved (committed)."""
        rows = []
        for alert_id in dict.fromkeys(alert_ids):
            try:
                rows.append(self.alerts.get(alert_id))
            except AlertNotFound:
                log.warning("live stream: alert %d changed but is not found", alert_id)
        with self._lock:
            self._publish([], Changes(alerts=rows, summary=self._changed_summary()))

    def others(self, latest: dict[int, tuple[int, float]], now: int) -> None:
        """Samples another API process stored (the other site): each series' newest when
        newer than the one published here. Their states follow from `check_states`."""
        with self._lock:
            fresh = {sid: tv for sid, tv in latest.items() if tv[0] > self._t.get(sid, -1)}
        if fresh:
            self.ingested(Batch(list(fresh), [t for t, _ in fresh.values()],
                                [v for _, v in fresh.values()]), [], now)

    def check_states(self, now: int) -> None:
        """Series whose state moved with no new sample (gone stale, or back), and the
        banner counts when they changed."""
        with self._lock:
            states = self._restated(set(self._rows), now)
            summary = self._changed_summary()
            if states or summary:
                self._publish([], Changes(states=states, summary=summary))

    # ---- under the lock -------------------------------------------------------------------

    def _restated(self, sids: set[int], now: int) -> list[tuple[int, Row]]:
        out = []
        for sid in sids:
            row = self._rows.get(sid)
            if row is None:
                continue
            state = status.live_state(self.checker, self.registry.by_id[sid], self._t[sid], now)
            if state != row["state"]:
                row = self._rows[sid] = {**row, "state": state}
                out.append((sid, row))
        return out

    def _counts(self) -> Row:
        return {**status.summarize(list(self._rows.values())), "alerts": self.alerts.summary()}

    def _changed_summary(self) -> Row | None:
        summary = self._counts()
        if summary == self._summary:
            return None
        self._summary = summary
        return summary

    def _publish(self, samples: list[tuple[int, Row]], changes: Changes) -> None:
        seq, self._next = self._next, self._next + 1
        self.hub.publish(seq, samples, changes)

    @staticmethod
    def _newest(batch: Batch, horizon: int) -> dict[int, tuple[int, float]]:
        """Each series' newest sample at or before `horizon` (ahead of it: not the
        present)."""
        ids = np.asarray(batch.series_ids, dtype=np.int64)
        ts = np.asarray(batch.times, dtype=np.int64)
        vs = np.asarray(batch.values, dtype=np.float64)
        present = ts <= horizon
        if not present.all():
            ids, ts, vs = ids[present], ts[present], vs[present]
        order = np.lexsort((ts, ids))
        ids, ts, vs = ids[order], ts[order], vs[order]
        last = np.append(ids[1:] != ids[:-1], True) if len(ids) else np.zeros(0, dtype=bool)
        out: dict[int, tuple[int, float]] = {}
        for sid, t, v in zip(ids[last].tolist(), ts[last].tolist(), vs[last].tolist(),
                             strict=True):
            out[sid] = (t, v)
        return out


class StateWatch:
    """Once a second, series gone stale (or back) and the banner counts to the stream: a
    background job (start, stop, run_once), started with the API's others."""

    name = "live-states"

    def __init__(self, feed: LiveFeed, interval_s: float = 1.0) -> None:
        self.feed = feed
        self._ticker = Ticker(self.name, self.run_once, interval_s)

    def start(self) -> None:
        self._ticker.start()

    def stop(self) -> None:
        self._ticker.stop()

    def run_once(self, now: int | None = None) -> None:
        self.feed.check_states(time.time_ns() if now is None else now)



class OtherWriters:
    """What other API processes on the same PostgreSQL database change (the other site's
    ingest, acknowledgements, shelves), to this process's stream: woken by the NOTIFY each of
    their alarm transactions sends at commit (backend/alert_sync.py), and every few seconds
    in case one was missed, it brings the alarm state up to date and publishes the samples
    and alerts that moved. A background job (start, stop), started with the API's others."""

    name = "live-others"
    RECHECK_S = 5.0

    def __init__(self, engine: Engine, alerts: AlertServer, feed: LiveFeed,
                 latest: Callable[[int], dict[int, tuple[int, float]]]) -> None:
        self.engine, self.alerts, self.feed, self.latest = engine, alerts, feed, latest
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: psycopg.Connection[Any] | None = None
        self._seen: dict[int, tuple[str, str, bool, int | None]] = {}

    def start(self) -> None:
        self._seen = self.alerts.open_alerts()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        conn = self._conn
        if conn is not None:
            db_watch.cut(conn)  # a wait for notifications ends at once
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._listen()
            except Exception as exc:  # the database went away: listen again shortly
                if not self._stop.is_set():
                    log.info("live stream: listening for other sites' changes again "
                             "after %s", str(exc).strip().splitlines()[0] if str(exc).strip()
                             else type(exc).__name__)
            finally:
                if self._conn is not None:
                    with contextlib.suppress(Exception):
                        self._conn.close()
                    self._conn = None
            self._stop.wait(1.0)

    def _listen(self) -> None:
        args, kwargs = self.engine.dialect.create_connect_args(self.engine.url)
        self._conn = conn = psycopg.connect(*args, **kwargs, autocommit=True)
        conn.execute(f"LISTEN {CHANNEL}")
        self.check()  # whatever happened while not listening
        me = self.alerts.generation.writer
        last = time.monotonic()
        while not self._stop.is_set():
            woken = [n for n in conn.notifies(timeout=1.0, stop_after=1)]
            foreign = any(n.payload != me for n in woken)
            if foreign or time.monotonic() - last >= self.RECHECK_S:
                self.check()
                last = time.monotonic()

    def check(self) -> None:
        now = time.time_ns()
        self.alerts.refresh()
        self.feed.others(self.latest(now), now)
        opens = self.alerts.open_alerts()
        changed = [i for i in {*opens, *self._seen} if opens.get(i) != self._seen.get(i)]
        self._seen = opens
        if changed:
            self.feed.alerts_changed(sorted(changed))
