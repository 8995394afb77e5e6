"""The consent tables.

    consent_changes        append-only history: every consent said, with source and proof
    consents               the latest per (profile, purpose, channel)
    consent_preferences    one row per profile
    consent_confirmations  double opt-ins sent and (maybe) confirmed
    consent_suppressions   identifiers nobody may contact, by keyed hash: no profile id, so
                           they outlive an erasure (that is what they are for)

Proofs, notes and confirmation addresses are sealed; suppressed identifiers are kept only as
`blind(kind, value)`.
"""

import sqlalchemy as sa

from omnicx.db import JsonValue, UtcDateTime, metadata

ID = sa.String(36)

consent_changes = sa.Table(
    "consent_changes",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("profile_id", ID, nullable=True),
    sa.Column("purpose", sa.String(40), nullable=False),
    sa.Column("channel", sa.String(20), nullable=False),
    sa.Column("state", sa.String(10), nullable=False),
    sa.Column("at", UtcDateTime(), nullable=False),
    sa.Column("source_channel", sa.String(40), nullable=False),
    sa.Column("actor_kind", sa.String(10), nullable=False),
    sa.Column("actor_id", sa.String(64), nullable=True),
    sa.Column("store_id", sa.String(64), nullable=True),
    sa.Column("method", sa.String(20), nullable=False),
    sa.Column("detail", sa.String(200), nullable=True),
    sa.Column("proof", JsonValue, nullable=False),
    sa.Column("note", sa.Text(), nullable=True),
    sa.Column("recorded_by", sa.String(250), nullable=False),
    sa.Column("recorded_at", UtcDateTime(), nullable=False),
    sa.Column("erasure_request_id", ID, nullable=True),
    sa.Index("ix_consent_changes_profile_id_at", "profile_id", "at"),
)
"""`profile_id` is null and `erasure_request_id` set once the person was erased: the proof
that consent was given (when, which text, which channel) is kept under the request."""

consents = sa.Table(
    "consents",
    metadata,
    sa.Column("profile_id", ID, primary_key=True),
    sa.Column("purpose", sa.String(40), primary_key=True),
    sa.Column("channel", sa.String(20), primary_key=True),
    sa.Column("state", sa.String(10), nullable=False),
    sa.Column("at", UtcDateTime(), nullable=False),
    sa.Column("change_id", ID, nullable=False),
    sa.Column("source_channel", sa.String(40), nullable=False),
    sa.Column("actor_kind", sa.String(10), nullable=False),
    sa.Column("actor_id", sa.String(64), nullable=True),
    sa.Column("store_id", sa.String(64), nullable=True),
    sa.Column("method", sa.String(20), nullable=False),
    sa.Column("detail", sa.String(200), nullable=True),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

consent_preferences = sa.Table(
    "consent_preferences",
    metadata,
    sa.Column("profile_id", ID, primary_key=True),
    sa.Column("channel_order", JsonValue, nullable=False),
    sa.Column("language", sa.String(35), nullable=True),
    sa.Column("time_zone", sa.String(64), nullable=True),
    sa.Column("quiet_start", sa.String(5), nullable=True),
    sa.Column("quiet_end", sa.String(5), nullable=True),
    sa.Column("max_per_day", sa.Integer(), nullable=True),
    sa.Column("max_per_week", sa.Integer(), nullable=True),
    sa.Column("channel_limits", JsonValue, nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.Column("updated_by", sa.String(250), nullable=False),
)

consent_confirmations = sa.Table(
    "consent_confirmations",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("profile_id", ID, nullable=False, index=True),
    sa.Column("purpose", sa.String(40), nullable=False),
    sa.Column("channel", sa.String(20), nullable=False),
    sa.Column("email", sa.Text(), nullable=False),
    sa.Column("email_hash", sa.String(64), nullable=False),
    sa.Column("source_channel", sa.String(40), nullable=False),
    sa.Column("actor_kind", sa.String(10), nullable=False),
    sa.Column("actor_id", sa.String(64), nullable=True),
    sa.Column("store_id", sa.String(64), nullable=True),
    sa.Column("method", sa.String(20), nullable=False),
    sa.Column("proof", JsonValue, nullable=False),
    sa.Column("recorded_by", sa.String(250), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("expires_at", UtcDateTime(), nullable=False),
    sa.Column("sent_at", UtcDateTime(), nullable=True),
    sa.Column("confirmed_at", UtcDateTime(), nullable=True),
    sa.Column("change_id", ID, nullable=True),
)

consent_suppressions = sa.Table(
    "consent_suppressions",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("value_hash", sa.String(64), nullable=False),
    sa.Column("reason", sa.String(20), nullable=False),
    sa.Column("channel", sa.String(20), nullable=False),
    sa.Column("note", sa.Text(), nullable=True),
    sa.Column("created_by", sa.String(250), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.UniqueConstraint("kind", "value_hash"),
)

CUSTOMER_TABLES = (consent_changes, consents, consent_preferences, consent_confirmations)
"""The tables holding a customer's data, by `profile_id`."""
