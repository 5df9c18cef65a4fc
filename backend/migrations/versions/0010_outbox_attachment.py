"""An outbox message's attachment (the shift report's PDF): stored with the message so a
resend after an outage or a restart carries the same bytes.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("attachment_name", sa.String(255)))
        batch.add_column(sa.Column("attachment_pdf", sa.LargeBinary))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("attachment_pdf")
        batch.drop_column("attachment_name")
