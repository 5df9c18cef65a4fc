"""The stale-telemetry watch: which satellites and stations stopped sending, and which
started again. It checks; the alarm server raises and clears the alerts.

One entity per satellite or station (not one per parameter); a station owns its link
series. An entity is stopped when no new sample of any of its series has arrived for its
window: `stale_alert_s`, at least its fastest parameter's `stale_after_s`. Arrival is
judged on the wall clock at each check, so back-filled or late samples count as telemetry
flowing; an entity with no sample at all since the database was created is not watched.

Lock: its own `_lock` guards what it has seen; it reads the limit checker's newest sample
times through `newest_t`, which takes no lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from backend.alerts import alert_key
from backend.mission import Mission
from backend.series import SeriesInfo
from backend.store.base import NS


@dataclass(frozen=True)
class Entity:
    key: str  # the stale alert's key (backend.alerts.alert_key)
    satellite: str | None
    station: str | None
    series_ids: list[int]
    window_s: float


@dataclass(frozen=True)
class Stopped:
    entity: Entity
    newest_t: int  # its newest sample


class StaleWatch:
    def __init__(self, mission: Mission, series: dict[int, SeriesInfo], stale_alert_s: float,
                 newest_t: Callable[[list[int]], int]) -> None:
        self._newest_t = newest_t  # the newest sample time among series (-1: none)
        self._lock = threading.Lock()
        self._seen: dict[str, tuple[int, int]] = {}  # entity key -> (newest sample t, when)
        self.entities: list[Entity] = []
        for sat in mission.satellites:
            self._add(sat, None, [i for i in series.values()
                                  if i.satellite == sat and i.station is None], stale_alert_s)
        for sta in mission.stations:
            self._add(None, sta, [i for i in series.values() if i.station == sta],
                      stale_alert_s)

    def _add(self, sat: str | None, sta: str | None, infos: list[SeriesInfo],
             stale_alert_s: float) -> None:
        if infos:
            window = max(stale_alert_s, min(i.parameter.stale_after_s for i in infos))
            self.entities.append(Entity(alert_key("stale", None, sat, sta), sat, sta,
                                        [i.id for i in infos], window))

    def mark(self) -> dict[str, tuple[int, int]]:
        """What it has seen, to `restore` when what a check told could not be recorded."""
        with self._lock:
            return dict(self._seen)

    def restore(self, mark: dict[str, tuple[int, int]]) -> None:
        with self._lock:
            self._seen = mark

    def check(self, now: int) -> tuple[list[Stopped], list[Entity]]:
        """(stopped, resumed) at `now`: entities silent past their window, and entities
        with a new sample since the last check (not on the first check: nothing was seen
        before it). Said at every check while it holds; acting once is the caller's."""
        stopped, resumed = [], []
        with self._lock:
            for e in self.entities:
                newest = self._newest_t(e.series_ids)
                seen = self._seen.get(e.key)
                if seen is None or newest != seen[0]:
                    self._seen[e.key] = (newest, now)
                    if seen is not None:
                        resumed.append(e)
                elif newest >= 0 and now - seen[1] > e.window_s * NS:
                    stopped.append(Stopped(e, newest))
        return stopped, resumed
