"""Who may do what: permissions, the roles that grant them, and the callers that hold a role.

    Caller kinds
    ├── api_key    a machine: scope admin or read_only (source write keys are the ingest-only
    │              keys and never reach /api)
    └── user       a staff member signed in with a session: admin, agent, store_associate,
                   marketer or analyst

Every `/api` route names one permission; a role either grants it or the call is refused (403).
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from omnicx.kernel import DomainError

PERMISSIONS: dict[str, str] = {
    "customers.read": "read customer profiles, context, timelines and identity conflicts",
    "customers.write": "change customer data: import, undo a merge",
    "conversations.read": "read conversations and their messages, follow the live stream, "
    "look a caller up (screen pop)",
    "conversations.write": "reply, add notes, change a conversation's status, record calls and "
    "store visits",
    "privacy.export": "produce a subject-access export of a customer",
    "privacy.erase": "erase a customer",
    "privacy.manage": "retention policies and the suppression list",
    "audit.read": "read and export the audit log",
    "analytics.read": "read reports",
    "sources.manage": "create and list sources and rotate their write keys",
    "webhooks.manage": "manage outbound webhook subscriptions",
    "ingest.manage": "inspect ingestion dead letters",
    "keys.manage": "create, list and revoke API keys",
    "users.manage": "create, list, change and disable staff users",
    "desk.manage": "configure the service desk: teams, agents, routing rules, business hours, "
    "SLA policies and canned responses",
    "consent.read": "read a customer's consents, preferences and the gate's decisions",
    "consent.write": "record a consent or an opt-out said to an agent or at the counter, change "
    "preferences",
    "segments.read": "read segment definitions, sizes and previews",
    "segments.write": "create and change segments",
    "journeys.read": "read journeys, their versions, instances and impact previews",
    "journeys.write": "draft, publish, pause, resume and roll back journeys; send broadcasts",
    "tasks.write": "complete human tasks a journey gave an agent team or a store",
    "commerce.read": "read the catalog, prices, stock, carts, orders, returns and loyalty",
    "commerce.manage": "change the catalog, price book, locations and stock",
    "commerce.sell": "carts, orders, pickups, returns, exchanges and loyalty at any channel",
}
"""Every permission a route may require; later domains add theirs here."""

STAFF_ROLES = ("admin", "agent", "store_associate", "marketer", "analyst")
"""Roles of staff users: the head office admin, call-centre agents, store associates at the
till, marketers and analysts."""

KEY_SCOPES = ("admin", "read_only")
"""Scopes an API key may have (source write keys are the ingest-only keys)."""
ROLES = KEY_SCOPES

LANGUAGES = ("en", "pt-BR", "es")
"""Languages a staff user may see the console in."""

ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    # Runs the platform: users, keys, sources, webhooks, privacy requests and the audit log.
    "admin": frozenset(PERMISSIONS),
    # Integrations that only look customers up (a support desk, a store app).
    "read_only": frozenset(
        {
            "customers.read",
            "analytics.read",
            "conversations.read",
            "consent.read",
            "segments.read",
            "journeys.read",
            "commerce.read",
        }
    ),
    # Call-centre agents see the whole customer and fix what a bad link joined.
    "agent": frozenset(
        {
            "customers.read",
            "customers.write",
            "conversations.read",
            "conversations.write",
            "consent.read",
            "consent.write",
            "tasks.write",
            "commerce.read",
            "commerce.sell",
        }
    ),
    # At the till: look a customer up by phone or email, see their history; change nothing.
    "store_associate": frozenset(
        {
            "customers.read",
            "conversations.read",
            "conversations.write",
            "consent.read",
            "consent.write",
            "tasks.write",
            "commerce.read",
            "commerce.sell",
        }
    ),
    # Campaigns: customers, consents, segments, journeys and reports.
    "marketer": frozenset(
        {
            "customers.read",
            "analytics.read",
            "consent.read",
            "segments.read",
            "segments.write",
            "journeys.read",
            "journeys.write",
            "commerce.read",
        }
    ),
    # Reports only: aggregates, never a single customer's record.
    "analyst": frozenset({"analytics.read"}),
}


class Unauthenticated(DomainError):
    """No valid credentials: unknown, revoked or expired, or a wrong password."""

    status = 401


class RateLimited(DomainError):
    """Too many requests; `retry_after` is how many seconds to wait."""

    status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__("rate_limited", message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Principal:
    """Who is calling: an API key or a signed-in staff user, with what its role allows."""

    kind: Literal["api_key", "user"]
    id: str
    name: str
    role: str
    permissions: frozenset[str]
    session_id: str | None = None

    def may(self, permission: str) -> bool:
        return permission in self.permissions

    @property
    def actor(self) -> str:
        """How the audit trail names this caller, e.g. `user:<id>` or `api_key:<id>`."""
        return f"{self.kind}:{self.id}"


def principal_for_role(
    kind: Literal["api_key", "user"],
    id: str,
    name: str,
    role: str,
    session_id: str | None = None,
) -> Principal:
    return Principal(kind, id, name, role, ROLE_PERMISSIONS.get(role, frozenset()), session_id)


@dataclass(frozen=True)
class ApiKey:
    id: str
    name: str
    role: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None = None
    created_by: str | None = None

    def principal(self) -> Principal:
        return principal_for_role("api_key", self.id, self.name, self.role)


@dataclass(frozen=True)
class StaffUser:
    id: str
    email: str
    name: str
    role: str
    language: str
    created_at: datetime
    updated_at: datetime
    disabled_at: datetime | None = None
    last_login_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.disabled_at is None

    def principal(self, session_id: str | None = None) -> Principal:
        return principal_for_role("user", self.id, self.name, self.role, session_id)


@dataclass(frozen=True)
class Session:
    """A signed-in staff user. The token is shown once and kept only as its SHA-256 hash;
    `csrf_secret` lets a browser (cookie) session prove a form came from the console."""

    id: str
    user_id: str
    created_at: datetime
    expires_at: datetime
    last_seen_at: datetime
    client_address: str | None
    user_agent: str | None
    csrf_secret: str
    revoked_at: datetime | None = None

    def live(self, now: datetime, idle_limit_seconds: int) -> bool:
        if self.revoked_at is not None or now >= self.expires_at:
            return False
        return (now - self.last_seen_at).total_seconds() < idle_limit_seconds
