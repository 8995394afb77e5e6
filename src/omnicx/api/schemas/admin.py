from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class SourceCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    channel: str = Field(min_length=1, max_length=40, examples=["web", "store", "call_center"])


class SourcePublic(BaseModel):
    id: str
    name: str
    channel: str
    write_key: str
    created_at: datetime


class SourcesPublic(BaseModel):
    items: list[SourcePublic]


class WebhookCreate(BaseModel):
    url: str = Field(min_length=1, max_length=2000)
    topics: list[str] = Field(min_length=1)
    description: str = Field(default="", max_length=500)


class WebhookPublic(BaseModel):
    id: str
    url: str
    topics: list[str]
    description: str
    created_at: datetime


class WebhookCreated(WebhookPublic):
    secret: str = Field(description="Signs every delivery; shown only now.")


class WebhooksPublic(BaseModel):
    items: list[WebhookPublic]


class DeliveryPublic(BaseModel):
    id: int
    topic: str
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime
    next_attempt_at: datetime | None = Field(description="When a pending delivery is tried next.")
    done_at: datetime | None
    payload: dict[str, Any]


class DeliveriesPublic(BaseModel):
    items: list[DeliveryPublic]


class DeadLetterPublic(BaseModel):
    id: int
    source_id: str
    count: int
    error: str
    created_at: datetime
    events: list[dict[str, Any]] = Field(description="The batch as it was acknowledged.")


class DeadLettersPublic(BaseModel):
    items: list[DeadLetterPublic]
