"""What the events domain tells the others through the bus."""

from dataclasses import dataclass
from typing import Any

from omnicx.kernel import Event


@dataclass(frozen=True)
class StoredEvent:
    """One newly stored event, as reactions (segments, journey triggers) see it."""

    id: int
    profile_id: str
    type: str
    event: str | None
    name: str | None
    channel: str
    ts: int
    """Event time in integer microseconds since the epoch (docs/decisions/0001)."""
    properties: dict[str, Any]


@dataclass(frozen=True)
class EventsStored(Event):
    """A chunk of acknowledged events was resolved and stored; raised once per chunk, inside
    the chunk's transaction, so a reaction's own writes commit with the events."""

    events: tuple[StoredEvent, ...]
