"""The two-site cluster, for real: three etcd members, PostgreSQL at Akkol and Kokterek under
Patroni, both sites' APIs, on loopback ports (kazsat/cluster.py), an SMTP server (aiosmtpd).

Writers stream through both sites' APIs while the primary's PostgreSQL is killed, the whole
Akkol site is killed, the reserve is stopped, and a node is frozen (SIGSTOP). Afterwards
every acknowledged sample, alert, acknowledgement, shelf, limit change and user is there at
Kokterek, every email owed was sent (a repeat only with the same Message-ID), and no request
got a 5xx other than 503. The tests run in order on one cluster; each starts from a healthy
one (Akkol primary, Kokterek its synchronous standby). Speed is measured by
benchmarks/failover.py, not here.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import httpx
import psycopg
import pytest

from kazsat.cluster import SITES, Cluster, alive, free_ports
from tests.ci import missing
from tests.smtp_catcher import SmtpCatcher

pytestmark = pytest.mark.cluster
NS = 10**9
PASSWORD = "steppe-relay-tower-1997"


@dataclass
class Site:
    cluster: Cluster
    tokens: dict[str, str]

    def client(self, site: str, role: str = "viewer", timeout: float = 30) -> httpx.Client:
        return httpx.Client(base_url=self.cluster.api_url(site), timeout=timeout,
                            headers={"Authorization": f"Token {self.tokens[role]}"})

    def write(self, site: str, lines: list[str]) -> httpx.Response:
        with self.client(site, "ingest") as c:
            return c.post("/api/v2/write", content="\n".join(lines))

    def db(self, site: str) -> psycopg.Connection:
        return psycopg.connect(host="127.0.0.1", port=self.cluster.ports[site].postgres,
                               user="postgres", dbname="kazsat", connect_timeout=3,
                               autocommit=True)


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpCatcher]:
    catcher = SmtpCatcher().start()
    yield catcher
    catcher.stop()


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory, smtp: SmtpCatcher) -> Iterator[Site]:
    for program in ("patroni", "etcd"):
        if shutil.which(program) is None:
            missing(f"the cluster tests need {program} (scripts/test.sh installs Debian's "
                    "patroni and etcd-server as root)")
    cluster = Cluster(Path(tmp_path_factory.mktemp("cluster")) / "c", free_ports(),
                      extra_env={**smtp.env, "KAZSAT_EMAIL_TO": "oncall@kazsat.kz",
                                 "KAZSAT_ALERT_EMAIL_INTERVAL_S": "0",
                                 "KAZSAT_STALE_ALERT_S": "0", "KAZSAT_OUTBOX_POLL_S": "0.5"})
    try:
        tokens = cluster.up(dashboards=False, feeds=False)
        yield Site(cluster, tokens)
    finally:
        cluster.remove(keep_logs=True)  # in pytest's temporary folder, for a failure


@pytest.fixture
def healthy(two: Site) -> Site:
    """Both sites whole, Akkol primary, Kokterek its synchronous standby."""
    c = two.cluster
    for site in SITES:
        c.signal(site, 18)  # SIGCONT: nothing stays frozen after a failed test
        if not all(c.running(site, p) for p in ("etcd", "patroni", "api")):
            c.start_site(site, two.tokens, dashboards=False, feeds=False)
    if c.wait_replicating() != "akkol":
        c.switchover("akkol")
    return two


@dataclass
class Writers:
    """A writer per site, each through its own site's API, a line every 20 ms: its own
    series, and a shared one both send (the first copy stands). Counts every answer."""

    two: Site
    acked: dict[str, list[int]] = field(default_factory=lambda: {s: [] for s in SITES})
    answers: dict[str, dict[str, int]] = field(default_factory=lambda: {s: {} for s in SITES})
    stop: threading.Event = field(default_factory=threading.Event)
    base_t: int = field(default_factory=lambda: (time.time_ns() // NS - 600) * NS)
    threads: list[threading.Thread] = field(default_factory=list)

    SERIES: ClassVar[dict[str, str]] = {"akkol": "power,satellite=kazsat-2 bus_current",
                                        "kokterek": "power,satellite=kazsat-3 bus_current"}

    def start(self) -> Writers:
        for site in SITES:
            t = threading.Thread(target=self._run, args=(site,), daemon=True)
            t.start()
            self.threads.append(t)
        return self

    def _run(self, site: str) -> None:
        i = 0
        with self.two.client(site, "ingest", timeout=30) as c:
            while not self.stop.is_set():
                t = self.base_t + i * 10_000_000  # 10 ms apart, past the clock tolerance
                lines = [f"{self.SERIES[site]}={30 + i % 50 / 10} {t}",
                         f"thermal,satellite=kazsat-2 tank_temp=17.5 {t}"]
                try:
                    r = c.post("/api/v2/write", content="\n".join(lines))
                    key = str(r.status_code)
                    if r.status_code == 204:
                        self.acked[site].append(t)
                except httpx.HTTPError as exc:
                    key = type(exc).__name__
                self.answers[site][key] = self.answers[site].get(key, 0) + 1
                i += 1
                self.stop.wait(0.02)

    def finish(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(60)

    def check_answers(self) -> None:
        """No 5xx but 503: a site's API answered or was unreachable, nothing else."""
        for site, counts in self.answers.items():
            bad = {k: n for k, n in counts.items() if k.startswith("5") and k != "503"}
            assert not bad, f"{site} answered {bad} (all answers: {counts})"
            assert counts.get("204"), f"{site} acknowledged nothing: {counts}"


def wait_for(what: str, check: object, timeout_s: float = 120,
             cluster: Cluster | None = None) -> object:
    """Poll until `check()` is true; a timeout says what Patroni reports of each site and
    the end of its log when `cluster` is given (what a failure in CI leaves to go on)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = check()  # type: ignore[operator]
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout_s:.0f} s"
                         + (patroni_report(cluster) if cluster else ""))


def patroni_report(cluster: Cluster) -> str:
    out = []
    for site in SITES:
        path = cluster.log_path(site, "patroni")
        tail = path.read_text(errors="replace").splitlines()[-12:] if path.exists() else []
        out.append(f"\n{site}: {cluster.patroni(site)}\n  " + "\n  ".join(tail))
    return "".join(out)


def stored_times(two: Site, site: str, satellite: str, parameter: str, start: int) -> set[int]:
    """The samples of a series from `start` on, as the site's API serves them (raw)."""
    from backend.timeutil import format_time, parse_time

    with two.client(site) as c:
        r = c.get("/api/v1/series", params={
            "satellite": satellite, "parameter": parameter, "start": format_time(start),
            "end": format_time(start + 3600 * NS), "max_points": 20000})
    r.raise_for_status()
    [series] = r.json()["series"]
    assert series["resolution"] == "raw"
    return {parse_time(t, "time") for t in series["time"]}


def accepting(two: Site, site: str) -> bool:
    try:
        return two.write(site, [f"thermal,satellite=kazsat-3 tank_temp=17.0 "
                                f"{time.time_ns() - 120 * NS}"]).status_code == 204
    except httpx.HTTPError:
        return False


def state_before_the_loss(two: Site) -> dict[str, object]:
    """Alerts (one acknowledged, one shelved), a limit change and a user with a changed
    password, all made at Akkol; and their email."""
    from backend.services import open_database
    from backend.settings import Settings
    from backend.users import create_user

    t0 = time.time_ns() - 300 * NS
    name = f"duty{t0 % 100000}"
    engine = open_database(Settings(_env_file=None, data_dir=two.cluster.base / "t",
                                    database_url=two.cluster.database_url("akkol")))
    try:
        first = create_user(engine, name, "operator")
    finally:
        engine.dispose()
    with httpx.Client(base_url=two.cluster.api_url("akkol"), timeout=30) as c:
        token = c.post("/api/v1/auth/login", json={"username": name, "password": first}
                       ).json()["token"]
        r = c.post("/api/v1/auth/password", json={"old": first, "new": PASSWORD},
                   headers={"Authorization": f"Token {token}"})
        assert r.status_code == 200, r.text
    for sat in ("kazsat-2", "kazsat-3"):  # nominal (an earlier test's alert clears), then
        r = two.write("akkol", [f"power,satellite={sat} bus_voltage={v} {t0 + i * NS}"
                                for i, v in enumerate([100.0, 104.0, 104.0, 104.0])])
        assert r.status_code == 204, r.text  # a critical breach each
    with two.client("akkol", "operator") as c:
        opened = {a["satellite"]: a["id"] for a in c.get("/api/v1/alerts").json()["alerts"]
                  if a["parameter"] == "bus_voltage"}
        assert c.post(f"/api/v1/alerts/{opened['kazsat-2']}/ack",
                      json={"comment": "seen at Akkol"}).status_code == 200
        assert c.post(f"/api/v1/alerts/{opened['kazsat-3']}/shelve",
                      json={"minutes": 60, "comment": "known"}).status_code == 200
    limits = {"warning": {"low": 6, "high": 24}, "critical": {"low": 1, "high": 29}}
    with two.client("akkol", "engineer") as c:
        assert c.put("/api/v1/limits/battery_temp", json=limits).status_code == 200
    return {"user": name, "acked": opened["kazsat-2"], "shelved": opened["kazsat-3"],
            "limits": limits}


def check_state_at(two: Site, site: str, made: dict[str, object]) -> None:
    with two.client(site, "operator") as c:
        alerts = {a["id"]: a for a in c.get("/api/v1/alerts").json()["alerts"]}
        limits = c.get("/api/v1/limits").json()["limits"]
    assert alerts[made["acked"]]["acked_at"] is not None
    assert alerts[made["shelved"]]["shelved_until"] is not None
    [battery] = [x for x in limits if x["parameter"] == "battery_temp"]
    assert battery["effective"]["warning"] == made["limits"]["warning"]  # type: ignore[index]
    with httpx.Client(base_url=two.cluster.api_url(site), timeout=30) as c:
        r = c.post("/api/v1/auth/login", json={"username": made["user"], "password": PASSWORD})
    assert r.status_code == 200, r.text


def check_email(two: Site, site: str, smtp: SmtpCatcher) -> None:
    """Every outbox message sent; the server got each Message-ID, repeats identical."""
    with two.client(site) as c:
        wait_for("the outbox to be sent", lambda: c.get("/api/v1/outbox").json()["pending"] == 0)
    with two.db(site) as conn:
        owed = {row[0]: row[1] for row in conn.execute("SELECT message_id, subject FROM outbox")}
    got: dict[str, list[str]] = {}
    for m in smtp.messages():  # (a long subject comes folded: compared unfolded)
        got.setdefault(m.message_id, []).append(" ".join(m.subject.split()))
    assert set(owed) <= set(got), f"not received: {set(owed) - set(got)}"
    for message_id, subjects in got.items():
        assert set(subjects) == {" ".join(owed.get(message_id, subjects[0]).split())}, \
            message_id


def check_samples(two: Site, site: str, writers: Writers) -> None:
    for writer, sat in (("akkol", "kazsat-2"), ("kokterek", "kazsat-3")):
        have = stored_times(two, site, sat, "bus_current", writers.base_t)
        lost = sorted(set(writers.acked[writer]) - have)
        assert not lost, f"{len(lost)} samples acknowledged by {writer} missing at {site}"
    shared = stored_times(two, site, "kazsat-2", "tank_temp", writers.base_t)
    acked = set(writers.acked["akkol"]) | set(writers.acked["kokterek"])
    assert acked <= shared


# ---- the tests ------------------------------------------------------------------------------

def test_killing_the_primarys_postgresql_loses_nothing_acknowledged(
        healthy: Site, smtp: SmtpCatcher) -> None:
    two = healthy
    made = state_before_the_loss(two)
    writers = Writers(two).start()
    wait_for("writes at both sites", lambda: all(writers.acked.values()))
    two.cluster.kill_postgres("akkol")  # Patroni restarts it, or Kokterek takes over
    seen = len(writers.acked["akkol"]) + len(writers.acked["kokterek"])
    wait_for("writes acknowledged again", lambda: len(writers.acked["akkol"]) +
             len(writers.acked["kokterek"]) > seen + 20, cluster=two.cluster)
    writers.finish()
    writers.check_answers()
    primary = two.cluster.wait_replicating()
    for site in SITES:
        check_samples(two, site, writers)
        check_state_at(two, site, made)
    check_email(two, primary, smtp)


def test_losing_the_akkol_site_loses_nothing_and_kokterek_carries_on(
        healthy: Site, smtp: SmtpCatcher) -> None:
    two = healthy
    made = state_before_the_loss(two)
    writers = Writers(two).start()
    wait_for("writes at both sites", lambda: all(writers.acked.values()))
    two.cluster.kill("akkol")  # etcd member, Patroni, PostgreSQL, API: all at once
    seen = len(writers.acked["kokterek"])
    wait_for("Kokterek acknowledging again", lambda: len(writers.acked["kokterek"]) > seen + 20,
             cluster=two.cluster)
    assert two.cluster.primary() == "kokterek"
    # Kokterek runs the duties now: a breach raised there is emailed.
    t = time.time_ns() - 60 * NS
    assert two.write("kokterek", [f"propulsion,satellite=kazsat-2 tank_pressure=9.0 "
                                  f"{t + i * NS}" for i in range(3)]).status_code == 204
    writers.finish()
    writers.check_answers()
    assert writers.answers["akkol"].get("ConnectError"), "Akkol's API should be gone"
    check_samples(two, "kokterek", writers)
    check_state_at(two, "kokterek", made)
    check_email(two, "kokterek", smtp)
    assert any("Tank pressure" in m.subject for m in smtp.messages())  # the breach, by label
    with two.client("kokterek") as c:
        cluster = wait_for("the monitor to report the failover", lambda: (
            lambda s: s if s["last_failover"] and s["primary"] == "kokterek" else None)(
            c.get("/api/v1/cluster").json()))
        sites = {s["site"]: s for s in cluster["sites"]}  # type: ignore[index]
        assert sites["akkol"]["api"] == sites["akkol"]["database"] == "down"
        assert not cluster["redundant"]  # type: ignore[index]
        assert wait_for("redundancy lost raised", lambda: [
            a for a in c.get("/api/v1/alerts").json()["alerts"] if a["kind"] == "cluster"])


def test_the_old_primary_rejoins_as_a_replica_and_a_switchover_moves_back_losing_nothing(
        two: Site) -> None:
    c = two.cluster
    if c.primary() != "kokterek":
        pytest.skip("runs after the Akkol site was lost (the test before)")
    c.start_site("akkol", two.tokens, dashboards=False, feeds=False)
    assert c.wait_replicating() == "kokterek"
    assert c.patroni("akkol")["role"] == "replica"
    with two.client("kokterek") as api:
        wait_for("redundancy restored", lambda: not [
            a for a in api.get("/api/v1/alerts").json()["alerts"] if a["kind"] == "cluster"])
    writers = Writers(two).start()
    wait_for("writes at both sites", lambda: all(writers.acked.values()))
    assert c.switchover("akkol") == "akkol"
    seen = len(writers.acked["akkol"])
    wait_for("Akkol acknowledging", lambda: len(writers.acked["akkol"]) > seen + 20)
    writers.finish()
    writers.check_answers()
    for site in SITES:
        check_samples(two, site, writers)
    with two.client("akkol") as api:
        status = wait_for("the switchover recorded", lambda: (
            lambda s: s if s["last_switchover"] else None)(api.get("/api/v1/cluster").json()))
    assert status["last_switchover"]["site"] == "akkol"  # type: ignore[index]


def test_with_the_reserve_down_the_primary_accepts_and_redundancy_lost_comes_and_goes(
        healthy: Site, smtp: SmtpCatcher) -> None:
    two = healthy
    c = two.cluster
    c.kill("kokterek", ("patroni",))  # the reserve's database node only
    t0 = time.time_ns() - 240 * NS
    lines = [f"thermal,satellite=kazsat-3 tank_temp=17.25 {t0 + i * NS}" for i in range(30)]
    # Non-strict synchronous mode: once Patroni sees the standby gone, writes go on alone.
    wait_for("Akkol accepting alone", lambda: two.write("akkol", lines).status_code == 204)
    with two.client("akkol") as api:
        wait_for("redundancy lost raised", lambda: [
            a for a in api.get("/api/v1/alerts").json()["alerts"] if a["kind"] == "cluster"])
        c.start_site("kokterek", two.tokens, dashboards=False, feeds=False)
        c.wait_replicating()
        wait_for("redundancy lost cleared", lambda: not [
            a for a in api.get("/api/v1/alerts").json()["alerts"] if a["kind"] == "cluster"])
    # What Akkol took alone is at Kokterek now (read on its replica).
    with two.db("kokterek") as conn:
        n = conn.execute("SELECT count(*) FROM samples s JOIN series r ON r.id = s.series_id "
                         "WHERE r.parameter = 'tank_temp' AND r.satellite = 'kazsat-3' "
                         "AND s.t >= %s AND s.t < %s", (t0, t0 + 30 * NS)).fetchone()
    assert n is not None and n[0] == 30
    kinds = [m.subject for m in smtp.messages() if "redundancy" in m.subject]
    assert any(s.startswith("WARNING Monitor: redundancy lost") for s in kinds), kinds
    assert any("redundancy restored" in s for s in kinds), kinds


@pytest.mark.xfail(strict=False, reason=(
    "open (issue 14): with Debian's Patroni 3.0.2 the frozen Akkol node, resumed, takes the "
    "leader key back from Kokterek, which had been promoted and was acknowledging writes; "
    "Kokterek is demoted instead of Akkol (seen 2026-12-08, logs in the test's folder). "
    "To try: Patroni 4.x, whose release notes fix etcd3 lease handling and stale etcd reads"))
def test_a_frozen_primary_never_leaves_two_nodes_acknowledging_writes(healthy: Site) -> None:
    """SIGSTOP of Akkol's whole node (Patroni and PostgreSQL), as a machine that hangs or a
    cut network: Kokterek takes over; the frozen node, resumed, is demoted and rejoins.
    Throughout, a probe commits a write on each node every half second: never do both
    acknowledge one (committed and replicated) at once, and every write an API acknowledged
    is on the final primary."""
    two = healthy
    c = two.cluster
    with two.db("akkol") as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS probe (site text, t bigint)")
    c.wait_replicating()
    writers = Writers(two).start()
    wait_for("writes at both sites", lambda: all(writers.acked.values()))
    both: list[float] = []
    stop = threading.Event()

    def commits(site: str) -> bool:
        """A write acknowledged as an application sees it: committed and replicated. A
        commit whose wait for the synchronous standby was cancelled (statement_timeout)
        is local only; PostgreSQL says so in a warning, and rewinding drops it."""
        unreplicated: list[str] = []
        try:
            with psycopg.connect(host="127.0.0.1", port=c.ports[site].postgres, user="postgres",
                                 dbname="kazsat", connect_timeout=1, autocommit=True,
                                 options="-c statement_timeout=1000") as conn:
                conn.add_notice_handler(lambda d: unreplicated.append(d.message_primary or "")
                                        if "synchronous replication" in (d.message_primary or "")
                                        else None)
                conn.execute("INSERT INTO probe VALUES (%s, %s)", (site, time.time_ns()))
            return not unreplicated
        except psycopg.Error:
            return False

    def probe() -> None:
        while not stop.is_set():
            if all(commits(site) for site in SITES):
                both.append(time.time())
            stop.wait(0.5)

    prober = threading.Thread(target=probe, daemon=True)
    prober.start()
    c.signal("akkol", 19, ("patroni",))  # SIGSTOP
    try:
        wait_for("Kokterek promoted", lambda: (c.patroni("kokterek") or {}).get("role")
                 in ("master", "primary"))
        seen = len(writers.acked["kokterek"])
        wait_for("Kokterek acknowledging", lambda: len(writers.acked["kokterek"]) > seen + 20)
    finally:
        c.signal("akkol", 18, ("patroni",))  # SIGCONT
    wait_for("Akkol demoted to a replica", lambda: (c.patroni("akkol") or {}).get("role")
             == "replica", 180, c)
    assert c.wait_replicating() == "kokterek"
    stop.set()
    prober.join(30)
    writers.finish()
    writers.check_answers()
    assert not both, f"both nodes committed writes at {both}"
    check_samples(two, "kokterek", writers)
    for pid in c.site_pids("akkol", ("api",)):
        assert alive(pid)  # Akkol's API lived through it, answering 503 meanwhile
