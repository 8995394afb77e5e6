"""message templates: the receipts of email open and click tracking

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-23 12:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import omnicx.db.types

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "send_receipts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("send_ref", sa.String(length=36), nullable=False),
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("customer_id", sa.String(length=36), nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("link", sa.Text(), nullable=True),
        sa.Column("at", omnicx.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_send_receipts")),
    )
    op.create_index(
        op.f("ix_send_receipts_customer_id"), "send_receipts", ["customer_id"], unique=False
    )
    op.create_index(
        "ix_send_receipts_message_id_kind", "send_receipts", ["message_id", "kind"], unique=False
    )
    op.create_index(op.f("ix_send_receipts_send_ref"), "send_receipts", ["send_ref"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_send_receipts_send_ref"), table_name="send_receipts")
    op.drop_index("ix_send_receipts_message_id_kind", table_name="send_receipts")
    op.drop_index(op.f("ix_send_receipts_customer_id"), table_name="send_receipts")
    op.drop_table("send_receipts")
