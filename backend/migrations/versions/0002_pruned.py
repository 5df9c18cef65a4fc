"""How far retention has pruned each resolution: schema version 2 before Alembic.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pruned",
        sa.Column("level", sa.Integer, primary_key=True),
        sa.Column("before_t", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("pruned")
