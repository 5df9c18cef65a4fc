"""The two-site deployment's record: changes of primary, switchovers asked for, redundancy.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cluster_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("t", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("site", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index("cluster_events_kind", "cluster_events", ["kind", "t"])


def downgrade() -> None:
    op.drop_table("cluster_events")
