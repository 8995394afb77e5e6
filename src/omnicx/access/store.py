from typing import Any

import sqlalchemy as sa

from omnicx.access.model import ApiKey
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
)


class SqlApiKeyRepository:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def add(self, key: ApiKey, secret_hash: str) -> None:
        self.conn.execute(
            api_keys.insert().values(
                id=key.id,
                name=key.name,
                role=key.role,
                prefix=key.prefix,
                secret_hash=secret_hash,
                created_at=key.created_at,
                revoked_at=key.revoked_at,
            )
        )

    def by_hash(self, secret_hash: str) -> ApiKey | None:
        row = self.conn.execute(
            sa.select(api_keys).where(api_keys.c.secret_hash == secret_hash)
        ).first()
        return _key(row) if row else None


def _key(row: sa.Row[Any]) -> ApiKey:
    return ApiKey(
        id=row.id,
        name=row.name,
        role=row.role,
        prefix=row.prefix,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )
