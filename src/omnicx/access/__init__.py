"""Access: API keys and staff users, their roles and what each role may do."""

from omnicx.access.model import (
    KEY_SCOPES,
    PERMISSIONS,
    ROLE_PERMISSIONS,
    ROLES,
    STAFF_ROLES,
    ApiKey,
    Principal,
    principal_for_role,
)
from omnicx.access.services import authenticate, create_api_key, hash_secret

__all__ = [
    "KEY_SCOPES",
    "PERMISSIONS",
    "ROLES",
    "ROLE_PERMISSIONS",
    "STAFF_ROLES",
    "ApiKey",
    "Principal",
    "authenticate",
    "create_api_key",
    "hash_secret",
    "principal_for_role",
]
