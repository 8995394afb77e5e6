"""Bodies and answers of the segments API."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

CONDITION_EXAMPLE = {
    "all": [
        {"trait": "tier", "op": "in", "value": ["gold", "platinum"]},
        {"event": "Order Completed", "count": {"gte": 2}, "within": "30d"},
        {"consent": {"purpose": "marketing", "channel": "email"}},
    ]
}

CONDITION_DOC = (
    "The condition tree: `all`, `any` or `not` over `trait`, `event`, `conversation`, "
    "`consent` and `expr` (CEL) conditions; see the README's Segments section."
)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SegmentCreate(Strict):
    name: str = Field(min_length=1, max_length=200, examples=["VIP"])
    description: str = Field(default="", max_length=1000)
    condition: dict[str, Any] = Field(description=CONDITION_DOC, examples=[CONDITION_EXAMPLE])


class SegmentChange(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=1000)
    condition: dict[str, Any] | None = Field(
        default=None, description="A new definition; everyone is evaluated again."
    )


class SegmentPublic(BaseModel):
    id: str
    name: str
    description: str
    condition: dict[str, Any]
    version: int = Field(description="Goes up by one with each new definition.")
    computing: bool = Field(
        description="A pass over customers is under way (a new definition or a refresh)."
    )
    refreshed_at: datetime | None = Field(description="When the last pass started.")
    created_at: datetime
    updated_at: datetime


class SegmentsPublic(BaseModel):
    items: list[SegmentPublic]


class SegmentSize(BaseModel):
    segment_id: str
    size: int = Field(description="Members now.")
    computing: bool
    refreshed_at: datetime | None


class MemberPublic(BaseModel):
    id: str = Field(description="The customer's id.")
    display_name: str | None
    since: datetime | None = Field(description="When they entered; null in a dry run.")
    traits: dict[str, Any] = Field(description="The traits the definition tests.")


class SegmentPreview(BaseModel):
    size: int = Field(description="Members (saved segment) or matching customers (dry run).")
    members: list[MemberPublic]
    scanned: int | None = Field(
        default=None, description="Dry run: customers evaluated; null for a saved segment."
    )
    complete: bool = Field(
        default=True,
        description="Dry run: false when it stopped at its limit before seeing everyone.",
    )


class PreviewRequest(Strict):
    condition: dict[str, Any] = Field(description=CONDITION_DOC, examples=[CONDITION_EXAMPLE])
    limit: int = Field(default=10, ge=0, le=100, description="Members to show.")


class CustomerSegment(BaseModel):
    id: str
    name: str
    since: datetime


class CustomerSegments(BaseModel):
    items: list[CustomerSegment]
