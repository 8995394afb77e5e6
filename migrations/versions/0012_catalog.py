"""catalog, listings, availability and the price book

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-23 11:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import omnicx.db.types

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[object]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "commerce_products",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("handle", sa.String(length=120), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attributes", _json(), nullable=False),
        sa.Column("service_minutes", sa.Integer(), nullable=True),
        sa.Column("service_capability", sa.String(length=40), nullable=True),
        sa.Column("created_at", omnicx.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", omnicx.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commerce_products")),
        sa.UniqueConstraint("handle", name=op.f("uq_commerce_products_handle")),
    )
    op.create_table(
        "commerce_variants",
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("product_id", sa.String(length=36), nullable=False),
        sa.Column("options", _json(), nullable=False),
        sa.Column("barcode", sa.String(length=48), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("created_at", omnicx.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", omnicx.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sku", name=op.f("pk_commerce_variants")),
        sa.UniqueConstraint("barcode", name=op.f("uq_commerce_variants_barcode")),
    )
    op.create_index(
        op.f("ix_commerce_variants_product_id"), "commerce_variants", ["product_id"], unique=False
    )
    op.create_table(
        "commerce_listings",
        sa.Column("product_id", sa.String(length=36), nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("published", sa.Boolean(), nullable=False),
        sa.Column("purchasable", sa.Boolean(), nullable=False),
        sa.Column("in_store_only", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=True),
        sa.Column("updated_at", omnicx.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("product_id", "channel", name=op.f("pk_commerce_listings")),
    )
    op.create_table(
        "commerce_base_prices",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("effective_at", omnicx.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commerce_base_prices")),
    )
    op.create_index(
        "ix_commerce_base_prices_sku_currency_effective_at",
        "commerce_base_prices",
        ["sku", "currency", "effective_at"],
        unique=False,
    )
    op.create_table(
        "commerce_price_overrides",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("valid_from", omnicx.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("valid_to", omnicx.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("created_at", omnicx.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("withdrawn_at", omnicx.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_by", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commerce_price_overrides")),
    )
    op.create_index(
        op.f("ix_commerce_price_overrides_sku"), "commerce_price_overrides", ["sku"], unique=False
    )
    op.create_table(
        "commerce_promotions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("channels", _json(), nullable=False),
        sa.Column("skus", _json(), nullable=False),
        sa.Column("product_ids", _json(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=True),
        sa.Column("valid_from", omnicx.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("valid_to", omnicx.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("created_at", omnicx.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("ended_at", omnicx.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("ended_by", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commerce_promotions")),
    )
    op.create_index(
        op.f("ix_commerce_promotions_code"), "commerce_promotions", ["code"], unique=False
    )
    op.create_table(
        "commerce_demand",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("query_key", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("location_id", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("query", sa.Text(), nullable=True),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("first_at", omnicx.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("last_at", omnicx.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "day",
            "sku",
            "query_key",
            "channel",
            "location_id",
            "source",
            name=op.f("pk_commerce_demand"),
        ),
    )


def downgrade() -> None:
    op.drop_table("commerce_demand")
    op.drop_table("commerce_promotions")
    op.drop_table("commerce_price_overrides")
    op.drop_table("commerce_base_prices")
    op.drop_table("commerce_listings")
    op.drop_table("commerce_variants")
    op.drop_table("commerce_products")
