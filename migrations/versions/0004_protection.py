"""field encryption at rest, keyed look-up hashes

Sealed values are longer than the plaintext they hold, so the columns that may hold one become
TEXT; identifiers are found and kept unique by (value_hash, kind); `key_rotations` records each
sealing pass. Rows written before this revision have no hash and plaintext values until the
sealing pass runs (`omnicx migrate` runs it).

Downgrade only a database whose values are in the clear again: run
`OMNICX_SENSITIVE_FIELDS= omnicx keys rotate-data-key` first.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import omnicx.db.types

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WIDENED = {
    "profiles": {"email": sa.String(length=320), "phone": sa.String(length=32)},
    "merges": {"value": sa.String(length=320), "reason": sa.String(length=500)},
    "identity_conflicts": {"value": sa.String(length=320), "detail": sa.String(length=500)},
}


def upgrade() -> None:
    for table, columns in WIDENED.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column, old in columns.items():
                batch_op.alter_column(column, existing_type=old, type_=sa.Text())
    with op.batch_alter_table("identifiers", schema=None) as batch_op:
        batch_op.alter_column(
            "value", existing_type=sa.String(length=320), type_=sa.Text(), existing_nullable=False
        )
        batch_op.add_column(sa.Column("value_hash", sa.String(length=64), nullable=True))
        batch_op.drop_constraint("uq_identifiers_value_kind", type_="unique")
        batch_op.create_unique_constraint(
            batch_op.f("uq_identifiers_value_hash_kind"), ["value_hash", "kind"]
        )
    op.create_table(
        "key_rotations",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("primary_key", sa.String(length=32), nullable=False),
        sa.Column("fields", sa.String(length=64), nullable=False),
        sa.Column(
            "counts",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("started_at", omnicx.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", omnicx.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_key_rotations")),
    )


def downgrade() -> None:
    op.drop_table("key_rotations")
    with op.batch_alter_table("identifiers", schema=None) as batch_op:
        batch_op.drop_constraint("uq_identifiers_value_hash_kind", type_="unique")
        batch_op.create_unique_constraint("uq_identifiers_value_kind", ["value", "kind"])
        batch_op.drop_column("value_hash")
        batch_op.alter_column(
            "value", existing_type=sa.Text(), type_=sa.String(length=320), existing_nullable=False
        )
    for table, columns in WIDENED.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column, old in columns.items():
                batch_op.alter_column(column, existing_type=sa.Text(), type_=old)
