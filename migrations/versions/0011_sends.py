"""the policy gate: sends, decisions, broadcasts

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23 11:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import omnicx.db.types

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[object]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _at(name: str, nullable: bool) -> sa.Column[object]:
    return sa.Column(name, omnicx.db.types.UtcDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "sends",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("send_id", sa.String(length=200), nullable=False),
        sa.Column("customer_id", sa.String(length=36), nullable=False),
        sa.Column("purpose", sa.String(length=40), nullable=False),
        sa.Column("category", sa.String(length=40), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("origin", sa.String(length=200), nullable=False),
        sa.Column("broadcast_id", sa.String(length=36), nullable=True),
        sa.Column("intent", _json(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=True),
        sa.Column("code", sa.String(length=20), nullable=False),
        sa.Column("tried", _json(), nullable=False),
        _at("wake_at", True),
        sa.Column("wake", sa.String(length=10), nullable=True),
        _at("decided_at", True),
        _at("created_at", False),
        _at("updated_at", False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sends")),
        sa.UniqueConstraint("send_id", name=op.f("uq_sends_send_id")),
    )
    op.create_index(op.f("ix_sends_broadcast_id"), "sends", ["broadcast_id"], unique=False)
    op.create_index(
        "ix_sends_customer_id_decided_at", "sends", ["customer_id", "decided_at"], unique=False
    )
    op.create_index("ix_sends_wake_at", "sends", ["wake_at"], unique=False)

    op.create_table(
        "send_messages",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("send_ref", sa.String(length=36), nullable=False),
        sa.Column("customer_id", sa.String(length=36), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("to_kind", sa.String(length=40), nullable=False),
        sa.Column("to_value", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("provider_message_id", sa.String(length=200), nullable=True),
        sa.Column("attempt_id", sa.String(length=36), nullable=True),
        _at("attempt_started_at", True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        _at("created_at", False),
        _at("updated_at", False),
        _at("sent_at", True),
        _at("delivered_at", True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_send_messages")),
        sa.UniqueConstraint("send_ref", "seq", name=op.f("uq_send_messages_send_ref_seq")),
    )
    op.create_index(
        "ix_send_messages_channel_provider_message_id",
        "send_messages",
        ["channel", "provider_message_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_send_messages_customer_id"), "send_messages", ["customer_id"], unique=False
    )
    op.create_index(
        "ix_send_messages_status_attempt_started_at",
        "send_messages",
        ["status", "attempt_started_at"],
        unique=False,
    )

    op.create_table(
        "send_decisions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("send_ref", sa.String(length=36), nullable=False),
        sa.Column("send_id", sa.String(length=200), nullable=False),
        sa.Column("customer_id", sa.String(length=36), nullable=False),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=True),
        sa.Column("code", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        _at("defer_until", True),
        sa.Column("origin", sa.String(length=200), nullable=False),
        _at("at", False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_send_decisions")),
    )
    op.create_index(
        "ix_send_decisions_customer_id_at", "send_decisions", ["customer_id", "at"], unique=False
    )
    op.create_index(
        op.f("ix_send_decisions_send_ref"), "send_decisions", ["send_ref"], unique=False
    )

    op.create_table(
        "broadcasts",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("segment_id", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=40), nullable=False),
        sa.Column("category", sa.String(length=40), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("channels", _json(), nullable=False),
        sa.Column("content", _json(), nullable=False),
        sa.Column("fallback_after_seconds", sa.Integer(), nullable=True),
        _at("not_after", True),
        _at("schedule_at", False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("cursor", sa.String(length=36), nullable=True),
        sa.Column("expanded", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        _at("created_at", False),
        _at("updated_at", False),
        _at("started_at", True),
        _at("finished_at", True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_broadcasts")),
    )
    op.create_index(
        "ix_broadcasts_status_schedule_at", "broadcasts", ["status", "schedule_at"], unique=False
    )

    op.create_table(
        "send_templates",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("language", sa.String(length=20), nullable=False),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("html", sa.Text(), nullable=True),
        sa.Column("provider_template", _json(), nullable=True),
        _at("created_at", False),
        _at("updated_at", False),
        sa.PrimaryKeyConstraint("name", "channel", "language", name=op.f("pk_send_templates")),
    )


def downgrade() -> None:
    op.drop_table("send_templates")
    op.drop_index("ix_broadcasts_status_schedule_at", table_name="broadcasts")
    op.drop_table("broadcasts")
    op.drop_index(op.f("ix_send_decisions_send_ref"), table_name="send_decisions")
    op.drop_index("ix_send_decisions_customer_id_at", table_name="send_decisions")
    op.drop_table("send_decisions")
    op.drop_index("ix_send_messages_status_attempt_started_at", table_name="send_messages")
    op.drop_index(op.f("ix_send_messages_customer_id"), table_name="send_messages")
    op.drop_index("ix_send_messages_channel_provider_message_id", table_name="send_messages")
    op.drop_table("send_messages")
    op.drop_index("ix_sends_wake_at", table_name="sends")
    op.drop_index("ix_sends_customer_id_decided_at", table_name="sends")
    op.drop_index(op.f("ix_sends_broadcast_id"), table_name="sends")
    op.drop_table("sends")
