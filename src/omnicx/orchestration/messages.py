"""What the maestro tells the rest of the system through the bus (events are past tense).

A plain module of frozen dataclasses: segments, the send gate and journeys each add theirs.
"""

from dataclasses import dataclass
from datetime import datetime

from omnicx.kernel import Event


@dataclass(frozen=True)
class SegmentEntered(Event):
    """A customer now matches a segment (raised once per entry, in the transaction that
    recorded it)."""

    segment_id: str
    profile_id: str
    at: datetime


@dataclass(frozen=True)
class SegmentExited(Event):
    """A customer no longer matches a segment (or was merged into another profile)."""

    segment_id: str
    profile_id: str
    at: datetime


@dataclass(frozen=True)
class MessageDecided(Event):
    """The policy gate answered a send intent (send, skip or defer), in the transaction that
    recorded the decision."""

    send_id: str
    customer_id: str
    outcome: str
    channel: str | None
    reason: str
    code: str
    defer_until: datetime | None
    origin: str
    at: datetime


@dataclass(frozen=True)
class SendDelivered(Event):
    """The provider reported a send's message delivered (or read)."""

    send_id: str
    customer_id: str
    channel: str
    at: datetime


@dataclass(frozen=True)
class SendFailedFinally(Event):
    """A send could not reach the customer on any channel it was allowed; nothing more will
    be tried."""

    send_id: str
    customer_id: str
    reason: str
    at: datetime


@dataclass(frozen=True)
class JourneyEntered(Event):
    journey_id: str
    version: int
    instance_id: str
    profile_id: str
    at: datetime


@dataclass(frozen=True)
class JourneyExited(Event):
    """An instance ended: `reason` is completed, converted (the goal), exited (a migration),
    holdout or failed."""

    journey_id: str
    version: int
    instance_id: str
    profile_id: str
    at: datetime
    reason: str


@dataclass(frozen=True)
class TaskCreated(Event):
    """A journey gave a human task to an agent team (`team_id`) or a store (`store_id`)."""

    task_id: str
    kind: str
    team_id: str | None
    store_id: str | None
    profile_id: str
    due_at: datetime


@dataclass(frozen=True)
class TaskCompleted(Event):
    task_id: str
    kind: str
    profile_id: str
    outcome: str | None
    completed_by: str
    at: datetime
