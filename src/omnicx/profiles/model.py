"""The profile domain's facts: identifiers, profiles, traits, merges and conflicts."""

from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any, NamedTuple


class Identifier(NamedTuple):
    kind: str
    value: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


@dataclass(frozen=True)
class IdentityRules:
    """Per-kind merge guards, in priority order (first = strongest)."""

    kinds: tuple[str, ...]
    region: str = "BR"
    limits: dict[str, int] = field(default_factory=dict)
    blocked: dict[str, frozenset[str]] = field(default_factory=dict)

    def priority(self, kind: str) -> int:
        try:
            return self.kinds.index(kind)
        except ValueError:
            return len(self.kinds)

    def is_blocked(self, identifier: Identifier) -> bool:
        value = identifier.value.strip().lower()
        return value in self.blocked.get("*", frozenset()) or value in self.blocked.get(
            identifier.kind, frozenset()
        )

    @cached_property
    def limited_kinds(self) -> tuple[str, ...]:
        return tuple(kind for kind in self.limits if self.limits[kind] > 0)


@dataclass(frozen=True)
class TraitValue:
    value: Any
    ts: int
    """Event time, integer microseconds since the epoch: last write wins by this, not arrival."""
    channel: str
    source_id: str | None = None
    event_id: int | None = None


@dataclass(frozen=True)
class Profile:
    id: str
    canonical_id: str
    merged_into: str | None
    created_at: datetime
    updated_at: datetime
    display_name: str | None
    email: str | None
    phone: str | None

    @property
    def is_merged(self) -> bool:
        return self.canonical_id != self.id


@dataclass(frozen=True)
class Merge:
    id: str
    survivor_id: str
    loser_id: str
    kind: str
    value: str
    event_id: int | None
    reason: str
    created_at: datetime
    undone_at: datetime | None


@dataclass(frozen=True)
class Conflict:
    id: str
    profile_id: str
    other_profile_id: str | None
    kind: str
    value: str
    rule: str
    detail: str
    event_id: int | None
    created_at: datetime
