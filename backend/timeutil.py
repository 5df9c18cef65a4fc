"""Times at the edges: RFC 3339 text <-> integer nanoseconds since the epoch, UTC."""

from __future__ import annotations

import datetime as dt
import time

UTC = dt.UTC
# Times as int64 ns end in 2262; nothing this system stores lies outside these.
EARLIEST = dt.datetime(1970, 1, 1, tzinfo=UTC)
LATEST = dt.datetime(2200, 1, 1, tzinfo=UTC)


def parse_time(text: str, name: str) -> int:
    """RFC 3339 (a naive time is taken as UTC) or 'now', as ns; ValueError naming `name`."""
    if text == "now":
        return time.time_ns()
    try:
        value = dt.datetime.fromisoformat(text.strip().replace("z", "Z"))
    except ValueError:
        raise ValueError(f"{name}: {text!r} is not an RFC 3339 time "
                         "such as 2026-11-25T12:00:00Z") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    if not EARLIEST <= value < LATEST:
        raise ValueError(f"{name}: {text.strip()!r} is outside "
                         f"{EARLIEST:%Y-%m-%d}..{LATEST:%Y-%m-%d}")
    delta = value - dt.datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


def format_time(t_ns: int) -> str:
    """ns -> '2026-11-25T12:00:00.123Z' (millisecond precision)."""
    seconds, ns = divmod(t_ns, 1_000_000_000)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return f"{stamp}.{ns // 1_000_000:03d}Z"
