"""push registrations and the in-app inbox

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-23 12:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import omnicx.db.types

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _at(name: str, nullable: bool) -> sa.Column[object]:
    return sa.Column(name, omnicx.db.types.UtcDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "push_registrations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("customer_id", sa.String(length=36), nullable=False),
        sa.Column("address_kind", sa.String(length=40), nullable=False),
        sa.Column("address_hash", sa.String(length=64), nullable=False),
        sa.Column("target_hash", sa.String(length=64), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("platform", sa.String(length=20), nullable=True),
        _at("created_at", False),
        _at("updated_at", False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_push_registrations")),
        sa.UniqueConstraint(
            "kind", "target_hash", name=op.f("uq_push_registrations_kind_target_hash")
        ),
    )
    op.create_index(
        "ix_push_registrations_address",
        "push_registrations",
        ["address_kind", "address_hash"],
        unique=False,
    )
    op.create_index(
        op.f("ix_push_registrations_customer_id"),
        "push_registrations",
        ["customer_id"],
        unique=False,
    )

    op.create_table(
        "inapp_messages",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("customer_id", sa.String(length=36), nullable=False),
        sa.Column("address_kind", sa.String(length=40), nullable=False),
        sa.Column("address_hash", sa.String(length=64), nullable=False),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        _at("created_at", False),
        _at("delivered_at", True),
        _at("read_at", True),
        _at("clicked_at", True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inapp_messages")),
    )
    op.create_index(
        "ix_inapp_messages_address",
        "inapp_messages",
        ["address_kind", "address_hash", "created_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_inapp_messages_customer_id"), "inapp_messages", ["customer_id"], unique=False
    )

    op.create_table(
        "inapp_inboxes",
        sa.Column("address_kind", sa.String(length=40), nullable=False),
        sa.Column("address_hash", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=36), nullable=True),
        _at("created_at", False),
        _at("updated_at", False),
        sa.PrimaryKeyConstraint("address_kind", "address_hash", name=op.f("pk_inapp_inboxes")),
    )
    op.create_index(
        op.f("ix_inapp_inboxes_customer_id"), "inapp_inboxes", ["customer_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_inapp_inboxes_customer_id"), table_name="inapp_inboxes")
    op.drop_table("inapp_inboxes")
    op.drop_index(op.f("ix_inapp_messages_customer_id"), table_name="inapp_messages")
    op.drop_index("ix_inapp_messages_address", table_name="inapp_messages")
    op.drop_table("inapp_messages")
    op.drop_index(op.f("ix_push_registrations_customer_id"), table_name="push_registrations")
    op.drop_index("ix_push_registrations_address", table_name="push_registrations")
    op.drop_table("push_registrations")
