"""The `kazsat` command: start each part, or all of them together, and manage the database."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console

from backend.settings import Settings, get_settings
from simulator.cli import simulate

app = typer.Typer(help="KazSat ground-segment monitor.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
db_app = typer.Typer(help="The SQL database.", no_args_is_help=True)
app.add_typer(token_app, name="token")
app.add_typer(db_app, name="db")
app.command("simulate")(simulate)
console = Console(stderr=True)


def setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
                        datefmt="%Y-%m-%dT%H:%M:%SZ")
    logging.Formatter.converter = time.gmtime


@app.command()
def api(host: str | None = None, port: int | None = None) -> None:
    """Run the HTTP API (ingest, read, alerts)."""
    import uvicorn

    from backend.api.app import create_app

    setup_logging()
    settings = get_settings()
    uvicorn.run(create_app(settings), host=host or settings.api_host,
                port=port or settings.api_port, log_level="warning", access_log=False)


@app.command()
def dashboard(host: str | None = None, port: int | None = None) -> None:
    """Run the Dash control-room dashboard (talks to the API over HTTP only)."""
    from dashboard.app import run

    setup_logging()
    settings = get_settings()
    run(host or settings.dashboard_host, port or settings.dashboard_port)


@token_app.command("create")
def token_create(role: Annotated[str, typer.Option(help="ingest, viewer, operator or engineer")],
                 name: Annotated[str, typer.Option(help="who or what holds it")] = "") -> None:
    """Print a new API token (stored hashed; shown only this once)."""
    from backend.services import open_database
    from backend.tokens import ROLES, create_token

    if role not in ROLES:
        raise typer.BadParameter(f"role must be one of {', '.join(ROLES)}", param_hint="--role")
    engine = open_database(get_settings())
    print(create_token(engine, role, name or f"{role} token"))


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply pending schema migrations."""
    from backend.services import open_database

    setup_logging()
    open_database(get_settings())


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

    setup_logging()
    services = build_services(get_settings())
    with Progress(console=console) as progress:
        task = progress.add_task("rebuilding rollups", total=None)
        rows = services.store.rebuild_rollups(
            lambda done, total: progress.update(task, completed=done, total=total))
    console.print(f"rollups rebuilt from {rows:,} samples")


@app.command()
def up(backfill: Annotated[str, typer.Option(help="history written on first start")] = "24h",
       backfill_step: Annotated[float, typer.Option(help="seconds between back-filled samples")]
       = 10.0,
       seed: int = 2026, scenario: Path | None = None) -> None:
    """Start the API, the dashboard and the simulator together (Ctrl-C stops all)."""
    setup_logging()
    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    tokens = ensure_stack_tokens(settings)
    env = {**os.environ, "KAZSAT_INGEST_TOKEN": tokens["ingest"],
           "KAZSAT_VIEWER_TOKEN": tokens["viewer"], "PYTHONUNBUFFERED": "1"}
    kazsat = [sys.executable, "-m", "backend"]
    children: list[subprocess.Popen] = []

    def start(args: list[str]) -> subprocess.Popen:
        child = subprocess.Popen(kazsat + args, env=env, start_new_session=True)
        children.append(child)
        return child

    def stop_all(*_: object) -> None:
        for child in reversed(children):
            if child.poll() is None:
                child.send_signal(signal.SIGINT)
        for child in children:
            try:
                child.wait(15)
            except subprocess.TimeoutExpired:
                child.kill()

    signal.signal(signal.SIGTERM, lambda *_: (stop_all(), sys.exit(0)))
    try:
        start(["api"])
        wait_for_api(settings.api_url)
        marker = settings.data_dir / "backfilled"
        sim = ["simulate", "--seed", str(seed), "--api-url", settings.api_url]
        if scenario:
            sim += ["--scenario", str(scenario)]
        if not marker.exists() and backfill:
            console.print(f"[bold]First start: back-filling {backfill} of history[/bold]")
            done = subprocess.run(kazsat + sim + ["--backfill", backfill, "--backfill-step",
                                                  str(backfill_step), "--no-live"], env=env)
            if done.returncode == 0:
                marker.write_text(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        start(sim)
        start(["dashboard"])
        console.print(f"\n[bold green]KazSat monitor running[/bold green]\n"
                      f"  dashboard  {settings.public_dashboard_url}\n"
                      f"  API docs   {settings.api_url}/docs\n"
                      f"  tokens     {(settings.data_dir / 'tokens.env').resolve()} "
                      "(operator token for acknowledging alerts)\n"
                      "  Ctrl-C stops everything.\n")
        while all(c.poll() is None for c in children):
            time.sleep(0.5)
        failed = [c.args[3] for c in children if c.poll() not in (None, 0)]
        console.print(f"[red]stopped: {', '.join(failed) or 'a part'} exited[/red]")
    except KeyboardInterrupt:
        console.print("stopping…")
    finally:
        stop_all()


def ensure_stack_tokens(settings: Settings) -> dict[str, str]:
    """The tokens the stack's parts use, made once and kept in data_dir/tokens.env."""
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
    path.write_text("".join(f"{roles[r]}={t}\n" for r, t in tokens.items()))
    path.chmod(0o600)
    return tokens


def wait_for_api(url: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"the API did not come up at {url} within {timeout_s:.0f} s")


def main() -> None:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is noise
    app()
