"""Alembic's environment and the schema revisions (docs/storage.md, "Schema changes")."""
