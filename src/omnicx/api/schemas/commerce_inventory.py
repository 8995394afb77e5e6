"""Bodies and answers of the inventory API: locations, stock, movements, transfers,
reservations and availability."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

KindName = Literal["distribution_centre", "store", "dark_store"]
BucketName = Literal["sellable", "display", "damaged", "in_transit"]
OnHandBucket = Literal["sellable", "display", "damaged"]
MovementKind = Literal[
    "receipt", "return", "adjustment", "damage", "display", "restock", "write_off", "transfer"
]

WEEK_EXAMPLE = {"mon": [["10:00", "22:00"]], "sun": [["14:00", "20:00"]]}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AddressIn(Strict):
    country: str = Field(description="ISO 3166 country code.", examples=["BR"])
    line1: str = Field(default="", max_length=200)
    line2: str = Field(default="", max_length=200)
    district: str = Field(default="", max_length=200)
    city: str = Field(default="", max_length=200)
    region: str = Field(default="", max_length=200)
    postal_code: str = Field(default="", max_length=200)


class AddressPublic(BaseModel):
    country: str
    line1: str
    line2: str
    district: str
    city: str
    region: str
    postal_code: str


class HoursIn(Strict):
    timezone: str = Field(default="UTC", max_length=64, examples=["America/Sao_Paulo"])
    week: dict[str, list[list[str]]] = Field(
        default_factory=dict,
        description="Per weekday (mon..sun) local HH:MM intervals; no weekday and no exception "
        "at all means always open.",
        examples=[WEEK_EXAMPLE],
    )
    exceptions: dict[str, list[list[str]]] = Field(
        default_factory=dict,
        description="Local ISO dates with other hours; [] closes the day.",
        examples=[{"2026-12-25": [], "2026-12-24": [["10:00", "16:00"]]}],
    )


class HoursPublic(BaseModel):
    timezone: str
    week: dict[str, list[list[str]]]
    exceptions: dict[str, list[list[str]]]
    always_open: bool


class LocationCreate(Strict):
    id: str = Field(max_length=64, examples=["store-paulista"])
    name: str = Field(max_length=200)
    kind: KindName
    capabilities: list[str] = Field(
        default_factory=list,
        max_length=50,
        description="ship, pickup, ship_from_store, accept_returns, fitting, installation…",
    )
    address: AddressIn
    hours: HoursIn | None = None
    safety_stock: int = Field(
        default=0, description="Units of each SKU kept back from other channels' reservations."
    )
    priority: int = Field(default=100, description="Lower is tried first.")
    latitude: float | None = None
    longitude: float | None = None
    active: bool = True


class LocationChange(Strict):
    name: str | None = Field(default=None, max_length=200)
    kind: KindName | None = None
    capabilities: list[str] | None = Field(default=None, max_length=50)
    address: AddressIn | None = None
    hours: HoursIn | None = None
    safety_stock: int | None = None
    priority: int | None = None
    latitude: float | None = Field(default=None, description="Send both, or both null to clear.")
    longitude: float | None = None
    active: bool | None = None


class LocationPublic(BaseModel):
    id: str
    name: str
    kind: KindName
    capabilities: list[str]
    address: AddressPublic
    hours: HoursPublic
    open_now: bool
    safety_stock: int
    priority: int
    latitude: float | None
    longitude: float | None
    active: bool
    created_at: datetime
    updated_at: datetime


class LocationsPublic(BaseModel):
    items: list[LocationPublic]


class StockLevelPublic(BaseModel):
    location_id: str
    sku: str
    sellable: int
    display: int
    damaged: int
    in_transit: int
    reserved: int
    available: int = Field(description="Sellable less active leases (expired ones count free).")
    updated_at: datetime | None


class StockPublic(BaseModel):
    items: list[StockLevelPublic]


class MovementCreate(Strict):
    kind: MovementKind = Field(
        description="receipt and return bring stock in; adjustment adds (qty > 0) or takes "
        "(qty < 0); damage, display and restock move it between buckets; write_off takes it "
        "out; transfer sends sellable stock to `to_location_id`."
    )
    location_id: str = Field(max_length=64)
    sku: str = Field(max_length=64)
    qty: int = Field(description="Units; signed for an adjustment.")
    bucket: OnHandBucket | None = Field(
        default=None,
        description="Where stock arrives (receipt, return, adjustment: sellable by default) or "
        "comes from (damage: sellable; restock: display; write_off: damaged).",
    )
    to_location_id: str | None = Field(default=None, max_length=64)
    ref: str | None = Field(default=None, max_length=100, description="A delivery, order, count…")
    note: str | None = Field(default=None, max_length=500)


class MovementPublic(BaseModel):
    id: int
    location_id: str
    sku: str
    from_bucket: BucketName | None
    to_bucket: BucketName | None
    qty: int
    reason: str
    ref: str | None
    reservation_id: str | None
    note: str | None
    actor: str
    at: datetime


class MovementsPublic(BaseModel):
    items: list[MovementPublic]
    next_before: int | None = Field(description="Pass as `before` for the next, older page.")


class TransferPublic(BaseModel):
    id: str
    from_location: str
    to_location: str
    sku: str
    qty: int
    received: int
    status: Literal["in_transit", "received"]
    ref: str | None
    actor: str
    created_at: datetime
    updated_at: datetime


class TransfersPublic(BaseModel):
    items: list[TransferPublic]


class MovementRecorded(BaseModel):
    movements: list[MovementPublic]
    transfer: TransferPublic | None = None


class TransferReceive(Strict):
    qty: int | None = Field(
        default=None, description="Units arrived; all still on the way if unset."
    )
    bucket: Literal["sellable", "damaged"] = "sellable"


class ReservationCreate(Strict):
    location_id: str = Field(max_length=64)
    sku: str = Field(max_length=64)
    qty: int
    lease_seconds: int | None = Field(
        default=None, description="OMNICX_STOCK_LEASE_SECONDS if unset."
    )
    key: str | None = Field(
        default=None, max_length=200, description="Idempotency key: the same key, the same lease."
    )
    ref: str | None = Field(default=None, max_length=100, description="A cart or order.")
    remote: bool = Field(
        default=False,
        description="A sale for another channel than the location's own counter: the "
        "location's safety stock is kept back.",
    )


class ReservationPublic(BaseModel):
    id: str
    key: str
    location_id: str
    sku: str
    qty: int
    status: Literal["active", "committed", "released", "expired"]
    ref: str | None
    actor: str
    created_at: datetime
    expires_at: datetime
    ended_at: datetime | None


class ReservationCommit(Strict):
    reason: Literal["sale", "ship"] = "sale"
    ref: str | None = Field(default=None, max_length=100, description="The lease's ref if unset.")


class ReservationExtend(Strict):
    lease_seconds: int | None = None


class AvailabilityItem(BaseModel):
    location_id: str
    name: str
    kind: KindName
    capabilities: list[str]
    available: int
    open_now: bool


class AvailabilityPublic(BaseModel):
    sku: str
    total: int
    items: list[AvailabilityItem]


class DifferencePublic(BaseModel):
    location_id: str
    sku: str
    bucket: str
    recorded: int
    derived: int


class ReconcilePublic(BaseModel):
    differences: list[DifferencePublic]
