"""The live stream (GET /api/v1/stream) of a real API process: subscribe and receive, resume
after a dropped connection without a gap, role rules, sessions and tokens that stop being
good, limits, and a stalled subscriber that holds up neither ingest nor anyone else."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from backend.timeutil import format_time
from kazsat.stack import Stack
from tests.browser.feed import Feeder
from tests.stream_client import StreamReader, rows_of

PASSWORD = "steppe-wind-1997"
QUEUE = 8  # updates a subscriber may fall behind (small, so the stalled test is quick)
SESSION_MAX_S = 8  # sessions here end this long after login


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = Stack(Path(tmp_path_factory.mktemp("stream")) / "data", extra_env={
        "KAZSAT_STREAM_QUEUE_EVENTS": str(QUEUE), "KAZSAT_STREAM_SEND_TIMEOUT_S": "2",
        "KAZSAT_STREAM_MAX_PER_USER": "3", "KAZSAT_SESSION_MAX_S": str(SESSION_MAX_S),
        "KAZSAT_LOGIN_MAX_FAILURES_PER_ADDRESS": "1000"})
    for name, role in (("vera", "viewer"), ("oleg", "operator"), ("newbie", "viewer"),
                       ("wall", "viewer"), ("frozen", "viewer")):
        s.add_user(name, role, PASSWORD, must_change=name == "newbie")
    s.start_api()
    yield s
    s.stop()


def write(stack: Stack, lines: str) -> None:
    r = stack.write(lines)
    assert r.status_code == 204, r.text


def voltage(stack: Stack, value: float, sat: str = "kazsat-2") -> int:
    """Write one bus voltage sample now; its time."""
    t = time.time_ns()
    write(stack, f"power,satellite={sat} bus_voltage={value} {t}")
    return t


def is_update_with(key: tuple, value: object) -> object:
    return lambda e: e.name == "update" and rows_of(e).get(key, {}).get("value") == value


BUS = ("kazsat-2", None, "bus_voltage")


def test_subscribe_then_receive_samples_as_they_are_stored(stack: Stack) -> None:
    voltage(stack, 100.1)
    with StreamReader(stack, stack.tokens["viewer"], {"satellite": "kazsat-2"}) as s:
        snap = s.next()
        assert snap.name == "snapshot" and snap.id is not None
        assert rows_of(snap)[BUS]["value"] == 100.1
        assert {"nominal", "warning", "critical", "stale", "links_out_of_lock",
                "alerts"} <= set(snap.data["summary"])
        t = voltage(stack, 100.2)
        update = s.until(is_update_with(BUS, 100.2), "the new sample")
        assert update.id > snap.id
        assert rows_of(update)[BUS] == {"satellite": "kazsat-2", "station": None,
                                        "parameter": "bus_voltage", "subsystem": "power",
                                        "time": format_time(t), "value": 100.2,
                                        "state": "nominal"}
        # Another satellite's sample is not for this subscriber.
        voltage(stack, 99.5, "kazsat-3")
        t = voltage(stack, 100.3)
        update = s.until(lambda e: e.name == "update", "the next update")
        assert all(r["satellite"] == "kazsat-2" for r in update.data["series"]), update.data


def test_history_and_samples_ahead_of_the_clock_are_not_the_present(stack: Stack) -> None:
    t = voltage(stack, 100.0)
    with StreamReader(stack, stack.tokens["viewer"], {"satellite": "kazsat-2",
                                                      "parameter": "bus_voltage"}) as s:
        s.next()
        write(stack, f"power,satellite=kazsat-2 bus_voltage=99.0 {t - 60 * 10**9}\n"
                     f"power,satellite=kazsat-2 bus_voltage=99.1 {t + 3600 * 10**9}")
        voltage(stack, 100.4)
        update = s.until(lambda e: e.name == "update", "an update")
        assert rows_of(update)[BUS]["value"] == 100.4, update.data


def test_resume_after_a_dropped_connection_gets_what_was_missed(stack: Stack) -> None:
    with StreamReader(stack, stack.tokens["viewer"], {"satellite": "kazsat-2",
                                                      "parameter": "bus_voltage"}) as s:
        s.next()
        voltage(stack, 100.5)
        s.until(is_update_with(BUS, 100.5), "the first sample")
        last = s.last_id
    missed = [100.6, 100.7, 100.8]
    for v in missed:
        voltage(stack, v)
    with StreamReader(stack, stack.tokens["viewer"], {"satellite": "kazsat-2",
                                                      "parameter": "bus_voltage"},
                      last_id=last) as s:
        got, ids = [], []
        while len(got) < len(missed):
            e = s.next()
            assert e is not None and e.name in ("update", "heartbeat"), e
            if e.name == "update":
                got.append(rows_of(e)[BUS]["value"])
                ids.append(e.id)
        assert got == missed  # no snapshot first: exactly what was missed, in order
        assert ids[0] > last and ids == sorted(ids)
        voltage(stack, 100.9)
        s.until(is_update_with(BUS, 100.9), "live updates after the missed ones")


def test_a_position_no_longer_held_is_told_to_refetch(stack: Stack) -> None:
    voltage(stack, 101.0)
    with StreamReader(stack, stack.tokens["viewer"], {"satellite": "kazsat-2"},
                      last_id=1) as s:
        first, second = s.next(), s.next()
        assert first.name == "refetch", first
        assert second.name == "snapshot" and rows_of(second)[BUS]["value"] == 101.0


def test_heartbeats_carry_the_position_when_nothing_is_for_the_subscriber(stack: Stack) -> None:
    with StreamReader(stack, stack.tokens["viewer"], {"station": "akkol"}) as s:
        snap = s.next()
        voltage(stack, 100.0)  # not for this subscriber
        beat = s.until(lambda e: e.name == "heartbeat" and e.id is not None
                       and e.id > snap.id, "a heartbeat past the write")
        assert beat.data["now"].endswith("Z")


@pytest.mark.parametrize(("who", "status"), [("none", 401), ("ingest", 403), ("wrong", 401),
                                             ("must change password", 403)])
def test_refused_as_the_read_routes_refuse(stack: Stack, who: str, status: int) -> None:
    token = {"none": None, "ingest": stack.tokens["ingest"], "wrong": "ksat_nope"}.get(who) \
        or stack.login("newbie", PASSWORD)
    headers = {"Authorization": f"Token {token}"} if who != "none" else {}
    with httpx.stream("GET", f"{stack.api_url}/api/v1/stream", headers=headers,
                      timeout=20) as r:
        r.read()
    assert r.status_code == status, r.text
    assert r.json()["message"]


def test_unknown_series_and_bad_positions_are_400_or_404(stack: Stack) -> None:
    with stack.client() as c:
        assert c.get("/api/v1/stream", params={"satellite": "kazsat-9"}).status_code == 404
        r = c.get("/api/v1/stream", params={"parameter": "warp_factor"})
        assert r.status_code == 404 and "warp_factor" in r.json()["message"]
        r = c.get("/api/v1/stream", headers={"Last-Event-ID": "yesterday"})
        assert r.status_code == 400 and "Last-Event-ID" in r.json()["message"]


def test_a_viewer_and_an_operator_see_the_same_read_only_stream(stack: Stack) -> None:
    """What the stream carries needs only the read permission, as /latest and /alerts: a
    viewer's stream has exactly an operator's events, nothing more or less; and nothing in
    it is an action (acknowledge, shelve) or an operator's control."""
    readers = {who: StreamReader(stack, stack.login(who, PASSWORD),
                                 {"satellite": "kazsat-2", "parameter": "bus_voltage"})
               for who in ("vera", "oleg")}
    try:
        for s in readers.values():
            s.next()
        voltage(stack, 100.11)
        got = {who: s.until(is_update_with(BUS, 100.11), f"{who}'s update").data
               for who, s in readers.items()}
        assert got["vera"] == got["oleg"]
        assert set(got["vera"]) <= {"seq", "series", "alerts", "summary"}
    finally:
        for s in readers.values():
            s.close()


def test_breach_brings_the_state_the_alert_and_the_counts(stack: Stack) -> None:
    voltage(stack, 100.0, "kazsat-3")
    key = ("kazsat-3", None, "bus_voltage")
    with StreamReader(stack, stack.tokens["operator"], {"satellite": "kazsat-3"}) as s:
        s.next()
        t = time.time_ns()
        write(stack, "\n".join(f"power,satellite=kazsat-3 bus_voltage=95.0 {t + i * 10**6}"
                               for i in range(4)))  # persistence 3: critical now
        critical, raised = None, None  # the alert's update comes first: it is recorded
        while not (critical and raised):  # while the batch is checked
            e = s.until(lambda e: e.name == "update", "the breach")
            if rows_of(e).get(key, {}).get("state") == "critical":
                critical = e
            raised = raised or next((a for a in e.data.get("alerts", [])
                                     if a["satellite"] == "kazsat-3"
                                     and a["parameter"] == "bus_voltage"
                                     and a["state"] == "critical"), None)
        assert critical.data["summary"]["critical"] >= 1
        with stack.client("operator") as c:
            assert c.post(f"/api/v1/alerts/{raised['id']}/ack",
                          json={"comment": "seen"}).status_code == 200
        acked = s.until(lambda e: e.name == "update" and any(
            a["id"] == raised["id"] and a["acked_by"] for a in e.data.get("alerts", [])),
            "the acknowledgement")
        assert acked.data["alerts"][0]["ack_comment"] == "seen"
        write(stack, "\n".join(f"power,satellite=kazsat-3 bus_voltage=100.0 {t + i * 10**6}"
                               for i in range(10, 12)))
        s.until(lambda e: e.name == "update" and any(
            a["id"] == raised["id"] and a["state"] == "cleared"
            for a in e.data.get("alerts", [])), "the alert cleared")


def test_a_series_gone_quiet_turns_stale_on_the_stream(stack: Stack) -> None:
    # Roll error is sampled every second and stale after three: written once, it goes stale.
    write(stack, f"aocs,satellite=kazsat-3 roll_error=0.01 {time.time_ns()}")
    key = ("kazsat-3", None, "roll_error")
    with StreamReader(stack, stack.tokens["viewer"], {"satellite": "kazsat-3",
                                                      "parameter": "roll_error"}) as s:
        s.next()
        s.until(lambda e: e.name == "update" and rows_of(e).get(key, {}).get("state")
                == "stale", "the series gone stale")
        write(stack, f"aocs,satellite=kazsat-3 roll_error=0.02 {time.time_ns()}")
        back = s.until(lambda e: e.name == "update" and key in rows_of(e), "a fresh sample")
        assert rows_of(back)[key]["state"] == "nominal"


def test_an_ended_session_closes_its_stream(stack: Stack) -> None:
    """A session ends SESSION_MAX_S after login: its stream is told so and closed."""
    token = stack.login("vera", PASSWORD)
    with StreamReader(stack, token, {"satellite": "kazsat-2"}) as s:
        s.next()
        closed = s.until(lambda e: e.name == "closed", "the stream closed",
                         limit_s=SESSION_MAX_S + 20)
        assert closed.data["code"] == "unauthorized"
        assert s.next() is None  # and the connection ends


def test_logging_out_closes_the_stream(stack: Stack) -> None:
    token = stack.login("vera", PASSWORD)
    with StreamReader(stack, token, {"satellite": "kazsat-2"}) as s:
        s.next()
        with stack.as_token(token) as c:
            assert c.post("/api/v1/auth/logout").status_code == 204
        s.until(lambda e: e.name == "closed", "the stream closed")


def test_subscribers_are_limited_per_user_with_a_clear_refusal(stack: Stack) -> None:
    token = stack.login("wall", PASSWORD)
    open_ = [StreamReader(stack, token, {"station": "akkol"}) for _ in range(3)]
    try:
        for s in open_:
            assert s.next().name == "snapshot"
        with httpx.stream("GET", f"{stack.api_url}/api/v1/stream",
                          headers={"Authorization": f"Token {token}"}, timeout=20) as r:
            r.read()
        assert r.status_code == 429
        assert "wall has 3 live streams open" in r.json()["message"]
        assert r.headers["retry-after"]
        with StreamReader(stack, stack.tokens["viewer"], {"station": "akkol"}) as other:
            assert other.next().name == "snapshot"  # another user is not held back
    finally:
        for s in open_:
            s.close()
    deadline = time.monotonic() + 30  # the closed ones' places come free
    while True:
        with httpx.stream("GET", f"{stack.api_url}/api/v1/stream",
                          headers={"Authorization": f"Token {token}"}, timeout=20) as r:
            if r.status_code == 200:
                break
        assert time.monotonic() < deadline, "closed streams still count against the user"
        time.sleep(0.2)


def test_streams_left_while_the_api_was_stopped_are_released_when_it_resumes(
        stack: Stack) -> None:
    """Subscribers that give up while the API process is stopped (SIGSTOP, a paused VM) are
    let go when it resumes: their places come free. (Python 3.11's asyncio.wait_for lost the
    cancel that falls due with its timeout, and such streams counted against the user for
    ever, until a wall of pages could only poll.)"""
    token = stack.login("frozen", PASSWORD)
    readers = [StreamReader(stack, token, {"station": "akkol"}) for _ in range(3)]
    for r in readers:
        assert r.next().name == "snapshot"
    pid = stack.api.proc.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        for r in readers:
            r.close()
        time.sleep(3)  # past the streams' 1 s recheck: timer and close fall due at once
    finally:
        os.kill(pid, signal.SIGCONT)
    deadline = time.monotonic() + 30
    accepted = []
    try:
        while len(accepted) < 3:
            r = StreamReader(stack, token, {"station": "akkol"})
            if r.response.status_code == 200:
                accepted.append(r)
                continue
            r.close()
            assert time.monotonic() < deadline, \
                f"{3 - len(accepted)} streams left during the stop still count against the user"
            time.sleep(0.2)
    finally:
        for r in accepted:
            r.close()


def test_a_stalled_subscriber_holds_up_neither_ingest_nor_others(stack: Stack) -> None:
    """A client that subscribes to everything and never reads: every write is still
    answered 204, a reading subscriber gets every update in order, and the stalled one is
    dropped (its connection ends once what the socket buffers held is read)."""
    feeder = Feeder(stack)  # a sample of every series: updates of tens of KB
    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.connect(("127.0.0.1", stack.api_port))
    stalled.sendall(f"GET /api/v1/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Token "
                    f"{stack.tokens['viewer']}\r\n\r\n".encode())
    writes = 200
    seen: list[int] = []
    try:
        with StreamReader(stack, stack.tokens["operator"], {"satellite": "kazsat-2"}) as reader:
            reader.next()

            def read() -> None:
                while len(seen) < writes:
                    e = reader.next()
                    if e is None or e.name not in ("update", "heartbeat"):
                        return
                    if e.name == "update" and BUS in rows_of(e):
                        seen.append(e.id)

            thread = threading.Thread(target=read, daemon=True)
            thread.start()
            t0 = time.time_ns() - 10**9
            for i in range(writes):
                write(stack, feeder.lines(t0 + i * 10**6))
            thread.join(60)
            assert len(seen) == writes and seen == sorted(seen), (len(seen), writes)
        stalled.settimeout(1)
        deadline, data = time.monotonic() + 60, b""
        while time.monotonic() < deadline:
            try:
                chunk = stalled.recv(1 << 20)
            except TimeoutError:
                continue
            if not chunk:
                break
            data += chunk
        else:
            raise AssertionError("the stalled subscriber was not dropped")
        assert b"event: snapshot" in data
    finally:
        stalled.close()


@pytest.mark.postgres
def test_a_stream_at_one_site_carries_what_the_other_site_ingests(
        tmp_path: Path) -> None:
    """Two API processes on one PostgreSQL database (the two sites): a subscriber of one
    sees the samples, the breach, the alert and its acknowledgement made through the other."""
    from tests.databases import postgres_database

    with postgres_database() as url:
        akkol = Stack(tmp_path / "akkol", extra_env={"KAZSAT_DATABASE_URL": url})
        akkol.start_api()
        kokterek = Stack(tmp_path / "kokterek", tokens=dict(akkol.tokens),
                         extra_env={"KAZSAT_DATABASE_URL": url})
        kokterek.data_dir.mkdir(parents=True)
        kokterek.start_api()
        try:
            key = ("kazsat-3", None, "bus_voltage")
            with StreamReader(kokterek, kokterek.tokens["operator"],
                              {"satellite": "kazsat-3"}) as s:
                s.next()  # the snapshot
                t = time.time_ns()
                write(akkol, f"power,satellite=kazsat-3 bus_voltage=100.4 {t}")
                s.until(is_update_with(key, 100.4), "Akkol's sample at Kokterek")
                write(akkol, "\n".join(f"power,satellite=kazsat-3 bus_voltage=95.0 "
                                       f"{t + i * 10**6}" for i in range(1, 5)))
                raised = s.until(lambda e: e.name == "update" and any(
                    a["parameter"] == "bus_voltage" and a["state"] == "critical"
                    for a in e.data.get("alerts", [])), "Akkol's alert at Kokterek")
                alert_id = raised.data["alerts"][0]["id"]
                with akkol.client("operator") as c:
                    assert c.post(f"/api/v1/alerts/{alert_id}/ack",
                                  json={"comment": "seen at Akkol"}).status_code == 200
                s.until(lambda e: e.name == "update" and any(
                    a["id"] == alert_id and a["acked_by"] for a in e.data.get("alerts", [])),
                    "Akkol's acknowledgement at Kokterek")
        finally:
            kokterek.stop()
            akkol.stop()
