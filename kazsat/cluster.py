"""The two-site deployment on one machine: Akkol and Kokterek, each with an etcd member, a
PostgreSQL node under Patroni, the API, the dashboard and its station's feed, plus a witness
etcd member (docs/cluster.md). `kazsat cluster up` and the tests start it from here. What is
started is written to <base>/state.json, so the other commands (status, switchover, fail,
start, down) find it from another terminal.

PostgreSQL refuses to run as root: as root, Patroni runs as the `postgres` user and its data
folders sit under /var/tmp/kazsat-cluster-*, where that user can reach them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
SITES = ("akkol", "kokterek")
WITNESS = "witness"
NAMES = {"akkol": "Akkol", "kokterek": "Kokterek", WITNESS: "witness"}
PARTS = ("etcd", "patroni", "api", "dashboard", "feed")  # a site's processes, start order
DATABASE = "kazsat"


@dataclass(frozen=True)
class Ports:
    etcd_client: int
    etcd_peer: int
    postgres: int = 0
    patroni: int = 0
    api: int = 0
    dashboard: int = 0


DEMO_PORTS = {"akkol": Ports(23791, 23801, 15432, 18008, 8001, 8051),
              "kokterek": Ports(23792, 23802, 15433, 18009, 8002, 8052),
              WITNESS: Ports(23793, 23803)}


@dataclass(frozen=True)
class Timing:
    """Patroni's failure detection (its defaults are ttl 30, loop_wait 10, retry_timeout 10:
    failovers of tens of seconds). Patroni needs loop_wait + 2 * retry_timeout <= ttl."""

    ttl: int = 10
    loop_wait: int = 2
    retry_timeout: int = 4


def free_ports() -> dict[str, Ports]:
    """Ports nobody listens on, for a cluster of its own (tests, benchmarks)."""
    socks = []
    for _ in range(14):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    n = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return {"akkol": Ports(n[0], n[1], n[2], n[3], n[4], n[5]),
            "kokterek": Ports(n[6], n[7], n[8], n[9], n[10], n[11]),
            WITNESS: Ports(n[12], n[13])}


def tool(name: str) -> str:
    """A program the cluster needs, or a clear error saying how to get it."""
    found = shutil.which(name)
    if found is None:
        raise ClusterError(f"{name} is not installed: run `bash scripts/cluster.sh` as root "
                           "(it installs Debian's patroni and etcd-server), or install them")
    return found


def postgres_bin() -> Path:
    """The newest installed PostgreSQL's programs (Debian: /usr/lib/postgresql/N/bin)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"),
                   key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0)
    if not found:
        raise ClusterError("no PostgreSQL server programs under /usr/lib/postgresql: run "
                           "`bash scripts/cluster.sh` as root (Debian's postgresql)")
    return found[-1].parent


class ClusterError(RuntimeError):
    """The cluster cannot do what was asked; the message says why and what to do."""


@dataclass
class Cluster:
    base: Path
    ports: dict[str, Ports] = field(default_factory=lambda: dict(DEMO_PORTS))
    timing: Timing = field(default_factory=Timing)
    seed: int = 2026
    origin_ns: int = 0  # the feeds' model origin (simulator --origin)
    pids: dict[str, dict[str, int]] = field(default_factory=dict)
    extra_env: dict[str, str] = field(default_factory=dict)  # for the APIs (tests: SMTP)

    # ---- places --------------------------------------------------------------------------

    @property
    def pg_root(self) -> Path:
        """Where the PostgreSQL nodes keep their data: reachable by the user they run as."""
        if os.geteuid() != 0:
            return self.base / "pg"
        tag = hashlib.sha256(str(self.base.resolve()).encode()).hexdigest()[:10]
        return Path("/var/tmp") / f"kazsat-cluster-{tag}"

    def log_path(self, site: str, part: str) -> Path:
        return self.base / "logs" / f"{site}-{part}.log"

    def data_dir(self, site: str) -> Path:
        """The site's API and dashboard folder (secrets, tokens)."""
        return self.base / site / "data"

    def api_url(self, site: str) -> str:
        return f"http://127.0.0.1:{self.ports[site].api}"

    def dashboard_url(self, site: str) -> str:
        return f"http://127.0.0.1:{self.ports[site].dashboard}"

    def patroni_url(self, site: str) -> str:
        return f"http://127.0.0.1:{self.ports[site].patroni}"

    def database_url(self, site: str) -> str:
        """Both nodes, this site's first; libpq connects to the one that takes writes."""
        hosts = [site, *(s for s in SITES if s != site)]
        host_args = "&".join(f"host=127.0.0.1:{self.ports[s].postgres}" for s in hosts)
        return (f"postgresql+psycopg://postgres@/{DATABASE}?{host_args}"
                "&target_session_attrs=read-write&connect_timeout=2")

    def sites_json(self) -> str:
        return json.dumps({s: {"name": NAMES[s], "api_url": self.api_url(s),
                               "patroni_url": self.patroni_url(s)} for s in SITES})

    # ---- state -----------------------------------------------------------------------------

    def save(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        state = {"ports": {s: asdict(p) for s, p in self.ports.items()},
                 "timing": asdict(self.timing), "seed": self.seed, "origin_ns": self.origin_ns,
                 "pids": self.pids}
        (self.base / "state.json").write_text(json.dumps(state, indent=1))

    @classmethod
    def load(cls, base: Path) -> Cluster:
        path = base / "state.json"
        if not path.exists():
            raise ClusterError(f"no cluster at {base} (start one with `kazsat cluster up`)")
        state = json.loads(path.read_text())
        return cls(base, {s: Ports(**p) for s, p in state["ports"].items()},
                   Timing(**state["timing"]), state["seed"], state["origin_ns"], state["pids"])

    # ---- starting ------------------------------------------------------------------------

    def _spawn(self, site: str, part: str, args: list[str],
               env: dict[str, str] | None = None, cwd: Path = ROOT) -> int:
        path = self.log_path(site, part)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "ab") as log:
            proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=cwd,
                                    env=env or os.environ.copy(), start_new_session=True)
        self.pids.setdefault(site, {})[part] = proc.pid
        self.save()
        return proc.pid

    def start_etcd(self, site: str) -> None:
        p = self.ports[site]
        members = ",".join(f"{s}=http://127.0.0.1:{self.ports[s].etcd_peer}"
                           for s in (*SITES, WITNESS))
        data = self.base / "etcd" / site
        data.mkdir(parents=True, exist_ok=True)
        self._spawn(site, "etcd", [
            tool("etcd"), "--name", site, "--data-dir", str(data),
            "--listen-client-urls", f"http://127.0.0.1:{p.etcd_client}",
            "--advertise-client-urls", f"http://127.0.0.1:{p.etcd_client}",
            "--listen-peer-urls", f"http://127.0.0.1:{p.etcd_peer}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{p.etcd_peer}",
            "--initial-cluster", members, "--initial-cluster-state", "new",
            "--initial-cluster-token", f"kazsat-{self.ports[WITNESS].etcd_peer}",
            # A member that was down catches up from the others' snapshots and log.
            "--heartbeat-interval", "100", "--election-timeout", "1000"])

    def patroni_config(self, site: str) -> str:
        p, t = self.ports[site], self.timing
        node = self.pg_root / site
        etcd = ",".join(f"127.0.0.1:{self.ports[s].etcd_client}" for s in (*SITES, WITNESS))
        return f"""# Patroni for the {NAMES[site]} site (written by kazsat/cluster.py).
scope: kazsat
name: {site}
restapi:
  listen: 127.0.0.1:{p.patroni}
  connect_address: 127.0.0.1:{p.patroni}
etcd3:
  hosts: {etcd}
bootstrap:
  dcs:
    ttl: {t.ttl}
    loop_wait: {t.loop_wait}
    retry_timeout: {t.retry_timeout}
    maximum_lag_on_failover: 1048576
    # An acknowledged commit is on both sites; with one node left Patroni lets writes go
    # on alone (not strict) and the API raises "redundancy lost".
    synchronous_mode: true
    synchronous_mode_strict: false
    postgresql:
      use_pg_rewind: true
      remove_data_directory_on_rewind_failure: true
      remove_data_directory_on_diverged_timelines: true
      parameters:
        wal_log_hints: "on"
        hot_standby: "on"
        max_wal_senders: 5
        max_replication_slots: 5
        wal_keep_size: 256MB
  initdb:
    - encoding: UTF8
    - data-checksums
  # A demo on loopback: trust. Real sites use scram-sha-256 and TLS (docs/cluster.md).
  pg_hba:
    - host replication all 127.0.0.1/32 trust
    - host all all 127.0.0.1/32 trust
    - local all all trust
postgresql:
  listen: 127.0.0.1:{p.postgres}
  connect_address: 127.0.0.1:{p.postgres}
  data_dir: {node / "data"}
  bin_dir: {postgres_bin()}
  pgpass: {node / "pgpass"}
  authentication:
    replication:
      username: postgres
    superuser:
      username: postgres
    rewind:
      username: postgres
  parameters:
    unix_socket_directories: {node}
"""

    def start_node(self, site: str) -> None:
        node = self.pg_root / site
        node.mkdir(parents=True, exist_ok=True)
        config = node / "patroni.yml"
        config.write_text(self.patroni_config(site))
        args = [tool("patroni"), str(config)]
        if os.geteuid() == 0:
            shutil.chown(node.parent, "postgres", "postgres")
            for path in [node, *node.rglob("*")]:
                shutil.chown(path, "postgres", "postgres")
            args = [tool("runuser"), "-u", "postgres", "--", *args]
        # Run from the node's own folder: as root, Patroni and PostgreSQL run as `postgres`,
        # who may not enter the project's folder (a clone under a private temporary folder).
        self._spawn(site, "patroni", args, cwd=node)

    def app_env(self, site: str, tokens: dict[str, str]) -> dict[str, str]:
        p = self.ports[site]
        return {**os.environ, "PYTHONUNBUFFERED": "1",
                "KAZSAT_DATA_DIR": str(self.data_dir(site)),
                "KAZSAT_DATABASE_URL": self.database_url(site),
                "KAZSAT_API_PORT": str(p.api), "KAZSAT_API_URL": self.api_url(site),
                "KAZSAT_DASHBOARD_PORT": str(p.dashboard),
                "KAZSAT_PUBLIC_DASHBOARD_URL": self.dashboard_url(site),
                "KAZSAT_SITE": site, "KAZSAT_SITES": self.sites_json(),
                **{f"KAZSAT_{role.upper()}_TOKEN": tok for role, tok in tokens.items()},
                **self.extra_env}

    def start_api(self, site: str, tokens: dict[str, str]) -> None:
        self._spawn(site, "api", [sys.executable, "-m", "kazsat", "api"],
                    self.app_env(site, tokens))

    def start_dashboard(self, site: str, tokens: dict[str, str]) -> None:
        self._spawn(site, "dashboard", [sys.executable, "-m", "kazsat", "dashboard"],
                    self.app_env(site, tokens))

    def start_feed(self, site: str, tokens: dict[str, str], backfill: str | None = None) -> None:
        """The station's feed: what the station receives, to its own site's API first."""
        from orbit.geometry import from_ns

        urls = ",".join(self.api_url(s) for s in (site, *(x for x in SITES if x != site)))
        args = [sys.executable, "-m", "simulator", "--seed", str(self.seed), "--station", site,
                "--api-url", urls, "--origin", from_ns(self.origin_ns).isoformat(),
                "--faults-file", str(self.faults_file)]
        if backfill:
            args += ["--backfill", backfill]
        self._spawn(site, "feed", args, self.app_env(site, tokens))

    @property
    def faults_file(self) -> Path:
        return self.base / "faults.yaml"

    # ---- the whole cluster, a site ------------------------------------------------------

    def up(self, dashboards: bool = True, feeds: bool = True, backfill: str = "1h",
           on_step: Any = None) -> dict[str, str]:
        """Start everything: the consensus store, Akkol's node (primary), Kokterek's
        (synchronous standby), the schema, then per site the API, dashboard and feed.
        Returns the tokens the parts use (kept in <base>/tokens.env)."""
        say = on_step or (lambda text: None)
        if any(alive(pid) for parts in self.pids.values() for pid in parts.values()):
            raise ClusterError(f"a cluster is already running from {self.base} "
                               "(`kazsat cluster status`; `kazsat cluster down` stops it)")
        from backend import files

        files.private_dir(self.base)
        self.pids = {}
        first = not (self.base / "tokens.env").exists()
        if first:
            self.origin_ns = time.time_ns() - (_seconds(backfill) * 10**9 if feeds else 0)
        say("consensus store: etcd at Akkol, Kokterek and the witness")
        for site in (*SITES, WITNESS):
            self.start_etcd(site)
        for site in (*SITES, WITNESS):
            self.wait_http(f"http://127.0.0.1:{self.ports[site].etcd_client}/health")
        say("PostgreSQL under Patroni: Akkol first (primary), then Kokterek (standby)")
        self.start_node("akkol")
        self.wait_until("Akkol's node as primary", self.primary)
        self.start_node("kokterek")
        self.wait_replicating()
        self.ensure_database()
        tokens = self.prepare_database()
        say("the API and dashboard of each site")
        for site in SITES:
            self.start_api(site, tokens)
        for site in SITES:
            self.wait_http(f"{self.api_url(site)}/healthz")
        if dashboards:
            for site in SITES:
                self.start_dashboard(site, tokens)
            for site in SITES:
                self.wait_http(self.dashboard_url(site))
        if feeds:
            say("each station's feed to its own site" +
                (f" (first start: the last {backfill} too)" if first else ""))
            for site in SITES:
                self.start_feed(site, tokens, backfill if first else None)
        return tokens

    def start_site(self, site: str, tokens: dict[str, str], dashboards: bool = True,
                   feeds: bool = True) -> None:
        """Bring a site back: its etcd member and node rejoin (the node as a replica,
        rewound if it was the primary that was lost), then its API, dashboard and feed."""
        running = {p for p, pid in self.pids.get(site, {}).items() if alive(pid)}
        if "etcd" not in running:
            self.start_etcd(site)
        if "patroni" not in running:
            self.start_node(site)
        if "api" not in running:
            self.start_api(site, tokens)
            self.wait_http(f"{self.api_url(site)}/healthz")
        if dashboards and "dashboard" not in running:
            self.start_dashboard(site, tokens)
        if feeds and "feed" not in running:
            self.lose_site_in_simulation(site, lost=False)
            self.start_feed(site, tokens)

    def prepare_database(self) -> dict[str, str]:
        """The schema (migrations), the parts' tokens (made once) and the first user."""
        from backend import files
        from backend.services import open_database
        from backend.settings import Settings
        from backend.tokens import create_token

        settings = Settings(_env_file=None, data_dir=self.data_dir("akkol"),
                            database_url=self.database_url("akkol"))
        engine = open_database(settings)
        try:
            path = self.base / "tokens.env"
            if path.exists():
                return dict(line.split("=", 1) for line in path.read_text().split())
            tokens = {role: create_token(engine, role, f"cluster: {role}")
                      for role in ("ingest", "viewer", "operator", "engineer")}
            files.write_private(path, "".join(f"{r}={t}\n" for r, t in tokens.items()))
            return tokens
        finally:
            engine.dispose()

    # ---- waiting -------------------------------------------------------------------------

    def patroni(self, site: str, path: str = "patroni", timeout_s: float = 1.0) -> Any:
        try:
            r = httpx.get(f"{self.patroni_url(site)}/{path}", timeout=timeout_s)
            return r.json()
        except (httpx.HTTPError, ValueError):
            return None

    def primary(self) -> str | None:
        """The site whose node Patroni runs as primary now, if any."""
        for site in SITES:
            info = self.patroni(site)
            if info and info.get("role") in ("master", "primary") and \
                    info.get("state") == "running":
                return site
        return None

    def wait_until(self, what: str, check: Any, timeout_s: float = 90.0,
                   every_s: float = 0.2) -> Any:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            got = check()
            if got:
                return got
            time.sleep(every_s)
        raise ClusterError(f"{what} did not happen within {timeout_s:.0f} s (logs in "
                           f"{self.base / 'logs'})")

    def wait_replicating(self, timeout_s: float = 90.0) -> str:
        """Until one node is primary and the other its synchronous standby, in PostgreSQL
        and in Patroni's record (etcd's /sync key, written a loop after PostgreSQL reports
        the standby synchronous): only a standby named there may take over. The primary."""
        def ready() -> str | None:
            primary = self.primary()
            if primary is None:
                return None
            reps = (self.patroni(primary) or {}).get("replication") or []
            standby = next(s for s in SITES if s != primary)
            if any(r.get("sync_state") == "sync" and r.get("state") == "streaming"
                   for r in reps) and (self.patroni(standby) or {}).get("sync_standby"):
                return primary
            return None
        return str(self.wait_until("a primary with a synchronous standby", ready, timeout_s))

    def wait_http(self, url: str, timeout_s: float = 120.0) -> None:
        last = ["no answer"]

        def answers() -> bool:
            try:
                r = httpx.get(url, timeout=2)
            except httpx.HTTPError as exc:
                last[0] = type(exc).__name__
                return False
            last[0] = f"{r.status_code} {r.text[:200]}"
            return r.status_code < 500
        try:
            self.wait_until(f"{url} answering", answers, timeout_s)
        except ClusterError as exc:
            raise ClusterError(f"{exc}; last answer: {last[0]}") from None

    def ensure_database(self) -> None:
        """The application's database on the primary (replicated from there)."""
        import psycopg

        site = self.wait_until("a primary", self.primary)
        with psycopg.connect(host="127.0.0.1", port=self.ports[site].postgres,
                             user="postgres", dbname="postgres", autocommit=True,
                             connect_timeout=5) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                (DATABASE,)).fetchone():
                conn.execute(f'CREATE DATABASE "{DATABASE}"')

    # ---- stopping, failing ---------------------------------------------------------------

    def site_pids(self, site: str, parts: tuple[str, ...] = PARTS) -> list[int]:
        """Every process of the site's parts: the ones started and all they started (the
        PostgreSQL server Patroni runs, its backends), found through /proc."""
        roots = [pid for part, pid in self.pids.get(site, {}).items() if part in parts]
        if "patroni" in parts:
            postmaster = self._postmaster(site)
            if postmaster:
                roots.append(postmaster)
        return sorted(set(descendants(roots)))

    def _postmaster(self, site: str) -> int | None:
        try:
            return int((self.pg_root / site / "data" / "postmaster.pid").read_text()
                       .split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def signal(self, site: str, sig: int, parts: tuple[str, ...] = PARTS) -> list[int]:
        pids = self.site_pids(site, parts)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        return pids

    def kill_postgres(self, site: str) -> None:
        """SIGKILL the site's PostgreSQL server and its backends (Patroni lives on)."""
        postmaster = self._postmaster(site)
        for pid in descendants([postmaster] if postmaster else []):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def kill(self, site: str, parts: tuple[str, ...] = PARTS) -> None:
        """SIGKILL: as if the site lost power."""
        self.signal(site, signal.SIGKILL, parts)
        self._forget(site, parts)

    def stop(self, site: str, parts: tuple[str, ...] = PARTS) -> None:
        """Stop the site's parts in order (feed first), each given time to finish."""
        for part in reversed(parts):
            pids = self.signal(site, signal.SIGINT if part in ("api", "feed") else
                               signal.SIGTERM, (part,))
            deadline = time.monotonic() + 30
            while pids and time.monotonic() < deadline:
                pids = [p for p in pids if alive(p)]
                time.sleep(0.1)
            for pid in pids:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
        self._forget(site, parts)

    def _forget(self, site: str, parts: tuple[str, ...]) -> None:
        for part in parts:
            self.pids.get(site, {}).pop(part, None)
        self.save()

    def down(self) -> None:
        for site in (*SITES, WITNESS):
            self.stop(site)

    def remove(self, keep_logs: bool = False) -> None:
        """Kill everything and delete its data (tests, benchmarks); the logs too unless
        asked to keep them."""
        for site in (*SITES, WITNESS):
            self.kill(site)
        shutil.rmtree(self.pg_root, ignore_errors=True)
        if keep_logs:
            for path in self.base.iterdir():
                if path.name != "logs":
                    shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink()
        else:
            shutil.rmtree(self.base, ignore_errors=True)

    def switchover(self, to: str | None = None) -> str:
        """A planned move of the primary to `to` (default: the other site), through
        Patroni; recorded first, so the monitor reports a switchover, not a failover.
        Returns the new primary once it runs with a synchronous standby again."""
        from sqlalchemy import create_engine

        from backend.cluster import record

        leader = self.primary()
        if leader is None:
            raise ClusterError("no primary right now: nothing to switch over (a failover may "
                               "be under way; `kazsat cluster status`)")
        candidate = to or next(s for s in SITES if s != leader)
        if candidate == leader:
            raise ClusterError(f"{NAMES[leader]} is the primary already")
        engine = create_engine(self.database_url(leader))
        try:
            record(engine, "switchover_requested", candidate, f"{leader} -> {candidate}")
        finally:
            engine.dispose()
        r = httpx.post(f"{self.patroni_url(leader)}/switchover", timeout=60,
                       json={"leader": leader, "candidate": candidate})
        if r.status_code != 200:
            raise ClusterError(f"Patroni refused the switchover ({r.status_code}): "
                               f"{r.text.strip()}")
        self.wait_until(f"{NAMES[candidate]} as primary", lambda: self.primary() == candidate)
        return self.wait_replicating()

    def etcd_up(self, site: str) -> bool:
        try:
            r = httpx.get(f"http://127.0.0.1:{self.ports[site].etcd_client}/health", timeout=1)
            return bool(r.json().get("health") == "true")
        except (httpx.HTTPError, ValueError):
            return False

    def running(self, site: str, part: str) -> bool:
        pid = self.pids.get(site, {}).get(part)
        return pid is not None and alive(pid)

    def lose_site_in_simulation(self, site: str, lost: bool) -> None:
        """Tell every feed that the site's station is dark from now (or back from now): the
        other station takes the satellites. Written a few seconds ahead, so each running
        feed knows before it happens and a feed started later computes the same."""
        from orbit.geometry import from_ns

        faults = self._faults()
        at = from_ns(time.time_ns() + 3 * 10**9).isoformat()
        if lost:
            faults.append({"fault": "site_loss", "station": site, "from": at})
        else:
            for f in faults:
                if f.get("station") == site and not f.get("until"):
                    f["until"] = at
        import yaml

        self.faults_file.write_text(yaml.safe_dump({"faults": faults}, sort_keys=False))

    def _faults(self) -> list[dict[str, Any]]:
        import yaml

        if not self.faults_file.exists():
            return []
        return list((yaml.safe_load(self.faults_file.read_text()) or {}).get("faults", []))


def descendants(roots: list[int]) -> list[int]:
    """The processes and every process below them (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [r for r in roots if alive(r)]
    while todo:
        pid = todo.pop()
        if pid in out:
            continue
        out.append(pid)
        todo += children.get(pid, [])
    return out


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, not yet reaped) counts as gone
        return "Z" not in Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False




def _seconds(span: str) -> int:
    from simulator.faults import parse_duration

    return int(parse_duration(span))
