"""Answers of the channel reports. Money is integer minor units of the currency named beside
it; periods are UTC days [from, to)."""

from datetime import date

from pydantic import BaseModel, Field


class UsagePeriod(BaseModel):
    start: date | None = Field(
        serialization_alias="from", description="First day (UTC) counted; null: open."
    )
    end: date | None = Field(
        serialization_alias="to", description="The day after the last counted; null: open."
    )
    channel: str | None = None
    segment: str | None = None
    store: str | None = None


class UsageRowPublic(BaseModel):
    bucket: date = Field(description="First day of the day, week (Monday) or month.")
    channel: str
    interactions: int
    new_customers: int = Field(description="Customers whose first interaction was here.")
    new_to_channel: int = Field(description="Customers who used the channel the first time.")
    customers: int | None = Field(
        description="Distinct customers on the channel in the month (month buckets only; "
        "the whole month, even when the period covers part of it)."
    )


class UsageTotalPublic(BaseModel):
    channel: str
    interactions: int
    new_customers: int
    new_to_channel: int


class ChannelUsagePublic(BaseModel):
    period: UsagePeriod
    bucket: str
    series: list[UsageRowPublic]
    totals: list[UsageTotalPublic]


class SharePublic(BaseModel):
    channels: str = Field(description="Channels used: 1, 2, 3 or 4+.")
    customers: int
    share: float


class BandSharePublic(BaseModel):
    age_band: str
    channels: str
    customers: int
    share: float = Field(description="Of the age band's customers.")


class PropensityPublic(BaseModel):
    period: UsagePeriod = Field(description="Customers first seen in it (open ends: everyone).")
    customers: int
    overall: list[SharePublic]
    by_age_band: list[BandSharePublic]


class PathPublic(BaseModel):
    path: list[str] = Field(description="Channels, oldest first; the last is the outcome's.")
    times: int
    share: float


class SankeyNodePublic(BaseModel):
    id: str
    label: str
    step: int


class SankeyLinkPublic(BaseModel):
    source: str
    target: str
    value: int


class SankeyPublic(BaseModel):
    nodes: list[SankeyNodePublic]
    links: list[SankeyLinkPublic]


class PathsPublic(BaseModel):
    period: UsagePeriod
    outcome: str
    total: int
    paths: list[PathPublic]
    sankey: SankeyPublic


class ConversionRowPublic(BaseModel):
    direction: str
    channel: str = Field(description="Where the purchase happened.")
    conversions: int
    revenue: int
    purchases: int = Field(description="Every purchase on the channel in the period.")
    rate: float


class ConversionTotalPublic(BaseModel):
    direction: str
    conversions: int
    revenue: int
    purchases: int
    rate: float


class ConversionsPublic(BaseModel):
    period: UsagePeriod
    days: int = Field(description="How many days before the purchase the other side counts.")
    currency: str
    totals: list[ConversionTotalPublic]
    channels: list[ConversionRowPublic]


class EconomicsRowPublic(BaseModel):
    channel: str
    orders: int
    revenue: int
    messages_sent: int
    agent_minutes: float
    message_cost: int
    agent_cost: int
    cost_to_serve: int
    revenue_per_order: int


class EconomicsPublic(BaseModel):
    period: UsagePeriod
    currency: str
    channels: list[EconomicsRowPublic]
    total: EconomicsRowPublic


class ClvRowPublic(BaseModel):
    group: str
    customers: int
    orders: int
    revenue: int
    clv: int = Field(description="Revenue per customer to date.")
    orders_per_customer: float


class ClvPublic(BaseModel):
    period: UsagePeriod = Field(description="Customers first seen in it (open ends: everyone).")
    currency: str
    by_first_channel: list[ClvRowPublic]
    by_channels_used: list[ClvRowPublic]


class HeatCellPublic(BaseModel):
    channel: str
    weekday: int = Field(description="ISO weekday: 1 is Monday, 7 Sunday.")
    hour: int
    interactions: int


class HeatmapPublic(BaseModel):
    period: UsagePeriod
    tz: str
    busiest: list[HeatCellPublic]
    cells: list[HeatCellPublic]
