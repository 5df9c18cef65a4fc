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

POSTGRES_ENV = "KAZSAT_TEST_POSTGRES_URL"


@contextmanager
def postgres_database() -> Iterator[str]:
    """A new empty database on the test server, dropped afterwards; skips with the reason
    when no server is configured or reachable."""
    server = os.environ.get(POSTGRES_ENV)
    if not server:
        pytest.skip(f"PostgreSQL tests need {POSTGRES_ENV} (scripts/test.sh sets it to the "
                    "local server)")
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    name = f"kazsat_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        admin.dispose()
        pytest.skip(f"PostgreSQL at {make_url(server).host}:{make_url(server).port} is not "
                    f"reachable: {str(exc.orig).splitlines()[0]}")
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def database_url(kind: str, folder: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'kazsat.db'}"
    else:
        with postgres_database() as url:
            yield url
