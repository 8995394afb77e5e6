"""Bodies and answers of the service desk API."""

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

StrategyName = Literal["manual", "round_robin", "capacity"]
AvailabilityName = Literal["online", "away", "offline"]
PriorityName = Literal["low", "normal", "high", "urgent"]

WEEK_EXAMPLE = {"mon": [["09:00", "18:00"]], "sat": [["10:00", "14:00"]]}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BusinessHoursIn(Strict):
    timezone: str = Field(default="UTC", max_length=64, examples=["America/Sao_Paulo"])
    week: dict[str, list[list[str]]] = Field(
        default_factory=dict,
        description="Per weekday (mon..sun) intervals of local HH:MM times; no weekday at all "
        "means always open.",
        examples=[WEEK_EXAMPLE],
    )
    holidays: list[str] = Field(
        default_factory=list, max_length=400, description="Local ISO dates the team is closed."
    )


class BusinessHoursPublic(BaseModel):
    timezone: str
    week: dict[str, list[list[str]]]
    holidays: list[date]
    always_open: bool


class TeamCreate(Strict):
    name: str = Field(max_length=200)
    description: str = Field(default="", max_length=1000)
    assignment: StrategyName | None = Field(
        default=None, description="manual, round_robin or capacity; the setting's default."
    )
    hours: BusinessHoursIn | None = None


class TeamChange(Strict):
    name: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=1000)
    assignment: StrategyName | None = None


class TeamPublic(BaseModel):
    id: str
    name: str
    description: str
    assignment: StrategyName
    hours: BusinessHoursPublic
    members: list[str]
    created_at: datetime
    updated_at: datetime


class TeamsPublic(BaseModel):
    items: list[TeamPublic]


class MemberAdd(Strict):
    user_id: str = Field(max_length=64)


class AgentChange(Strict):
    capacity: int | None = Field(default=None, description="Channel-weight points, 1 to 1000.")
    skills: list[str] | None = Field(default=None, max_length=50)
    languages: list[str] | None = Field(default=None, max_length=50)
    availability: AvailabilityName | None = None


class AvailabilityChange(Strict):
    availability: AvailabilityName


class AgentPublic(BaseModel):
    user_id: str
    name: str
    availability: AvailabilityName
    capacity: int
    load: int = Field(description="Channel-weight points of the conversations held now.")
    skills: list[str]
    languages: list[str]
    teams: list[str]
    last_assigned_at: datetime | None


class AgentsPublic(BaseModel):
    items: list[AgentPublic]


class RuleCreate(Strict):
    name: str = Field(max_length=200)
    position: int = Field(default=100, ge=0, le=1_000_000)
    conditions: dict[str, Any] = Field(
        default_factory=dict,
        description="A condition tree (all / any / not / {field, op, value}); {} always holds.",
        examples=[{"field": "customer.age", "op": "gte", "value": 55}],
    )
    actions: dict[str, Any] = Field(
        description="team_id, priority and labels to set.",
        examples=[{"team_id": "…", "priority": "high", "labels": ["senior"]}],
    )
    enabled: bool = True


class RuleChange(Strict):
    name: str | None = Field(default=None, max_length=200)
    position: int | None = Field(default=None, ge=0, le=1_000_000)
    conditions: dict[str, Any] | None = None
    actions: dict[str, Any] | None = None
    enabled: bool | None = None


class RulesUpload(Strict):
    rules: list[RuleCreate] = Field(max_length=500)


class RulePublic(BaseModel):
    id: str
    name: str
    position: int
    conditions: dict[str, Any]
    actions: dict[str, Any]
    enabled: bool
    created_at: datetime
    updated_at: datetime


class RulesPublic(BaseModel):
    items: list[RulePublic]


class PolicyIn(Strict):
    name: str = Field(max_length=200)
    channel: str | None = Field(default=None, max_length=40, description="null: any channel.")
    priority: PriorityName | None = Field(default=None, description="null: any priority.")
    first_response_minutes: int | None = Field(default=None, description="Business minutes.")
    next_response_minutes: int | None = None
    resolution_minutes: int | None = None
    warning_percent: int = Field(default=80, description="Warn at this share of the target.")
    pause_when_waiting: bool = Field(
        default=True, description="Clocks stop counting while the conversation is pending."
    )


class PolicyPublic(BaseModel):
    id: str
    name: str
    channel: str | None
    priority: PriorityName | None
    first_response_minutes: int | None
    next_response_minutes: int | None
    resolution_minutes: int | None
    warning_percent: int
    pause_when_waiting: bool
    created_at: datetime
    updated_at: datetime


class PoliciesPublic(BaseModel):
    items: list[PolicyPublic]


class CannedCreate(Strict):
    shortcut: str = Field(max_length=64, examples=["refund-status"])
    title: str = Field(max_length=200)
    body: str = Field(max_length=10_000, examples=["Hi {{customer.first_name}}, …"])
    language: str | None = Field(default=None, max_length=10)


class CannedChange(Strict):
    shortcut: str | None = Field(default=None, max_length=64)
    title: str | None = Field(default=None, max_length=200)
    body: str | None = Field(default=None, max_length=10_000)
    language: str | None = Field(default=None, max_length=10)


class CannedPublic(BaseModel):
    id: str
    shortcut: str
    title: str
    body: str
    language: str | None
    created_at: datetime
    updated_at: datetime


class CannedListPublic(BaseModel):
    items: list[CannedPublic]


class CannedRender(Strict):
    conversation_id: str | None = Field(
        default=None, max_length=64, description="Fill the customer and conversation from it."
    )


class CannedRendered(BaseModel):
    text: str


class AssignmentChange(Strict):
    assignee_id: str | None = Field(
        default=None, max_length=64, description="The agent; null unassigns (back to the team)."
    )
    team_id: str | None = Field(default=None, max_length=64, description="Move to this team.")


class AssignmentPublic(BaseModel):
    conversation_id: str
    team_id: str | None
    assignee_id: str | None
    queued: bool = Field(description="Waiting in the team's queue for an agent.")


class CsatCreate(Strict):
    score: int = Field(description="1 (poor) to 5 (excellent).")
    comment: str | None = Field(default=None, max_length=2000)


class CsatSurveyPublic(BaseModel):
    id: str
    conversation_id: str
    channel: str
    asked_at: datetime
    expires_at: datetime
    score: int | None
    comment: str | None
    answered_at: datetime | None
    answered_via: str | None
    not_asked: str | None = Field(description="Why the ask could not be sent, if it was not.")


class SlaClockPublic(BaseModel):
    metric: str
    policy_id: str
    status: str
    started_at: datetime
    target_minutes: int
    warn_at: datetime | None
    due_at: datetime | None
    stopped_at: datetime | None
    warned_at: datetime | None
    breached_at: datetime | None


class SlaEventPublic(BaseModel):
    metric: str
    kind: Literal["warning", "breached"]
    due_at: datetime
    raised_at: datetime


class AssignmentRecord(BaseModel):
    agent_id: str
    team_id: str | None
    channel: str
    weight: int
    reason: str
    assigned_by: str
    assigned_at: datetime
    released_at: datetime | None


class DeskConversation(BaseModel):
    """What the desk keeps about one conversation."""

    conversation_id: str
    customer_id: str
    team_id: str | None
    assignee_id: str | None
    queued: bool
    clocks: list[SlaClockPublic]
    sla_events: list[SlaEventPublic]
    assignments: list[AssignmentRecord]
    surveys: list[CsatSurveyPublic]


class QueueItemPublic(BaseModel):
    conversation_id: str
    customer_id: str
    team_id: str
    channel: str
    priority: str
    language: str | None
    enqueued_at: datetime


class QueuePublic(BaseModel):
    items: list[QueueItemPublic]
