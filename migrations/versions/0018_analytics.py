"""journey analytics: customers' summaries and the channel counters

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-01 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _count(name: str) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger(), server_default="0", nullable=False)


def upgrade() -> None:
    op.create_table(
        "analytics_customers",
        sa.Column("customer_id", sa.String(length=36), nullable=False),
        sa.Column("first_ts", sa.BigInteger(), nullable=True),
        sa.Column("first_day", sa.Integer(), nullable=True),
        sa.Column("first_channel", sa.String(length=40), nullable=True),
        sa.Column("channels", sa.Text(), nullable=False),
        sa.Column("channel_count", sa.Integer(), nullable=False),
        sa.Column("age_band", sa.String(length=10), nullable=False),
        sa.Column("orders", sa.Integer(), nullable=False),
        sa.Column("revenue", sa.BigInteger(), nullable=False),
        sa.Column("browse_day", sa.Integer(), nullable=True),
        sa.Column("visit_day", sa.Integer(), nullable=True),
        sa.Column("touches", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_analytics_customers")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "analytics_seen_months",
        sa.Column("customer_id", sa.String(length=36), nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("month", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "customer_id", "channel", "month", name=op.f("pk_analytics_seen_months")
        ),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "analytics_channel_days",
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=False),
        _count("interactions"),
        _count("new_customers"),
        _count("new_to_channel"),
        sa.PrimaryKeyConstraint("day", "channel", name=op.f("pk_analytics_channel_days")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "analytics_channel_hours",
        sa.Column("hour", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=False),
        _count("interactions"),
        sa.PrimaryKeyConstraint("hour", "channel", name=op.f("pk_analytics_channel_hours")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "analytics_channel_months",
        sa.Column("month", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=False),
        _count("customers"),
        sa.PrimaryKeyConstraint("month", "channel", name=op.f("pk_analytics_channel_months")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "analytics_cohorts",
        sa.Column("first_day", sa.Integer(), nullable=False),
        sa.Column("first_channel", sa.String(length=40), nullable=False),
        sa.Column("channel_count", sa.Integer(), nullable=False),
        sa.Column("age_band", sa.String(length=10), nullable=False),
        _count("customers"),
        _count("orders"),
        _count("revenue"),
        sa.PrimaryKeyConstraint(
            "first_day",
            "first_channel",
            "channel_count",
            "age_band",
            name=op.f("pk_analytics_cohorts"),
        ),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "analytics_paths",
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("path", sa.String(length=250), nullable=False),
        _count("times"),
        sa.PrimaryKeyConstraint("day", "outcome", "path", name=op.f("pk_analytics_paths")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "analytics_conversions",
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("direction", sa.String(length=20), nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("store", sa.String(length=100), nullable=False),
        _count("conversions"),
        _count("revenue"),
        sa.PrimaryKeyConstraint(
            "day", "direction", "channel", "store", name=op.f("pk_analytics_conversions")
        ),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "analytics_economics",
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("store", sa.String(length=100), nullable=False),
        _count("orders"),
        _count("revenue"),
        _count("messages"),
        _count("agent_seconds"),
        sa.PrimaryKeyConstraint("day", "channel", "store", name=op.f("pk_analytics_economics")),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    for table in (
        "analytics_economics",
        "analytics_conversions",
        "analytics_paths",
        "analytics_cohorts",
        "analytics_channel_months",
        "analytics_channel_hours",
        "analytics_channel_days",
        "analytics_seen_months",
        "analytics_customers",
    ):
        op.drop_table(table)
