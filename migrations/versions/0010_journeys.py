"""journeys, versions, instances and human tasks

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23 11:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import omnicx.db.types

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[object]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _bigid() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _utc() -> omnicx.db.types.UtcDateTime:
    return omnicx.db.types.UtcDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "journeys",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("live_version", sa.Integer(), nullable=True),
        sa.Column("draft", _json(), nullable=True),
        sa.Column("draft_hash", sa.String(length=64), nullable=True),
        sa.Column("next_fire_at", _utc(), nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journeys")),
        sa.UniqueConstraint("name", name=op.f("uq_journeys_name")),
    )
    op.create_table(
        "journey_versions",
        sa.Column("journey_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("definition", _json(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("published_at", _utc(), nullable=False),
        sa.Column("published_by", sa.String(length=200), nullable=False),
        sa.Column("migration", _json(), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("journey_id", "version", name=op.f("pk_journey_versions")),
    )
    op.create_table(
        "journey_listeners",
        sa.Column("journey_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.PrimaryKeyConstraint(
            "journey_id", "version", "kind", "name", name=op.f("pk_journey_listeners")
        ),
    )
    op.create_index("ix_journey_listeners_name", "journey_listeners", ["name"], unique=False)
    op.create_table(
        "journey_instances",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("journey_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("profile_id", sa.String(length=36), nullable=False),
        sa.Column("running_journey", sa.String(length=36), nullable=True),
        sa.Column("node", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("wake_at", _utc(), nullable=True),
        sa.Column("arrived_at", _utc(), nullable=False),
        sa.Column("waiting", sa.String(length=250), nullable=True),
        sa.Column("visits", _json(), nullable=False),
        sa.Column("variables", _json(), nullable=False),
        sa.Column("entry_key", sa.String(length=200), nullable=True),
        sa.Column("entered_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.Column("ended_at", _utc(), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=True),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journey_instances")),
        sa.UniqueConstraint(
            "journey_id",
            "profile_id",
            "entry_key",
            name=op.f("uq_journey_instances_journey_id_profile_id_entry_key"),
        ),
        sa.UniqueConstraint(
            "profile_id",
            "running_journey",
            name=op.f("uq_journey_instances_profile_id_running_journey"),
        ),
    )
    op.create_index(
        "ix_journey_instances_place",
        "journey_instances",
        ["journey_id", "version", "node"],
        unique=False,
    )
    op.create_index("ix_journey_instances_wake_at", "journey_instances", ["wake_at"], unique=False)
    op.create_table(
        "journey_history",
        sa.Column("id", _bigid(), autoincrement=True, nullable=False),
        sa.Column("instance_id", sa.String(length=36), nullable=False),
        sa.Column("journey_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("profile_id", sa.String(length=36), nullable=False),
        sa.Column("node", sa.String(length=64), nullable=False),
        sa.Column("at", _utc(), nullable=False),
        sa.Column("outcome", sa.String(length=40), nullable=False),
        sa.Column("detail", _json(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journey_history")),
    )
    for column in ("instance_id", "journey_id", "profile_id"):
        op.create_index(
            op.f(f"ix_journey_history_{column}"), "journey_history", [column], unique=False
        )
    op.create_table(
        "journey_tasks",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("instance_id", sa.String(length=36), nullable=False),
        sa.Column("journey_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("node", sa.String(length=64), nullable=False),
        sa.Column("profile_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("team_id", sa.String(length=64), nullable=True),
        sa.Column("store_id", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("due_at", _utc(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.Column("completed_at", _utc(), nullable=True),
        sa.Column("completed_by", sa.String(length=200), nullable=True),
        sa.Column("outcome", sa.String(length=40), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journey_tasks")),
    )
    op.create_index(
        op.f("ix_journey_tasks_instance_id"), "journey_tasks", ["instance_id"], unique=False
    )
    op.create_index(
        op.f("ix_journey_tasks_profile_id"), "journey_tasks", ["profile_id"], unique=False
    )
    op.create_index(
        "ix_journey_tasks_status_team_id", "journey_tasks", ["status", "team_id"], unique=False
    )
    op.create_index(
        "ix_journey_tasks_status_store_id", "journey_tasks", ["status", "store_id"], unique=False
    )
    op.create_table(
        "journey_inbox",
        sa.Column("id", _bigid(), autoincrement=True, nullable=False),
        sa.Column("journey_id", sa.String(length=36), nullable=False),
        sa.Column("profile_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("entry", sa.Boolean(), nullable=False),
        sa.Column("payload", _json(), nullable=False),
        sa.Column("at", _utc(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journey_inbox")),
    )
    op.create_index(
        op.f("ix_journey_inbox_profile_id"), "journey_inbox", ["profile_id"], unique=False
    )
    op.create_index(
        "ix_journey_inbox_journey_id_id", "journey_inbox", ["journey_id", "id"], unique=False
    )


def downgrade() -> None:
    for table in (
        "journey_inbox",
        "journey_tasks",
        "journey_history",
        "journey_instances",
        "journey_listeners",
        "journey_versions",
        "journeys",
    ):
        op.drop_table(table)
