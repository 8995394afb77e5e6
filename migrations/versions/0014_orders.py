"""carts, orders and fulfilment

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-23 11:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import omnicx.db.types

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[object]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _at(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, omnicx.db.types.UtcDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "commerce_carts",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("owner_key", sa.String(length=100), nullable=True),
        sa.Column("customer_id", sa.String(length=36), nullable=True),
        sa.Column("anonymous_hash", sa.String(length=64), nullable=True),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("order_id", sa.String(length=36), nullable=True),
        sa.Column("merged_into", sa.String(length=36), nullable=True),
        _at("created_at"),
        _at("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commerce_carts")),
        sa.UniqueConstraint("owner_key", name=op.f("uq_commerce_carts_owner_key")),
    )
    for column in ("customer_id", "anonymous_hash", "updated_at"):
        op.create_index(
            op.f(f"ix_commerce_carts_{column}"), "commerce_carts", [column], unique=False
        )
    op.create_table(
        "commerce_cart_lines",
        sa.Column("cart_id", sa.String(length=36), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("qty", sa.Integer(), nullable=False),
        sa.Column("unit_amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("price_reason", sa.String(length=500), nullable=True),
        _at("quoted_at"),
        _at("added_at"),
        sa.PrimaryKeyConstraint("cart_id", "sku", name=op.f("pk_commerce_cart_lines")),
    )
    op.create_table(
        "commerce_orders",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("location_id", sa.String(length=64), nullable=True),
        sa.Column("customer_id", sa.String(length=36), nullable=True),
        sa.Column("customer_name", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("subtotal", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("payment_method", sa.String(length=40), nullable=True),
        sa.Column("payment_reference", sa.String(length=200), nullable=True),
        sa.Column("payment_amount", sa.BigInteger(), nullable=True),
        sa.Column("external_ref", sa.String(length=100), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("cart_id", sa.String(length=36), nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("erasure_ref", sa.String(length=36), nullable=True),
        _at("created_at"),
        _at("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commerce_orders")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_commerce_orders_idempotency_key")),
    )
    op.create_index(
        "ix_commerce_orders_customer_id_created_at",
        "commerce_orders",
        ["customer_id", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_commerce_orders_created_at", "commerce_orders", ["created_at"], unique=False
    )
    op.create_table(
        "commerce_order_groups",
        sa.Column("order_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("location_id", sa.String(length=64), nullable=True),
        sa.Column("address", _json(), nullable=True),
        _at("pickup_by", nullable=True),
        sa.Column("tracking", sa.String(length=200), nullable=True),
        _at("updated_at"),
        sa.PrimaryKeyConstraint("order_id", "position", name=op.f("pk_commerce_order_groups")),
    )
    op.create_table(
        "commerce_order_lines",
        sa.Column("order_id", sa.String(length=36), nullable=False),
        sa.Column("line_no", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("group_position", sa.Integer(), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("qty", sa.Integer(), nullable=False),
        sa.Column("unit_amount", sa.BigInteger(), nullable=False),
        sa.Column("base_amount", sa.BigInteger(), nullable=False),
        sa.Column("price_reason", sa.String(length=500), nullable=True),
        sa.Column("promotion_id", sa.String(length=36), nullable=True),
        sa.Column("price_source", sa.String(length=12), nullable=False),
        sa.PrimaryKeyConstraint("order_id", "line_no", name=op.f("pk_commerce_order_lines")),
    )
    op.create_index(
        op.f("ix_commerce_order_lines_sku"), "commerce_order_lines", ["sku"], unique=False
    )
    op.create_table(
        "commerce_order_allocations",
        sa.Column("order_id", sa.String(length=36), nullable=False),
        sa.Column("line_no", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("location_id", sa.String(length=64), nullable=False),
        sa.Column("qty", sa.Integer(), nullable=False),
        sa.Column("reservation_id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.PrimaryKeyConstraint(
            "order_id", "line_no", "location_id", name=op.f("pk_commerce_order_allocations")
        ),
    )
    op.create_index(
        op.f("ix_commerce_order_allocations_reservation_id"),
        "commerce_order_allocations",
        ["reservation_id"],
        unique=False,
    )
    op.create_table(
        "commerce_order_history",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("order_id", sa.String(length=36), nullable=False),
        sa.Column("group_position", sa.Integer(), nullable=True),
        sa.Column("from_status", sa.String(length=20), nullable=True),
        sa.Column("to_status", sa.String(length=20), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        _at("at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commerce_order_history")),
    )
    op.create_index(
        op.f("ix_commerce_order_history_order_id"),
        "commerce_order_history",
        ["order_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_table("commerce_order_history")
    op.drop_table("commerce_order_allocations")
    op.drop_table("commerce_order_lines")
    op.drop_table("commerce_order_groups")
    op.drop_table("commerce_orders")
    op.drop_table("commerce_cart_lines")
    op.drop_table("commerce_carts")
