"""Broadcasts: one message to every member of a segment, each member through the policy gate.

    scheduled ─► sending ─► done
        │           │
        └───────────┴─────► cancelled

The worker expands a due broadcast a page at a time: the segment's members in id order after
a cursor, one intent each (send id "b:<broadcast>:<customer>"), the cursor saved with the
page's sends in one transaction, so a crash resumes where it stopped and nobody is asked
twice. Providers are protected by a token bucket per channel and provider in the dispatcher
(`Throttle`), which every send shares, broadcast or not.
"""

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from omnicx.kernel import Invalid
from omnicx.orchestration.gate import Content, SendIntent, check_intent

BroadcastStatus = Literal["scheduled", "sending", "done", "cancelled"]
BROADCAST_STATUSES: tuple[BroadcastStatus, ...] = ("scheduled", "sending", "done", "cancelled")


@dataclass(frozen=True)
class Broadcast:
    id: str
    name: str
    segment_id: str
    purpose: str
    category: str
    priority: int
    channels: tuple[str, ...]
    content: Content
    schedule_at: datetime
    status: BroadcastStatus
    created_by: str
    created_at: datetime
    updated_at: datetime
    fallback_after_seconds: int | None = None
    not_after: datetime | None = None
    cursor: str | None = None
    """The last member expanded (members go in id order)."""
    expanded: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None


@dataclass(frozen=True)
class BroadcastCounts:
    """Where a broadcast's sends stand."""

    decided: int = 0
    queued: int = 0
    sent: int = 0
    """Handed to the provider and not failed since (delivered ones included)."""
    delivered: int = 0
    failed: int = 0
    deferred: int = 0
    cancelled: int = 0
    unknown: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    """Skipped sends by reason code (`gate.CODES`)."""


def send_id_for(broadcast_id: str, customer_id: str) -> str:
    return f"b:{broadcast_id}:{customer_id}"


def intent_for(broadcast: Broadcast, customer_id: str) -> SendIntent:
    return SendIntent(
        send_id=send_id_for(broadcast.id, customer_id),
        customer_id=customer_id,
        purpose=broadcast.purpose,
        category=broadcast.category,
        priority=broadcast.priority,
        channels=broadcast.channels,
        content=broadcast.content,
        origin=f"broadcast:{broadcast.id}",
        fallback_after_seconds=broadcast.fallback_after_seconds,
        not_after=broadcast.not_after,
    )


def check_broadcast(broadcast: Broadcast, now: datetime) -> None:
    """Refuse a broadcast that could not be sent, naming the field."""
    if not broadcast.name.strip() or len(broadcast.name) > 200:
        raise Invalid("invalid_name", "a broadcast needs a name of 1 to 200 characters", "name")
    if not broadcast.segment_id or len(broadcast.segment_id) > 64:
        raise Invalid("invalid_segment", "segment_id names a segment", "segment_id")
    check_intent(intent_for(broadcast, "0" * 36))
    if broadcast.schedule_at.tzinfo is None:
        raise Invalid("invalid_schedule", "schedule_at needs a time zone", "schedule_at")
    if broadcast.not_after is not None and broadcast.not_after <= max(now, broadcast.schedule_at):
        raise Invalid(
            "invalid_not_after",
            "not_after must come after the broadcast is scheduled to start",
            "not_after",
        )


class MemberSource(Protocol):
    """Segment membership as broadcasts read it (the segments' tables, wired at the root)."""

    def exists(self, uow: object, segment_id: str) -> bool: ...

    def members(self, uow: object, segment_id: str, after: str | None, limit: int) -> list[str]:
        """Current members' customer ids in id order, after `after`, at most `limit`."""
        ...


class NoSegments:
    """A member source with no segments at all (until one is wired)."""

    def exists(self, uow: object, segment_id: str) -> bool:
        return False

    def members(self, uow: object, segment_id: str, after: str | None, limit: int) -> list[str]:
        return []


# -- provider throughput --------------------------------------------------------------------


class TokenBucket:
    """`rate` tokens a second, up to `burst` saved; `acquire` takes one, waiting if none is
    left. Thread-safe; `clock` and `sleep` are injectable for tests."""

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("a token bucket needs a positive rate")
        self.rate = rate
        self.burst = max(1.0, burst if burst is not None else rate)
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.burst
        self._stamp = clock()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take one token; returns how long it waited."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            self._tokens -= 1
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)
        return wait


class Throttle:
    """A token bucket per (channel, provider), from rates in messages a second keyed by
    channel ("sms") or channel and provider ("sms:failover"); unlisted ones are not limited."""

    def __init__(
        self,
        rates: Mapping[str, float],
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rates = dict(rates)
        self._clock = clock
        self._sleep = sleep
        self._buckets: dict[tuple[str, str], TokenBucket | None] = {}
        self._lock = threading.Lock()

    def bucket(self, channel: str, provider: str) -> TokenBucket | None:
        key = (channel, provider)
        with self._lock:
            if key not in self._buckets:
                rate = self.rates.get(f"{channel}:{provider}", self.rates.get(channel))
                self._buckets[key] = (
                    TokenBucket(rate, clock=self._clock, sleep=self._sleep) if rate else None
                )
            return self._buckets[key]

    def wait(self, channel: str, provider: str) -> float:
        bucket = self.bucket(channel, provider)
        return bucket.acquire() if bucket is not None else 0.0
