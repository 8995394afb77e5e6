"""SQL of the event domain's part in privacy: the subject's events and dead-lettered calls,
their erasure, and the retention of raw events and dead letters."""

from collections.abc import Collection, Iterator
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from omnicx.events.store import events, ingest_dead_letters

ix_events_ts = sa.Index("ix_events_ts", events.c.ts)
"""Retention deletes by event time; without this it would read the whole table each run."""

_CHUNK = 500
_PAGE = 500


def _chunks(items: Collection[Any]) -> Iterator[list[Any]]:
    ordered = sorted(items)
    for start in range(0, len(ordered), _CHUNK):
        yield ordered[start : start + _CHUNK]


def event_ids_of(
    conn: sa.Connection,
    member_ids: Collection[str],
    user_ids: Collection[str],
    anonymous_ids: Collection[str],
) -> list[int]:
    """Events written to one of the profiles, or written to none but naming the person."""
    e = events.c
    found: set[int] = set()
    for part in _chunks(member_ids):
        found.update(r.id for r in conn.execute(sa.select(e.id).where(e.profile_id.in_(part))))
    for column, values in ((e.user_id, user_ids), (e.anonymous_id, anonymous_ids)):
        for part in _chunks(values):
            found.update(
                r.id
                for r in conn.execute(
                    sa.select(e.id).where(e.profile_id.is_(None), column.in_(part))
                )
            )
    return sorted(found)


def events_by_id(conn: sa.Connection, ids: Collection[int]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for part in _chunks(ids):
        rows.extend(
            dict(row._mapping)
            for row in conn.execute(
                sa.select(events).where(events.c.id.in_(part)).order_by(events.c.ts, events.c.id)
            )
        )
    return sorted(rows, key=lambda r: (r["ts"], r["id"]))


def delete_events(conn: sa.Connection, ids: Collection[int]) -> int:
    deleted = 0
    for part in _chunks(ids):
        deleted += conn.execute(events.delete().where(events.c.id.in_(part))).rowcount
    return deleted


def dead_letters(conn: sa.Connection) -> Iterator[dict[str, Any]]:
    """Every dead letter, oldest first, a page at a time."""
    d = ingest_dead_letters.c
    last = 0
    while True:
        page = [
            dict(row._mapping)
            for row in conn.execute(
                sa.select(ingest_dead_letters).where(d.id > last).order_by(d.id).limit(_PAGE)
            )
        ]
        yield from page
        if len(page) < _PAGE:
            return
        last = page[-1]["id"]


def rewrite_dead_letter(conn: sa.Connection, row_id: int, values: dict[str, Any]) -> None:
    conn.execute(
        ingest_dead_letters.update().where(ingest_dead_letters.c.id == row_id).values(**values)
    )


def delete_dead_letter(conn: sa.Connection, row_id: int) -> None:
    conn.execute(ingest_dead_letters.delete().where(ingest_dead_letters.c.id == row_id))


def _expire(
    conn: sa.Connection,
    table: sa.Table,
    expired: sa.ColumnElement[bool],
    *,
    dry_run: bool,
    limit: int,
) -> int:
    due = sa.select(table.c.id).where(expired).limit(limit)
    if dry_run:
        return int(
            conn.execute(sa.select(sa.func.count()).select_from(due.subquery())).scalar_one()
        )
    ids = [row.id for row in conn.execute(due)]
    for part in _chunks(ids):
        conn.execute(table.delete().where(table.c.id.in_(part)))
    return len(ids)


def expire_events(conn: sa.Connection, cutoff_micros: int, *, dry_run: bool, limit: int) -> int:
    return _expire(conn, events, events.c.ts < cutoff_micros, dry_run=dry_run, limit=limit)


def expire_dead_letters(conn: sa.Connection, cutoff: datetime, *, dry_run: bool, limit: int) -> int:
    expired = ingest_dead_letters.c.created_at < cutoff
    return _expire(conn, ingest_dead_letters, expired, dry_run=dry_run, limit=limit)
