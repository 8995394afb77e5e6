from dataclasses import dataclass
from datetime import datetime
from typing import Any

TOPICS = ("profile.created", "profile.merged", "profile.unmerged", "traits.changed")


@dataclass(frozen=True)
class Subscription:
    id: str
    url: str
    topics: tuple[str, ...]
    secret: str
    description: str
    created_at: datetime


@dataclass(frozen=True)
class Delivery:
    """One outbox row of topic `webhook.deliver`, as the API shows it."""

    id: int
    subscription_id: str
    topic: str
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime
    available_at: datetime
    done_at: datetime | None
    payload: dict[str, Any]
