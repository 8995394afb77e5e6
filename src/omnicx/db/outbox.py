"""The transactional outbox: work for after the commit, written in the same transaction.

A row is picked by the worker when `available_at` has come, handled by the handler of its
topic, and marked done; a failure reschedules it with backoff until it is marked dead.
"""

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from omnicx.db.metadata import metadata
from omnicx.db.types import JsonValue, UtcDateTime

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("topic", sa.String(80), nullable=False),
    sa.Column("key", sa.String(80), nullable=False, index=True),
    sa.Column("payload", JsonValue, nullable=False),
    sa.Column("status", sa.String(10), nullable=False, server_default="pending"),
    sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text(), nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("available_at", UtcDateTime(), nullable=False),
    sa.Column("done_at", UtcDateTime(), nullable=True),
    sa.Index("ix_outbox_due", "status", "available_at"),
)


def enqueue(
    conn: sa.Connection, topic: str, key: str, payload: dict[str, Any], now: datetime
) -> None:
    conn.execute(
        outbox.insert().values(
            topic=topic,
            key=key,
            payload=payload,
            status="pending",
            attempts=0,
            created_at=now,
            available_at=now,
        )
    )
