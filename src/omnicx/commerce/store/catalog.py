"""SQL storage of the catalog and the price book: products, variants, channel listings, base
price versions, channel overrides, promotions, and daily demand counts.

The price tables are history: a base price change adds a version, an override or promotion
is never rewritten except for stamping once when it was withdrawn or ended. Demand rows hold
counts only; the words of a search are sealed and looked up by their keyed hash.
"""

from collections.abc import Collection, Iterator, Sequence
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from omnicx.commerce.messages import RecordDemand
from omnicx.commerce.model import (
    BasePrice,
    DemandCount,
    Item,
    Listing,
    Money,
    PriceOverride,
    Product,
    Promotion,
    ServiceTerms,
    Variant,
)
from omnicx.crypto import FieldCipher
from omnicx.db import JsonValue, UtcDateTime, metadata

ID = 36
SKU = 64
CHUNK = 500

commerce_products = sa.Table(
    "commerce_products",
    metadata,
    sa.Column("id", sa.String(ID), primary_key=True),
    sa.Column("handle", sa.String(120), nullable=False, unique=True),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("description", sa.Text(), nullable=False),
    sa.Column("kind", sa.String(10), nullable=False),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("attributes", JsonValue, nullable=False),
    sa.Column("service_minutes", sa.Integer(), nullable=True),
    sa.Column("service_capability", sa.String(40), nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

commerce_variants = sa.Table(
    "commerce_variants",
    metadata,
    sa.Column("sku", sa.String(SKU), primary_key=True),
    sa.Column("product_id", sa.String(ID), nullable=False, index=True),
    sa.Column("options", JsonValue, nullable=False),
    sa.Column("barcode", sa.String(48), nullable=True, unique=True),
    sa.Column("position", sa.Integer(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

commerce_listings = sa.Table(
    "commerce_listings",
    metadata,
    sa.Column("product_id", sa.String(ID), primary_key=True),
    sa.Column("channel", sa.String(40), primary_key=True),
    sa.Column("published", sa.Boolean(), nullable=False),
    sa.Column("purchasable", sa.Boolean(), nullable=False),
    sa.Column("in_store_only", sa.Boolean(), nullable=False),
    sa.Column("reason", sa.String(500), nullable=True),
    sa.Column("title", sa.String(200), nullable=True),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.Column("updated_by", sa.String(200), nullable=False),
)

commerce_base_prices = sa.Table(
    "commerce_base_prices",
    metadata,
    sa.Column("id", sa.String(ID), primary_key=True),
    sa.Column("sku", sa.String(SKU), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("amount", sa.BigInteger(), nullable=False),
    sa.Column("effective_at", UtcDateTime(), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Index(
        "ix_commerce_base_prices_sku_currency_effective_at", "sku", "currency", "effective_at"
    ),
)
"""Versions of base prices: the latest effective one of a (sku, currency) is in force."""

commerce_price_overrides = sa.Table(
    "commerce_price_overrides",
    metadata,
    sa.Column("id", sa.String(ID), primary_key=True),
    sa.Column("sku", sa.String(SKU), nullable=False, index=True),
    sa.Column("channel", sa.String(40), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("amount", sa.BigInteger(), nullable=False),
    sa.Column("reason", sa.String(500), nullable=False),
    sa.Column("valid_from", UtcDateTime(), nullable=True),
    sa.Column("valid_to", UtcDateTime(), nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("withdrawn_at", UtcDateTime(), nullable=True),
    sa.Column("withdrawn_by", sa.String(200), nullable=True),
)

commerce_promotions = sa.Table(
    "commerce_promotions",
    metadata,
    sa.Column("id", sa.String(ID), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(10), nullable=False),
    sa.Column("value", sa.BigInteger(), nullable=False),
    sa.Column("currency", sa.String(3), nullable=True),
    sa.Column("channels", JsonValue, nullable=False),
    sa.Column("skus", JsonValue, nullable=False),
    sa.Column("product_ids", JsonValue, nullable=False),
    sa.Column("code", sa.String(40), nullable=True, index=True),
    sa.Column("valid_from", UtcDateTime(), nullable=True),
    sa.Column("valid_to", UtcDateTime(), nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("ended_at", UtcDateTime(), nullable=True),
    sa.Column("ended_by", sa.String(200), nullable=True),
)

commerce_demand = sa.Table(
    "commerce_demand",
    metadata,
    sa.Column("day", sa.Date(), primary_key=True),
    sa.Column("sku", sa.String(SKU), primary_key=True),
    sa.Column("query_key", sa.String(64), primary_key=True),
    sa.Column("channel", sa.String(40), primary_key=True),
    sa.Column("location_id", sa.String(64), primary_key=True),
    sa.Column("source", sa.String(10), primary_key=True),
    sa.Column("query", sa.Text(), nullable=True),
    sa.Column("count", sa.Integer(), nullable=False),
    sa.Column("first_at", UtcDateTime(), nullable=False),
    sa.Column("last_at", UtcDateTime(), nullable=False),
)
"""Requests for items that could not be had, counted per day; '' stands for "none" in the
key columns (sku, query_key, location_id) so the key stays unique on every database."""


def _chunks(values: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


def _variant(row: Any) -> Variant:
    return Variant(row.sku, row.product_id, dict(row.options), row.barcode, row.position)


def _listing(row: Any) -> Listing:
    return Listing(
        product_id=row.product_id,
        channel=row.channel,
        published=row.published,
        purchasable=row.purchasable,
        in_store_only=row.in_store_only,
        reason=row.reason,
        title=row.title,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
    )


def _terms(row: Any) -> ServiceTerms | None:
    if row.service_minutes is None:
        return None
    return ServiceTerms(row.service_minutes, row.service_capability)


def _override(row: Any) -> PriceOverride:
    return PriceOverride(
        id=row.id,
        sku=row.sku,
        channel=row.channel,
        price=Money(row.amount, row.currency),
        reason=row.reason,
        valid_from=row.valid_from,
        valid_to=row.valid_to,
        created_at=row.created_at,
        created_by=row.created_by,
        withdrawn_at=row.withdrawn_at,
        withdrawn_by=row.withdrawn_by,
    )


def _promotion(row: Any) -> Promotion:
    return Promotion(
        id=row.id,
        name=row.name,
        kind=row.kind,
        value=row.value,
        currency=row.currency,
        channels=tuple(row.channels),
        skus=tuple(row.skus),
        product_ids=tuple(row.product_ids),
        code=row.code,
        valid_from=row.valid_from,
        valid_to=row.valid_to,
        created_at=row.created_at,
        created_by=row.created_by,
        ended_at=row.ended_at,
        ended_by=row.ended_by,
    )


def _items_query() -> sa.Select[Any]:
    p, v = commerce_products.c, commerce_variants.c
    return (
        sa.select(
            v.sku,
            v.product_id,
            v.options,
            p.handle,
            p.title,
            p.kind,
            p.status,
            p.service_minutes,
            p.service_capability,
        )
        .join_from(commerce_variants, commerce_products, p.id == v.product_id)
        .order_by(v.sku)
    )


# The statements of a price quote (every cart line and order line asks for one), built once:
# SQLAlchemy then reuses their cache keys.
_ITEM = _items_query().where(commerce_variants.c.sku == sa.bindparam("sku"))
_LISTINGS = sa.select(commerce_listings).order_by(
    commerce_listings.c.product_id, commerce_listings.c.channel
)
_LISTINGS_OF = _LISTINGS.where(
    commerce_listings.c.product_id.in_(sa.bindparam("product_ids", expanding=True))
)
_BASE_PRICES = (
    sa.select(commerce_base_prices)
    .where(
        commerce_base_prices.c.currency == sa.bindparam("currency"),
        commerce_base_prices.c.effective_at <= sa.bindparam("at"),
    )
    .order_by(
        commerce_base_prices.c.sku,
        commerce_base_prices.c.effective_at.desc(),
        commerce_base_prices.c.id.desc(),
    )
)
_BASE_PRICES_OF = _BASE_PRICES.where(
    commerce_base_prices.c.sku.in_(sa.bindparam("skus", expanding=True))
)
_OVERRIDES = sa.select(commerce_price_overrides).order_by(
    commerce_price_overrides.c.sku,
    commerce_price_overrides.c.created_at,
    commerce_price_overrides.c.id,
)
_OVERRIDES_OF = _OVERRIDES.where(
    commerce_price_overrides.c.sku.in_(sa.bindparam("skus", expanding=True))
)
_PROMOTIONS = sa.select(commerce_promotions).order_by(
    commerce_promotions.c.created_at, commerce_promotions.c.id
)


class SqlCatalogRepository:
    def __init__(self, conn: sa.Connection, cipher: FieldCipher) -> None:
        self.conn = conn
        self.cipher = cipher

    # -- products ------------------------------------------------------------------------

    def _product_values(self, product: Product) -> dict[str, Any]:
        return {
            "title": product.title,
            "description": product.description,
            "status": product.status,
            "attributes": product.attributes,
            "service_minutes": product.service.duration_minutes if product.service else None,
            "service_capability": product.service.capability if product.service else None,
            "updated_at": product.updated_at,
        }

    def add_product(self, product: Product) -> None:
        self.conn.execute(
            commerce_products.insert().values(
                id=product.id,
                handle=product.handle,
                kind=product.kind,
                created_at=product.created_at,
                **self._product_values(product),
            )
        )

    def update_product(self, product: Product) -> None:
        self.conn.execute(
            commerce_products.update()
            .where(commerce_products.c.id == product.id)
            .values(**self._product_values(product))
        )

    def _assemble(self, rows: Sequence[Any]) -> list[Product]:
        ids = [row.id for row in rows]
        variants: dict[str, list[Variant]] = {i: [] for i in ids}
        listings = self.listings(ids) if ids else {}
        for chunk in _chunks(ids):
            found = self.conn.execute(
                sa.select(commerce_variants)
                .where(commerce_variants.c.product_id.in_(chunk))
                .order_by(commerce_variants.c.position, commerce_variants.c.sku)
            )
            for row in found:
                variants[row.product_id].append(_variant(row))
        return [
            Product(
                id=row.id,
                handle=row.handle,
                title=row.title,
                description=row.description,
                kind=row.kind,
                status=row.status,
                attributes=dict(row.attributes),
                created_at=row.created_at,
                updated_at=row.updated_at,
                service=_terms(row),
                variants=tuple(variants[row.id]),
                listings=tuple(listings.get(row.id, ())),
            )
            for row in rows
        ]

    def product(self, product_id: str) -> Product | None:
        row = self.conn.execute(
            sa.select(commerce_products).where(commerce_products.c.id == product_id)
        ).first()
        return self._assemble([row])[0] if row is not None else None

    def product_by_handle(self, handle: str) -> Product | None:
        row = self.conn.execute(
            sa.select(commerce_products).where(commerce_products.c.handle == handle)
        ).first()
        return self._assemble([row])[0] if row is not None else None

    def products(
        self,
        *,
        q: str | None = None,
        kind: str | None = None,
        status: str | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> list[Product]:
        query = sa.select(commerce_products).order_by(commerce_products.c.id).limit(limit)
        if q:
            words = q.strip().lower()
            query = query.where(
                sa.or_(
                    sa.func.lower(commerce_products.c.title).contains(words, autoescape=True),
                    commerce_products.c.handle.contains(words, autoescape=True),
                    commerce_products.c.id.in_(
                        sa.select(commerce_variants.c.product_id).where(
                            sa.func.lower(commerce_variants.c.sku) == words
                        )
                    ),
                )
            )
        if kind:
            query = query.where(commerce_products.c.kind == kind)
        if status:
            query = query.where(commerce_products.c.status == status)
        if after:
            query = query.where(commerce_products.c.id > after)
        return self._assemble(list(self.conn.execute(query)))

    # -- variants and items --------------------------------------------------------------

    def add_variant(self, variant: Variant, now: datetime) -> None:
        self.conn.execute(
            commerce_variants.insert().values(
                sku=variant.sku,
                product_id=variant.product_id,
                options=variant.options,
                barcode=variant.barcode,
                position=variant.position,
                created_at=now,
                updated_at=now,
            )
        )

    def update_variant(self, variant: Variant, now: datetime) -> None:
        self.conn.execute(
            commerce_variants.update()
            .where(commerce_variants.c.sku == variant.sku)
            .values(options=variant.options, barcode=variant.barcode, updated_at=now)
        )

    def variant(self, sku: str) -> Variant | None:
        row = self.conn.execute(
            sa.select(commerce_variants).where(commerce_variants.c.sku == sku)
        ).first()
        return _variant(row) if row is not None else None

    def barcode_owner(self, barcode: str) -> str | None:
        found: str | None = self.conn.execute(
            sa.select(commerce_variants.c.sku).where(commerce_variants.c.barcode == barcode)
        ).scalar()
        return found

    @staticmethod
    def _item(row: Any) -> Item:
        return Item(
            sku=row.sku,
            product_id=row.product_id,
            handle=row.handle,
            title=row.title,
            kind=row.kind,
            status=row.status,
            options=dict(row.options),
            service=_terms(row),
        )

    def item(self, sku: str) -> Item | None:
        row = self.conn.execute(_ITEM, {"sku": sku}).first()
        return self._item(row) if row is not None else None

    def items(self, skus: Collection[str] | None = None) -> list[Item]:
        active = _items_query().where(commerce_products.c.status == "active")
        if skus is None:
            return [self._item(row) for row in self.conn.execute(active)]
        found: list[Item] = []
        for chunk in _chunks(sorted(skus)):
            rows = self.conn.execute(active.where(commerce_variants.c.sku.in_(chunk)))
            found.extend(self._item(row) for row in rows)
        return sorted(found, key=lambda item: item.sku)

    # -- listings ------------------------------------------------------------------------

    def put_listing(self, listing: Listing) -> None:
        values = {
            "published": listing.published,
            "purchasable": listing.purchasable,
            "in_store_only": listing.in_store_only,
            "reason": listing.reason,
            "title": listing.title,
            "updated_at": listing.updated_at,
            "updated_by": listing.updated_by or "",
        }
        table = commerce_listings
        key = (table.c.product_id == listing.product_id) & (table.c.channel == listing.channel)
        if self.conn.execute(table.update().where(key).values(**values)).rowcount == 0:
            self.conn.execute(
                table.insert().values(
                    product_id=listing.product_id, channel=listing.channel, **values
                )
            )

    def listings(self, product_ids: Collection[str] | None = None) -> dict[str, list[Listing]]:
        rows: list[Any] = []
        if product_ids is None:
            rows = list(self.conn.execute(_LISTINGS))
        else:
            for chunk in _chunks(list(product_ids)):
                rows.extend(self.conn.execute(_LISTINGS_OF, {"product_ids": list(chunk)}))
        found: dict[str, list[Listing]] = {}
        for row in rows:
            found.setdefault(row.product_id, []).append(_listing(row))
        return found

    # -- base prices ---------------------------------------------------------------------

    def add_base_price(self, price: BasePrice) -> None:
        self.conn.execute(
            commerce_base_prices.insert().values(
                id=price.id,
                sku=price.sku,
                currency=price.price.currency,
                amount=price.price.amount,
                effective_at=price.effective_at,
                actor=price.actor,
            )
        )

    def base_prices(
        self, skus: Collection[str] | None, currency: str, at: datetime
    ) -> dict[str, BasePrice]:
        when = {"currency": currency, "at": at}
        rows: list[Any] = []
        if skus is None:
            rows = list(self.conn.execute(_BASE_PRICES, when))
        else:
            for chunk in _chunks(sorted(skus)):
                rows.extend(self.conn.execute(_BASE_PRICES_OF, {**when, "skus": list(chunk)}))
        found: dict[str, BasePrice] = {}
        for row in rows:
            if row.sku not in found:
                found[row.sku] = BasePrice(
                    row.id, row.sku, Money(row.amount, row.currency), row.effective_at, row.actor
                )
        return found

    def base_history(self, sku: str) -> list[BasePrice]:
        t = commerce_base_prices
        rows = self.conn.execute(
            sa.select(t).where(t.c.sku == sku).order_by(t.c.effective_at.desc(), t.c.id.desc())
        )
        return [
            BasePrice(r.id, r.sku, Money(r.amount, r.currency), r.effective_at, r.actor)
            for r in rows
        ]

    # -- overrides -----------------------------------------------------------------------

    def add_override(self, override: PriceOverride) -> None:
        self.conn.execute(
            commerce_price_overrides.insert().values(
                id=override.id,
                sku=override.sku,
                channel=override.channel,
                currency=override.price.currency,
                amount=override.price.amount,
                reason=override.reason,
                valid_from=override.valid_from,
                valid_to=override.valid_to,
                created_at=override.created_at,
                created_by=override.created_by,
            )
        )

    def override(self, override_id: str) -> PriceOverride | None:
        t = commerce_price_overrides
        row = self.conn.execute(sa.select(t).where(t.c.id == override_id)).first()
        return _override(row) if row is not None else None

    def overrides(self, skus: Collection[str] | None = None) -> list[PriceOverride]:
        if skus is None:
            return [_override(row) for row in self.conn.execute(_OVERRIDES)]
        found: list[PriceOverride] = []
        for chunk in _chunks(sorted(skus)):
            rows = self.conn.execute(_OVERRIDES_OF, {"skus": list(chunk)})
            found.extend(_override(row) for row in rows)
        return found

    def withdraw_override(self, override_id: str, at: datetime, actor: str) -> None:
        t = commerce_price_overrides
        self.conn.execute(
            t.update()
            .where(t.c.id == override_id, t.c.withdrawn_at.is_(None))
            .values(withdrawn_at=at, withdrawn_by=actor)
        )

    # -- promotions ----------------------------------------------------------------------

    def add_promotion(self, promotion: Promotion) -> None:
        self.conn.execute(
            commerce_promotions.insert().values(
                id=promotion.id,
                name=promotion.name,
                kind=promotion.kind,
                value=promotion.value,
                currency=promotion.currency,
                channels=list(promotion.channels),
                skus=list(promotion.skus),
                product_ids=list(promotion.product_ids),
                code=promotion.code,
                valid_from=promotion.valid_from,
                valid_to=promotion.valid_to,
                created_at=promotion.created_at,
                created_by=promotion.created_by,
            )
        )

    def promotion(self, promotion_id: str) -> Promotion | None:
        t = commerce_promotions
        row = self.conn.execute(sa.select(t).where(t.c.id == promotion_id)).first()
        return _promotion(row) if row is not None else None

    def promotions(self) -> list[Promotion]:
        return [_promotion(row) for row in self.conn.execute(_PROMOTIONS)]

    def end_promotion(self, promotion_id: str, at: datetime, actor: str) -> None:
        t = commerce_promotions
        self.conn.execute(
            t.update()
            .where(t.c.id == promotion_id, t.c.ended_at.is_(None))
            .values(ended_at=at, ended_by=actor)
        )

    # -- demand --------------------------------------------------------------------------

    def count_demand(self, day: date, command: RecordDemand, now: datetime) -> None:
        query = command.query if command.sku is None else None
        values = {
            "day": day,
            "sku": command.sku or "",
            "query_key": self.cipher.blind("demand_query", query) if query else "",
            "channel": command.channel,
            "location_id": command.location_id or "",
            "source": command.source,
            "query": self.cipher.seal_if(True, query),
            "count": 1,
            "first_at": now,
            "last_at": now,
        }
        t = commerce_demand
        dialect = postgresql if self.conn.dialect.name == "postgresql" else sqlite
        insert = dialect.insert(t).values(**values)
        self.conn.execute(
            insert.on_conflict_do_update(
                index_elements=[c.name for c in t.primary_key.columns],
                set_={"count": t.c.count + 1, "last_at": insert.excluded.last_at},
            )
        )

    def demand(self, since: date) -> list[DemandCount]:
        t = commerce_demand
        rows = self.conn.execute(
            sa.select(t).where(t.c.day >= since).order_by(t.c.day, t.c.sku, t.c.channel)
        )
        return [
            DemandCount(
                day=row.day,
                sku=row.sku or None,
                query=self.cipher.reveal(row.query) if row.query else None,
                channel=row.channel,
                location_id=row.location_id or None,
                source=row.source,
                count=row._mapping["count"],
            )
            for row in rows
        ]
