"""Alembic's environment. `kazsat db upgrade` and the API's start-up run the revisions on the
connection they hand over (backend/db.py `upgrade`, which also adopts databases made before
Alembic); the `alembic` command (writing and reviewing revisions, docs/storage.md) runs them
on the database of the one settings object (KAZSAT_DATABASE_URL, else the SQLite file in
KAZSAT_DATA_DIR)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from backend import db
from backend.settings import get_settings


def run(connection: Connection) -> None:
    # SQLite alters a table by rebuilding it: batch mode writes revisions that way.
    context.configure(connection=connection, target_metadata=db.metadata,
                      render_as_batch=connection.dialect.name == "sqlite", compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    given: Connection | None = context.config.attributes.get("connection")
    if given is not None:
        run(given)
    elif context.is_offline_mode():  # `alembic upgrade … --sql`: the SQL to review, not run
        context.configure(url=get_settings().sql_url(), target_metadata=db.metadata,
                          literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
    else:
        engine = db.make_engine(get_settings().sql_url())
        try:
            with engine.connect() as conn:
                run(conn)
        finally:
            engine.dispose()


main()
