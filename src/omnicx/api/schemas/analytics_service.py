"""Answers of the service, campaign and availability reports, and QR codes. Money is integer
minor units of the currency named beside it; periods are UTC days [from, to)."""

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MediumName = Literal["poster", "receipt", "packaging", "other"]


class Period(BaseModel):
    start: date = Field(serialization_alias="from", description="First day (UTC) counted.")
    end: date = Field(serialization_alias="to", description="The day after the last counted.")
    channel: str | None = None
    segment: str | None = None
    store: str | None = None


class ReasonCellPublic(BaseModel):
    channel: str = Field(description="Channel of the conversation's first inbound message.")
    reason: str | None = Field(description="Contact reason; null when none was set.")
    conversations: int = Field(description="Conversations opened in the period.")
    resolved: int = Field(description="Of those, resolved (or closed) now.")
    mean_resolution_seconds: float | None = Field(
        description="Mean time from opening to resolution of the resolved ones."
    )
    csat_mean: float | None = Field(description="Mean CSAT score (1 to 5).")
    csat_count: int


class ChannelReasonsPublic(BaseModel):
    period: Period
    cells: list[ReasonCellPublic]


class FrictionRowPublic(BaseModel):
    channel: str
    conversations: int
    repeat_contacts: int = Field(
        description="Conversations on a reason the same customer contacted about within the "
        "7 days before (an earlier conversation opened or ended then)."
    )
    repeat_rate: float | None
    switches_out: int = Field(description="Consecutive inbound messages that left this channel.")
    switches_in: int
    sla_breaches: int


class SwitchPublic(BaseModel):
    from_channel: str = Field(serialization_alias="from")
    to_channel: str = Field(serialization_alias="to")
    count: int


class BreachPublic(BaseModel):
    channel: str
    metric: str
    count: int


class FrictionPublic(BaseModel):
    period: Period
    channels: list[FrictionRowPublic]
    switches: list[SwitchPublic] = Field(description="Channel switches by pair, most first.")
    breaches: list[BreachPublic] = Field(description="SLA breaches by channel and metric.")


class CampaignRowPublic(BaseModel):
    kind: Literal["journey", "broadcast"]
    id: str
    name: str | None
    version: int | None = Field(description="The journey version; null for a broadcast.")
    sends: int
    delivered: int
    delivery_rate: float | None
    entered: int | None = Field(description="Journey instances that entered in the period.")
    treated: int | None = Field(description="Instances that ended outside a holdout.")
    holdout: int | None = Field(description="Instances that ended in a split's holdout.")
    conversions: int = Field(
        description="Journeys: treated instances that reached the goal. Broadcasts: orders "
        "attributed to their sends."
    )
    conversion_rate: float | None = Field(
        description="Journeys: per treated instance. Broadcasts: per send."
    )
    holdout_conversions: int | None
    holdout_rate: float | None
    uplift: float | None = Field(description="conversion_rate minus holdout_rate.")
    orders: int = Field(description="Orders within the attribution window after a send.")
    revenue: int = Field(description="Their revenue, in minor units.")
    cost: int = Field(description="Sends x message cost per channel, in minor units.")
    roi: float | None = Field(description="revenue / cost; null when the sends cost nothing.")
    currency: str


class CampaignsPublic(BaseModel):
    period: Period
    currency: str
    campaigns: list[CampaignRowPublic]


class GapRowPublic(BaseModel):
    sku: str
    title: str
    channel: str
    location_id: str | None
    reason: str
    detail: str
    available_elsewhere: list[str]
    requests: int = Field(description="Requests counted for the item here in the period.")
    lost_value: int | None = Field(description="Those requests at the item's price, minor units.")
    currency: str | None


class ChannelDemandPublic(BaseModel):
    channel: str
    requests: int
    lost_value: int
    currency: str


class SearchRowPublic(BaseModel):
    query: str
    channel: str
    count: int


class AvailabilityGapsPublic(BaseModel):
    period: Period
    currency: str
    gaps: list[GapRowPublic]
    channels: list[ChannelDemandPublic] = Field(description="Totals of the gaps per channel.")
    searches: list[SearchRowPublic] = Field(description="Searches that named no SKU.")


class QrCodeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=200, examples=["Summer posters, Paulista store"])
    campaign: str = Field(
        max_length=100, description="Sent as utm_campaign.", examples=["summer-sale"]
    )
    target_url: str = Field(
        max_length=2048,
        description="The page on the retailer's site a scan lands on.",
        examples=["https://shop.example.com/summer"],
    )
    medium: MediumName
    store: str | None = Field(
        default=None, max_length=64, description="The location code where it is displayed."
    )


class QrCodePublic(BaseModel):
    id: str
    code: str
    name: str
    campaign: str
    target_url: str
    medium: str
    store: str | None
    scan_url: str = Field(description="What the printed code holds.")
    png_url: str
    svg_url: str
    scans: int = Field(description="Every scan counted since it was created.")
    known_scans: int = Field(description="Of those, by a visitor omnicx knows.")
    period_scans: int = Field(description="Scans in the period asked for.")
    period_known_scans: int
    last_scan_at: datetime | None
    created_by: str
    created_at: datetime


class QrCodesPublic(BaseModel):
    period: Period
    items: list[QrCodePublic]
