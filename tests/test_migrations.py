"""Schema migrations: a database made by an older version is brought up to date by
`kazsat db upgrade`, on SQLite and on PostgreSQL, and a newer schema is refused."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from sqlalchemy import inspect

from backend import db
from tests.databases import database_url

KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def build_version(engine, version: int) -> None:
    """The schema as that version left it: its migrations only."""
    for number in range(1, version + 1):
        with engine.begin() as conn:
            db.MIGRATIONS[number - 1](conn)
            conn.execute(db.schema_version.insert().values(version=number, applied_at=0))


@pytest.mark.parametrize("kind", KINDS)
def test_db_upgrade_brings_a_version_2_database_up_to_date(kind, tmp_path):
    with database_url(kind, tmp_path) as url:
        engine = db.make_engine(url)
        build_version(engine, 2)
        assert not inspect(engine).has_table("users")
        env = {**os.environ, "KAZSAT_DATABASE_URL": url, "KAZSAT_DATA_DIR": str(tmp_path)}
        done = subprocess.run([sys.executable, "-m", "kazsat", "db", "upgrade"], env=env,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert f"schema version {db.SCHEMA_VERSION}" in done.stderr + done.stdout
        engine.dispose()
        engine = db.make_engine(url)
        tables = set(inspect(engine).get_table_names())
        assert {t.name for t in db.metadata.sorted_tables} <= tables
        assert db.current_version(engine) == db.SCHEMA_VERSION
        assert db.upgrade(engine) == db.SCHEMA_VERSION  # a second run changes nothing
        engine.dispose()


def test_a_newer_schema_is_refused(tmp_path):
    engine = db.make_engine(f"sqlite:///{tmp_path / 'kazsat.db'}")
    db.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(db.schema_version.insert().values(version=db.SCHEMA_VERSION + 1,
                                                       applied_at=0))
    with pytest.raises(RuntimeError, match="newer than this program"):
        db.upgrade(engine)
