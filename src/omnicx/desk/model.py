"""The service desk's records: teams, agents, routing rules, SLA policies and clocks, canned
responses and CSAT surveys.

    Agent availability     online ─ away ─ offline   (only online agents get new work)
    Team assignment        manual | round_robin | capacity
    SLA clock              running ⇄ paused → stopped (met) | merged (folded into another)
"""

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

Availability = Literal["online", "away", "offline"]
AVAILABILITIES: tuple[str, ...] = ("online", "away", "offline")

Strategy = Literal["manual", "round_robin", "capacity"]
STRATEGIES: tuple[str, ...] = ("manual", "round_robin", "capacity")

Metric = Literal["first_response", "next_response", "resolution"]
METRICS: tuple[str, ...] = ("first_response", "next_response", "resolution")

PRIORITIES: tuple[str, ...] = ("low", "normal", "high", "urgent")
"""Conversation priorities, lowest first; queues hand out the highest first."""

WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def priority_rank(priority: str | None) -> int:
    return PRIORITIES.index(priority) if priority in PRIORITIES else 1


@dataclass(frozen=True)
class BusinessHours:
    """Opening hours in a time zone: per weekday (0 = Monday) a list of (start, end) minutes
    of the local day (end may be 1440, midnight), and local dates that are holidays. No
    weekday at all means always open (24/7)."""

    timezone: str = "UTC"
    week: tuple[tuple[tuple[int, int], ...], ...] = ((), (), (), (), (), (), ())
    holidays: frozenset[date] = frozenset()

    @property
    def always_open(self) -> bool:
        return not any(self.week)


ALWAYS_OPEN = BusinessHours()


@dataclass(frozen=True)
class Team:
    id: str
    name: str
    description: str
    assignment: str
    hours: BusinessHours
    created_at: datetime
    updated_at: datetime
    members: tuple[str, ...] = ()


@dataclass(frozen=True)
class Agent:
    """A staff user who takes conversations; `capacity` is in channel-weight points."""

    user_id: str
    name: str
    availability: str
    capacity: int
    skills: tuple[str, ...]
    languages: tuple[str, ...]
    created_at: datetime
    updated_at: datetime
    last_assigned_at: datetime | None = None
    load: int = 0
    teams: tuple[str, ...] = ()


@dataclass(frozen=True)
class RoutingRule:
    id: str
    name: str
    position: int
    conditions: dict[str, Any]
    actions: dict[str, Any]
    enabled: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class SlaPolicy:
    """Targets in business minutes; `channel` / `priority` None match any."""

    id: str
    name: str
    channel: str | None
    priority: str | None
    first_response_minutes: int | None
    next_response_minutes: int | None
    resolution_minutes: int | None
    warning_percent: int
    pause_when_waiting: bool
    created_at: datetime
    updated_at: datetime

    def target(self, metric: str) -> int | None:
        value: int | None = getattr(self, f"{metric}_minutes")
        return value


@dataclass(frozen=True)
class SlaClock:
    id: str
    conversation_id: str
    customer_id: str
    metric: str
    policy_id: str
    team_id: str | None
    target_minutes: int
    warning_percent: int
    started_at: datetime
    status: str
    paused_at: datetime | None = None
    paused_minutes: float = 0.0
    stopped_at: datetime | None = None
    warn_at: datetime | None = None
    due_at: datetime | None = None
    warned_at: datetime | None = None
    breached_at: datetime | None = None


@dataclass(frozen=True)
class SlaEventRecord:
    id: str
    clock_id: str
    conversation_id: str
    customer_id: str
    metric: str
    kind: str
    due_at: datetime
    raised_at: datetime


@dataclass(frozen=True)
class CannedResponse:
    id: str
    shortcut: str
    title: str
    body: str
    language: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class CsatSurvey:
    id: str
    conversation_id: str
    customer_id: str
    channel: str
    asked_at: datetime
    expires_at: datetime
    score: int | None = None
    comment: str | None = None
    answered_at: datetime | None = None
    answered_via: str | None = None
    not_asked: str | None = None
    """Why the ask could not be sent (the channel cannot be used now); such a survey takes
    no answer."""


@dataclass(frozen=True)
class QueueItem:
    """A conversation waiting for an agent of its team."""

    conversation_id: str
    customer_id: str
    team_id: str
    channel: str
    priority: str
    language: str | None
    enqueued_at: datetime


@dataclass(frozen=True)
class RoutingFacts:
    """What routing rules may look at."""

    channel: str
    contact_reason: str | None = None
    language: str | None = None
    labels: tuple[str, ...] = ()
    priority: str | None = None
    traits: dict[str, Any] = field(default_factory=dict)
    today: date | None = None


@dataclass(frozen=True)
class RoutingDecision:
    rule_id: str | None
    team_id: str | None
    priority: str | None
    labels: tuple[str, ...]
