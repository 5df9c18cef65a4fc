"""Rate-limit hits in SQL: failed-login counts shared by every API process on the database.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_limits",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("key", sa.String(512), nullable=False),
        sa.Column("t", sa.Float, nullable=False),
        sa.Column("expires_t", sa.Float, nullable=False),
    )
    op.create_index("rate_limits_key", "rate_limits", ["key", "t"])
    op.create_index("rate_limits_expiry", "rate_limits", ["expires_t"])


def downgrade() -> None:
    op.drop_table("rate_limits")
