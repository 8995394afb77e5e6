"""SQL of the webhook domain's part in privacy: deliveries in the outbox and their retention."""

from collections.abc import Collection, Iterator
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from omnicx.db import outbox
from omnicx.webhooks.store import DELIVER

_PAGE = 1000
_CHUNK = 500


def deliveries(conn: sa.Connection) -> Iterator[dict[str, Any]]:
    """Every webhook delivery in the outbox, oldest first, a page at a time."""
    o = outbox.c
    last = 0
    while True:
        page = [
            dict(row._mapping)
            for row in conn.execute(
                sa.select(
                    o.id,
                    o.key,
                    o.status,
                    o.attempts,
                    o.created_at,
                    o.available_at,
                    o.done_at,
                    o.payload,
                )
                .where(o.topic == DELIVER, o.id > last)
                .order_by(o.id)
                .limit(_PAGE)
            )
        ]
        yield from page
        if len(page) < _PAGE:
            return
        last = page[-1]["id"]


def delete(conn: sa.Connection, ids: Collection[int]) -> int:
    ordered = sorted(ids)
    deleted = 0
    for start in range(0, len(ordered), _CHUNK):
        part = ordered[start : start + _CHUNK]
        deleted += conn.execute(outbox.delete().where(outbox.c.id.in_(part))).rowcount
    return deleted


def expire(conn: sa.Connection, cutoff: datetime, *, dry_run: bool, limit: int) -> int:
    """Delivered and dead deliveries created before `cutoff`; pending ones are never due."""
    o = outbox.c
    due = (
        sa.select(o.id)
        .where(o.topic == DELIVER, o.status.in_(("done", "dead")), o.created_at < cutoff)
        .limit(limit)
    )
    if dry_run:
        return int(
            conn.execute(sa.select(sa.func.count()).select_from(due.subquery())).scalar_one()
        )
    return delete(conn, [row.id for row in conn.execute(due)])
