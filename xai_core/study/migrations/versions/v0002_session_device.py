"""Sessions remember the SHA-256 of the browser's device key, so the browser that started a session can resume it.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("device_hash", sa.String(64), nullable=True))
    op.create_index("ix_sessions_device_hash", "sessions", ["device_hash"])


def downgrade() -> None:
    op.drop_index("ix_sessions_device_hash", table_name="sessions")
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("device_hash")
