"""returns, exchanges and loyalty

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-23 11:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import omnicx.db.types

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[object]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _at(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, omnicx.db.types.UtcDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "commerce_returns",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=36), nullable=True),
        sa.Column("order_channel", sa.String(length=40), nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("location_id", sa.String(length=64), nullable=False),
        sa.Column("refund_to", sa.String(length=20), nullable=False),
        sa.Column("refund", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("tender", sa.String(length=40), nullable=True),
        sa.Column("points_reversed", sa.Integer(), nullable=False),
        sa.Column("exchange_id", sa.String(length=36), nullable=True),
        sa.Column("staff", sa.String(length=200), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=False),
        _at("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commerce_returns")),
        sa.UniqueConstraint("key", name=op.f("uq_commerce_returns_key")),
    )
    for column in ("order_id", "customer_id", "location_id"):
        op.create_index(
            op.f(f"ix_commerce_returns_{column}"), "commerce_returns", [column], unique=False
        )
    op.create_table(
        "commerce_return_lines",
        sa.Column("return_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("qty", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("condition", sa.String(length=12), nullable=False),
        sa.Column("refund", sa.BigInteger(), nullable=False),
        sa.Column("movement_id", sa.BigInteger(), nullable=True),
        sa.CheckConstraint("qty > 0", name=op.f("ck_commerce_return_lines_qty")),
        sa.PrimaryKeyConstraint("return_id", "position", name=op.f("pk_commerce_return_lines")),
    )
    op.create_table(
        "commerce_returned_units",
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("qty", sa.Integer(), nullable=False),
        _at("updated_at"),
        sa.CheckConstraint("qty >= 0", name=op.f("ck_commerce_returned_units_qty")),
        sa.PrimaryKeyConstraint("order_id", "sku", name=op.f("pk_commerce_returned_units")),
    )
    op.create_table(
        "commerce_refunds",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=36), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("method", sa.String(length=20), nullable=False),
        sa.Column("tender", sa.String(length=40), nullable=True),
        sa.Column("return_id", sa.String(length=36), nullable=True),
        sa.Column("exchange_id", sa.String(length=36), nullable=True),
        _at("created_at"),
        sa.CheckConstraint("amount > 0", name=op.f("ck_commerce_refunds_amount")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commerce_refunds")),
    )
    for column in ("order_id", "customer_id", "return_id", "exchange_id"):
        op.create_index(
            op.f(f"ix_commerce_refunds_{column}"), "commerce_refunds", [column], unique=False
        )
    op.create_table(
        "commerce_exchanges",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("return_id", sa.String(length=36), nullable=False),
        sa.Column("new_order_id", sa.String(length=64), nullable=True),
        sa.Column("customer_id", sa.String(length=36), nullable=True),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("location_id", sa.String(length=64), nullable=False),
        sa.Column("returned_value", sa.BigInteger(), nullable=False),
        sa.Column("new_value", sa.BigInteger(), nullable=False),
        sa.Column("difference", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("settlement", sa.String(length=10), nullable=False),
        sa.Column("refund_to", sa.String(length=20), nullable=False),
        sa.Column("payment_method", sa.String(length=40), nullable=True),
        sa.Column("lines", _json(), nullable=False),
        sa.Column("points_earned", sa.Integer(), nullable=False),
        sa.Column("staff", sa.String(length=200), nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=False),
        _at("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commerce_exchanges")),
        sa.UniqueConstraint("key", name=op.f("uq_commerce_exchanges_key")),
    )
    for column in ("order_id", "customer_id"):
        op.create_index(
            op.f(f"ix_commerce_exchanges_{column}"), "commerce_exchanges", [column], unique=False
        )
    op.create_table(
        "commerce_loyalty_accounts",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("customer_id", sa.String(length=36), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("credit", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("tier", sa.String(length=40), nullable=False),
        sa.Column("merged_into", sa.String(length=36), nullable=True),
        _at("created_at"),
        _at("updated_at"),
        sa.CheckConstraint("credit >= 0", name=op.f("ck_commerce_loyalty_accounts_credit")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commerce_loyalty_accounts")),
        sa.UniqueConstraint("customer_id", name=op.f("uq_commerce_loyalty_accounts_customer_id")),
    )
    op.create_index(
        op.f("ix_commerce_loyalty_accounts_merged_into"),
        "commerce_loyalty_accounts",
        ["merged_into"],
        unique=False,
    )
    op.create_table(
        "commerce_loyalty_entries",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("credit", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("location_id", sa.String(length=64), nullable=True),
        sa.Column("order_id", sa.String(length=64), nullable=True),
        sa.Column("return_id", sa.String(length=36), nullable=True),
        sa.Column("exchange_id", sa.String(length=36), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=False),
        _at("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commerce_loyalty_entries")),
        sa.UniqueConstraint(
            "account_id", "key", name=op.f("uq_commerce_loyalty_entries_account_id_key")
        ),
    )
    op.create_index(
        op.f("ix_commerce_loyalty_entries_order_id"),
        "commerce_loyalty_entries",
        ["order_id"],
        unique=False,
    )
    op.create_index(
        "ix_commerce_loyalty_entries_account_id_created_at",
        "commerce_loyalty_entries",
        ["account_id", "created_at"],
        unique=False,
    )


def downgrade() -> None:
    for table in (
        "commerce_loyalty_entries",
        "commerce_loyalty_accounts",
        "commerce_exchanges",
        "commerce_refunds",
        "commerce_returned_units",
        "commerce_return_lines",
        "commerce_returns",
    ):
        op.drop_table(table)
