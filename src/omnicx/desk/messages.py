"""The desk's domain events: an SLA target about to be missed, and one missed. Each is raised
once per clock, whatever channels or merges the conversation went through."""

from dataclasses import dataclass
from datetime import datetime

from omnicx.kernel import Event


@dataclass(frozen=True)
class SlaWarning(Event):
    customer_id: str
    conversation_id: str
    metric: str
    policy_id: str
    due_at: datetime


@dataclass(frozen=True)
class SlaBreached(Event):
    customer_id: str
    conversation_id: str
    metric: str
    policy_id: str
    due_at: datetime
