"""What the events domain tells the others through the bus."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
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
    the chunk's transaction, so a reaction's own writes commit with the events.

    It holds the stored rows as they were written; `events` reads them as `StoredEvent`s (built
    once, on first use, so a reaction that finds nothing of interest costs next to nothing).
    """

    rows: Sequence[Mapping[str, Any]]

    def track_names(self) -> set[str]:
        """The names of the track events in the chunk."""
        return {r["event"] for r in self.rows if r["type"] == "track" and r["event"]}

    @cached_property
    def events(self) -> tuple[StoredEvent, ...]:
        """The new events that belong to a customer."""
        return tuple(
            StoredEvent(
                id=r["id"],
                profile_id=r["profile_id"],
                type=r["type"],
                event=r["event"],
                name=r["name"],
                channel=r["channel"],
                ts=r["ts"],
                properties=r["properties"],
            )
            for r in self.rows
            if r["profile_id"] is not None
        )
