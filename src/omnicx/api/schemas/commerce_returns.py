"""Bodies and answers of the returns, exchanges and loyalty API, and the commerce section of
the customer context. Money is integer minor units of an ISO 4217 currency."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from omnicx.api.schemas.commerce_catalog import MoneyPublic
from omnicx.api.schemas.commerce_orders import AddressIn

Condition = Literal["resellable", "damaged"]
RefundTo = Literal["original", "store_credit"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- returns ---------------------------------------------------------------------------------


class ReturnLineIn(Strict):
    sku: str = Field(max_length=64, description="A SKU on the order.")
    qty: int = Field(description="Units coming back: no more than bought minus returned.")
    reason: str = Field(
        max_length=40, description="A lower-case reason code, e.g. wrong_size, faulty."
    )
    condition: Condition = Field(
        description="resellable: back into sellable stock at the location; damaged: into its "
        "damaged bucket."
    )


class ReturnCreate(Strict):
    order_id: str = Field(max_length=64, description="The order, whatever channel sold it.")
    location_id: str = Field(
        max_length=64, description="Where the goods come back: a location that accepts returns."
    )
    lines: list[ReturnLineIn] = Field(min_length=1, max_length=100)
    refund_to: RefundTo = Field(
        default="original",
        description="original: back to the order's tender; store_credit: onto the customer's "
        "loyalty account.",
    )
    channel: str | None = Field(
        default=None,
        max_length=40,
        description="Where it was taken; a store location's counter channel when left out.",
    )
    staff: str | None = Field(default=None, max_length=200, description="Who took it in.")
    note: str | None = Field(default=None, max_length=1000, description="Free text, sealed.")


class ReturnLinePublic(BaseModel):
    sku: str
    qty: int
    reason: str
    condition: str
    refund: MoneyPublic = Field(description="What these units paid, pro rata, promotions in.")
    movement_id: int | None = Field(description="The stock movement that received them.")


class RefundPublic(BaseModel):
    id: str
    amount: MoneyPublic
    method: str = Field(description="original or store_credit.")
    tender: str | None = Field(description="The order's payment method, for a refund to it.")
    created_at: datetime


class ReturnPublic(BaseModel):
    id: str
    order_id: str
    customer_id: str | None
    order_channel: str = Field(description="Where the order was placed.")
    channel: str = Field(description="Where the return was taken.")
    location_id: str
    refund_to: str = Field(description="original, store_credit or exchange.")
    refund: MoneyPublic = Field(description="The value of what came back.")
    tender: str | None
    points_reversed: int
    exchange_id: str | None
    staff: str | None
    note: str | None
    actor: str
    created_at: datetime
    lines: list[ReturnLinePublic]
    refunds: list[RefundPublic]


class ReturnsPublic(BaseModel):
    items: list[ReturnPublic]


# -- exchanges -------------------------------------------------------------------------------


class NewLineIn(Strict):
    sku: str = Field(max_length=64)
    qty: int


class ExchangeCreate(Strict):
    order_id: str = Field(max_length=64)
    location_id: str = Field(
        max_length=64, description="The store that takes the items back and sells the new ones."
    )
    lines: list[ReturnLineIn] = Field(min_length=1, max_length=100, description="Coming back.")
    new_lines: list[NewLineIn] = Field(min_length=1, max_length=100, description="Going out.")
    refund_to: RefundTo = Field(
        default="original", description="Where the difference goes if the new items cost less."
    )
    payment_method: str | None = Field(
        default=None,
        max_length=40,
        description="How a difference the customer owes was paid (recorded, not processed).",
    )
    channel: str | None = Field(default=None, max_length=40)
    staff: str | None = Field(default=None, max_length=200)
    note: str | None = Field(default=None, max_length=1000)
    address: AddressIn | None = Field(
        default=None,
        description="Where new items the store lacks are shipped from the network (an "
        "endless-aisle order); without it the store must have every new item.",
    )


class SaleLinePublic(BaseModel):
    sku: str
    qty: int
    unit_price: MoneyPublic
    total: MoneyPublic
    location_id: str = Field(description="Where the units left from.")
    fulfilment: str = Field(description="in_store, or endless_aisle.")


class ExchangePublic(BaseModel):
    id: str
    order_id: str
    new_order_id: str | None
    customer_id: str | None
    channel: str
    location_id: str
    returned_value: MoneyPublic
    new_value: MoneyPublic
    difference: MoneyPublic = Field(
        description="new - returned: above zero charged, below zero refunded."
    )
    settlement: str = Field(description="charged, refunded or even.")
    refund_to: str
    payment_method: str | None
    points_earned: int
    staff: str | None
    actor: str
    created_at: datetime
    lines: list[SaleLinePublic]
    refunds: list[RefundPublic]
    returned: ReturnPublic


# -- loyalty ---------------------------------------------------------------------------------


class LoyaltyEntryPublic(BaseModel):
    id: str
    kind: str = Field(description="earn, burn, reverse, adjust, expire, credit, debit or transfer.")
    points: int = Field(description="Signed.")
    credit: MoneyPublic = Field(description="Signed store credit.")
    channel: str
    location_id: str | None
    order_id: str | None
    return_id: str | None
    exchange_id: str | None
    reason: str | None
    actor: str
    created_at: datetime


class NextTier(BaseModel):
    name: str
    points: int = Field(description="The rolling points it needs.")


class LoyaltyPublic(BaseModel):
    customer_id: str
    account_id: str | None = Field(description="Null until the first entry opens it.")
    points: int
    credit: MoneyPublic = Field(description="Store credit.")
    tier: str
    tier_points: int = Field(description="Points earned over the rolling tier window.")
    next_tier: NextTier | None
    entries: list[LoyaltyEntryPublic] = Field(description="Newest first.")
    next: str | None = Field(description="Pass as `before` for older entries.")


class LoyaltyEarn(Strict):
    points: int = Field(description="Points to add, 1 or more.")
    channel: str = Field(max_length=40, description="Where it happened.")
    location_id: str | None = Field(default=None, max_length=64)
    order_id: str | None = Field(default=None, max_length=64)
    reason: str | None = Field(default=None, max_length=500)


class LoyaltyBurn(Strict):
    points: int | None = Field(default=None, description="Points to spend.")
    amount: int | None = Field(
        default=None, description="Store credit to spend, in minor units (instead of points)."
    )
    channel: str = Field(max_length=40)
    location_id: str | None = Field(default=None, max_length=64)
    order_id: str | None = Field(default=None, max_length=64)
    reason: str | None = Field(default=None, max_length=500)


class LoyaltyAdjust(Strict):
    points: int = Field(default=0, description="Signed points.")
    credit: int = Field(default=0, description="Signed store credit, in minor units.")
    channel: str = Field(max_length=40)
    location_id: str | None = Field(default=None, max_length=64)
    reason: str = Field(min_length=1, max_length=500, description="Why: required.")


class LoyaltyPosted(BaseModel):
    entry: LoyaltyEntryPublic
    loyalty: LoyaltyPublic


# -- the customer context --------------------------------------------------------------------


class CartSummary(BaseModel):
    id: str
    channel: str
    items: int
    total: MoneyPublic
    updated_at: datetime


class FulfilmentSummary(BaseModel):
    type: str
    status: str
    location_id: str | None


class OrderSummary(BaseModel):
    id: str
    channel: str
    location_id: str | None
    status: str
    total: MoneyPublic
    created_at: datetime
    fulfilments: list[FulfilmentSummary]


class PickupSummary(BaseModel):
    order_id: str
    location_id: str | None
    status: str
    pickup_by: datetime | None


class ReturnSummary(BaseModel):
    id: str
    order_id: str
    channel: str
    location_id: str
    refund: MoneyPublic
    refund_to: str
    exchange_id: str | None
    created_at: datetime


class ExchangeSummary(BaseModel):
    id: str
    order_id: str
    channel: str
    location_id: str
    difference: MoneyPublic
    settlement: str
    created_at: datetime


class LoyaltySummary(BaseModel):
    points: int
    credit: MoneyPublic
    tier: str
    tier_points: int


class CustomerCommerce(BaseModel):
    open_carts: list[CartSummary]
    recent_orders: list[OrderSummary] = Field(description="Newest first.")
    pending_pickups: list[PickupSummary]
    returns: list[ReturnSummary]
    exchanges: list[ExchangeSummary]
    loyalty: LoyaltySummary
