"""Verb-named access services: API keys, staff users, signing in and out.

Secrets (API keys, session tokens) are random, shown once and stored only as SHA-256 hashes;
passwords are stored as argon2 hashes. A session token starts with `ocs_`, an API key with
`ocx_`, so one bearer header carries either.
"""

import hashlib
import re
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from omnicx.access.model import (
    KEY_SCOPES,
    LANGUAGES,
    STAFF_ROLES,
    ApiKey,
    Session,
    StaffUser,
    Unauthenticated,
)
from omnicx.access.ports import ApiKeyRepository, PasswordHasher, SessionRepository, UserRepository
from omnicx.kernel import Conflict, Invalid, NotFound, new_id

API_KEY_PREFIX = "ocx_"
SESSION_PREFIX = "ocs_"
MIN_PASSWORD = 12
MAX_PASSWORD = 256
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


# -- API keys -----------------------------------------------------------------------------


def create_api_key(
    repo: ApiKeyRepository, name: str, role: str, now: datetime, created_by: str | None = None
) -> tuple[ApiKey, str]:
    """A new key and its secret; only the hash is stored, so the secret is shown this once."""
    if role not in KEY_SCOPES:
        raise Invalid("invalid_role", f"role must be one of: {', '.join(KEY_SCOPES)}", "role")
    name = name.strip()
    if not name or len(name) > 200:
        raise Invalid("invalid_key_name", "a key needs a name of 1 to 200 characters", "name")
    secret = API_KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        id=new_id(),
        name=name,
        role=role,
        prefix=secret[:10],
        created_at=now,
        revoked_at=None,
        created_by=created_by,
    )
    repo.add(key, hash_secret(secret))
    return key, secret


def authenticate(repo: ApiKeyRepository, secret: str) -> ApiKey | None:
    key = repo.by_hash(hash_secret(secret))
    if key is None or key.revoked_at is not None:
        return None
    return key


def revoke_api_key(repo: ApiKeyRepository, key_id: str, now: datetime) -> ApiKey:
    key = repo.get(key_id)
    if key is None:
        raise NotFound("key_not_found", f"no API key {key_id}", "key_id")
    if key.revoked_at is not None:
        raise Conflict("key_revoked", f"API key {key_id} was revoked already", "key_id")
    repo.revoke(key_id, now)
    return replace(key, revoked_at=now)


# -- staff users --------------------------------------------------------------------------


def normalize_email(email: str) -> str:
    cleaned = email.strip().lower()
    if len(cleaned) > 320 or not _EMAIL.match(cleaned):
        raise Invalid("invalid_email", f"{email!r} is not an email address", "email")
    return cleaned


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise Invalid(
            "weak_password", f"a password needs at least {MIN_PASSWORD} characters", "password"
        )
    if len(password) > MAX_PASSWORD:
        raise Invalid(
            "invalid_password", f"a password has at most {MAX_PASSWORD} characters", "password"
        )


def generate_password() -> str:
    return secrets.token_urlsafe(15)


def _check_role(role: str) -> None:
    if role not in STAFF_ROLES:
        raise Invalid("invalid_role", f"role must be one of: {', '.join(STAFF_ROLES)}", "role")


def _check_language(language: str) -> None:
    if language not in LANGUAGES:
        raise Invalid(
            "invalid_language", f"language must be one of: {', '.join(LANGUAGES)}", "language"
        )


def _check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 200:
        raise Invalid("invalid_name", "a name has 1 to 200 characters", "name")
    return name


def create_user(
    users: UserRepository,
    hasher: PasswordHasher,
    *,
    email: str,
    role: str,
    now: datetime,
    name: str | None = None,
    language: str = "en",
    password: str | None = None,
) -> tuple[StaffUser, str | None]:
    """A new staff user, and the password when one was generated (shown only this once)."""
    email = normalize_email(email)
    _check_role(role)
    _check_language(language)
    display = _check_name(name if name is not None else email.partition("@")[0])
    generated = None
    if password is None:
        password = generated = generate_password()
    check_password(password)
    if users.by_email(email) is not None:
        raise Conflict("user_exists", f"a user with the email {email} exists already", "email")
    user = StaffUser(
        id=new_id(),
        email=email,
        name=display,
        role=role,
        language=language,
        created_at=now,
        updated_at=now,
    )
    users.add(user, hasher.hash(password))
    return user, generated


def get_user(users: UserRepository, user_id: str) -> StaffUser:
    user = users.get(user_id)
    if user is None:
        raise NotFound("user_not_found", f"no user {user_id}", "user_id")
    return user


def update_user(
    users: UserRepository,
    sessions: SessionRepository,
    user_id: str,
    now: datetime,
    *,
    name: str | None = None,
    role: str | None = None,
    language: str | None = None,
    disabled: bool | None = None,
) -> StaffUser:
    """Change a user; disabling ends their sessions at once. The last active admin can be
    neither demoted nor disabled, so someone can always manage users."""
    user = get_user(users, user_id)
    changed = user
    if name is not None:
        changed = replace(changed, name=_check_name(name))
    if role is not None:
        _check_role(role)
        changed = replace(changed, role=role)
    if language is not None:
        _check_language(language)
        changed = replace(changed, language=language)
    if disabled is not None and disabled != (not user.active):
        changed = replace(changed, disabled_at=now if disabled else None)
    if changed == user:
        return user
    loses_admin = (
        user.role == "admin" and user.active and not (changed.role == "admin" and changed.active)
    )
    if loses_admin and users.lock_active("admin") == [user.id]:
        raise Conflict(
            "last_admin",
            "this is the last active admin: make another user admin first",
            "disabled" if not changed.active else "role",
        )
    changed = replace(changed, updated_at=now)
    users.update(changed)
    if not changed.active:
        sessions.revoke_all(user.id, now)
    return changed


def reset_password(
    users: UserRepository,
    sessions: SessionRepository,
    hasher: PasswordHasher,
    user_id: str,
    now: datetime,
    password: str | None = None,
) -> str | None:
    """Set a new password (or generate one, returned once) and end the user's sessions."""
    get_user(users, user_id)
    generated = None
    if password is None:
        password = generated = generate_password()
    check_password(password)
    users.set_password_hash(user_id, hasher.hash(password), now)
    sessions.revoke_all(user_id, now)
    return generated


# -- sessions -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SignedIn:
    session: Session
    token: str
    user: StaffUser


_WRONG = "the email or password is wrong"


def log_in(
    users: UserRepository,
    sessions: SessionRepository,
    hasher: PasswordHasher,
    *,
    email: str,
    password: str,
    now: datetime,
    lifetime: timedelta,
    client_address: str | None = None,
    user_agent: str | None = None,
) -> SignedIn:
    """Check the password and open a session.

    An unknown email, a disabled user and a wrong password get the same error, and an unknown
    email still costs one password check, so neither the answer nor its timing tells them
    apart.
    """
    found = users.by_email(email.strip().lower()) if len(email) <= 320 else None
    stored = users.password_hash(found.id) if found is not None else None
    if found is None or stored is None or len(password) > MAX_PASSWORD:
        hasher.verify_nothing(password[:MAX_PASSWORD])
        raise Unauthenticated("invalid_credentials", _WRONG)
    if not hasher.verify(stored, password) or not found.active:
        raise Unauthenticated("invalid_credentials", _WRONG)
    if hasher.needs_rehash(stored):
        users.set_password_hash(found.id, hasher.hash(password), now)
    user = replace(found, last_login_at=now)
    users.update(user)
    token = SESSION_PREFIX + secrets.token_urlsafe(32)
    session = Session(
        id=new_id(),
        user_id=user.id,
        created_at=now,
        expires_at=now + lifetime,
        last_seen_at=now,
        client_address=client_address[:64] if client_address else None,
        user_agent=user_agent[:400] if user_agent else None,
        csrf_secret=secrets.token_urlsafe(32),
    )
    sessions.add(session, hash_secret(token))
    return SignedIn(session, token, user)


def session_user(
    users: UserRepository,
    sessions: SessionRepository,
    token: str,
    now: datetime,
    *,
    idle_seconds: int,
) -> tuple[Session, StaffUser] | None:
    """The live session a token opens and its (active) user, or None."""
    session = sessions.by_hash(hash_secret(token))
    if session is None or not session.live(now, idle_seconds):
        return None
    user = users.get(session.user_id)
    if user is None or not user.active:
        return None
    return session, user


def log_out(sessions: SessionRepository, session_id: str, now: datetime) -> None:
    sessions.revoke(session_id, now)
