import hashlib
import secrets
from datetime import datetime

from omnicx.access.model import ROLES, ApiKey
from omnicx.access.ports import ApiKeyRepository
from omnicx.kernel import Invalid, new_id


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_api_key(
    repo: ApiKeyRepository, name: str, role: str, now: datetime
) -> tuple[ApiKey, str]:
    """A new key and its secret; only the hash is stored, so the secret is shown this once."""
    if role not in ROLES:
        raise Invalid("invalid_role", f"role must be one of: {', '.join(ROLES)}", "role")
    if not name.strip():
        raise Invalid("invalid_key_name", "a key needs a name", "name")
    secret = "ocx_" + secrets.token_urlsafe(32)
    key = ApiKey(
        id=new_id(),
        name=name.strip(),
        role=role,
        prefix=secret[:10],
        created_at=now,
        revoked_at=None,
    )
    repo.add(key, hash_secret(secret))
    return key, secret


def authenticate(repo: ApiKeyRepository, secret: str) -> ApiKey | None:
    key = repo.by_hash(hash_secret(secret))
    if key is None or key.revoked_at is not None:
        return None
    return key
