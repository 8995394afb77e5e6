"""Privacy facts: subjects, requests, audit entries, suppressions and retention policies.

A privacy request moves through one state and never back:

    export    completed ──(archive expires or the person is erased)──> expired
    erasure   completed

Requests are carried out whole inside one transaction: a request that fails leaves no row.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

RequestKind = Literal["export", "erasure"]
REQUEST_KINDS: tuple[RequestKind, ...] = ("export", "erasure")
RequestStatus = Literal["completed", "expired"]

AUDIT_ACTIONS = ("read", "search", "create", "update", "delete", "export", "erase", "lift")
"""What an audit entry records; routes may name a more precise one (`export`, `erase`)."""

RETENTION_KINDS: dict[str, str] = {
    "events": "raw events, by event time",
    "dead_letters": "ingestion dead letters, by the time they were set aside",
    "webhook_deliveries": "delivered and dead webhook deliveries, by creation time",
    "export_archives": "subject-access export archives, by creation time",
    "identity_conflicts": "links refused by an identity rule, by creation time",
    "csat_surveys": "CSAT surveys with their scores and comments, by when they were asked",
    "channel_sends": "finished outbound sends in the outbox (the messages stay), by creation time",
    "gate_sends": "the policy gate's finished sends with their decisions, by their last change",
}
"""Data kinds a retention policy may name, each answered by the domain that keeps it."""


@dataclass(frozen=True)
class Subject:
    """The person a request is about: every profile id that stands for them, and what names
    them (identifiers in plain text, in memory only while the request runs)."""

    customer_id: str
    profile_id: str
    profile_ids: tuple[str, ...]
    identifiers: tuple[tuple[str, str], ...]

    @property
    def values(self) -> frozenset[str]:
        return frozenset(value for _, value in self.identifiers)


@dataclass(frozen=True)
class Actor:
    """Who asked: a principal of the API, or an operator at the command line."""

    kind: str
    id: str
    name: str
    role: str

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.name}"


@dataclass(frozen=True)
class PrivacyRequest:
    id: str
    kind: RequestKind
    customer_id: str
    subject_id: str
    status: RequestStatus
    requested_by: str
    reason: str
    counts: dict[str, dict[str, int]]
    created_at: datetime
    completed_at: datetime | None
    archive_expires_at: datetime | None


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    request_id: str
    actor_kind: str
    actor_id: str | None
    actor_name: str | None
    actor_role: str | None
    action: str
    method: str
    route: str
    resource: str | None
    customer_id: str | None
    client_address: str | None
    user_agent: str | None
    status: int
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AuditFilter:
    customer_id: str | None = None
    actor_id: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class Suppression:
    kind: str
    value_hash: str
    request_id: str | None
    created_at: datetime
    hits: int
    last_hit_at: datetime | None
