"""The dashboard's live-page stream (/live/stream, a WebSocket) of real processes: only a
signed-in browser of this site gets one; it brings the page's cells and then only those
that changed; a session ended elsewhere sends the page to sign in again."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import websockets

from kazsat.stack import Stack
from tests.browser.feed import Feeder

PASSWORD = "akkol-control-room"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = Stack(Path(tmp_path_factory.mktemp("dash-stream")) / "data")
    s.add_user("vera", "viewer", PASSWORD)
    s.start_api()
    feeder = Feeder(s)
    feeder.write_now()
    feeder.start()
    s.start_dashboard()
    yield s
    feeder.stop()
    s.stop()


@contextmanager
def signed_in(stack: Stack) -> Iterator[httpx.Client]:
    """A browser-like client signed in to the dashboard (its session cookie in hand)."""
    with httpx.Client(base_url=stack.dashboard_url, timeout=60) as c:
        csrf = re.search(r"name='csrf' value='([^']+)'", c.get("/login").text).group(1)
        r = c.post("/login", data={"csrf": csrf, "username": "vera", "password": PASSWORD})
        assert r.status_code == 303, r.text
        yield c


def messages(stack: Stack, path: str, cookie: str | None, count: int,
             origin: str | None = None) -> list[dict]:
    """The first `count` messages of the page's stream (fewer when it closes)."""
    async def run() -> list[dict]:
        headers = {"Origin": origin or stack.dashboard_url}
        if cookie:
            headers["Cookie"] = f"kazsat_session={cookie}"
        url = stack.dashboard_url.replace("http://", "ws://") + f"/live/stream?path={path}"
        got: list[dict] = []
        async with websockets.connect(url, additional_headers=headers) as ws:
            try:
                while len(got) < count:
                    got.append(json.loads(await asyncio.wait_for(ws.recv(), 30)))
            except websockets.ConnectionClosed as exc:
                got.append({"closed": exc.rcvd.code if exc.rcvd else None})
        return got

    return asyncio.run(run())


def cells_of(models: list[dict]) -> list[dict]:
    """Each model's cells by key, as assets/live.js reads them (cells come numbered)."""
    keys: dict[str, str] = {}
    out = []
    for m in models:
        keys.update(m.get("k", {}))
        out.append({keys[str(e[0])]: e[1:] for e in m["c"]})
    return out


def test_a_page_gets_its_cells_then_only_what_changed(stack: Stack) -> None:
    with signed_in(stack) as c:
        first, *rest = messages(stack, "/", c.cookies.get("kazsat_session"), 4)
    assert all(m["event"] == "model" for m in (first, *rest)), rest
    cells, *later = cells_of([m["data"] for m in (first, *rest)])
    assert cells["kazsat-2||bus_voltage"][1] == "n" and "banner|asof" in cells
    assert len(cells) > 50  # every cell of the overview
    # The feeder writes the same values each second: what follows is the time, little else.
    assert all(len(c) < 10 for c in later), later


def test_a_satellite_page_gets_points_for_its_charts(stack: Stack) -> None:
    with signed_in(stack) as c:
        got = messages(stack, "/satellite/kazsat-3", c.cookies.get("kazsat_session"), 6)
    full, *later = cells_of([m["data"] for m in got])
    assert not any(k.startswith("kazsat-2||") for k in full)
    # The feeder's next write: a new point for every series, though its value is the same.
    i, entry = next((i, cells["kazsat-3||bus_voltage"]) for i, cells in enumerate(later)
                    if "kazsat-3||bus_voltage" in cells)
    assert entry[1] == "n" and got[i + 1]["data"]["times"][entry[2]].endswith("Z")


def test_no_stream_without_a_session_or_from_another_site(stack: Stack) -> None:
    assert messages(stack, "/", None, 1) == [{"closed": 4401}]
    with signed_in(stack) as c:
        cookie = c.cookies.get("kazsat_session")
        assert messages(stack, "/nowhere", cookie, 1) == [{"closed": 4404}]
        with pytest.raises(websockets.InvalidStatus, match="403"):
            messages(stack, "/", cookie, 1, origin="http://elsewhere.example")


def test_a_session_ended_elsewhere_sends_the_page_to_sign_in(stack: Stack) -> None:
    with signed_in(stack) as c:
        cookie = c.cookies.get("kazsat_session")
        c.get("/logout")  # ends the API session; this browser's cookie is kept here
        got = messages(stack, "/", cookie, 3)
    assert {"closed": 4401} in got or any(m.get("event") == "session" for m in got), got
