"""Schema migrations (Alembic, backend/migrations): databases made before Alembic (schema
versions 3 and 4) are carried over by `kazsat db upgrade` with every row, on SQLite and on
PostgreSQL;
the revisions make exactly the schema backend/db.py's tables describe; older and newer
schemas are recognised; the package ships its revisions."""

from __future__ import annotations

import gzip
import os
import shutil
import sqlite3
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, MetaData, inspect, select, text
from sqlalchemy.engine import make_url

from backend import db, files
from backend.store.sql import SqlStore
from kazsat.stack import ROOT, Stack
from tests.databases import database_url

KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
BEFORE = Path(__file__).parent / "fixtures" / "before_alembic"  # README.md there: how made
RELEASE_PASSWORD = "steppe-wind-1997"  # the fixtures' users' password (make.py)
VERSIONS = [3, 4]  # the schema_version each fixture folder holds
CASES = [pytest.param(version, kind, id=f"v{version}-{kind}",
                      marks=[pytest.mark.postgres] if kind == "postgres" else [])
         for version in VERSIONS for kind in ("sqlite", "postgres")]


def restore_release(version: int, kind: str, url: str) -> None:
    """A database made before Alembic, from its SQL dump, into an empty database at `url`."""
    folder = BEFORE / f"v{version}"
    if kind == "sqlite":
        path = Path(make_url(url).database or "")
        files.touch_private(path)
        conn = sqlite3.connect(path)
        conn.executescript(gzip.decompress((folder / "sqlite.sql.gz").read_bytes()).decode())
        conn.close()
        return
    dump = gzip.decompress((folder / "postgresql.sql.gz").read_bytes()).decode()
    sql = "\n".join(line for line in dump.splitlines() if not line.startswith("\\"))  # psql's
    libpq = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(libpq, autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[call-overload]  # a whole script, no parameters


def every_row(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Each table's rows in key order, as the database holds them."""
    reflected = MetaData()
    reflected.reflect(engine)
    rows = {}
    with engine.connect() as conn:
        for name, table in reflected.tables.items():
            order = list(table.primary_key.columns) or list(table.columns)
            rows[name] = [tuple(r) for r in conn.execute(select(table).order_by(*order))]
    return rows


def upgrade_by_cli(url: str, data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KAZSAT_DATABASE_URL": url, "KAZSAT_DATA_DIR": str(data_dir)}
    done = subprocess.run([sys.executable, "-m", "kazsat", "db", "upgrade", *args], env=env,
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done


def schema_differences(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(compare_metadata(MigrationContext.configure(conn), db.metadata))


@contextmanager
def engine_at(url: str) -> Iterator[Engine]:
    engine = db.make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.mark.parametrize(("version", "kind"), CASES)
def test_a_database_from_before_alembic_is_carried_over_with_every_row(
        version: int, kind: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    with database_url(kind, data) as url:
        restore_release(version, kind, url)
        with engine_at(url) as engine:
            before = every_row(engine)
        assert [r[0] for r in before["schema_version"]] == list(range(1, version + 1))
        filled = ["series", "samples", "rollups", "latest", "pruned", "tokens", "users",
                  "sessions", "alerts", "outbox", "audit", "limit_overrides",
                  *(["limit_states", "alarm_generation"] if version >= 4 else [])]
        assert all(before[t] for t in filled), {t: len(r) for t, r in before.items()}

        done = upgrade_by_cli(url, data, "--no-seal")  # the schema alone first
        assert f"adopting a database at schema version {version}" in done.stderr
        assert f"database schema at revision {db.head_revision()}" in done.stderr
        with engine_at(url) as engine:
            after = every_row(engine)
            assert db.current_revision(engine) == db.head_revision()
            assert schema_differences(engine) == []
        for table, rows in before.items():  # every row, every column, unchanged
            width = len(rows[0]) if rows else 0
            kept = [r[:width] for r in after[table]]
            if table == "schema_version":
                assert [r[0] for r in after[table]] == [*range(1, version + 1), 5]
                kept = kept[:version]
            assert kept == rows, table
        # Then the history becomes blocks: every sample still read, none left as a row.
        done = upgrade_by_cli(url, data)
        assert done.stderr.count("Running upgrade") == 0  # no revision left
        assert f"{len(before['samples'])} samples sealed" in done.stderr
        with engine_at(url) as engine:
            store = SqlStore(engine)
            sealed = list(store.export(sorted({r[0] for r in before["samples"]}), 0, 2**62,
                                       None))
            assert sealed == before["samples"] and not every_row(engine)["samples"]

        # The API runs on it: the release's users log in, its history and alerts answer, and
        # new rows take new ids (PostgreSQL's sequences came along).
        stack = Stack(data, extra_env={"KAZSAT_DATABASE_URL": url} if kind != "sqlite" else {})
        new_password = stack.add_user("nurlan", "viewer")
        stack.start_api()
        try:
            token = stack.login("oleg", RELEASE_PASSWORD)
            with stack.as_token(token) as c:
                [alert] = c.get("/api/v1/alerts").json()["alerts"]
                assert alert["parameter"] == "battery_temp"
                assert alert["acked_by"] and alert["ack_comment"] == "thermal team informed"
                latest = c.get("/api/v1/latest", params={"satellite": "kazsat-2"}).json()
                assert latest["series"]
            assert httpx.post(f"{stack.api_url}/api/v1/auth/login", timeout=30, json={
                "username": "nurlan", "password": new_password}).status_code == 200
        finally:
            stack.stop()
        with engine_at(url) as engine, engine.connect() as conn:
            ids = [r.id for r in conn.execute(select(db.users.c.id).order_by(db.users.c.id))]
        assert ids == [*(r[0] for r in before["users"]), max(r[0] for r in before["users"]) + 1]


@pytest.mark.parametrize("kind", KINDS)
def test_the_revisions_make_the_schema_the_tables_describe(kind: str, tmp_path: Path) -> None:
    with database_url(kind, tmp_path) as url, engine_at(url) as engine:
        assert db.upgrade(engine) == db.head_revision()
        assert schema_differences(engine) == []
        assert db.upgrade(engine) == db.head_revision()  # a second run changes nothing
        # Every revision also goes back down, and up again to the same schema.
        with engine.begin() as conn:
            config = db.alembic_config(conn)
            command.downgrade(config, "base")
            assert set(inspect(conn).get_table_names()) == {"alembic_version"}
            command.upgrade(config, "head")
        assert schema_differences(engine) == []


@pytest.mark.parametrize("kind", KINDS)
def test_an_older_schema_is_adopted_at_its_version(kind: str, tmp_path: Path) -> None:
    """Schema version 2 (no users yet), as the revisions that reproduce it make it."""
    with database_url(kind, tmp_path) as url:
        with engine_at(url) as engine, engine.begin() as conn:
            command.upgrade(db.alembic_config(conn), db.LEGACY_REVISIONS[2])
            conn.execute(text("DROP TABLE alembic_version"))
            conn.execute(db.schema_version.insert(), [{"version": 1, "applied_at": 0},
                                                      {"version": 2, "applied_at": 0}])
        with engine_at(url) as engine:
            assert not inspect(engine).has_table("users")
        done = upgrade_by_cli(url, tmp_path)
        assert "adopting a database at schema version 2 (before Alembic) as revision 0002" \
            in done.stderr
        with engine_at(url) as engine:
            assert inspect(engine).has_table("users")
            assert schema_differences(engine) == []


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    with engine_at(f"sqlite:///{tmp_path / 'kazsat.db'}") as engine:
        db.upgrade(engine)
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
        with pytest.raises(RuntimeError, match="revision 9999 is newer than this program's"):
            db.upgrade(engine)
    with engine_at(f"sqlite:///{tmp_path / 'legacy.db'}") as engine:  # before Alembic
        with engine.begin() as conn:
            db.schema_version.create(conn)
            conn.execute(db.schema_version.insert().values(version=7, applied_at=0))
        with pytest.raises(RuntimeError, match="schema 7 is newer than this program knows"):
            db.upgrade(engine)


def test_releases_before_alembic_refuse_a_migrated_database(tmp_path: Path) -> None:
    """Such a version compares the highest schema_version with its own (at most 4) and stops
    when it is higher: revision 0005 makes it 5."""
    with engine_at(f"sqlite:///{tmp_path / 'kazsat.db'}") as engine:
        db.upgrade(engine)
        with engine.connect() as conn:
            versions = conn.execute(select(db.schema_version.c.version)).scalars().all()
    assert max(versions) == 5


def test_the_revisions_form_one_line() -> None:
    """One head: two branches that each added a revision must be merged (docs/storage.md)."""
    script = ScriptDirectory.from_config(db.alembic_config())
    assert script.get_heads() == [db.head_revision()]
    numbers = [r.revision for r in script.walk_revisions()]
    assert numbers == sorted(numbers, reverse=True) and numbers[-1] == "0001"


def test_the_package_carries_its_migrations(tmp_path: Path) -> None:
    """What `pip install` puts in place: the wheel has env.py, the template and every
    revision, so `kazsat db upgrade` works from an installed package."""
    source = tmp_path / "source"  # a copy: building in place would leave build/ behind
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for package in ("backend", "dashboard", "simulator", "orbit", "kazsat", "logsetup"):
        shutil.copytree(ROOT / package, source / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w",
                    str(tmp_path), str(source)], check=True, timeout=300, capture_output=True)
    [wheel] = tmp_path.glob("kazsat_monitor-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    versions = ROOT / "backend" / "migrations" / "versions"
    expected = {"backend/migrations/env.py", "backend/migrations/script.py.mako",
                *(f"backend/migrations/versions/{p.name}" for p in versions.glob("*.py"))}
    assert expected <= names, sorted(expected - names)

