"""The series registry: a small integer id for every (satellite, station, parameter)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, select

from backend import db
from backend.mission import Mission, Parameter


@dataclass(frozen=True)
class SeriesInfo:
    id: int
    satellite: str | None
    station: str | None
    parameter: Parameter

    @property
    def label(self) -> str:
        where = "/".join(x for x in (self.station, self.satellite) if x)
        return f"{where} {self.parameter.key}"


class SeriesRegistry:
    """Every series the mission defines, registered in SQL at start so ingest never
    creates one on its hot path."""

    def __init__(self, engine: Engine, mission: Mission) -> None:
        with engine.begin() as conn:
            db.write_lock(conn)  # another site's API may be registering them right now
            known = {(r.satellite, r.station, r.parameter): r.id
                     for r in conn.execute(select(db.series))}
            missing = [(sat or "", sta or "", key) for sat, sta, key in mission.series
                       if (sat or "", sta or "", key) not in known]
            if missing:
                conn.execute(db.series.insert(), [
                    {"satellite": a, "station": b, "parameter": c} for a, b, c in missing])
                known = {(r.satellite, r.station, r.parameter): r.id
                         for r in conn.execute(select(db.series))}
        self.by_id: dict[int, SeriesInfo] = {}
        self.by_key: dict[tuple[str | None, str | None, str], SeriesInfo] = {}
        for sat, sta, key in mission.series:
            info = SeriesInfo(known[(sat or "", sta or "", key)], sat, sta, mission.parameters[key])
            self.by_id[info.id] = info
            self.by_key[(sat, sta, key)] = info

    def find(self, satellite: str | None, station: str | None, parameter: str) -> SeriesInfo | None:
        return self.by_key.get((satellite or None, station or None, parameter))

    def select(self, satellite: str | None = None, station: str | None = None,
               parameters: list[str] | None = None) -> list[SeriesInfo]:
        """Series matching every filter given (None matches anything)."""
        return [s for s in self.by_id.values()
                if (satellite is None or s.satellite == satellite)
                and (station is None or s.station == station)
                and (not parameters or s.parameter.key in parameters)]
