"""The escalation ladder's owed and done steps (backend/escalation.py), and alert email
held for flood digests (backend/flood.py); the outbox keeps an alert's plot
(backend/alert_plot.py).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "escalation_steps",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("alert_id", sa.Integer, sa.ForeignKey("alerts.id")),
        sa.Column("test_id", sa.Integer),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("entity", sa.String(32)),
        sa.Column("tier", sa.Integer, nullable=False),
        sa.Column("tiers", sa.Integer, nullable=False),
        sa.Column("after_s", sa.Float, nullable=False),
        sa.Column("recipients", sa.Text, nullable=False),
        sa.Column("due_t", sa.BigInteger, nullable=False),
        sa.Column("done_t", sa.BigInteger),
        sa.Column("outcome", sa.String(16)),
        sa.Column("reason", sa.Text),
        sa.Column("message_id", sa.String(255)),
        sa.Column("created_t", sa.BigInteger, nullable=False),
    )
    op.create_index("escalation_owed", "escalation_steps", ["done_t", "due_t"])
    op.create_index("escalation_alert", "escalation_steps", ["alert_id"])
    op.create_index("escalation_test", "escalation_steps", ["test_id"])
    op.create_table(
        "digest_items",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("alert_id", sa.Integer, sa.ForeignKey("alerts.id"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("recipients", sa.Text, nullable=False),
        sa.Column("event_t", sa.BigInteger, nullable=False),
        sa.Column("queued_t", sa.BigInteger, nullable=False),
        sa.Column("message_id", sa.String(255)),
    )
    op.create_index("digest_pending", "digest_items", ["message_id", "queued_t"])
    op.create_index("digest_alert", "digest_items", ["alert_id"])
    op.add_column("outbox", sa.Column("plot_json", sa.Text))
    op.add_column("outbox", sa.Column("plot_png", sa.LargeBinary))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("plot_png")
        batch.drop_column("plot_json")
    op.drop_table("digest_items")
    op.drop_table("escalation_steps")
