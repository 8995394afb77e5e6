"""sends: the wake-up and broadcast indexes hold only the rows that have one

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-09 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PARTIAL = {"ix_sends_wake_at": "wake_at", "ix_sends_broadcast_id": "broadcast_id"}


def upgrade() -> None:
    for name, column in PARTIAL.items():
        op.drop_index(name, table_name="sends")
        where = sa.text(f"{column} IS NOT NULL")
        op.create_index(
            name, "sends", [column], unique=False, sqlite_where=where, postgresql_where=where
        )


def downgrade() -> None:
    for name, column in PARTIAL.items():
        op.drop_index(name, table_name="sends")
        op.create_index(name, "sends", [column], unique=False)
