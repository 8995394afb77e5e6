"""Profile domain events (past tense) and commands (imperative)."""

from dataclasses import dataclass
from typing import Any

from omnicx.kernel import Event


@dataclass(frozen=True)
class ProfileCreated(Event):
    profile_id: str
    identifiers: tuple[tuple[str, str], ...]
    channel: str | None


@dataclass(frozen=True)
class ProfilesMerged(Event):
    merge_id: str
    survivor_id: str
    loser_id: str
    kind: str
    value: str
    event_id: int | None


@dataclass(frozen=True)
class ProfileUnmerged(Event):
    merge_id: str
    survivor_id: str
    restored_id: str


@dataclass(frozen=True)
class TraitsChanged(Event):
    profile_id: str
    changes: dict[str, dict[str, Any]]
    """key -> {"old": ..., "new": ..., "channel": ...}"""
