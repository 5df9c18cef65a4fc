"""Alembic takes over: schema_version says 5.

A release from before Alembic (which knows versions 1-4) then refuses this database ("newer
than this program") instead of running on a schema it does not know.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

schema_version = sa.table("schema_version", sa.column("version", sa.Integer),
                          sa.column("applied_at", sa.BigInteger))


def upgrade() -> None:
    op.bulk_insert(schema_version, [{"version": 5, "applied_at": time.time_ns()}])


def downgrade() -> None:
    op.execute(schema_version.delete().where(schema_version.c.version == 5))
