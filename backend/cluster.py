"""The monitor's own health in the two-site deployment: each site's API and database role,
replication, failovers and switchovers, and the "redundancy lost" alert (docs/cluster.md).

Patroni runs PostgreSQL at both sites and answers on its REST API which node leads; the
primary's `pg_stat_replication` says whether the other node streams synchronously and how far
behind it is. `read_cluster` asks both, with short timeouts, so a site that is gone reads as
unreachable in about a second. `ClusterWatch`, a duty of one API process, records each change
of primary (`cluster_events`) and raises "redundancy lost" while the reserve database is not a
caught-up synchronous standby, clearing it when it is again.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx
from sqlalchemy import Engine, desc, select, text

from backend import db
from backend.settings import SiteEndpoints
from backend.store.base import NS
from backend.ticker import Ticker

log = logging.getLogger(__name__)
SWITCHOVER_WINDOW_NS = 120 * NS  # a change of primary this soon after a request is planned


@dataclass
class SiteStatus:
    site: str
    name: str
    api: str  # up | down
    database: str  # primary | replica | down (its Patroni does not answer) | starting ...
    sync: bool | None = None  # a replica that is the synchronous standby
    streaming: bool | None = None  # a replica the primary streams to
    lag_bytes: int | None = None
    lag_ms: float | None = None
    timeline: int | None = None


@dataclass
class ClusterStatus:
    sites: list[SiteStatus]
    primary: str | None  # the site whose database is primary, if any
    primary_since_t: int | None  # when it became primary (ns), if known
    redundant: bool  # the other site's database is a streaming synchronous standby
    last_failover: dict[str, Any] | None = None
    last_switchover: dict[str, Any] | None = None
    read_t: int = field(default_factory=time.time_ns)

    def as_dict(self) -> dict[str, Any]:
        from backend.timeutil import format_time

        out = asdict(self)
        out["primary_since"] = format_time(self.primary_since_t) if self.primary_since_t \
            else None
        out["read_at"] = format_time(self.read_t)
        del out["primary_since_t"], out["read_t"]
        return out


def read_cluster(sites: dict[str, SiteEndpoints], engine: Engine | None,
                 timeout_s: float = 1.0, here: str = "") -> ClusterStatus:
    """The cluster as the sites' Patroni and APIs say now, and the primary's replication
    (through `engine`, whose connections go to the primary). The API at `here` (the
    caller's own site) is up: it is the one asking."""
    with ThreadPoolExecutor(max_workers=3 * len(sites) or 1) as pool:
        patroni = {s: pool.submit(_get_json, e.patroni_url.rstrip("/") + "/patroni", timeout_s)
                   for s, e in sites.items()}
        apis = {s: pool.submit(_get_json, e.api_url.rstrip("/") + "/healthz", timeout_s)
                for s, e in sites.items() if s != here}
        history = {s: pool.submit(_get_json, e.patroni_url.rstrip("/") + "/history", timeout_s)
                   for s, e in sites.items()}
    out, primary, since = [], None, None
    for site, endpoints in sites.items():
        p = patroni[site].result()
        role = "down"
        if p is not None:
            role = {"master": "primary", "primary": "primary", "replica": "replica",
                    "standby_leader": "replica"}.get(p.get("role", ""), p.get("role", "?"))
            if p.get("state") != "running":
                role = p.get("state", "starting")
        api_up = site == here or apis[site].result() is not None
        status = SiteStatus(site, endpoints.name or site.title(), "up" if api_up else "down",
                            role, timeline=p.get("timeline") if p else None)
        if role == "primary":
            primary = site
            changes = history[site].result() or []
            if changes:  # [timeline, lsn, reason, time, new leader]
                since = _parse_time(changes[-1][3])
        out.append(status)
    replication = _replication(engine) if engine is not None and primary else {}
    for status in out:
        rep = replication.get(status.site)
        if status.database == "replica":
            status.streaming = rep is not None and rep["state"] == "streaming"
            status.sync = rep is not None and rep["sync_state"] in ("sync", "quorum")
            if rep is not None:
                status.lag_bytes, status.lag_ms = rep["lag_bytes"], rep["lag_ms"]
    # Synchronous and streaming (not catching up): every commit is on both sites.
    redundant = any(s.database == "replica" and s.sync and s.streaming for s in out)
    return ClusterStatus(out, primary, since, redundant)


def _replication(engine: Engine) -> dict[str, dict[str, Any]]:
    """pg_stat_replication on the primary, by standby name (Patroni names them by site)."""
    sql = text("SELECT application_name, state, sync_state, "
               "COALESCE(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), 0)::bigint, "
               "EXTRACT(EPOCH FROM replay_lag) * 1000 FROM pg_stat_replication")
    try:
        with engine.connect() as conn:
            rows = conn.execute(sql).all()
    except Exception as exc:  # the primary went away meanwhile: the next look tells
        log.info("replication status unavailable: %s", str(exc).splitlines()[0])
        return {}
    return {name: {"state": state, "sync_state": sync, "lag_bytes": int(lag),
                   "lag_ms": round(float(ms), 1) if ms is not None else (0.0 if not lag else None)}
            for name, state, sync, lag, ms in rows}


def _get_json(url: str, timeout_s: float) -> Any:
    """The JSON a site answers, or None when it does not (in time)."""
    try:
        r = httpx.get(url, timeout=timeout_s)
    except httpx.HTTPError:
        return None
    if r.status_code >= 500 and not r.content:
        return None
    try:
        return r.json()
    except ValueError:
        return {}


def _parse_time(value: str) -> int | None:
    try:
        return int(dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * NS)
    except (TypeError, ValueError):
        return None


# ---- the record of changes ----------------------------------------------------------------

def last_events(engine: Engine) -> dict[str, dict[str, Any] | None]:
    """The newest failover and switchover: {"failover": {"site", "at", "detail"}, ...}."""
    from backend.timeutil import format_time

    e = db.cluster_events.c
    out: dict[str, dict[str, Any] | None] = {}
    with db.reader(engine).connect() as conn:
        for kind in ("failover", "switchover"):
            # (Row.t is SQLAlchemy's own: the column is read by position.)
            row = conn.execute(select(e.t, e.site, e.detail).where(e.kind == kind)
                               .order_by(desc(e.t)).limit(1)).first()
            out[kind] = ({"site": row[1], "at": format_time(row[0]), "detail": row[2]}
                         if row else None)
    return out


def record(engine: Engine, kind: str, site: str | None, detail: str,
           t: int | None = None) -> None:
    with engine.begin() as conn:
        conn.execute(db.cluster_events.insert().values(
            t=time.time_ns() if t is None else t, kind=kind, site=site or "", detail=detail))


class ClusterView:
    """The cluster's status, read every `every_s` by a thread of its own in every API
    process, so that /api/v1/cluster answers at once and never waits on a site that is
    gone (a read takes up to its timeout then)."""

    def __init__(self, engine: Engine, sites: dict[str, SiteEndpoints], here: str = "",
                 every_s: float = 2.0) -> None:
        self.engine, self.sites, self.here = engine, sites, here
        self._last: ClusterStatus | None = None
        self._ticker = Ticker("cluster-view", self._refresh, every_s, first_s=0.0)

    def start(self) -> None:
        self._ticker.start()

    def stop(self) -> None:
        self._ticker.stop()

    def status(self) -> ClusterStatus:
        """The newest status read (one read now if there is none yet)."""
        return self._last if self._last is not None else self.read()

    def _refresh(self) -> None:
        self.read()

    def read(self) -> ClusterStatus:
        last = self._last
        status = read_cluster(self.sites, self.engine, here=self.here)
        try:
            events = last_events(self.engine)
        except Exception:  # no primary to read from right now: the last known
            events = {"failover": last.last_failover if last else None,
                      "switchover": last.last_switchover if last else None}
        status.last_failover, status.last_switchover = events["failover"], events["switchover"]
        self._last = status
        return status


class ClusterWatch:
    """A duty: records changes of primary and raises or clears "redundancy lost"."""

    name = "cluster-watch"

    def __init__(self, view: ClusterView, raise_alert: Any, clear_alert: Any,
                 interval_s: float = 2.0) -> None:
        self.view = view
        self.raise_alert, self.clear_alert = raise_alert, clear_alert
        self._ticker = Ticker(self.name, self.check, interval_s, first_s=interval_s)
        self._primary: str | None = None
        self._reachable: dict[str, bool] = {}
        self._lost_polls = self._ok_polls = 0
        self._seen_t = 0  # the read_t of the last status looked at

    def start(self) -> None:
        self._primary = self._recorded_primary()
        self._ticker.start()

    def stop(self) -> None:
        self._ticker.stop()

    def check(self) -> None:
        status = self.view.status()
        if status.read_t == self._seen_t:
            return  # nothing new read since the last look
        self._seen_t = status.read_t
        if status.primary and status.primary != self._primary:
            self._primary_changed(status)
        self._reachable = {s.site: s.database != "down" for s in status.sites}
        self._redundancy(status)

    def _primary_changed(self, status: ClusterStatus) -> None:
        old, new = self._primary, status.primary
        planned = self._requested(new) or (old is not None and self._reachable.get(old, False)
                                           and any(s.site == old and s.database == "replica"
                                                   for s in status.sites))
        kind = "switchover" if planned else "failover"
        if old is None:
            kind = "primary"  # the first primary this record knows: no change to report
        record(self.view.engine, kind, new, f"{old or 'none'} -> {new}",
               status.primary_since_t)
        self._primary = new
        if kind != "primary":
            log.warning("%s: the primary database is now at %s (was %s)", kind, new, old)

    def _requested(self, site: str | None) -> bool:
        e = db.cluster_events.c
        since = time.time_ns() - SWITCHOVER_WINDOW_NS
        with db.reader(self.view.engine).connect() as conn:
            return conn.execute(select(e.id).where(
                e.kind == "switchover_requested", e.t > since,
                (e.site == site) | (e.site == ""))).first() is not None

    def _recorded_primary(self) -> str | None:
        e = db.cluster_events.c
        with db.reader(self.view.engine).connect() as conn:
            row = conn.execute(select(e.site).where(e.kind.in_(
                ("primary", "failover", "switchover"))).order_by(desc(e.t)).limit(1)).first()
        return row.site if row else None

    def _redundancy(self, status: ClusterStatus) -> None:
        """Two looks in a row either way before the alert moves: a standby reconnecting
        for a moment is not a loss of redundancy."""
        if status.primary is None:
            return  # no primary: nothing can be recorded anyway; the failover is the news
        if status.redundant:
            self._ok_polls, self._lost_polls = self._ok_polls + 1, 0
            if self._ok_polls == 2:
                self.clear_alert()
        else:
            self._lost_polls, self._ok_polls = self._lost_polls + 1, 0
            if self._lost_polls == 2:
                others = [s for s in status.sites if s.site != status.primary]
                why = "; ".join(f"{s.name} database {_describe(s)}" for s in others)
                self.raise_alert(f"redundancy lost: {why}: acknowledged telemetry is on "
                                 f"{_name(status, status.primary)} only")


def _describe(s: SiteStatus) -> str:
    if s.database == "down":
        return "unreachable"
    if s.database != "replica":
        return s.database
    if not s.streaming:
        return "not replicating"
    if not s.sync:
        return "replicating asynchronously"
    return f"catching up ({s.lag_bytes} bytes behind)"


def _name(status: ClusterStatus, site: str | None) -> str:
    return next((s.name for s in status.sites if s.site == site), site or "?")
