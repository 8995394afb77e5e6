"""segments and their members

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 11:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import omnicx.db.types

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "segments",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.String(length=1000), nullable=False),
        sa.Column(
            "definition",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("scan", sa.String(length=10), nullable=True),
        sa.Column("scan_after", sa.String(length=36), nullable=False),
        sa.Column("refreshed_at", omnicx.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("created_at", omnicx.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", omnicx.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segments")),
        sa.UniqueConstraint("name", name=op.f("uq_segments_name")),
    )
    op.create_table(
        "segment_members",
        sa.Column("segment_id", sa.String(length=36), nullable=False),
        sa.Column("profile_id", sa.String(length=36), nullable=False),
        sa.Column("since", omnicx.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("segment_id", "profile_id", name=op.f("pk_segment_members")),
    )
    op.create_index(
        "ix_segment_members_profile_id", "segment_members", ["profile_id"], unique=False
    )
    op.create_table(
        "segment_history",
        sa.Column("id", BIGID, autoincrement=True, nullable=False),
        sa.Column("segment_id", sa.String(length=36), nullable=False),
        sa.Column("profile_id", sa.String(length=36), nullable=False),
        sa.Column("change", sa.String(length=10), nullable=False),
        sa.Column("at", omnicx.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segment_history")),
    )
    op.create_index(
        op.f("ix_segment_history_segment_id"), "segment_history", ["segment_id"], unique=False
    )
    op.create_index(
        op.f("ix_segment_history_profile_id"), "segment_history", ["profile_id"], unique=False
    )
    op.create_table(
        "segment_dirty",
        sa.Column("id", BIGID, autoincrement=True, nullable=False),
        sa.Column("profile_id", sa.String(length=36), nullable=False),
        sa.Column("marked_at", omnicx.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segment_dirty")),
    )
    op.create_index(
        op.f("ix_segment_dirty_profile_id"), "segment_dirty", ["profile_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_segment_dirty_profile_id"), table_name="segment_dirty")
    op.drop_table("segment_dirty")
    op.drop_index(op.f("ix_segment_history_profile_id"), table_name="segment_history")
    op.drop_index(op.f("ix_segment_history_segment_id"), table_name="segment_history")
    op.drop_table("segment_history")
    op.drop_index("ix_segment_members_profile_id", table_name="segment_members")
    op.drop_table("segment_members")
    op.drop_table("segments")
