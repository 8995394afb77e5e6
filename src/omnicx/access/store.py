"""SQL storage of API keys, staff users and their sessions."""

from dataclasses import asdict
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from omnicx.access.model import ApiKey, Session, StaffUser
from omnicx.db import UtcDateTime, metadata

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("role", sa.String(40), nullable=False),
    sa.Column("prefix", sa.String(16), nullable=False),
    sa.Column("secret_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("revoked_at", UtcDateTime(), nullable=True),
    sa.Column("last_used_at", UtcDateTime(), nullable=True),
    sa.Column("created_by", sa.String(100), nullable=True),
)

staff_users = sa.Table(
    "staff_users",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("email", sa.String(320), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("role", sa.String(40), nullable=False),
    sa.Column("language", sa.String(10), nullable=False),
    sa.Column("password_hash", sa.String(200), nullable=False),
    sa.Column("password_changed_at", UtcDateTime(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.Column("disabled_at", UtcDateTime(), nullable=True),
    sa.Column("last_login_at", UtcDateTime(), nullable=True),
)
"""`email` is kept lower-cased, so its unique constraint is case-insensitive."""

staff_sessions = sa.Table(
    "staff_sessions",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("user_id", sa.String(36), nullable=False, index=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("csrf_secret", sa.String(64), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("expires_at", UtcDateTime(), nullable=False),
    sa.Column("last_seen_at", UtcDateTime(), nullable=False),
    sa.Column("client_address", sa.String(64), nullable=True),
    sa.Column("user_agent", sa.String(400), nullable=True),
    sa.Column("revoked_at", UtcDateTime(), nullable=True),
)


class SqlApiKeyRepository:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def add(self, key: ApiKey, secret_hash: str) -> None:
        self.conn.execute(api_keys.insert().values(**asdict(key), secret_hash=secret_hash))

    def by_hash(self, secret_hash: str) -> ApiKey | None:
        row = self.conn.execute(
            sa.select(api_keys).where(api_keys.c.secret_hash == secret_hash)
        ).first()
        return _key(row) if row else None

    def get(self, key_id: str) -> ApiKey | None:
        row = self.conn.execute(sa.select(api_keys).where(api_keys.c.id == key_id)).first()
        return _key(row) if row else None

    def all(self) -> list[ApiKey]:
        query = sa.select(api_keys).order_by(api_keys.c.created_at.desc(), api_keys.c.id)
        return [_key(row) for row in self.conn.execute(query)]

    def revoke(self, key_id: str, now: datetime) -> None:
        self.conn.execute(
            api_keys.update()
            .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )

    def mark_used(self, key_id: str, now: datetime) -> None:
        self.conn.execute(api_keys.update().where(api_keys.c.id == key_id).values(last_used_at=now))


def _key(row: sa.Row[Any]) -> ApiKey:
    return ApiKey(
        id=row.id,
        name=row.name,
        role=row.role,
        prefix=row.prefix,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
        created_by=row.created_by,
    )


_USER_COLUMNS = [c for c in staff_users.c if c.name not in ("password_hash", "password_changed_at")]


class SqlUserRepository:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def add(self, user: StaffUser, password_hash: str) -> None:
        self.conn.execute(
            staff_users.insert().values(
                **asdict(user), password_hash=password_hash, password_changed_at=user.created_at
            )
        )

    def get(self, user_id: str) -> StaffUser | None:
        row = self.conn.execute(
            sa.select(*_USER_COLUMNS).where(staff_users.c.id == user_id)
        ).first()
        return _user(row) if row else None

    def by_email(self, email: str) -> StaffUser | None:
        row = self.conn.execute(
            sa.select(*_USER_COLUMNS).where(staff_users.c.email == email)
        ).first()
        return _user(row) if row else None

    def all(self) -> list[StaffUser]:
        query = sa.select(*_USER_COLUMNS).order_by(staff_users.c.email)
        return [_user(row) for row in self.conn.execute(query)]

    def update(self, user: StaffUser) -> None:
        values = asdict(user)
        del values["id"], values["created_at"]
        self.conn.execute(staff_users.update().where(staff_users.c.id == user.id).values(values))

    def password_hash(self, user_id: str) -> str | None:
        query = sa.select(staff_users.c.password_hash).where(staff_users.c.id == user_id)
        found: str | None = self.conn.execute(query).scalar()
        return found

    def set_password_hash(self, user_id: str, password_hash: str, now: datetime) -> None:
        self.conn.execute(
            staff_users.update()
            .where(staff_users.c.id == user_id)
            .values(password_hash=password_hash, password_changed_at=now)
        )

    def lock_active(self, role: str) -> list[str]:
        """Ids of the active users of a role, locked until the transaction ends (PostgreSQL;
        SQLite's write transaction holds the whole database already)."""
        query = (
            sa.select(staff_users.c.id)
            .where(staff_users.c.role == role, staff_users.c.disabled_at.is_(None))
            .order_by(staff_users.c.id)
            .with_for_update()
        )
        return list(self.conn.execute(query).scalars())


def _user(row: sa.Row[Any]) -> StaffUser:
    return StaffUser(**row._asdict())


class SqlSessionRepository:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def add(self, session: Session, token_hash: str) -> None:
        self.conn.execute(staff_sessions.insert().values(**asdict(session), token_hash=token_hash))

    def by_hash(self, token_hash: str) -> Session | None:
        return self._one(staff_sessions.c.token_hash == token_hash)

    def by_id(self, session_id: str) -> Session | None:
        return self._one(staff_sessions.c.id == session_id)

    def _one(self, where: sa.ColumnElement[bool]) -> Session | None:
        columns = [c for c in staff_sessions.c if c.name != "token_hash"]
        row = self.conn.execute(sa.select(*columns).where(where)).first()
        return Session(**row._asdict()) if row else None

    def touch(self, session_id: str, now: datetime) -> None:
        self.conn.execute(
            staff_sessions.update()
            .where(staff_sessions.c.id == session_id)
            .values(last_seen_at=now)
        )

    def revoke(self, session_id: str, now: datetime) -> None:
        self.conn.execute(
            staff_sessions.update()
            .where(staff_sessions.c.id == session_id, staff_sessions.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )

    def revoke_all(self, user_id: str, now: datetime) -> int:
        result = self.conn.execute(
            staff_sessions.update()
            .where(staff_sessions.c.user_id == user_id, staff_sessions.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        return int(result.rowcount)
