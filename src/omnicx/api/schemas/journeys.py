"""Bodies and answers of the journeys and human tasks API."""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

DEFINITION_EXAMPLE: dict[str, Any] = {
    "name": "Abandoned cart",
    "trigger": {"event": "Cart Abandoned", "filter": "event.properties.total > 50"},
    "goal": {"event": "Order Completed"},
    "reentry": {"cooldown": "7d"},
    "start": "wait_1h",
    "nodes": {
        "wait_1h": {"type": "wait", "duration": "1h", "next": "email"},
        "email": {
            "type": "send",
            "purpose": "marketing",
            "category": "reminder",
            "channels": ["email"],
            "content": {"template": "cart_reminder"},
            "next": "done",
        },
        "done": {"type": "exit"},
    },
}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProblemPublic(BaseModel):
    field: str
    message: str


class JourneyPublic(BaseModel):
    id: str
    name: str
    description: str
    status: Literal["draft", "live", "paused"]
    live_version: int | None
    draft: dict[str, Any] | None = Field(description="The definition being edited.")
    draft_hash: str | None
    draft_is_live: bool = Field(description="The draft is what the live version holds.")
    next_fire_at: datetime | None = Field(description="When a schedule or date trigger is due.")
    created_at: datetime
    updated_at: datetime
    created_by: str
    updated_by: str


class JourneysPublic(BaseModel):
    items: list[JourneyPublic]


class PlacePublic(BaseModel):
    version: int
    node: str
    state: Literal["ready", "waiting", "done"]
    customers: int


class GroupStats(BaseModel):
    entered: int
    converted: int


class JourneyStats(BaseModel):
    running: int
    places: list[PlacePublic]
    ended: dict[str, int] = Field(description="Ended instances by outcome.")
    splits: dict[str, dict[str, GroupStats]] = Field(
        description="Per split node, per group (holdout included): entered and converted."
    )
    inbox: int = Field(description="Events and segment changes waiting to be handled.")


class JourneyDetail(JourneyPublic):
    stats: JourneyStats


class ValidationPublic(BaseModel):
    valid: bool
    problems: list[ProblemPublic]
    hash: str | None
    needs_migration: dict[str, int] = Field(
        description="Customers on each node of the live version: a publish must map them."
    )


class MigrationBody(Strict):
    migration: dict[str, Any] | None = Field(
        default=None,
        description='Per node of the live version with customers: {"follow": "<node>"}, '
        '"follow" (same id), "drain" or "exit"; "*" is the rule for the others.',
        examples=[{"wait_1d": {"follow": "wait_2h"}, "*": "drain"}],
    )


class PublishBody(MigrationBody):
    note: str | None = Field(default=None, max_length=500)


class RollbackBody(MigrationBody):
    to_version: int | None = Field(
        default=None, ge=1, description="The version to publish again; the one before the live."
    )


class GroupPublic(BaseModel):
    node: str
    type: str | None
    customers: int
    waiting: int
    rule: Literal["follow", "drain", "exit"] | None
    target: str | None
    next: dict[str, Any] | None = Field(
        description="What the group does next: node, type, summary, and for a send the message."
    )


class PreviewPublic(BaseModel):
    from_version: int | None
    to_version: int
    customers: int
    groups: list[GroupPublic]
    problems: list[ProblemPublic]


class PublishPublic(BaseModel):
    version: int
    customers: int = Field(description="Customers on the previous live version.")
    moved: dict[str, int] = Field(description="How many followed, drained or exited.")
    journey: JourneyPublic


class VersionPublic(BaseModel):
    version: int
    hash: str
    published_at: datetime
    published_by: str
    note: str | None
    migration: dict[str, Any] | None
    definition: dict[str, Any]


class VersionsPublic(BaseModel):
    items: list[VersionPublic]


class TransitionPublic(BaseModel):
    node: str
    at: datetime
    outcome: str
    detail: dict[str, Any]


class InstancePublic(BaseModel):
    id: str
    journey_id: str
    version: int
    customer_id: str
    node: str
    state: Literal["ready", "waiting", "done"]
    wake_at: datetime | None
    waiting: str | None
    groups: dict[str, str] = Field(description="The group taken at each split.")
    entered_at: datetime
    updated_at: datetime
    ended_at: datetime | None
    outcome: str | None
    history: list[TransitionPublic] | None = None


class InstancesPublic(BaseModel):
    items: list[InstancePublic]
    next_after: str | None = Field(description="Pass as `after` for the next page.")


class TaskPublic(BaseModel):
    id: str
    journey_id: str
    instance_id: str
    node: str
    customer_id: str
    kind: str
    title: str
    team_id: str | None
    store_id: str | None
    status: Literal["open", "done", "expired", "cancelled"]
    due_at: datetime
    created_at: datetime
    completed_at: datetime | None
    completed_by: str | None
    outcome: str | None
    note: str | None


class TasksPublic(BaseModel):
    items: list[TaskPublic]


class TaskComplete(Strict):
    outcome: str | None = Field(
        default=None,
        max_length=40,
        pattern=r"^[a-z][a-z0-9_]{0,39}$",
        description="One of the task node's outcomes, when it names some.",
    )
    note: str | None = Field(default=None, max_length=2000)
