"""Access: API keys for staff tools and integrations, stored hashed, shown once."""

from omnicx.access.model import ROLES, ApiKey
from omnicx.access.services import authenticate, create_api_key, hash_secret

__all__ = ["ROLES", "ApiKey", "authenticate", "create_api_key", "hash_secret"]
