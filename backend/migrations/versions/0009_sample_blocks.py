"""Sealed history as compressed blocks: one row per series and 6 h segment.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "blocks",
        sa.Column("series_id", sa.Integer, primary_key=True),
        sa.Column("seg_t", sa.BigInteger, primary_key=True),
        sa.Column("t_first", sa.BigInteger, nullable=False),
        sa.Column("t_last", sa.BigInteger, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        # The blocks are compressed already: PostgreSQL's own TOAST compression would only
        # cost time (EXTERNAL: stored out of line, never compressed again).
        op.execute("ALTER TABLE blocks ALTER COLUMN data SET STORAGE EXTERNAL")


def downgrade() -> None:
    # Sealed samples go back to rows first, so going down loses nothing (revision 0007's
    # store reads rows only). Done in SQL with the block decoder: pcodec is a dependency.
    from backend.store.blocks import decode

    bind = op.get_bind()
    mark = "?" if bind.dialect.paramstyle == "qmark" else "%s"
    insert = (f"INSERT INTO samples (series_id, t, value) VALUES ({mark}, {mark}, {mark}) "
              "ON CONFLICT (series_id, t) DO NOTHING")
    keys = bind.execute(sa.text("SELECT series_id, seg_t FROM blocks")).all()
    for sid, seg_t in keys:  # one block in memory at a time
        data = bind.execute(sa.text("SELECT data FROM blocks WHERE series_id = :s AND "
                                    "seg_t = :t"), {"s": sid, "t": seg_t}).scalar_one()
        ts, vs = decode(data)
        bind.exec_driver_sql(insert, list(zip([sid] * len(ts), ts.tolist(), vs.tolist())))
    op.drop_table("blocks")
