"""consent, preferences and suppression

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 11:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import omnicx.db.types

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[object]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _source() -> list[sa.Column[object]]:
    return [
        sa.Column("source_channel", sa.String(length=40), nullable=False),
        sa.Column("actor_kind", sa.String(length=10), nullable=False),
        sa.Column("actor_id", sa.String(length=64), nullable=True),
        sa.Column("store_id", sa.String(length=64), nullable=True),
        sa.Column("method", sa.String(length=20), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "consent_changes",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("profile_id", sa.String(length=36), nullable=True),
        sa.Column("purpose", sa.String(length=40), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("at", omnicx.db.types.UtcDateTime(timezone=True), nullable=False),
        *_source(),
        sa.Column("detail", sa.String(length=200), nullable=True),
        sa.Column("proof", _json(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("recorded_by", sa.String(length=250), nullable=False),
        sa.Column("recorded_at", omnicx.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("erasure_request_id", sa.String(length=36), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_changes")),
    )
    op.create_index(
        "ix_consent_changes_profile_id_at", "consent_changes", ["profile_id", "at"], unique=False
    )
    op.create_table(
        "consents",
        sa.Column("profile_id", sa.String(length=36), nullable=False),
        sa.Column("purpose", sa.String(length=40), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("at", omnicx.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("change_id", sa.String(length=36), nullable=False),
        *_source(),
        sa.Column("detail", sa.String(length=200), nullable=True),
        sa.Column("updated_at", omnicx.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("profile_id", "purpose", "channel", name=op.f("pk_consents")),
    )
    op.create_table(
        "consent_preferences",
        sa.Column("profile_id", sa.String(length=36), nullable=False),
        sa.Column("channel_order", _json(), nullable=False),
        sa.Column("language", sa.String(length=35), nullable=True),
        sa.Column("time_zone", sa.String(length=64), nullable=True),
        sa.Column("quiet_start", sa.String(length=5), nullable=True),
        sa.Column("quiet_end", sa.String(length=5), nullable=True),
        sa.Column("max_per_day", sa.Integer(), nullable=True),
        sa.Column("max_per_week", sa.Integer(), nullable=True),
        sa.Column("channel_limits", _json(), nullable=False),
        sa.Column("updated_at", omnicx.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=250), nullable=False),
        sa.PrimaryKeyConstraint("profile_id", name=op.f("pk_consent_preferences")),
    )
    op.create_table(
        "consent_confirmations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("profile_id", sa.String(length=36), nullable=False),
        sa.Column("purpose", sa.String(length=40), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("email_hash", sa.String(length=64), nullable=False),
        *_source(),
        sa.Column("proof", _json(), nullable=False),
        sa.Column("recorded_by", sa.String(length=250), nullable=False),
        sa.Column("created_at", omnicx.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", omnicx.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", omnicx.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("confirmed_at", omnicx.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("change_id", sa.String(length=36), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_confirmations")),
    )
    op.create_index(
        op.f("ix_consent_confirmations_profile_id"),
        "consent_confirmations",
        ["profile_id"],
        unique=False,
    )
    op.create_table(
        "consent_suppressions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("value_hash", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=250), nullable=False),
        sa.Column("created_at", omnicx.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_suppressions")),
        sa.UniqueConstraint(
            "kind", "value_hash", name=op.f("uq_consent_suppressions_kind_value_hash")
        ),
    )


def downgrade() -> None:
    op.drop_table("consent_suppressions")
    op.drop_index(op.f("ix_consent_confirmations_profile_id"), table_name="consent_confirmations")
    op.drop_table("consent_confirmations")
    op.drop_table("consent_preferences")
    op.drop_table("consents")
    op.drop_index("ix_consent_changes_profile_id_at", table_name="consent_changes")
    op.drop_table("consent_changes")
