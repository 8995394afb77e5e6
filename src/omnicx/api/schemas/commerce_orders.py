"""Bodies and answers of the carts and orders API. Money is integer minor units with its
ISO 4217 currency."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

FulfilmentName = Literal["ship", "pickup", "ship_from_store", "endless_aisle"]
EventName = Literal["picked", "ready_for_pickup", "collected", "shipped", "delivered", "cancel"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MoneyIn(Strict):
    amount: int = Field(description="Minor units (centavos, cents).", examples=[8490])
    currency: str = Field(max_length=3, examples=["BRL"])


class MoneyPublic(BaseModel):
    amount: int
    currency: str


class AddressIn(Strict):
    name: str = Field(max_length=200, description="Who receives the parcel.")
    line1: str = Field(max_length=200)
    line2: str = Field(default="", max_length=200)
    district: str = Field(default="", max_length=200)
    city: str = Field(max_length=200)
    region: str = Field(default="", max_length=200)
    postal_code: str = Field(max_length=20, examples=["01310-100"])
    country: str = Field(max_length=2, description="ISO 3166 code.", examples=["BR"])
    phone: str | None = Field(default=None, max_length=40)
    latitude: float | None = Field(default=None, description="Used by nearest_with_stock.")
    longitude: float | None = None


class AddressPublic(BaseModel):
    name: str
    line1: str
    line2: str
    district: str
    city: str
    region: str
    postal_code: str
    country: str
    phone: str | None
    latitude: float | None
    longitude: float | None


class CustomerIn(Strict):
    """Identifiers that find the customer, or make a new one."""

    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=40)
    loyalty_id: str | None = Field(default=None, max_length=200)
    user_id: str | None = Field(default=None, max_length=200)
    name: str | None = Field(default=None, max_length=200)


class PaymentIn(Strict):
    """Recorded, not processed."""

    method: str = Field(max_length=40, examples=["card", "pix", "pay_on_pickup"])
    amount: int = Field(description="Minor units paid.")
    currency: str = Field(max_length=3, examples=["BRL"])
    reference: str | None = Field(
        default=None, max_length=200, description="The payment provider's reference."
    )


class PaymentPublic(BaseModel):
    method: str
    amount: MoneyPublic
    reference: str | None


class OrderLineIn(Strict):
    sku: str = Field(max_length=64)
    qty: int = Field(examples=[1])
    price: MoneyIn | None = Field(
        default=None,
        description="Marketplace orders only: the marketplace's own unit price (with "
        "`price_reason`); every other order is priced by the catalog for its channel.",
    )
    price_reason: str | None = Field(default=None, max_length=500)


class GroupIn(Strict):
    type: FulfilmentName
    lines: list[OrderLineIn] = Field(max_length=200)
    location_id: str | None = Field(
        default=None,
        max_length=64,
        description="pickup: the store; ship_from_store: the store that ships (else chosen).",
    )
    address: AddressIn | None = Field(
        default=None, description="Where it goes (every type but pickup)."
    )


class OrderCreate(Strict):
    channel: str = Field(max_length=40, examples=["web"])
    location_id: str | None = Field(
        default=None, max_length=64, description="Where the sale is made (a store sale)."
    )
    customer_id: str | None = Field(default=None, max_length=64)
    customer: CustomerIn | None = None
    groups: list[GroupIn] = Field(max_length=20, description="The lines, by how each is fulfilled.")
    payment: PaymentIn | None = None
    external_ref: str | None = Field(
        default=None, max_length=100, description="The marketplace's or till's order number."
    )
    note: str | None = Field(default=None, max_length=1000)


class OrderEventIn(Strict):
    type: EventName
    group: int | None = Field(
        default=None,
        ge=0,
        le=19,
        description="The group it applies to; every group it can move when absent.",
    )
    tracking: str | None = Field(default=None, max_length=200, description="With `shipped`.")


class OrderLinePublic(BaseModel):
    line_no: int
    group: int
    sku: str
    qty: int
    unit_price: MoneyPublic
    base_price: MoneyPublic
    total: MoneyPublic
    price_reason: str | None
    promotion_id: str | None
    price_source: str


class AllocationPublic(BaseModel):
    line_no: int
    location_id: str
    qty: int
    reservation_id: str
    status: str


class GroupPublic(BaseModel):
    position: int
    type: str
    status: str
    location_id: str | None
    address: AddressPublic | None
    pickup_by: datetime | None
    tracking: str | None
    allocations: list[AllocationPublic]


class HistoryPublic(BaseModel):
    group: int | None
    from_status: str | None
    to_status: str
    actor: str
    at: datetime


class OrderPublic(BaseModel):
    id: str
    status: str
    channel: str
    location_id: str | None
    customer_id: str | None
    customer_name: str | None
    subtotal: MoneyPublic
    total: MoneyPublic
    paid: MoneyPublic
    balance_due: MoneyPublic
    payment: PaymentPublic | None
    external_ref: str | None
    note: str | None
    cart_id: str | None
    created_at: datetime
    updated_at: datetime
    groups: list[GroupPublic]
    lines: list[OrderLinePublic]
    history: list[HistoryPublic]


class OrdersPublic(BaseModel):
    items: list[OrderPublic]
    next: str | None = Field(description="Pass as `after` for the next page; null at the end.")


class CartLinePublic(BaseModel):
    sku: str
    qty: int
    unit_price: MoneyPublic
    total: MoneyPublic
    channel: str
    price_reason: str | None
    quoted_at: datetime
    added_at: datetime


class CartPublic(BaseModel):
    id: str
    customer_id: str | None
    anonymous: bool = Field(description="Owned by an anonymous id not yet linked to anyone.")
    channel: str
    status: str
    order_id: str | None
    total: MoneyPublic
    lines: list[CartLinePublic]
    created_at: datetime
    updated_at: datetime


class CartLineIn(Strict):
    sku: str = Field(max_length=64)
    qty: int = Field(default=1, examples=[1])
    channel: str | None = Field(
        default=None, max_length=40, description="Priced for this channel; the cart's when absent."
    )


class CartLineChange(Strict):
    qty: int


class CheckoutGroupIn(Strict):
    type: FulfilmentName
    location_id: str | None = Field(default=None, max_length=64)
    address: AddressIn | None = None
    skus: list[str] | None = Field(
        default=None, max_length=100, description="The cart's lines it takes; the rest when absent."
    )


class CheckoutIn(Strict):
    groups: list[CheckoutGroupIn] = Field(max_length=20)
    channel: str | None = Field(
        default=None, max_length=40, description="The order's channel; the cart's when absent."
    )
    location_id: str | None = Field(default=None, max_length=64)
    customer: CustomerIn | None = Field(
        default=None, description="For an anonymous cart: who is buying."
    )
    payment: PaymentIn | None = None
    note: str | None = Field(default=None, max_length=1000)
    expected_total: int | None = Field(
        default=None,
        description="The total the buyer saw (minor units); refused with 409 prices_changed "
        "when today's prices add up to another.",
    )


class PriceChangePublic(BaseModel):
    sku: str
    qty: int
    was: MoneyPublic
    now: MoneyPublic
    difference: MoneyPublic = Field(description="(now - was) x qty.")


class CheckoutPublic(BaseModel):
    order: OrderPublic
    price_changes: list[PriceChangePublic]
