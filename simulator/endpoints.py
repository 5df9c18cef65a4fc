"""Where a writer sends: one ingest endpoint per site, its own site's first.

In the two-site deployment each station's feed writes to the API at its own site and moves to
the other site's API when its own does not answer (no connection, no answer in time, or 5xx
or 429: the API is there but its database is not). It stays there until that one fails in
turn, then tries the next: resending is harmless, the backend keeps the first value of a
sample it already has. Given "http://akkol:8000,http://kokterek:8000" (or one URL), as
`--api-url` and KAZSAT_API_URL take it.
"""

from __future__ import annotations

import logging
import threading

log = logging.getLogger(__name__)


def split_urls(urls: str | list[str]) -> list[str]:
    """Endpoint URLs from "a,b" or a list, without trailing slashes; at least one."""
    items = urls.split(",") if isinstance(urls, str) else urls
    out = [u.strip().rstrip("/") for u in items if u.strip()]
    if not out:
        raise ValueError("no ingest endpoint URL given")
    return out


class Endpoints:
    def __init__(self, urls: str | list[str]) -> None:
        self.urls = split_urls(urls)
        self._i = 0
        self._lock = threading.Lock()

    @property
    def current(self) -> str:
        return self.urls[self._i]

    def failed(self, url: str, why: str) -> bool:
        """`url` did not take a write: move on to the next endpoint (once per failure of the
        current one; a late report about an endpoint already left changes nothing). True
        when every endpoint has now failed in turn since the first: wait before the next."""
        with self._lock:
            if url != self.urls[self._i]:
                return False
            self._i = (self._i + 1) % len(self.urls)
            if len(self.urls) > 1:
                log.warning("ingest at %s failed (%s): moving to %s", url, why[:200],
                            self.urls[self._i])
            return self._i == 0
