"""The `kazsat` command: start each part, or all of them together, and manage the database.

It sits above the three parts: each command imports the backend, simulator or dashboard code it
needs inside its body, so `kazsat api` loads no simulator and `kazsat simulate` no backend, and
`kazsat up` starts every part as a process of its own, by module name.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import httpx
import typer
from rich.console import Console

import logsetup

if TYPE_CHECKING:
    from backend.settings import Settings
    from kazsat.cluster import Cluster

app = typer.Typer(help="KazSat ground-segment monitor.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
db_app = typer.Typer(help="The SQL database.", no_args_is_help=True)
user_app = typer.Typer(help="People who log in to the dashboard.", no_args_is_help=True)
app.add_typer(token_app, name="token")
app.add_typer(user_app, name="user")
app.add_typer(db_app, name="db")
store_app = typer.Typer(help="Time-series stores.", no_args_is_help=True)
app.add_typer(store_app, name="store")
cluster_app = typer.Typer(help="The two-site deployment, as a demo on this machine "
                          "(docs/cluster.md).", no_args_is_help=True)
app.add_typer(cluster_app, name="cluster")
console = Console(stderr=True)


def get_settings() -> Settings:
    """The backend's settings, imported on first use (the simulator's command needs none)."""
    from backend.settings import get_settings as backend_settings

    return backend_settings()


def setup_logging() -> None:
    """The backend's log format and level (KAZSAT_LOG_FORMAT, KAZSAT_LOG_LEVEL)."""
    settings = get_settings()
    logsetup.configure(settings.log_format, settings.log_level)


# A stop waits this long for requests in hand; live streams never end by themselves, so
# they are then closed.
GRACE_S = 3


@app.command()
def api(host: str | None = None, port: int | None = None) -> None:
    """Run the HTTP API (ingest, read, alerts)."""
    import uvicorn

    from backend.api.app import create_app
    from backend.ladder import LadderError, load_ladder
    from backend.mission import MissionError, load_mission

    setup_logging()
    settings = get_settings()
    try:  # before the server starts: a broken file is one clear line, not a traceback
        mission = load_mission(settings.mission_file)
    except MissionError as exc:
        console.print(f"[red]mission database refused:[/red] {exc}", soft_wrap=True)
        raise typer.Exit(2) from None
    try:
        load_ladder(settings.escalation_file, mission)
    except LadderError as exc:
        console.print(f"[red]escalation ladder refused:[/red] {exc}", soft_wrap=True)
        raise typer.Exit(2) from None
    # proxy_headers off: uvicorn would otherwise take any local process's X-Forwarded-For
    # as the client's address; the API decides whom to believe (backend/api/auth.py).
    uvicorn.run(create_app(settings), host=host or settings.api_host,
                port=port or settings.api_port, log_level="warning", access_log=False,
                proxy_headers=False, log_config=None,  # uvicorn's lines in our format too
                timeout_graceful_shutdown=GRACE_S)


@app.command()
def dashboard(host: str | None = None, port: int | None = None) -> None:
    """Run the Dash control-room dashboard (talks to the API over HTTP only)."""
    # `python -m dashboard` in this process's place: the dashboard imports nothing of the
    # backend, and signals reach it as they reached this command.
    args = [*(["--host", host] if host else []), *(["--port", str(port)] if port else [])]
    os.execv(sys.executable, [sys.executable, "-m", "dashboard", *args])


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
             add_help_option=False)
def simulate(ctx: typer.Context) -> None:
    """Back-fill history and/or run live (`python -m simulator`; --help lists the options)."""
    from simulator.cli import simulate as run

    command = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    command.command()(run)
    command(ctx.args, prog_name="kazsat simulate")


@token_app.command("create")
def token_create(role: Annotated[str, typer.Option(
                     help="ingest, viewer, operator, engineer or metrics (GET /metrics)")],
                 name: Annotated[str, typer.Option(help="who or what holds it")] = "") -> None:
    """Print a new API token (stored hashed; shown only this once)."""
    from backend.services import open_database
    from backend.tokens import ROLES, create_token

    if role not in ROLES:
        raise typer.BadParameter(f"role must be one of {', '.join(ROLES)}", param_hint="--role")
    engine = open_database(get_settings())
    print(create_token(engine, role, name or f"{role} token"))


@token_app.command("list")
def token_list() -> None:
    """Every API token: id, role, state, when made, name (never the token itself)."""
    from backend.services import open_database
    from backend.timeutil import format_time
    from backend.tokens import list_tokens

    for t in list_tokens(open_database(get_settings())):
        state = "revoked" if t.revoked else "active"
        print(f"{t.id:>5}  {t.role:9} {state:8} {format_time(t.created_t)}  {t.name}")


@token_app.command("revoke")
def token_revoke(token_id: Annotated[int, typer.Argument(help="id from `kazsat token list`")]
                 ) -> None:
    """Revoke an API token for good (audited); running APIs refuse it within 5 s."""
    from backend.services import open_database
    from backend.tokens import TOKEN_RECHECK_S, revoke_token

    try:
        info = revoke_token(open_database(get_settings()), token_id, "cli")
    except LookupError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    console.print(f"token {info.id} ({info.name}, {info.role}) revoked; running APIs refuse "
                  f"it within {TOKEN_RECHECK_S:.0f} s")


@user_app.command("add")
def user_add(name: str,
             role: Annotated[str, typer.Option(help="viewer, operator or engineer")],
             password_stdin: Annotated[bool, typer.Option(
                 "--password-stdin", help="read the first password from standard input "
                 "instead of generating one")] = False) -> None:
    """Add a user with a one-time password, printed once; it must be changed at the first
    login."""
    from backend import users
    from backend.services import open_database

    settings = get_settings()
    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else None
    try:
        made = users.create_user(open_database(settings), name, role, password,
                                 min_length=settings.password_min_length)
    except users.UserError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    console.print(f"user {name} added ({role}); the password must be changed at first login")
    if password is None:
        console.print("one-time password (shown only now):")
        print(made)


@user_app.command("list")
def user_list() -> None:
    """Every user with role, state and last login."""
    from backend import users
    from backend.services import open_database
    from backend.timeutil import format_time

    for u in users.list_users(open_database(get_settings())):
        state = "disabled" if u.disabled else \
            "must change password" if u.must_change_password else "active"
        last = format_time(u.last_login_t) if u.last_login_t else "never"
        print(f"{u.name:24} {u.role:9} {state:21} last login {last}")


@user_app.command("disable")
def user_disable(name: str) -> None:
    """Disable a user; their sessions end at once."""
    from backend import users
    from backend.services import open_database

    try:
        users.set_disabled(open_database(get_settings()), name)
    except users.UserError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    console.print(f"user {name} disabled")


@user_app.command("reset-password")
def user_reset_password(name: str) -> None:
    """A new one-time password for a user, printed once; their sessions end."""
    from backend import users
    from backend.services import open_database

    try:
        password = users.reset_password(open_database(get_settings()), name)
    except users.UserError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    console.print(f"one-time password for {name} (shown only now; change it at login):")
    print(password)


@user_app.command("unlock")
def user_unlock(name: str) -> None:
    """Clear every login lock-out on a user name, through the running API (audited), with the
    engineer token of the settings or data_dir/tokens.env. The counts are in the database:
    every API process on it sees the unlock."""
    settings = get_settings()
    token = settings.engineer_token or stack_token(settings, "engineer")
    if not token:
        console.print("[red]no engineer token: set KAZSAT_ENGINEER_TOKEN (`kazsat token "
                      "create --role engineer`)[/red]")
        raise typer.Exit(1)
    try:
        r = httpx.post(f"{settings.api_url.rstrip('/')}/api/v1/auth/locks/{name}/clear",
                       headers={"Authorization": f"Token {token}"}, timeout=10)
    except httpx.HTTPError as exc:
        console.print(f"[red]the API at {settings.api_url} is unreachable: {exc}[/red]")
        raise typer.Exit(1) from None
    if r.status_code != 200:
        console.print(f"[red]the API refused ({r.status_code}): "
                      f"{r.json().get('message', r.text) if r.content else ''}[/red]")
        raise typer.Exit(1)
    console.print(f"login lock-outs on {name} cleared ({r.json()['cleared']} counts)")


def stack_token(settings: Settings, role: str) -> str:
    """The stack's own token for the role from data_dir/tokens.env (`kazsat up`), or ''."""
    path = settings.data_dir / "tokens.env"
    known = dict(line.split("=", 1) for line in path.read_text().split() if "=" in line) \
        if path.exists() else {}
    return known.get(f"KAZSAT_{role.upper()}_TOKEN", "")


def ensure_first_operator(settings: Settings) -> str | None:
    """With no user at all, add `operator` with a one-time password and return it (shown
    once by the caller); None when users exist. Never a default password."""
    from backend import users
    from backend.services import open_database

    engine = open_database(settings)
    if users.count_users(engine):
        return None
    return users.create_user(engine, "operator", "operator")


@token_app.command("bootstrap")
def token_bootstrap() -> None:
    """Register the tokens set in KAZSAT_INGEST_TOKEN, _VIEWER_, _OPERATOR_, _ENGINEER_ and
    _METRICS_ (docker-compose passes them from .env) so the stack's parts (and Prometheus)
    can use them; idempotent."""
    import hashlib

    from sqlalchemy import select

    from backend import db
    from backend.services import open_database

    setup_logging()
    settings = get_settings()
    engine = open_database(settings)
    given = {role: getattr(settings, f"{role}_token") for role in
             ("ingest", "viewer", "operator", "engineer", "metrics")}
    with engine.begin() as conn:
        for role, token in given.items():
            if not token:
                continue
            if len(token) < 24:
                raise typer.BadParameter(f"KAZSAT_{role.upper()}_TOKEN is too short to be a "
                                         "secret (24 characters at least)")
            digest = hashlib.sha256(token.encode()).hexdigest()  # as backend.tokens stores it
            if conn.execute(select(db.tokens.c.id).where(db.tokens.c.hash == digest)).first():
                continue
            conn.execute(db.tokens.insert().values(hash=digest, role=role, revoked=False,
                                                   name=f"bootstrap: {role}",
                                                   created_at=time.time_ns()))
            logging.getLogger(__name__).info("registered the %s token from the environment",
                                             role)


@store_app.command("copy")
def store_copy(source: Annotated[str, typer.Option("--from", help="store URL to read")],
               dest: Annotated[str, typer.Option("--to", help="store URL to write")]) -> None:
    """Copy history between stores: SQLAlchemy URLs (SQLite, PostgreSQL) or
    influxdb://ORG:TOKEN@HOST:PORT/BUCKET (docs/deployment.md)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from backend.store.copy import copy_history, open_endpoint

    setup_logging()
    settings = get_settings()
    src, dst = open_endpoint(source, settings), open_endpoint(dest, settings)
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn(
            "{task.completed}/{task.total} series"), TimeElapsedColumn(),
            console=console) as bar:
        task = bar.add_task("copying", total=None)
        stored = copy_history(src, dst, progress=lambda done, total, n: bar.update(
            task, completed=done, total=total, description=f"copying: {n:,} samples"))
    src.store.close()
    dst.store.close()
    console.print(f"copied; the destination stored {stored:,} new samples")


@db_app.command("upgrade")
def db_upgrade(seal: Annotated[bool, typer.Option(
        help="also seal settled history kept as rows into compressed blocks")] = True) -> None:
    """Apply pending schema migrations, then convert the SQL store's settled history from
    one row per sample to compressed blocks (what the API's compactor would do over its
    first passes). A kill loses nothing; run it again to go on where it stopped."""
    from rich.progress import (
        BarColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from backend.services import open_database
    from backend.store.sql import SqlStore

    setup_logging()
    settings = get_settings()
    engine = open_database(settings)
    if not seal or settings.store != "sql":
        return
    store = SqlStore(engine, settings.clock_tolerance_s, settings.compact_settle_s)
    if console.is_terminal:  # a bar for a person; log lines only for a log collector
        with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn(
                "{task.completed}/{task.total} series"), TimeElapsedColumn(),
                TimeRemainingColumn(), console=console) as bar:
            task = bar.add_task("sealing history into blocks", total=None)
            sealed = store.compact(progress=lambda done, total, n: bar.update(
                task, completed=done, total=total,
                description=f"sealing history into blocks: {n:,} samples"))
    else:
        sealed = store.compact()
    store.close()
    logging.getLogger(__name__).info("%d samples sealed into compressed blocks", sealed)


@db_app.command("prune")
def db_prune() -> None:
    """Apply the retention settings once: delete samples and rollups past their period."""
    from backend.retention import prune
    from backend.services import open_database

    setup_logging()
    settings = get_settings()
    if settings.store != "sql":
        console.print("the InfluxDB store keeps telemetry under its bucket's retention period; "
                      "nothing to prune in SQL")
        return
    removed = prune(open_database(settings), settings.retention_days())
    console.print("removed " + (", ".join(f"{n:,} {name}" for name, n in removed.items())
                                or "nothing (every resolution is kept forever)"))


@db_app.command("rebuild-rollups")
def rebuild_rollups() -> None:
    """Recompute every rollup from the raw samples."""
    from rich.progress import Progress

    from backend.services import build_services
    from backend.store.sql import SqlStore

    setup_logging()
    services = build_services(get_settings())
    if not isinstance(services.store, SqlStore):
        console.print("[red]the InfluxDB store keeps no rollups (InfluxDB aggregates at query "
                      "time): there is nothing to rebuild[/red]")
        raise typer.Exit(2)
    with Progress(console=console) as progress:
        task = progress.add_task("rebuilding rollups", total=None)
        rows = services.store.rebuild_rollups(
            lambda done, total: progress.update(task, completed=done, total=total))
    console.print(f"rollups rebuilt from {rows:,} samples")


@db_app.command("check")
def db_check() -> None:
    """Decode every compressed block of sealed history and say which are damaged (series
    and time range); exit status 1 when any is."""
    from rich.progress import Progress

    from backend import db
    from backend.services import open_database
    from backend.store.sql import SqlStore
    from backend.timeutil import format_time

    setup_logging()
    settings = get_settings()
    if settings.store != "sql":
        console.print("the InfluxDB store keeps no blocks in SQL; nothing to check")
        return
    engine = open_database(settings)
    store = SqlStore(engine, settings.clock_tolerance_s, settings.compact_settle_s)
    with Progress(console=console) as progress:
        task = progress.add_task("checking blocks", total=None)
        checked, damaged = store.check_blocks(
            lambda done, total: progress.update(task, completed=done, total=total))
    names = {}
    with engine.connect() as conn:
        for row in conn.execute(db.series.select()):
            names[row.id] = "/".join(x for x in (row.satellite, row.station, row.parameter) if x)
    for d in damaged:
        console.print(f"[red]damaged[/red] {names.get(d.series_id, d.series_id)} "
                      f"{format_time(d.start_ns)} to {format_time(d.end_ns)}: {d.reason}")
    store.close()
    console.print(f"{checked:,} blocks checked, {len(damaged):,} damaged")
    if damaged:
        raise typer.Exit(1)


@app.command()
def up(backfill: Annotated[str, typer.Option(help="history written on first start")] = "24h",
       seed: int = 2026, scenario: Path | None = None) -> None:
    """Start the API, the dashboard and the simulator together (Ctrl-C stops all)."""
    from backend import files

    setup_logging()
    settings = get_settings()
    files.private_dir(settings.data_dir)
    tokens = ensure_stack_tokens(settings)
    first_password = ensure_first_operator(settings)
    if first_password:
        console.print("[bold]First user created:[/bold] operator, one-time password "
                      f"[bold]{first_password}[/bold] (shown only now; change it at the first "
                      "login; add people with `kazsat user add`)")
    env = {**os.environ, "KAZSAT_INGEST_TOKEN": tokens["ingest"],
           "KAZSAT_VIEWER_TOKEN": tokens["viewer"], "PYTHONUNBUFFERED": "1"}
    children: dict[str, subprocess.Popen] = {}  # part name -> its process, in start order

    def start(name: str, module: list[str]) -> subprocess.Popen:
        child = subprocess.Popen([sys.executable, "-m", *module], env=env,
                                 start_new_session=True)
        children[name] = child
        return child

    def stop_all(*_: object) -> None:
        # Newest first, one at a time: the simulator flushes its last samples while the
        # API is still there to take them.
        for child in reversed(children.values()):
            if child.poll() is None:
                child.send_signal(signal.SIGINT)
            try:
                child.wait(20)
            except subprocess.TimeoutExpired:
                child.kill()

    signal.signal(signal.SIGTERM, lambda *_: (stop_all(), sys.exit(0)))
    # Ctrl-C stops everything even when started from a script in the background, where the
    # shell hands SIGINT down ignored: our own handler also resets it for the children.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        wait_for_api(settings.api_url, child=start("API", ["kazsat", "api"]))
        marker = settings.data_dir / "backfilled"
        first = bool(backfill) and not marker.exists()
        if first:
            console.print(f"[bold]First start: {backfill} of history is written in the "
                          "background, newest hour first[/bold] (replay fills in meanwhile)")
        start("simulator", simulate_args(settings.api_url, seed, scenario,
                                         backfill if first else None, marker))
        gone = [f"{name} (code {c.returncode})" for name, c in children.items()
                if c.poll() is not None]
        if gone:
            console.print(f"[red]stopped: {', '.join(gone)} exited during start-up; "
                          "its message is above[/red]")
            raise typer.Exit(1)
        start("dashboard", ["dashboard"])
        console.print(f"\n[bold green]KazSat monitor running[/bold green]\n"
                      f"  dashboard  {settings.public_dashboard_url}\n"
                      f"  API docs   {settings.api_url}/docs\n"
                      + (f"  login      operator / {first_password} (one-time)\n"
                         if first_password else
                         "  login      a user of `kazsat user list` "
                         "(`kazsat user reset-password NAME` if forgotten)\n") +
                      f"  tokens     {(settings.data_dir / 'tokens.env').resolve()} "
                      "(API tokens for machines)\n"
                      "  Ctrl-C stops everything.\n")
        while all(c.poll() is None for c in children.values()):
            time.sleep(0.5)
        failed = [name for name, c in children.items() if c.poll() not in (None, 0)]
        console.print(f"[red]stopped: {', '.join(failed) or 'a part'} exited[/red]")
        raise typer.Exit(1)
    except KeyboardInterrupt:
        console.print("stopping…")
    finally:
        stop_all()


def simulate_args(api_url: str, seed: int, scenario: Path | None, backfill: str | None,
                  marker: Path) -> list[str]:
    """The simulator's module and arguments under `kazsat up` (for `python -m`). With a
    back-fill, one process goes live at once and writes the history beside it at each
    parameter's own rate (so replay shows what an operator saw), then the marker (an
    interrupted back-fill runs again)."""
    args = ["simulator", "--seed", str(seed), "--api-url", api_url]
    if scenario:
        args += ["--scenario", str(scenario)]
    if backfill:
        args += ["--backfill", backfill, "--backfill-marker", str(marker)]
    return args


def ensure_stack_tokens(settings: Settings) -> dict[str, str]:
    """The tokens the stack's parts use, made once and kept in data_dir/tokens.env."""
    from backend import files
    from backend.services import open_database
    from backend.tokens import create_token

    path = settings.data_dir / "tokens.env"
    known = dict(line.split("=", 1) for line in path.read_text().split() if "=" in line) \
        if path.exists() else {}
    roles = {"ingest": "KAZSAT_INGEST_TOKEN", "viewer": "KAZSAT_VIEWER_TOKEN",
             "operator": "KAZSAT_OPERATOR_TOKEN", "engineer": "KAZSAT_ENGINEER_TOKEN"}
    if all(v in known for v in roles.values()):
        return {role: known[var] for role, var in roles.items()}
    engine = open_database(settings)
    tokens = {role: create_token(engine, role, f"kazsat up: {role}") for role in roles}
    files.write_private(path, "".join(f"{roles[r]}={t}\n" for r, t in tokens.items()))
    return tokens


def wait_for_api(url: str, timeout_s: float = 60, child: subprocess.Popen | None = None) -> None:
    """Until GET /healthz answers 200; typer.Exit(1) with a message at once if the API process
    (child) exits first, e.g. on a broken mission file, or after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if child is not None and child.poll() is not None:
            console.print(f"[red]the API exited (code {child.returncode}) before it was ready; "
                          "its message is above[/red]")
            raise typer.Exit(1)
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    console.print(f"[red]the API did not come up at {url} within {timeout_s:.0f} s[/red]")
    raise typer.Exit(1)


# ---- the two-site demo (kazsat/cluster.py) ----------------------------------------------------

ClusterDir = Annotated[Path | None, typer.Option("--dir", help="the cluster's folder "
                                                 "(default: KAZSAT_DATA_DIR/cluster)")]
SiteName = Annotated[str, typer.Argument(help="akkol or kokterek")]


def cluster_at(folder: Path | None, new: bool = False) -> Cluster:
    from kazsat.cluster import Cluster, ClusterError

    base = folder or get_settings().data_dir / "cluster"
    if new and not (base / "state.json").exists():
        return Cluster(base)
    try:
        return Cluster.load(base)
    except ClusterError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None


def site_name(site: str) -> str:
    from kazsat.cluster import SITES

    if site not in SITES:
        raise typer.BadParameter(f"a site is one of {', '.join(SITES)}", param_hint="SITE")
    return site


@cluster_app.command("up")
def cluster_up(folder: ClusterDir = None,
               backfill: Annotated[str, typer.Option(help="history each feed writes on the "
                                                     "first start")] = "1h") -> None:
    """Start both sites on this machine: etcd at each site and a witness, PostgreSQL under
    Patroni (Akkol primary, Kokterek synchronous standby), each site's API, dashboard and
    station feed. Prints what changes until Ctrl-C, which stops it all."""
    from kazsat.cluster import SITES, ClusterError

    setup_logging("WARNING")
    cluster = cluster_at(folder, new=True)
    t0 = time.monotonic()
    try:
        tokens = cluster.up(backfill=backfill, on_step=lambda text: console.print(
            f"[dim]{time.monotonic() - t0:5.1f} s[/dim] {text}"))
        password = cluster_first_operator(cluster)
    except ClusterError as exc:
        console.print(f"[red]{exc}[/red]")
        cluster.down()
        raise typer.Exit(1) from None
    console.print(f"\n[bold green]two sites running[/bold green] "
                  f"({time.monotonic() - t0:.0f} s)")
    for site in SITES:
        console.print(f"  {site:9} dashboard {cluster.dashboard_url(site)}   "
                      f"API {cluster.api_url(site)}")
    if password:
        console.print(f"  login     operator / {password} (one-time; either site)")
    console.print(f"  tokens    {cluster.base / 'tokens.env'}\n"
                  "  `kazsat cluster status | switchover | fail akkol | start akkol` from "
                  "another terminal; Ctrl-C stops everything.\n")
    del tokens
    try:
        last = ""
        while True:
            now = cluster_summary(cluster)
            if now != last:
                console.print(f"[dim]{time.strftime('%H:%M:%S')}[/dim] {now}")
                last = now
            time.sleep(2)
    except KeyboardInterrupt:
        console.print("stopping both sites…")
    finally:
        type(cluster).load(cluster.base).down()  # as other commands left it


def cluster_first_operator(cluster: Cluster) -> str | None:
    from backend.settings import Settings

    return ensure_first_operator(Settings(_env_file=None, data_dir=cluster.data_dir("akkol"),
                                          database_url=cluster.database_url("akkol")))


def cluster_summary(cluster: Cluster) -> str:
    """One line: each site's database role and API."""
    from kazsat.cluster import NAMES, SITES

    parts = []
    for site in SITES:
        info = cluster.patroni(site) or {}
        role = {"master": "primary", "primary": "primary"}.get(info.get("role", ""),
                                                             info.get("role", "down"))
        try:
            up = httpx.get(f"{cluster.api_url(site)}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            up = False
        api = "API up" if up else "API down"
        parts.append(f"{NAMES[site]}: {role}, {api}")
    return " | ".join(parts)


@cluster_app.command("status")
def cluster_status(folder: ClusterDir = None) -> None:
    """Each site's processes, database role, replication and endpoints."""
    from rich.table import Table
    from sqlalchemy import create_engine

    from backend.cluster import ClusterView
    from backend.settings import SiteEndpoints
    from kazsat.cluster import NAMES, SITES, WITNESS

    cluster = cluster_at(folder)
    sites = {s: SiteEndpoints(name=NAMES[s], api_url=cluster.api_url(s),
                              patroni_url=cluster.patroni_url(s)) for s in SITES}
    engine = create_engine(cluster.database_url("akkol"),
                           connect_args={"connect_timeout": 2})
    try:
        view = ClusterView(engine, sites).status()
    finally:
        engine.dispose()
    table = Table("site", "etcd", "database", "replication", "API", "dashboard", "feed")
    for s in view.sites:
        rep = "" if s.database != "replica" else (
            ("sync" if s.sync else "async") + (", streaming" if s.streaming else
                                               ", not streaming") +
            (f", lag {s.lag_bytes} B / {s.lag_ms} ms" if s.lag_bytes is not None else ""))
        table.add_row(s.name, _up(cluster.etcd_up(s.site)), s.database, rep,
                      f"{s.api} {cluster.api_url(s.site)}",
                      _up(cluster.running(s.site, "dashboard")) +
                      f" {cluster.dashboard_url(s.site)}",
                      _up(cluster.running(s.site, "feed")))
    table.add_row("witness", _up(cluster.etcd_up(WITNESS)), "", "", "", "", "")
    console.print(table)
    since = f" since {format_ns(view.primary_since_t)}" if view.primary_since_t else ""
    console.print(f"primary: {NAMES.get(view.primary or '', 'none')}{since}; "
                  f"redundancy: {'yes' if view.redundant else '[red]lost[/red]'}")
    for kind, event in (("failover", view.last_failover), ("switchover", view.last_switchover)):
        if event:
            console.print(f"last {kind}: {event['at']} ({event['detail']})")


def _up(flag: bool) -> str:
    return "up" if flag else "[red]down[/red]"


def format_ns(t: int) -> str:
    from backend.timeutil import format_time

    return format_time(t)


@cluster_app.command("switchover")
def cluster_switchover(folder: ClusterDir = None,
                       to: Annotated[str | None, typer.Option(help="the new primary's site "
                                                              "(default: the other)")] = None
                       ) -> None:
    """Move the primary database to the other site, planned (Patroni's switchover)."""
    from kazsat.cluster import NAMES, ClusterError

    cluster = cluster_at(folder)
    t0 = time.monotonic()
    try:
        primary = cluster.switchover(site_name(to) if to else None)
    except ClusterError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    console.print(f"{NAMES[primary]} is primary, with a synchronous standby "
                  f"({time.monotonic() - t0:.1f} s)")


@cluster_app.command("fail")
def cluster_fail(site: SiteName, folder: ClusterDir = None) -> None:
    """Kill everything at a site at once (SIGKILL: its etcd member, database node, API,
    dashboard and feed), as if it lost power; its station goes dark in the simulation."""
    from kazsat.cluster import NAMES

    cluster = cluster_at(folder)
    site = site_name(site)
    cluster.kill(site)
    cluster.lose_site_in_simulation(site, lost=True)
    console.print(f"{NAMES[site]} site killed. Watch the other site's dashboard; "
                  f"`kazsat cluster start {site}` brings it back.")


@cluster_app.command("start")
def cluster_start(site: SiteName, folder: ClusterDir = None) -> None:
    """Bring a site back: its database rejoins as a replica (rewound if needed), then its
    API, dashboard and feed."""
    from kazsat.cluster import NAMES, ClusterError

    cluster = cluster_at(folder)
    site = site_name(site)
    tokens = dict(line.split("=", 1) for line in (cluster.base / "tokens.env").read_text()
                  .split())
    try:
        cluster.start_site(site, tokens)
        primary = cluster.wait_replicating()
    except ClusterError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    console.print(f"{NAMES[site]} is back; {NAMES[primary]} is primary with a synchronous "
                  "standby")


@cluster_app.command("down")
def cluster_down(folder: ClusterDir = None) -> None:
    """Stop every process of both sites (the data stays for the next `up`)."""
    cluster_at(folder).down()
    console.print("both sites stopped")


def main() -> None:
    app()
