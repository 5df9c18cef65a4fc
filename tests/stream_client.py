"""A test's subscriber to the API's live stream (GET /api/v1/stream): Server-Sent Events read
one event at a time over a real connection."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from kazsat.stack import Stack


@dataclass
class Event:
    name: str
    id: int | None
    data: Any


class StreamReader:
    def __init__(self, stack: Stack, token: str, params: dict | list | None = None,
                 last_id: int | None = None) -> None:
        headers = {"Authorization": f"Token {token}"}
        if last_id is not None:
            headers["Last-Event-ID"] = str(last_id)
        self.client = httpx.Client(base_url=stack.api_url, timeout=httpx.Timeout(20.0))
        self.response = self.client.send(
            self.client.build_request("GET", "/api/v1/stream", params=params, headers=headers),
            stream=True)
        self._lines = self.response.iter_lines()
        self.last_id: int | None = None

    def next(self) -> Event | None:
        """The next event, or None when the stream ended."""
        fields: dict[str, str] = {}
        for line in self._lines:
            if not line:
                if "event" in fields or "data" in fields:
                    break
                continue
            key, _, value = line.partition(":")
            fields[key] = value.removeprefix(" ")
        else:
            if not fields:
                return None
        event_id = int(fields["id"]) if fields.get("id") else None
        if event_id is not None:
            self.last_id = event_id
        return Event(fields.get("event", "message"), event_id,
                     orjson.loads(fields["data"]) if fields.get("data") else None)

    def until(self, found: Callable[[Event], bool], what: str, limit_s: float = 30) -> Event:
        """Read events until one is `found`; fail naming `what` when the stream ends or
        `limit_s` passes (a bound on a broken test, not a timing requirement)."""
        deadline = time.monotonic() + limit_s
        seen = []
        while time.monotonic() < deadline:
            event = self.next()
            if event is None:
                raise AssertionError(f"stream ended before {what}; saw {seen[-5:]}")
            if found(event):
                return event
            seen.append(event.name)
        raise AssertionError(f"no {what} within {limit_s} s; saw {seen[-5:]}")

    def close(self) -> None:
        self.response.close()
        self.client.close()

    def __enter__(self) -> StreamReader:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def rows_of(event: Event) -> dict[tuple, dict]:
    """An update's or snapshot's series rows by (satellite, station, parameter)."""
    return {(r["satellite"], r["station"], r["parameter"]): r
            for r in (event.data or {}).get("series", [])}
