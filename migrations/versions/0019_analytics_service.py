"""service, campaign and QR code analytics

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-02 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import omnicx.db.types

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _at(name: str, nullable: bool) -> sa.Column[object]:
    return sa.Column(name, omnicx.db.types.UtcDateTime(timezone=True), nullable=nullable)


def _counts(*names: str) -> list[sa.Column[object]]:
    return [sa.Column(name, sa.Integer(), nullable=False) for name in names]


def upgrade() -> None:
    op.create_table(
        "analytics_service_conversations",
        sa.Column("conversation_id", sa.String(length=36), nullable=False),
        sa.Column("customer_id", sa.String(length=36), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        _at("opened_at", False),
        sa.Column("channel", sa.String(length=40), nullable=True),
        sa.Column("last_channel", sa.String(length=40), nullable=True),
        sa.Column("reason", sa.String(length=100), nullable=True),
        _at("ended_at", True),
        sa.Column("resolution_seconds", sa.BigInteger(), nullable=True),
        sa.Column("csat", sa.Integer(), nullable=True),
        sa.Column("is_repeat", sa.Boolean(), nullable=False),
        sa.Column("merged", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("conversation_id", name=op.f("pk_analytics_service_conversations")),
    )
    op.create_index(
        op.f("ix_analytics_service_conversations_customer_id"),
        "analytics_service_conversations",
        ["customer_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_analytics_service_conversations_day"),
        "analytics_service_conversations",
        ["day"],
        unique=False,
    )

    op.create_table(
        "analytics_service_cells",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("reason", sa.String(length=100), nullable=False),
        sa.Column("conversations", sa.Integer(), nullable=False),
        sa.Column("resolved", sa.Integer(), nullable=False),
        sa.Column("resolution_seconds", sa.BigInteger(), nullable=False),
        *_counts("csat_count", "csat_sum", "repeats"),
        sa.PrimaryKeyConstraint(
            "day", "channel", "reason", name=op.f("pk_analytics_service_cells")
        ),
    )

    op.create_table(
        "analytics_service_friction",
        sa.Column("id", BIGID, autoincrement=True, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("detail", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.String(length=36), nullable=False),
        sa.Column("conversation_id", sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analytics_service_friction")),
    )
    op.create_index(
        op.f("ix_analytics_service_friction_customer_id"),
        "analytics_service_friction",
        ["customer_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_analytics_service_friction_day"),
        "analytics_service_friction",
        ["day"],
        unique=False,
    )

    op.create_table(
        "analytics_campaign_sends",
        sa.Column("send_id", sa.String(length=200), nullable=False),
        sa.Column("campaign", sa.String(length=80), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.String(length=36), nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        _at("sent_at", False),
        sa.Column("delivered", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("send_id", name=op.f("pk_analytics_campaign_sends")),
    )
    op.create_index(
        "ix_analytics_campaign_sends_customer_id_sent_at",
        "analytics_campaign_sends",
        ["customer_id", "sent_at"],
        unique=False,
    )

    op.create_table(
        "analytics_campaign_days",
        sa.Column("campaign", sa.String(length=80), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=False),
        *_counts("sends", "delivered", "orders"),
        sa.Column("revenue", sa.BigInteger(), nullable=False),
        *_counts("entered", "treated", "treated_converted", "holdout", "holdout_converted"),
        sa.PrimaryKeyConstraint(
            "campaign", "version", "day", "channel", name=op.f("pk_analytics_campaign_days")
        ),
    )
    op.create_index(
        "ix_analytics_campaign_days_day", "analytics_campaign_days", ["day"], unique=False
    )

    op.create_table(
        "analytics_qr_codes",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("campaign", sa.String(length=100), nullable=False),
        sa.Column("target_url", sa.Text(), nullable=False),
        sa.Column("medium", sa.String(length=20), nullable=False),
        sa.Column("store_id", sa.String(length=64), nullable=True),
        sa.Column("scans", sa.BigInteger(), nullable=False),
        sa.Column("known_scans", sa.BigInteger(), nullable=False),
        _at("last_scan_at", True),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        _at("created_at", False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analytics_qr_codes")),
        sa.UniqueConstraint("code", name=op.f("uq_analytics_qr_codes_code")),
    )

    op.create_table(
        "analytics_qr_scans",
        sa.Column("code_id", sa.String(length=36), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        *_counts("scans", "known"),
        sa.PrimaryKeyConstraint("code_id", "day", name=op.f("pk_analytics_qr_scans")),
    )


def downgrade() -> None:
    op.drop_table("analytics_qr_scans")
    op.drop_table("analytics_qr_codes")
    op.drop_index("ix_analytics_campaign_days_day", table_name="analytics_campaign_days")
    op.drop_table("analytics_campaign_days")
    op.drop_index(
        "ix_analytics_campaign_sends_customer_id_sent_at", table_name="analytics_campaign_sends"
    )
    op.drop_table("analytics_campaign_sends")
    op.drop_index(
        op.f("ix_analytics_service_friction_day"), table_name="analytics_service_friction"
    )
    op.drop_index(
        op.f("ix_analytics_service_friction_customer_id"), table_name="analytics_service_friction"
    )
    op.drop_table("analytics_service_friction")
    op.drop_table("analytics_service_cells")
    op.drop_index(
        op.f("ix_analytics_service_conversations_day"),
        table_name="analytics_service_conversations",
    )
    op.drop_index(
        op.f("ix_analytics_service_conversations_customer_id"),
        table_name="analytics_service_conversations",
    )
    op.drop_table("analytics_service_conversations")
