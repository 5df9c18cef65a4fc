"""GET /download/export: the replay page's download, streamed from the API's /api/v1/export.

The browser follows a plain link here (the guard in dashboard/session.py checks its session
first, as for every dashboard request); this route asks the API as that user and passes the
bytes on a chunk at a time, so a year of raw samples never sits in the dashboard's memory.

Query: series=<satellite|station|parameter> (repeated; the replay page's series keys),
start, end, resolution (raw, 1m, 10m, 1h, 1d) and format (csv, parquet), as the API takes
them. The API exports one satellite, link or station per request: a CSV of several is their
exports one after the other under the first one's header.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from urllib.parse import quote, urlencode

import httpx
from flask import Flask, Response, redirect, request, session

from dashboard import api_client
from dashboard.session import SessionExpired, notice_page

log = logging.getLogger(__name__)
PATH = "/download/export"
RESOLUTIONS = {"raw": "raw samples", "1m": "1 min", "10m": "10 min", "1h": "1 h", "1d": "1 d"}
FORMATS = {"csv": "CSV", "parquet": "Parquet"}


def groups(keys: list[str], known: set[tuple[str, str, str]] | None = None
           ) -> dict[tuple[str, str], list[str]]:
    """Parameters per (satellite, station): one export request each. ValueError for a key
    that is not satellite|station|parameter, or (given `known`, the mission's series as
    (satellite or "", station or "", parameter)) not a series of the mission."""
    out: dict[tuple[str, str], list[str]] = {}
    for key in keys:
        sat, sta, parameter = key.split("|")  # ValueError unless three parts
        if not parameter or (known is not None and (sat, sta, parameter) not in known):
            raise ValueError(key)
        out.setdefault((sat, sta), []).append(parameter)
    return out


def mission_series() -> set[tuple[str, str, str]] | None:
    """The mission's series as `groups` takes them; None while the API has not answered."""
    mission = api_client.mission()
    if mission is None:
        return None
    return {(sat or "", sta or "", key) for sat, sta, key in mission["series"]}


def export() -> Response:
    args = request.args
    fmt = args.get("format", "csv")
    keys = args.getlist("series")
    back = "/replay?" + urlencode({"satellite": keys[0].split("|")[0] if keys else "",
                                   **{k: args[k] for k in ("start", "end") if k in args}})
    # Everything from the browser is checked before it goes to the API: series against the
    # mission, resolution and format against the choices offered.
    resolution = args.get("resolution", "raw")
    if resolution not in RESOLUTIONS or fmt not in FORMATS:
        return refused(f"The export link asks for resolution {resolution[:20]!r} and format "
                       f"{fmt[:20]!r}; the choices are {', '.join(RESOLUTIONS)} and "
                       f"{', '.join(FORMATS)}.", back)
    known = mission_series()
    if known is None:
        return refused("The monitor's API is unreachable; try again shortly.", back, 503)
    try:
        parts = groups(keys, known)
    except ValueError as exc:
        return refused(f"The export link names a series the dashboard does not know: "
                       f"{str(exc)[:80]!r}.", back)
    if not parts:
        return refused("Choose at least one parameter to export.", back)
    if fmt == "parquet" and len(parts) > 1:
        # Parquet files do not concatenate; CSV does.
        return refused("A Parquet export takes the parameters of one satellite, link or "
                       "station; choose those, or CSV.", back)
    opened: list[httpx.Response] = []
    try:
        for (sat, sta), parameters in parts.items():
            params = [(k, args.get(k, "")) for k in ("start", "end")]
            params += [("resolution", resolution), ("format", fmt)]
            params += [(k, v) for k, v in (("satellite", sat), ("station", sta)) if v]
            params += [("parameter", p) for p in parameters]
            opened.append(api_client.stream("/api/v1/export", params))
    except SessionExpired:  # the login page says so, and comes back to replay
        _close(opened)
        session.clear()
        return redirect(f"/login?expired=1&next={quote(back, safe='')}")
    except api_client.ApiUnavailable:
        _close(opened)
        return refused("The monitor's API is unreachable; try again shortly.", back, 503)
    except httpx.HTTPStatusError as exc:
        _close(opened)
        return refused(f"The API refused the export: {_reason(exc.response)}.", back,
                       exc.response.status_code)
    first = opened[0].headers
    headers = {k: first[k] for k in ("content-disposition",) if k in first}
    return Response(_chunks(opened), headers=headers,
                    mimetype=first.get("content-type", "application/octet-stream"))


def _chunks(opened: list[httpx.Response]) -> Iterator[bytes]:
    """Each export's bytes in turn, later CSVs without their header line; every stream is
    closed at the end, or when the browser goes away (the server closes this generator)."""
    try:
        for i, response in enumerate(opened):
            header = i > 0
            for chunk in response.iter_bytes():
                if header:
                    _, newline, chunk = chunk.partition(b"\n")
                    header = not newline
                if chunk:
                    yield chunk
    except httpx.HTTPError as exc:
        # Headers are sent: all that is left is to end the download unfinished, which the
        # browser shows as failed rather than as a short file.
        log.warning("export stream from the API broke off: %s", exc)
        raise
    finally:
        _close(opened)


def _close(opened: list[httpx.Response]) -> None:
    for response in opened:
        response.close()


def _reason(response: httpx.Response) -> str:
    try:
        message = str(response.json().get("message") or "")
    except ValueError:
        message = ""
    return message or f"HTTP {response.status_code}"


def refused(message: str, back: str, status: int = 400) -> Response:
    return notice_page("Export refused", message, back, status)


def install(server: Flask) -> None:
    server.add_url_rule(PATH, "kz_export", export, methods=["GET"])
