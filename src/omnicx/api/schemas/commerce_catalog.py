"""Bodies and answers of the catalog and price book API. Money is integer minor units of an
ISO 4217 currency (19990 BRL is R$ 199,90)."""

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

KindName = Literal["product", "service"]
StatusName = Literal["draft", "active", "archived"]
PromotionKindName = Literal["percent", "amount"]
SourceName = Literal["search", "agent", "store"]

CURRENCY_HELP = "ISO 4217 code; OMNICX_CURRENCY when left out."


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MoneyPublic(BaseModel):
    amount: int = Field(description="Minor units (centavos, cents).")
    currency: str
    formatted: str = Field(description="The amount as a plain decimal, e.g. 199.90.")


class ServiceIn(Strict):
    duration_minutes: int = Field(description="How long serving it takes, 1 to 10080.")
    capability: str | None = Field(
        default=None,
        max_length=40,
        description="The location capability it needs, e.g. fitting or installation.",
    )


class ServicePublic(BaseModel):
    duration_minutes: int
    capability: str | None


class VariantIn(Strict):
    sku: str = Field(max_length=64, examples=["AUR-VES-0201-M"])
    options: dict[str, str] = Field(
        default_factory=dict, max_length=10, examples=[{"size": "M", "colour": "floral"}]
    )
    barcode: str | None = Field(default=None, max_length=48, examples=["7891234567895"])


class VariantChange(Strict):
    options: dict[str, str] | None = Field(default=None, max_length=10)
    barcode: str | None = Field(default=None, max_length=48)


class VariantPublic(BaseModel):
    sku: str
    options: dict[str, str]
    barcode: str | None
    position: int


class ListingIn(Strict):
    published: bool = Field(description="Shown to customers on the channel.")
    purchasable: bool = Field(description="Can be bought on the channel.")
    in_store_only: bool = Field(
        default=False,
        description="Shown on this (online) channel but sold in store only; needs a reason.",
    )
    reason: str | None = Field(
        default=None,
        max_length=500,
        description="Why it is not purchasable here; shown online for in-store-only.",
        examples=["Try-on needed; buy in store"],
    )
    title: str | None = Field(default=None, max_length=200, description="The channel's title.")


class ListingPublic(BaseModel):
    channel: str
    published: bool
    purchasable: bool
    in_store_only: bool
    reason: str | None
    title: str | None
    updated_at: datetime | None
    updated_by: str | None


class ProductCreate(Strict):
    handle: str = Field(
        max_length=120, description="Lower-case words joined by -.", examples=["vestido-midi"]
    )
    title: str = Field(max_length=200)
    kind: KindName = "product"
    description: str = Field(default="", max_length=10_000)
    status: StatusName = "active"
    attributes: dict[str, Any] = Field(
        default_factory=dict, max_length=50, examples=[{"brand": "Aurora", "fabric": "viscose"}]
    )
    service: ServiceIn | None = Field(default=None, description="Required for a service.")
    variants: list[VariantIn] = Field(
        max_length=500, description="Each a SKU; a service's codes are its variants."
    )


class ProductChange(Strict):
    title: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=10_000)
    status: StatusName | None = None
    attributes: dict[str, Any] | None = Field(default=None, max_length=50)
    service: ServiceIn | None = None


class ProductPublic(BaseModel):
    id: str
    handle: str
    title: str
    description: str
    kind: KindName
    status: StatusName
    attributes: dict[str, Any]
    service: ServicePublic | None
    variants: list[VariantPublic]
    listings: list[ListingPublic]
    created_at: datetime
    updated_at: datetime


class ProductsPublic(BaseModel):
    items: list[ProductPublic]
    next: str | None = Field(description="Pass as `cursor` for the next page.")


# -- prices -------------------------------------------------------------------------------------


class BasePriceIn(Strict):
    amount: int = Field(description="Minor units, zero or more.", examples=[24990])
    currency: str | None = Field(default=None, max_length=3, description=CURRENCY_HELP)


class BasePricePublic(BaseModel):
    id: str
    sku: str
    price: MoneyPublic
    effective_at: datetime
    actor: str


class OverrideCreate(Strict):
    channel: str = Field(max_length=40, examples=["marketplace"])
    amount: int = Field(description="Minor units, zero or more.", examples=[26990])
    currency: str | None = Field(default=None, max_length=3, description=CURRENCY_HELP)
    reason: str = Field(
        max_length=500,
        description="Why this channel's price differs (required).",
        examples=["Marketplace commission passed on"],
    )
    valid_from: datetime | None = None
    valid_to: datetime | None = None


class OverridePublic(BaseModel):
    id: str
    sku: str
    channel: str
    price: MoneyPublic
    reason: str
    valid_from: datetime | None
    valid_to: datetime | None
    created_at: datetime
    created_by: str
    withdrawn_at: datetime | None
    withdrawn_by: str | None


class PromotionCreate(Strict):
    name: str = Field(max_length=200, examples=["Winter sale"])
    kind: PromotionKindName
    value: int = Field(description="Percent off (1 to 100), or minor units off.", examples=[20])
    currency: str | None = Field(
        default=None, max_length=3, description="Of an amount off; OMNICX_CURRENCY when left out."
    )
    channels: list[str] = Field(max_length=20, examples=[["web", "app"]])
    skus: list[str] = Field(default_factory=list, max_length=1000)
    product_ids: list[str] = Field(
        default_factory=list, max_length=1000, description="None named here or in skus: all."
    )
    code: str | None = Field(
        default=None, max_length=40, description="Applies only when the code is given."
    )
    valid_from: datetime | None = None
    valid_to: datetime | None = None


class PromotionPublic(BaseModel):
    id: str
    name: str
    kind: PromotionKindName
    value: int
    currency: str | None
    channels: list[str]
    skus: list[str]
    product_ids: list[str]
    code: str | None
    valid_from: datetime | None
    valid_to: datetime | None
    created_at: datetime
    created_by: str
    ended_at: datetime | None
    ended_by: str | None


class PromotionsPublic(BaseModel):
    items: list[PromotionPublic]


class QuotePublic(BaseModel):
    sku: str
    channel: str
    base: MoneyPublic
    price: MoneyPublic
    reason: str | None = Field(description="Why the price is not the base; None when it is.")
    override: str | None
    promotion: str | None
    promotion_name: str | None
    at: datetime | None


class PricesPublic(BaseModel):
    sku: str
    base: list[BasePricePublic] = Field(description="Every version, newest first.")
    overrides: list[OverridePublic] = Field(description="Withdrawn ones included.")
    promotions: list[PromotionPublic] = Field(description="Promotions covering this SKU.")
    quotes: list[QuotePublic] = Field(description="The price now on each channel.")


# -- availability, demand and reports ----------------------------------------------------------


class CellPublic(BaseModel):
    channel: str
    location_id: str | None = Field(description="None: the channel's listing as a whole.")
    available: bool
    reason: str | None = Field(
        description="inactive, not_listed, not_published, in_store_only, not_purchasable, "
        "no_capability or out_of_stock."
    )
    detail: str | None
    stock: int | None


class AvailabilityPublic(BaseModel):
    sku: str
    product_id: str
    title: str
    kind: KindName
    stock_known: bool = Field(description="Whether inventory answered with stock levels.")
    cells: list[CellPublic]


class DemandCreate(Strict):
    sku: str | None = Field(default=None, max_length=64)
    query: str | None = Field(
        default=None, max_length=200, description="The search's words, when it named no SKU."
    )
    channel: str = Field(max_length=40)
    location_id: str | None = Field(default=None, max_length=64)
    source: SourceName


class DemandPublic(BaseModel):
    day: date
    sku: str | None
    channel: str
    location_id: str | None
    source: SourceName


class GapPublic(BaseModel):
    sku: str
    product_id: str
    title: str
    channel: str
    location_id: str | None
    reason: str
    detail: str
    available_elsewhere: list[str]
    demand: int = Field(description="Requests counted for this gap in the period.")
    lost_value: MoneyPublic | None = Field(description="That demand at the channel's price.")


class SearchPublic(BaseModel):
    query: str
    channel: str
    count: int


class GapsPublic(BaseModel):
    at: datetime
    since: date
    gaps: list[GapPublic]
    searches: list[SearchPublic] = Field(description="Searches that named no SKU, most first.")


class PriceRowPublic(BaseModel):
    sku: str
    channel: str
    base: MoneyPublic
    price: MoneyPublic
    difference: int
    source: str = Field(description="override, promotion, override+promotion or base.")
    reason: str | None
    override: str | None
    promotion: str | None
    flag: str | None = Field(
        description="no_reason, override_expired, overrides_overlap or promotions_overlap."
    )
    detail: str | None


class PriceItemPublic(BaseModel):
    sku: str
    base: MoneyPublic
    prices: dict[str, MoneyPublic]
    consistent: bool


class PriceReportPublic(BaseModel):
    at: datetime
    currency: str
    items: list[PriceItemPublic]
    differences: list[PriceRowPublic]
    flagged: int
