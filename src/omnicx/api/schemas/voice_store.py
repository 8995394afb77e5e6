"""Bodies and answers of the call-centre and store-visit routes."""

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

CallOutcome = Literal["answered", "missed", "voicemail", "busy", "no_answer", "abandoned", "failed"]


class CallCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    direction: Literal["inbound", "outbound"]
    number: str = Field(min_length=1, max_length=40, description="The customer's number.")
    duration_seconds: int = Field(ge=0, le=86_400)
    outcome: CallOutcome
    notes: str | None = Field(default=None, max_length=10_000)
    recording_url: str | None = Field(default=None, max_length=2000)
    agent: str | None = Field(
        default=None, max_length=200, description="Who took the call; the caller when absent."
    )
    line: str | None = Field(
        default=None, max_length=320, description="Our number or queue the call used."
    )
    started_at: AwareDatetime | None = None
    call_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="The phone system's id of the call: a second post of it changes nothing.",
    )
    conversation_id: str | None = Field(default=None, max_length=64)


class StoreVisitIdentifiers(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=40)
    loyalty_id: str | None = Field(default=None, max_length=200)
    user_id: str | None = Field(default=None, max_length=200)


class StoreVisitCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    store: str = Field(min_length=1, max_length=100, description="The store's id.")
    associate: str | None = Field(
        default=None, max_length=200, description="Who served; the caller when absent."
    )
    customer_id: str | None = Field(default=None, max_length=64)
    identifiers: StoreVisitIdentifiers | None = None
    notes: str | None = Field(default=None, max_length=10_000)
    conversation_id: str | None = Field(default=None, max_length=64)
    visited_at: AwareDatetime | None = None
    visit_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="The store system's id of the visit: a second post of it changes nothing.",
    )


class InteractionRecorded(BaseModel):
    customer_id: str
    conversation_id: str
    message_id: str
    created_conversation: bool
    duplicate: bool


class ScreenPopCustomer(BaseModel):
    id: str
    name: str | None
    email: str | None
    phone: str | None


class ScreenPopConversation(BaseModel):
    id: str
    status: str
    priority: str
    channels: list[str]
    last_inbound_channel: str | None
    last_message_at: datetime | None
    assignee_id: str | None
    team_id: str | None
    subject: str | None


class ScreenPopInteraction(BaseModel):
    conversation_id: str
    message_id: str
    kind: str
    direction: str
    channel: str
    at: datetime
    text: str | None = Field(description="The first 200 characters.")
    metadata: dict[str, object]


class ScreenPop(BaseModel):
    number: str
    customer: ScreenPopCustomer | None
    open_conversations: list[ScreenPopConversation]
    recent: list[ScreenPopInteraction]
