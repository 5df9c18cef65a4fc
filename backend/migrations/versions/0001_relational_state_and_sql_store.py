"""Relational state and the SQL store: schema version 1 of the releases before Alembic.

Revision ID: 0001
Revises:
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "schema_version",
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("applied_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "series",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("satellite", sa.String(32), nullable=False),
        sa.Column("station", sa.String(32), nullable=False),
        sa.Column("parameter", sa.String(64), nullable=False),
        sa.UniqueConstraint("satellite", "station", "parameter"),
    )
    op.create_table(
        "samples",
        sa.Column("series_id", sa.Integer, primary_key=True),
        sa.Column("t", sa.BigInteger, primary_key=True),
        sa.Column("value", sa.Float, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "rollups",
        sa.Column("level", sa.Integer, primary_key=True),
        sa.Column("series_id", sa.Integer, primary_key=True),
        sa.Column("bucket_t", sa.BigInteger, primary_key=True),
        sa.Column("min", sa.Float, nullable=False),
        sa.Column("max", sa.Float, nullable=False),
        sa.Column("sum", sa.Float, nullable=False),
        sa.Column("count", sa.BigInteger, nullable=False),
        sa.Column("first_t", sa.BigInteger, nullable=False),
        sa.Column("first", sa.Float, nullable=False),
        sa.Column("last_t", sa.BigInteger, nullable=False),
        sa.Column("last", sa.Float, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "latest",
        sa.Column("series_id", sa.Integer, primary_key=True),
        sa.Column("t", sa.BigInteger, nullable=False),
        sa.Column("value", sa.Float, nullable=False),
    )
    op.create_table(
        "tokens",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("hash", sa.String(64), nullable=False, unique=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("revoked", sa.Boolean, nullable=False),
    )
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("series_id", sa.Integer, sa.ForeignKey("series.id")),
        sa.Column("satellite", sa.String(32)),
        sa.Column("station", sa.String(32)),
        sa.Column("parameter", sa.String(64)),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("value", sa.Float),
        sa.Column("limit_text", sa.Text, nullable=False),
        sa.Column("raised_t", sa.BigInteger, nullable=False),
        sa.Column("updated_t", sa.BigInteger, nullable=False),
        sa.Column("cleared_t", sa.BigInteger),
        sa.Column("acked_by", sa.String(128)),
        sa.Column("acked_t", sa.BigInteger),
        sa.Column("ack_comment", sa.Text),
        sa.Column("shelved_until_t", sa.BigInteger),
        sa.Column("shelved_by", sa.String(128)),
    )
    op.create_index("alerts_open", "alerts", ["cleared_t", "series_id"])
    op.create_index("alerts_raised", "alerts", ["raised_t"])
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("message_id", sa.String(255), nullable=False, unique=True),
        sa.Column("alert_id", sa.Integer, sa.ForeignKey("alerts.id")),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("recipients", sa.Text, nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("body_text", sa.Text, nullable=False),
        sa.Column("body_html", sa.Text, nullable=False),
        sa.Column("in_reply_to", sa.String(255)),
        sa.Column("event_t", sa.BigInteger),
        sa.Column("throttle_key", sa.String(96)),
        sa.Column("created_t", sa.BigInteger, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_t", sa.BigInteger, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("sent_t", sa.BigInteger),
        sa.Column("failed_t", sa.BigInteger),
    )
    op.create_index("outbox_pending", "outbox", ["sent_t", "next_attempt_t"])
    op.create_table(
        "audit",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("t", sa.BigInteger, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_table(
        "limit_overrides",
        sa.Column("parameter", sa.String(64), primary_key=True),
        sa.Column("limits_json", sa.Text, nullable=False),
        sa.Column("changed_by", sa.String(128), nullable=False),
        sa.Column("changed_t", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    for table in ("limit_overrides", "audit", "outbox", "alerts", "tokens", "latest", "rollups",
                  "samples", "series", "schema_version"):
        op.drop_table(table)
