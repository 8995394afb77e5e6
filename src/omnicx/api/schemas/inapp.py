"""Answers of the in-app inbox API, as staff see a customer's inbox."""

from datetime import datetime

from pydantic import BaseModel, Field

from omnicx.channels.inapp import InAppMessage


class InAppMessagePublic(BaseModel):
    id: str = Field(description="The message id (the conversation's or the gate's message)")
    title: str | None
    text: str
    status: str = Field(description="sent, delivered, read or clicked")
    address_kind: str
    created_at: datetime
    delivered_at: datetime | None
    read_at: datetime | None
    clicked_at: datetime | None

    @classmethod
    def of(cls, message: InAppMessage) -> "InAppMessagePublic":
        return cls(
            id=message.id,
            title=message.title,
            text=message.text,
            status=message.status,
            address_kind=message.address_kind,
            created_at=message.created_at,
            delivered_at=message.delivered_at,
            read_at=message.read_at,
            clicked_at=message.clicked_at,
        )


class InAppMessagesPublic(BaseModel):
    customer_id: str
    items: list[InAppMessagePublic]
