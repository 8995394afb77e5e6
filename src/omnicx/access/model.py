from dataclasses import dataclass
from datetime import datetime
from typing import Literal

PERMISSIONS: dict[str, str] = {
    "customers.read": "read customer profiles, context, timelines and identity conflicts",
    "customers.write": "change customer data: import, undo a merge",
    "privacy.export": "produce a subject-access export of a customer",
    "privacy.erase": "erase a customer",
    "privacy.manage": "retention policies and the suppression list",
    "audit.read": "read and export the audit log",
    "analytics.read": "read reports",
    "sources.manage": "create and list sources and their write keys",
    "webhooks.manage": "manage outbound webhook subscriptions",
    "ingest.manage": "inspect ingestion dead letters",
    "keys.manage": "create, list and revoke API keys",
    "users.manage": "create, list and disable staff users",
}
"""Every permission a route may require; later domains add theirs here."""

STAFF_ROLES = ("admin", "agent", "store_associate", "marketer", "analyst")
KEY_SCOPES = ("admin", "read_only")
ROLES = KEY_SCOPES
"""Scopes an API key may have (source write keys are the ingest-only keys)."""

ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": frozenset(PERMISSIONS),
    "read_only": frozenset({"customers.read", "analytics.read"}),
    "agent": frozenset({"customers.read"}),
    "store_associate": frozenset({"customers.read"}),
    "marketer": frozenset({"customers.read", "analytics.read"}),
    "analyst": frozenset({"analytics.read"}),
}


@dataclass(frozen=True)
class Principal:
    """Who is calling: an API key or a signed-in staff user, with what its role allows."""

    kind: Literal["api_key", "user"]
    id: str
    name: str
    role: str
    permissions: frozenset[str]

    def may(self, permission: str) -> bool:
        return permission in self.permissions


def principal_for_role(
    kind: Literal["api_key", "user"], id: str, name: str, role: str
) -> Principal:
    return Principal(kind, id, name, role, ROLE_PERMISSIONS.get(role, frozenset()))


@dataclass(frozen=True)
class ApiKey:
    id: str
    name: str
    role: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None

    def principal(self) -> Principal:
        return principal_for_role("api_key", self.id, self.name, self.role)
