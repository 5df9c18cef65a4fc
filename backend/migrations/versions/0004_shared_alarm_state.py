"""Alarm state in the database for more than one API process: schema version 4 before Alembic.

Limit states (seeded from the open limit alerts, as a process used to start from them), the
generation row, and the indexes reloading that state reads by.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

RANKS = {"warning": 1, "critical": 2}


def upgrade() -> None:
    limit_states = op.create_table(
        "limit_states",
        sa.Column("series_id", sa.Integer, primary_key=True),
        sa.Column("state", sa.Integer, nullable=False),
        sa.Column("count_warning", sa.Integer, nullable=False),
        sa.Column("count_critical", sa.Integer, nullable=False),
        sa.Column("since_warning", sa.BigInteger, nullable=False),
        sa.Column("since_critical", sa.BigInteger, nullable=False),
    )
    alarm_generation = op.create_table(
        "alarm_generation",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("writer", sa.String(64), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
    )
    assert limit_states is not None and alarm_generation is not None
    alerts = sa.table("alerts", sa.column("series_id", sa.Integer),
                      sa.column("state", sa.String), sa.column("kind", sa.String),
                      sa.column("cleared_t", sa.BigInteger))
    open_limits = op.get_bind().execute(sa.select(alerts.c.series_id, alerts.c.state).where(
        alerts.c.kind == "limit", alerts.c.cleared_t.is_(None))).all()
    if open_limits:
        op.bulk_insert(limit_states, [
            {"series_id": sid, "state": RANKS.get(state, 1), "count_warning": 0,
             "count_critical": 0, "since_warning": 0, "since_critical": 0}
            for sid, state in open_limits])
    op.bulk_insert(alarm_generation, [{"id": 1, "writer": "", "seq": 0}])
    op.create_index("outbox_alert", "outbox", ["alert_id"])
    op.create_index("outbox_throttle", "outbox", ["throttle_key", "event_t"])
    op.create_index("alerts_shelved", "alerts", ["shelved_until_t"])


def downgrade() -> None:
    op.drop_index("alerts_shelved", "alerts")
    op.drop_index("outbox_throttle", "outbox")
    op.drop_index("outbox_alert", "outbox")
    op.drop_table("alarm_generation")
    op.drop_table("limit_states")
