"""The InfluxDB 2.x time-series store, on influxdb-client.

Series map to InfluxDB as on the wire: measurement = the parameter's subsystem, tags
satellite and station (only those the series has), field = the parameter key, value = the
stored float (bools 0/1, enums their index, as in SQL). Relational state stays in SQL.

What differs from the SQL store (docs/deployment.md):
- no rollups: InfluxDB aggregates at query time (`aggregateWindow` with min, max, mean,
  count), so query time grows with the range, and the store has no `rebuild_rollups`
  (`kazsat db rebuild-rollups` says so);
- the latest values are the last points up to the server clock plus the clock tolerance,
  found at read time (the SQL store keeps a table of them);
- a sample sent again for the same series and time overwrites (the last write wins), and
  `write` returns every sample it sent, not only the new ones;
- a batch larger than `chunk_points` goes as several requests: not all-or-nothing.
"""

from __future__ import annotations

import calendar
import logging
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import numpy as np

from backend.series import SeriesInfo, SeriesRegistry
from backend.settings import Settings
from backend.store.base import CLOCK_TOLERANCE_S, NS, Batch, Buckets, RangeResult, StoreUnavailable

if TYPE_CHECKING:  # imported where used: the SQL stores need no influxdb-client
    from influxdb_client import InfluxDBClient

log = logging.getLogger(__name__)
EPOCH = "1970-01-01T00:00:00Z"
RETRY_STATUS = {429, 500, 502, 503, 504}
AGGREGATES = ("min", "max", "mean", "count")
EXPORT_AGGREGATES = ("min", "max", "mean", "count", "first", "last")


# ---- line protocol and Flux text: plain functions, tested without a server ----------------

def _escape_key(text: str) -> str:
    return text.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


def line_prefix(info: SeriesInfo) -> str:
    """`measurement,tag=v field=` for a series; tags in key order, as InfluxDB sorts them."""
    tags = "".join(f",{k}={_escape_key(v)}" for k, v in (("satellite", info.satellite),
                                                         ("station", info.station)) if v)
    measurement = info.parameter.subsystem.replace(",", "\\,").replace(" ", "\\ ")
    return f"{measurement}{tags} {_escape_key(info.parameter.key)}="


def lines(prefixes: dict[int, str], batch: Batch) -> list[str]:
    """One line per sample: a float field (repr keeps every bit) and a ns timestamp."""
    return [f"{prefixes[s]}{v!r} {t}" for s, t, v in
            zip(batch.series_ids, batch.times, batch.values)]


def flux_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def flux_time(t_ns: int) -> str:
    """An RFC 3339 time literal with nanoseconds (Flux reads integers in range() as seconds)."""
    seconds, ns = divmod(t_ns, NS)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{ns:09d}Z"


def flux_duration(ns: int) -> str:
    return f"{ns // NS}s" if ns % NS == 0 else f"{ns}ns"


def series_filter(info: SeriesInfo) -> str:
    """Exactly one series: a tag the series lacks must be absent, not merely anything."""
    parts = [f"r._measurement == {flux_string(info.parameter.subsystem)}",
             f"r._field == {flux_string(info.parameter.key)}"]
    for tag, value in (("satellite", info.satellite), ("station", info.station)):
        parts.append(f"r.{tag} == {flux_string(value)}" if value else f"not exists r.{tag}")
    return " and ".join(parts)


def source(bucket: str, start_ns: int | None, end_ns: int, info: SeriesInfo | None) -> str:
    start = flux_time(start_ns) if start_ns is not None else EPOCH
    text = (f"from(bucket: {flux_string(bucket)})\n"
            f"  |> range(start: {start}, stop: {flux_time(end_ns)})")
    if info is not None:
        text += f"\n  |> filter(fn: (r) => {series_filter(info)})"
    return text


def last_query(bucket: str, stop_ns: int) -> str:
    """Every series' last point before stop_ns: `last()` per table (= per series and field),
    a selector InfluxDB answers from its index (pushed down to storage)."""
    return source(bucket, None, stop_ns, None) + "\n  |> last()"


def raw_query(bucket: str, info: SeriesInfo, start_ns: int, end_ns: int,
              limit: int | None = None) -> str:
    text = source(bucket, start_ns, end_ns, info)
    if limit is not None:
        text += f"\n  |> limit(n: {limit})"
    return text + '\n  |> keep(columns: ["_time", "_value"])'


def window_query(bucket: str, info: SeriesInfo, start_ns: int, end_ns: int, every_ns: int,
                 aggregates: tuple[str, ...] = AGGREGATES) -> str:
    """One row per non-empty window with a column per aggregate. Each aggregate is its own
    `aggregateWindow` pipeline (InfluxDB pushes those down to storage), unioned, then
    pivoted. Windows are aligned on the epoch; `_time` is the window's (clipped) start."""
    every = flux_duration(every_ns)
    parts = [source(bucket, start_ns, end_ns, info).replace("\n", "\n  ") +
             f"\n    |> aggregateWindow(every: {every}, fn: {fn}, createEmpty: false, "
             f'timeSrc: "_start")\n    |> keep(columns: ["_time", "_value"])'
             f'\n    |> toFloat()\n    |> set(key: "agg", value: "{fn}")'
             for fn in aggregates]
    return ("union(tables: [\n  " + ",\n  ".join(parts) + ",\n])\n  |> group()\n"
            '  |> pivot(rowKey: ["_time"], columnKey: ["agg"], valueColumn: "_value")\n'
            '  |> sort(columns: ["_time"])')


def window_for(span_ns: int, max_points: int) -> int:
    """The window (ns) that keeps a range within max_points windows, however its edges fall
    on the epoch-aligned grid: whole seconds once it is a second or more."""
    need = -(-span_ns // max(max_points - 1, 1))
    return -(-need // NS) * NS if need >= NS else max(need, 1)


def parse_time(text: str) -> int:
    """RFC 3339 (as InfluxDB writes `_time`) to ns, keeping all nine digits."""
    whole, _, frac = text.rstrip("Z").partition(".")
    seconds = calendar.timegm(datetime.fromisoformat(whole).timetuple())
    return seconds * NS + int((frac + "000000000")[:9])


def csv_rows(rows: Iterator[list[str]]) -> Iterator[dict[str, str]]:
    """Flux's CSV (header rows, no annotations) as dicts. Each table whose columns differ
    starts with a new header row (`,result,table,...`); an `,error,reference` table means
    the query failed part-way."""
    header: list[str] = []
    for row in rows:
        if len(row) < 2:
            continue  # the blank line between tables
        if row[0] == "" and row[1] in ("result", "error"):
            header = row
            continue
        record = dict(zip(header, row))
        if "error" in header:
            raise StoreUnavailable(f"the store is unavailable: InfluxDB query failed: "
                                   f"{record.get('error') or row}")
        yield record


# ---- the store ----------------------------------------------------------------------------

class InfluxStore:
    def __init__(self, client: InfluxDBClient, bucket: str, registry: SeriesRegistry,
                 retries: int = 5, chunk_points: int = 5000,
                 sleep: Callable[[float], None] = time.sleep,
                 clock_tolerance_s: float = CLOCK_TOLERANCE_S) -> None:
        from influxdb_client.client.write_api import SYNCHRONOUS

        self.client, self.bucket, self.registry = client, bucket, registry
        # Synchronous: write() returns once InfluxDB has the points, so the API answers 204
        # only for stored data and 503 when it could not store them (the batching WriteApi
        # would accept and lose them in the background).
        self.write_api = client.write_api(write_options=SYNCHRONOUS)
        self.query_api = client.query_api()
        self.retries, self.chunk_points, self._sleep = retries, chunk_points, sleep
        self.tolerance_ns = int(clock_tolerance_s * NS)
        self.prefixes = {sid: line_prefix(info) for sid, info in registry.by_id.items()}
        self.by_key = {(i.parameter.subsystem, i.satellite or "", i.station or "",
                        i.parameter.key): sid for sid, i in registry.by_id.items()}

    @classmethod
    def from_settings(cls, settings: Settings, registry: SeriesRegistry) -> InfluxStore:
        from influxdb_client import InfluxDBClient

        if not settings.influx_token:
            raise ValueError("the InfluxDB store needs KAZSAT_INFLUX_TOKEN")
        client = InfluxDBClient(url=settings.influx_url, token=settings.influx_token,
                                org=settings.influx_org,
                                timeout=int(settings.influx_timeout_s * 1000))
        log.info("InfluxDB store at %s, org %s, bucket %s", settings.influx_url,
                 settings.influx_org, settings.influx_bucket)
        return cls(client, settings.influx_bucket, registry, settings.influx_write_retries,
                   clock_tolerance_s=settings.clock_tolerance_s)

    @classmethod
    def from_url(cls, url: str, registry: SeriesRegistry,
                 settings: Settings | None = None) -> InfluxStore:
        """`influxdb://ORG:TOKEN@HOST:PORT/BUCKET` (`influxdb+https://` for TLS); an org,
        token or bucket left out comes from the settings (KAZSAT_INFLUX_*)."""
        settings = settings or Settings()
        u = urlsplit(url)
        if u.scheme not in ("influxdb", "influxdb+http", "influxdb+https"):
            raise ValueError(f"not an InfluxDB store URL: {u.scheme}://")
        scheme = "https" if u.scheme.endswith("https") else "http"
        server = f"{scheme}://{u.hostname}:{u.port or 8086}"
        return cls.from_settings(settings.model_copy(update={
            "influx_url": server, "influx_org": unquote(u.username or "") or settings.influx_org,
            "influx_token": unquote(u.password or "") or settings.influx_token,
            "influx_bucket": u.path.strip("/") or settings.influx_bucket}), registry)

    # ---- writing --------------------------------------------------------------------------

    def write(self, batch: Batch, now_ns: int | None = None) -> Batch:
        """Points ahead of the clock are written like any other: `latest` leaves them out
        when it reads, so `now_ns` has nothing to decide here."""
        if not batch:
            return batch
        sids = np.asarray(batch.series_ids, dtype=np.int64)
        ts = np.asarray(batch.times, dtype=np.int64)
        vs = np.asarray(batch.values, dtype=np.float64)
        if not np.isfinite(vs).all():
            raise ValueError("sample values must be finite numbers")
        order = np.lexsort((ts, sids))
        sids, ts, vs = sids[order], ts[order], vs[order]
        # The same sample twice in one batch: InfluxDB keeps the later one; say so.
        keep = np.concatenate(((sids[1:] != sids[:-1]) | (ts[1:] != ts[:-1]), [True]))
        unique = Batch(sids[keep].tolist(), ts[keep].tolist(), vs[keep].tolist())
        body = lines(self.prefixes, Batch(batch.series_ids, batch.times, batch.values))
        for i in range(0, len(body), self.chunk_points):
            self._post("\n".join(body[i:i + self.chunk_points]))
        return unique

    def _post(self, body: str) -> None:
        """One write request, retried with exponential backoff (honouring Retry-After) on
        429, 5xx and connection errors; anything else, or the last failure, is a 503."""
        from influxdb_client.client.exceptions import InfluxDBError

        delay = 1.0
        for attempt in range(self.retries + 1):
            try:
                # The parameter is annotated WritePrecision, yet that class's constants are
                # plain strings ("ns") and the client takes them: a gap in its annotations.
                self.write_api.write(bucket=self.bucket, record=body,
                                     write_precision="ns")  # type: ignore[arg-type]
                return
            except InfluxDBError as exc:
                status = getattr(exc, "status", None) or getattr(exc.response, "status", None)
                retry = status in RETRY_STATUS or status is None
                reason = f"InfluxDB refused the write ({status}): {exc.message}"
                retry_after = getattr(exc, "retry_after", None)
                wait = float(retry_after) if retry_after else delay
            except OSError as exc:  # connection refused or reset, timeouts (urllib3 too)
                retry, reason, wait = True, f"InfluxDB is unreachable: {exc}", delay
            except Exception as exc:  # urllib3's MaxRetryError and kin are not OSErrors
                if type(exc).__module__.split(".")[0] != "urllib3":
                    raise
                retry, reason, wait = True, f"InfluxDB is unreachable: {exc}", delay
            if not retry or attempt == self.retries:
                raise StoreUnavailable(f"the store is unavailable: {reason}")
            log.warning("%s; retrying in %.1f s (%d/%d)", reason, wait, attempt + 1,
                        self.retries)
            self._sleep(wait)
            delay = min(delay * 2, 30.0)

    # ---- reading --------------------------------------------------------------------------

    def _query(self, flux: str) -> Iterator[dict[str, str]]:
        from influxdb_client.domain.dialect import Dialect

        try:
            rows = self.query_api.query_csv(flux, dialect=Dialect(
                header=True, delimiter=",", annotations=[], date_time_format="RFC3339Nano"))
            yield from csv_rows(iter(rows))
        except StoreUnavailable:
            raise
        except Exception as exc:
            if type(exc).__module__.split(".")[0] not in ("influxdb_client", "urllib3") and \
                    not isinstance(exc, OSError):
                raise
            text = getattr(exc, "message", None) or str(exc)
            raise StoreUnavailable(f"the store is unavailable: InfluxDB: {text}") from exc

    def _last(self, stop_ns: int) -> dict[int, tuple[int, float]]:
        out: dict[int, tuple[int, float]] = {}
        for r in self._query(last_query(self.bucket, stop_ns)):
            sid = self.by_key.get((r.get("_measurement", ""), r.get("satellite", ""),
                                   r.get("station", ""), r.get("_field", "")))
            if sid is not None:  # other writers' series in the bucket are not ours
                out[sid] = (parse_time(r["_time"]), _number(r["_value"]))
        return out

    def latest(self, now_ns: int | None = None) -> dict[int, tuple[int, float]]:
        # Points further ahead are stored for replay but are not the present.
        return self._last((time.time_ns() if now_ns is None else now_ns) + self.tolerance_ns + 1)

    def at(self, t_ns: int) -> dict[int, tuple[int, float]]:
        return self._last(t_ns + 1)  # range() stops before its stop

    def range(self, series_id: int, start_ns: int, end_ns: int, max_points: int) -> RangeResult:
        info = self.registry.by_id[series_id]
        raw = sorted((parse_time(r["_time"]), _number(r["_value"])) for r in self._query(
            raw_query(self.bucket, info, start_ns, end_ns, max_points + 1)))
        if len(raw) <= max_points:
            return RangeResult("raw", None, [t for t, _ in raw], values=[v for _, v in raw])
        every = window_for(end_ns - start_ns, max_points)
        rows = list(self._query(window_query(self.bucket, info, start_ns, end_ns, every)))
        # The first window's _time is the range start (clipped): report the grid edge.
        times = [parse_time(r["_time"]) // every * every for r in rows]
        buckets = Buckets(times, [_number(r["min"]) for r in rows],
                          [_number(r["max"]) for r in rows], [_number(r["mean"]) for r in rows],
                          [int(_number(r["count"])) for r in rows])
        return RangeResult(flux_duration(every), every / NS, times, buckets=buckets)

    def export(self, series_ids: list[int], start_ns: int, end_ns: int,
               level_s: int | None) -> Iterator[tuple[Any, ...]]:
        for sid in series_ids:
            info = self.registry.by_id[sid]
            if level_s is None:
                for r in self._query(raw_query(self.bucket, info, start_ns, end_ns)):
                    yield sid, parse_time(r["_time"]), _number(r["_value"])
                continue
            # Whole windows starting in [start, end), as the SQL store's rollup rows.
            w = level_s * NS
            a, b = -(-start_ns // w) * w, -(-end_ns // w) * w
            if a >= b:
                continue
            for r in self._query(window_query(self.bucket, info, a, b, w, EXPORT_AGGREGATES)):
                yield (sid, parse_time(r["_time"]), *(_number(r[k]) for k in ("min", "max",
                       "mean")), int(_number(r["count"])), _number(r["first"]),
                       _number(r["last"]))

    def close(self) -> None:
        self.write_api.close()
        self.client.close()


def _number(text: str) -> float:
    return 1.0 if text == "true" else 0.0 if text == "false" else float(text)

