"""Real databases for tests: a fresh SQLite file, or a fresh PostgreSQL database that the
test run creates and drops on the server named by KAZSAT_TEST_POSTGRES_URL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from tests.ci import missing

POSTGRES_ENV = "KAZSAT_TEST_POSTGRES_URL"
# The relational stores every whole-system test runs on.
STORES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@contextmanager
def postgres_database() -> Iterator[str]:
    """A new empty database on the test server, dropped afterwards. Without a configured or
    reachable server: a skip saying why, or on CI (CI=true) a failure."""
    server = os.environ.get(POSTGRES_ENV)
    if not server:
        missing(f"PostgreSQL tests need {POSTGRES_ENV} (scripts/test.sh sets it to the local "
                "server)")
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    name = f"kazsat_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        admin.dispose()
        url = make_url(server)
        missing(f"PostgreSQL at {url.host}:{url.port} is not reachable: "
                f"{str(exc.orig).splitlines()[0]}")
    try:
        yield url_of(server, name)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def url_of(server: str, database: str) -> str:
    return make_url(server).set(database=database).render_as_string(hide_password=False)


@contextmanager
def database_url(kind: str, folder: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'kazsat.db'}"
    else:
        with postgres_database() as url:
            yield url


@contextmanager
def stack_env(kind: str) -> Iterator[dict[str, str]]:
    """The environment that puts a Stack on this store: SQLite is the default (a file in its
    data folder); PostgreSQL a database of its own."""
    if kind == "sqlite":
        yield {}
    else:
        with postgres_database() as url:
            yield {"KAZSAT_DATABASE_URL": url}
