"""conversations, messages, attachments and delivery histories

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 09:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import omnicx.db.types

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "conversations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("customer_id", sa.String(length=36), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("priority", sa.String(length=10), nullable=False),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("contact_reason", sa.String(length=100), nullable=True),
        sa.Column("team_id", sa.String(length=36), nullable=True),
        sa.Column("assignee_id", sa.String(length=36), nullable=True),
        sa.Column("sla_policy_id", sa.String(length=36), nullable=True),
        sa.Column(
            "sla",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("csat_score", sa.Integer(), nullable=True),
        sa.Column("csat_comment", sa.Text(), nullable=True),
        sa.Column("csat_at", omnicx.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column(
            "labels",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "channels",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("last_inbound_channel", sa.String(length=40), nullable=True),
        sa.Column("last_message_at", omnicx.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("snoozed_until", omnicx.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", omnicx.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", omnicx.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("merged_into", sa.String(length=36), nullable=True),
        sa.Column("split_from", sa.String(length=36), nullable=True),
        sa.Column("reply_token", sa.String(length=40), nullable=False),
        sa.Column("created_at", omnicx.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", omnicx.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversations")),
        sa.UniqueConstraint("reply_token", name=op.f("uq_conversations_reply_token")),
    )
    op.create_index(
        op.f("ix_conversations_assignee_id"), "conversations", ["assignee_id"], unique=False
    )
    op.create_index(
        op.f("ix_conversations_customer_id"), "conversations", ["customer_id"], unique=False
    )
    op.create_index(
        "ix_conversations_status_last", "conversations", ["status", "last_message_at"], unique=False
    )
    op.create_index(op.f("ix_conversations_team_id"), "conversations", ["team_id"], unique=False)
    op.create_table(
        "message_attachments",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("filename", sa.Text(), nullable=False),
        sa.Column("content_type", sa.String(length=200), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", omnicx.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_attachments")),
    )
    op.create_index(
        op.f("ix_message_attachments_message_id"),
        "message_attachments",
        ["message_id"],
        unique=False,
    )
    op.create_table(
        "message_deliveries",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("at", omnicx.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_deliveries")),
    )
    op.create_index(
        op.f("ix_message_deliveries_message_id"), "message_deliveries", ["message_id"], unique=False
    )
    op.create_table(
        "messages",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("conversation_id", sa.String(length=36), nullable=False),
        sa.Column("customer_id", sa.String(length=36), nullable=True),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("direction", sa.String(length=10), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("account", sa.String(length=320), nullable=True),
        sa.Column("sender_kind", sa.String(length=10), nullable=False),
        sa.Column("sender_id", sa.String(length=80), nullable=True),
        sa.Column("sender_name", sa.Text(), nullable=True),
        sa.Column("to_kind", sa.String(length=40), nullable=True),
        sa.Column("to_value", sa.Text(), nullable=True),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("html", sa.Text(), nullable=True),
        sa.Column("provider_message_id", sa.String(length=200), nullable=True),
        sa.Column("email_message_id", sa.String(length=400), nullable=True),
        sa.Column("in_reply_to", sa.String(length=400), nullable=True),
        sa.Column(
            "references",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=12), nullable=True),
        sa.Column(
            "warnings",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("metadata", sa.Text(), nullable=True),
        sa.Column("created_at", omnicx.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", omnicx.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages")),
        sa.UniqueConstraint(
            "channel", "provider_message_id", name=op.f("uq_messages_channel_provider_message_id")
        ),
    )
    op.create_index(
        "ix_messages_conversation_seq", "messages", ["conversation_id", "seq"], unique=False
    )
    op.create_index(op.f("ix_messages_customer_id"), "messages", ["customer_id"], unique=False)
    op.create_index(
        op.f("ix_messages_email_message_id"), "messages", ["email_message_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_messages_email_message_id"), table_name="messages")
    op.drop_index(op.f("ix_messages_customer_id"), table_name="messages")
    op.drop_index("ix_messages_conversation_seq", table_name="messages")
    op.drop_table("messages")
    op.drop_index(op.f("ix_message_deliveries_message_id"), table_name="message_deliveries")
    op.drop_table("message_deliveries")
    op.drop_index(op.f("ix_message_attachments_message_id"), table_name="message_attachments")
    op.drop_table("message_attachments")
    op.drop_index(op.f("ix_conversations_team_id"), table_name="conversations")
    op.drop_index("ix_conversations_status_last", table_name="conversations")
    op.drop_index(op.f("ix_conversations_customer_id"), table_name="conversations")
    op.drop_index(op.f("ix_conversations_assignee_id"), table_name="conversations")
    op.drop_table("conversations")
