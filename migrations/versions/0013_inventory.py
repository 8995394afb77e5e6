"""locations, stock buckets, the movement ledger and reservations

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-23 11:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import omnicx.db.types

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LEDGER = "commerce_stock_movements"

SQLITE_TRIGGERS = (
    f"""CREATE TRIGGER {LEDGER}_no_update BEFORE UPDATE ON {LEDGER}
    BEGIN SELECT RAISE(ABORT, '{LEDGER} is append-only: rows cannot be updated'); END""",
    f"""CREATE TRIGGER {LEDGER}_no_delete BEFORE DELETE ON {LEDGER}
    BEGIN SELECT RAISE(ABORT, '{LEDGER} is append-only: rows cannot be deleted'); END""",
)

POSTGRES_TRIGGERS = (
    f"""CREATE FUNCTION {LEDGER}_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '{LEDGER} is append-only: % refused', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END $$""",
    f"""CREATE TRIGGER {LEDGER}_no_change BEFORE UPDATE OR DELETE ON {LEDGER}
    FOR EACH ROW EXECUTE FUNCTION {LEDGER}_append_only()""",
    f"""CREATE TRIGGER {LEDGER}_no_truncate BEFORE TRUNCATE ON {LEDGER}
    FOR EACH STATEMENT EXECUTE FUNCTION {LEDGER}_append_only()""",
)


def _json() -> sa.types.TypeEngine[object]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "commerce_locations",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("capabilities", _json(), nullable=False),
        sa.Column("address", _json(), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("hours", _json(), nullable=False),
        sa.Column("exceptions", _json(), nullable=False),
        sa.Column("safety_stock", sa.Integer(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", omnicx.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", omnicx.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commerce_locations")),
    )
    op.create_table(
        "commerce_stock_levels",
        sa.Column("location_id", sa.String(length=64), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("sellable", sa.BigInteger(), nullable=False),
        sa.Column("display", sa.BigInteger(), nullable=False),
        sa.Column("damaged", sa.BigInteger(), nullable=False),
        sa.Column("in_transit", sa.BigInteger(), nullable=False),
        sa.Column("reserved", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", omnicx.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "sellable >= 0 AND display >= 0 AND damaged >= 0 AND in_transit >= 0 "
            "AND reserved >= 0 AND reserved <= sellable",
            name=op.f("ck_commerce_stock_levels_buckets"),
        ),
        sa.PrimaryKeyConstraint("location_id", "sku", name=op.f("pk_commerce_stock_levels")),
    )
    op.create_index(
        op.f("ix_commerce_stock_levels_sku"), "commerce_stock_levels", ["sku"], unique=False
    )
    op.create_table(
        LEDGER,
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("location_id", sa.String(length=64), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("from_bucket", sa.String(length=12), nullable=True),
        sa.Column("to_bucket", sa.String(length=12), nullable=True),
        sa.Column("qty", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("ref", sa.String(length=100), nullable=True),
        sa.Column("reservation_id", sa.String(length=36), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("at", omnicx.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("qty > 0", name=op.f("ck_commerce_stock_movements_qty")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commerce_stock_movements")),
        sa.UniqueConstraint(
            "reservation_id", name=op.f("uq_commerce_stock_movements_reservation_id")
        ),
    )
    op.create_index(op.f("ix_commerce_stock_movements_ref"), LEDGER, ["ref"], unique=False)
    op.create_index(
        "ix_commerce_stock_movements_sku_location_id", LEDGER, ["sku", "location_id"], unique=False
    )
    op.create_index(
        "ix_commerce_stock_movements_location_id", LEDGER, ["location_id"], unique=False
    )
    op.create_table(
        "commerce_reservations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("location_id", sa.String(length=64), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("qty", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("ref", sa.String(length=100), nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("created_at", omnicx.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", omnicx.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", omnicx.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commerce_reservations")),
        sa.UniqueConstraint("key", name=op.f("uq_commerce_reservations_key")),
    )
    op.create_index(
        op.f("ix_commerce_reservations_ref"), "commerce_reservations", ["ref"], unique=False
    )
    op.create_index(
        "ix_commerce_reservations_status_expires_at",
        "commerce_reservations",
        ["status", "expires_at"],
        unique=False,
    )
    op.create_index(
        "ix_commerce_reservations_location_id_sku_status",
        "commerce_reservations",
        ["location_id", "sku", "status"],
        unique=False,
    )
    op.create_table(
        "commerce_transfers",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("from_location", sa.String(length=64), nullable=False),
        sa.Column("to_location", sa.String(length=64), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("qty", sa.Integer(), nullable=False),
        sa.Column("received", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("ref", sa.String(length=100), nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("created_at", omnicx.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", omnicx.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commerce_transfers")),
    )
    op.create_index(
        op.f("ix_commerce_transfers_from_location"),
        "commerce_transfers",
        ["from_location"],
        unique=False,
    )
    op.create_index(
        op.f("ix_commerce_transfers_to_location"),
        "commerce_transfers",
        ["to_location"],
        unique=False,
    )
    triggers = POSTGRES_TRIGGERS if op.get_bind().dialect.name == "postgresql" else SQLITE_TRIGGERS
    for statement in triggers:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {LEDGER}_no_truncate ON {LEDGER}")
        op.execute(f"DROP TRIGGER IF EXISTS {LEDGER}_no_change ON {LEDGER}")
        op.execute(f"DROP FUNCTION IF EXISTS {LEDGER}_append_only()")
    else:
        op.execute(f"DROP TRIGGER IF EXISTS {LEDGER}_no_delete")
        op.execute(f"DROP TRIGGER IF EXISTS {LEDGER}_no_update")
    op.drop_table("commerce_transfers")
    op.drop_table("commerce_reservations")
    op.drop_table(LEDGER)
    op.drop_table("commerce_stock_levels")
    op.drop_table("commerce_locations")
