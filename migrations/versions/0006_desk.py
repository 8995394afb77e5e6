"""teams, agents, routing, SLA, canned responses, CSAT

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 09:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import omnicx.db.types

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "desk_teams",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.String(length=1000), nullable=False),
        sa.Column("assignment", sa.String(length=20), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column(
            "hours",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "holidays",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", omnicx.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", omnicx.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_desk_teams")),
        sa.UniqueConstraint("name", name=op.f("uq_desk_teams_name")),
    )
    op.create_table(
        "desk_agents",
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("availability", sa.String(length=10), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column(
            "skills",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "languages",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("last_assigned_at", omnicx.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("created_at", omnicx.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", omnicx.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_desk_agents")),
    )
    op.create_table(
        "desk_team_members",
        sa.Column("team_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", omnicx.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("team_id", "user_id", name=op.f("pk_desk_team_members")),
    )
    op.create_index(
        op.f("ix_desk_team_members_user_id"), "desk_team_members", ["user_id"], unique=False
    )
    op.create_table(
        "desk_routing_rules",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column(
            "conditions",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "actions",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", omnicx.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", omnicx.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_desk_routing_rules")),
    )
    op.create_table(
        "desk_sla_policies",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=True),
        sa.Column("priority", sa.String(length=10), nullable=True),
        sa.Column("first_response_minutes", sa.Integer(), nullable=True),
        sa.Column("next_response_minutes", sa.Integer(), nullable=True),
        sa.Column("resolution_minutes", sa.Integer(), nullable=True),
        sa.Column("warning_percent", sa.Integer(), nullable=False),
        sa.Column("pause_when_waiting", sa.Boolean(), nullable=False),
        sa.Column("created_at", omnicx.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", omnicx.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_desk_sla_policies")),
    )
    op.create_table(
        "desk_sla_clocks",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("conversation_id", sa.String(length=36), nullable=False),
        sa.Column("customer_id", sa.String(length=36), nullable=False),
        sa.Column("metric", sa.String(length=20), nullable=False),
        sa.Column("policy_id", sa.String(length=36), nullable=False),
        sa.Column("team_id", sa.String(length=36), nullable=True),
        sa.Column("target_minutes", sa.Integer(), nullable=False),
        sa.Column("warning_percent", sa.Integer(), nullable=False),
        sa.Column("started_at", omnicx.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("paused_at", omnicx.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("paused_minutes", sa.Float(), nullable=False),
        sa.Column("stopped_at", omnicx.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("warn_at", omnicx.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("due_at", omnicx.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("warned_at", omnicx.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("breached_at", omnicx.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_desk_sla_clocks")),
    )
    op.create_index(
        op.f("ix_desk_sla_clocks_conversation_id"),
        "desk_sla_clocks",
        ["conversation_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_desk_sla_clocks_customer_id"), "desk_sla_clocks", ["customer_id"], unique=False
    )
    op.create_index(
        "ix_desk_sla_clocks_status_warn_at", "desk_sla_clocks", ["status", "warn_at"], unique=False
    )
    op.create_table(
        "desk_sla_events",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("clock_id", sa.String(length=36), nullable=False),
        sa.Column("conversation_id", sa.String(length=36), nullable=False),
        sa.Column("customer_id", sa.String(length=36), nullable=False),
        sa.Column("metric", sa.String(length=20), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("due_at", omnicx.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("raised_at", omnicx.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_desk_sla_events")),
        sa.UniqueConstraint("clock_id", "kind", name=op.f("uq_desk_sla_events_clock_id_kind")),
    )
    op.create_index(
        op.f("ix_desk_sla_events_conversation_id"),
        "desk_sla_events",
        ["conversation_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_desk_sla_events_customer_id"), "desk_sla_events", ["customer_id"], unique=False
    )
    op.create_table(
        "desk_canned_responses",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("shortcut", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("language", sa.String(length=10), nullable=True),
        sa.Column("created_at", omnicx.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", omnicx.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_desk_canned_responses")),
        sa.UniqueConstraint("shortcut", name=op.f("uq_desk_canned_responses_shortcut")),
    )
    op.create_table(
        "desk_assignments",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("conversation_id", sa.String(length=36), nullable=False),
        sa.Column("customer_id", sa.String(length=36), nullable=False),
        sa.Column("agent_id", sa.String(length=36), nullable=False),
        sa.Column("team_id", sa.String(length=36), nullable=True),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("weight", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("assigned_by", sa.String(length=100), nullable=False),
        sa.Column("assigned_at", omnicx.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("released_at", omnicx.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_desk_assignments")),
    )
    op.create_index(
        op.f("ix_desk_assignments_agent_id"), "desk_assignments", ["agent_id"], unique=False
    )
    op.create_index(
        op.f("ix_desk_assignments_conversation_id"),
        "desk_assignments",
        ["conversation_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_desk_assignments_customer_id"), "desk_assignments", ["customer_id"], unique=False
    )
    op.create_table(
        "desk_queue",
        sa.Column("conversation_id", sa.String(length=36), nullable=False),
        sa.Column("customer_id", sa.String(length=36), nullable=False),
        sa.Column("team_id", sa.String(length=36), nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("priority", sa.String(length=10), nullable=False),
        sa.Column("language", sa.String(length=20), nullable=True),
        sa.Column("enqueued_at", omnicx.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("conversation_id", name=op.f("pk_desk_queue")),
    )
    op.create_index(op.f("ix_desk_queue_customer_id"), "desk_queue", ["customer_id"], unique=False)
    op.create_index(op.f("ix_desk_queue_team_id"), "desk_queue", ["team_id"], unique=False)
    op.create_table(
        "desk_csat_surveys",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("conversation_id", sa.String(length=36), nullable=False),
        sa.Column("customer_id", sa.String(length=36), nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("asked_at", omnicx.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", omnicx.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("answered_at", omnicx.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("answered_via", sa.String(length=10), nullable=True),
        sa.Column("not_asked", sa.String(length=1000), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_desk_csat_surveys")),
    )
    op.create_index(
        op.f("ix_desk_csat_surveys_conversation_id"),
        "desk_csat_surveys",
        ["conversation_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_desk_csat_surveys_customer_id"), "desk_csat_surveys", ["customer_id"], unique=False
    )


def downgrade() -> None:
    op.drop_table("desk_csat_surveys")
    op.drop_table("desk_queue")
    op.drop_table("desk_assignments")
    op.drop_table("desk_canned_responses")
    op.drop_table("desk_sla_events")
    op.drop_table("desk_sla_clocks")
    op.drop_table("desk_sla_policies")
    op.drop_table("desk_routing_rules")
    op.drop_table("desk_team_members")
    op.drop_table("desk_agents")
    op.drop_table("desk_teams")
