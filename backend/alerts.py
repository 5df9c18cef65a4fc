"""What an alert is, shared by the parts that handle one: the open alert as held in memory,
the key shelves and rate limits count under, and the errors of operator actions.

The parts, in the order a change flows (as in mission-control alarm servers):
- checking: backend.limits (limit states) and backend.stale (telemetry that stopped);
- backend.alert_server: the set of open alerts, acknowledgements and shelves;
- its listeners: backend.alert_archive (the alert rows in SQL, and the queries) and
  backend.alert_email (who is told, when, and the outbox rows).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from backend.notify import AlertFacts

# AlertFacts' fields an open alert holds under the same names; the other two
# (cleared_t, event_t) are the message's, not the alert's.
_FACT_FIELDS = tuple(f.name for f in fields(AlertFacts) if f.name not in ("cleared_t", "event_t"))


class AlertNotFound(KeyError):
    pass


class AlertConflict(ValueError):
    """The action does not apply to the alert as it is now (409)."""


@dataclass
class OpenAlert:
    """An open alert, as held in memory (there are few: counts cost no query)."""

    id: int
    kind: str  # limit | stale | cluster (the monitor's own: redundancy lost)
    series_id: int | None
    satellite: str | None
    station: str | None
    parameter: str | None
    severity: str  # the highest state reached: what was emailed and acknowledged
    state: str
    value: float | None
    limit: str
    raised_t: int
    updated_t: int
    acked: bool = False
    shelved_until_t: int | None = None

    @property
    def key(self) -> str:
        return alert_key(self.kind, self.series_id, self.satellite, self.station)

    def shelved(self, now: int) -> bool:
        return self.shelved_until_t is not None and self.shelved_until_t > now

    def facts(self, event_t: int, cleared_t: int | None = None) -> AlertFacts:
        """What a message reports of it: its own fields, and the moment reported."""
        return AlertFacts(**{name: getattr(self, name) for name in _FACT_FIELDS},
                          cleared_t=cleared_t, event_t=event_t)


def alert_key(kind: str, series_id: int | None, satellite: str | None,
              station: str | None) -> str:
    """What shelves and rate limits are counted under: the series, the entity, or for the
    monitor's own alerts (kind "cluster": redundancy lost) the kind."""
    if kind == "limit":
        return f"series:{series_id}"
    return f"entity:{satellite or station}" if kind == "stale" else kind


def where(satellite: str | None, station: str | None) -> str:
    """'akkol/kazsat-2', 'kazsat-3' or 'kokterek': the entity, for logs and audit rows."""
    return "/".join(x for x in (station, satellite) if x)
