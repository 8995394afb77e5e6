"""SQL of the profile domain's part in privacy: who a customer is, what is held about them,
erasing it, and the retention of identity conflicts. Values come out as stored (sealed or
not); privacy opens them where it needs plaintext."""

from collections.abc import Callable, Collection, Iterator, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from omnicx.profiles.store import (
    identifiers,
    identity_conflicts,
    merges,
    profile_separations,
    profiles,
    trait_history,
    traits,
)

_CHUNK = 500
_PAGE = 1000


def _chunks(items: Collection[str]) -> Iterator[list[str]]:
    ordered = sorted(items)
    for start in range(0, len(ordered), _CHUNK):
        yield ordered[start : start + _CHUNK]


def _rows(conn: sa.Connection, query: sa.Select[Any]) -> list[dict[str, Any]]:
    return [dict(row._mapping) for row in conn.execute(query)]


def canonical_of(conn: sa.Connection, profile_id: str) -> str | None:
    row = conn.execute(
        sa.select(profiles.c.canonical_id).where(profiles.c.id == profile_id)
    ).first()
    return row.canonical_id if row else None


def members_of(conn: sa.Connection, root_id: str) -> list[str]:
    rows = conn.execute(
        sa.select(profiles.c.id).where(profiles.c.canonical_id == root_id).order_by(profiles.c.id)
    )
    return [row.id for row in rows]


def identifiers_of(conn: sa.Connection, member_ids: Collection[str]) -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    for part in _chunks(member_ids):
        found.extend(
            (row.kind, row.value)
            for row in conn.execute(
                sa.select(identifiers.c.kind, identifiers.c.value)
                .where(identifiers.c.profile_id.in_(part))
                .order_by(identifiers.c.id)
            )
        )
    return found


def _by_members(table: sa.Table, columns: Sequence[str], part: list[str]) -> sa.ColumnElement[bool]:
    return sa.or_(*(table.c[name].in_(part) for name in columns))


_HELD: dict[str, tuple[sa.Table, tuple[str, ...]]] = {
    "profiles": (profiles, ("id",)),
    "identifiers": (identifiers, ("profile_id", "origin_profile_id")),
    "traits": (traits, ("profile_id",)),
    "trait_history": (trait_history, ("profile_id",)),
    "merges": (merges, ("survivor_id", "loser_id")),
    "identity_conflicts": (identity_conflicts, ("profile_id", "other_profile_id")),
    "profile_separations": (profile_separations, ("profile_a", "profile_b")),
}
"""Each table of the domain, and the columns that tie a row to a profile."""


def _order(table: sa.Table) -> list[sa.ColumnElement[Any]]:
    return list(table.primary_key.columns)


def held_about(conn: sa.Connection, member_ids: Collection[str]) -> dict[str, list[dict[str, Any]]]:
    held: dict[str, list[dict[str, Any]]] = {}
    for name, (table, columns) in _HELD.items():
        seen: dict[tuple[Any, ...], dict[str, Any]] = {}
        for part in _chunks(member_ids):
            for row in conn.execute(sa.select(table).where(_by_members(table, columns, part))):
                key = tuple(row._mapping[c.name] for c in table.primary_key.columns)
                seen[key] = dict(row._mapping)
        held[name] = [seen[key] for key in sorted(seen)]
    return held


def conflicts_naming(
    conn: sa.Connection, matches: Callable[[str, Any], bool]
) -> list[dict[str, Any]]:
    """Conflicts, whichever profiles they name, whose identifier `matches` (kind, value)."""
    found: list[dict[str, Any]] = []
    last: str | None = None
    c = identity_conflicts.c
    while True:
        query = sa.select(identity_conflicts).order_by(c.id).limit(_PAGE)
        if last is not None:
            query = query.where(c.id > last)
        page = _rows(conn, query)
        found.extend(row for row in page if matches(row["kind"], row["value"]))
        if len(page) < _PAGE:
            return found
        last = page[-1]["id"]


def erase(
    conn: sa.Connection, member_ids: Collection[str], conflict_ids: Collection[str]
) -> dict[str, int]:
    counts: dict[str, int] = {}
    for name, (table, columns) in _HELD.items():
        deleted = 0
        for part in _chunks(member_ids):
            deleted += conn.execute(
                table.delete().where(_by_members(table, columns, part))
            ).rowcount
        counts[name] = deleted
    for part in _chunks(conflict_ids):
        counts["identity_conflicts"] += conn.execute(
            identity_conflicts.delete().where(identity_conflicts.c.id.in_(part))
        ).rowcount
    return counts


def expire_conflicts(conn: sa.Connection, cutoff: datetime, *, dry_run: bool, limit: int) -> int:
    c = identity_conflicts.c
    due = sa.select(c.id).where(c.created_at < cutoff).order_by(c.created_at).limit(limit)
    if dry_run:
        return int(
            conn.execute(sa.select(sa.func.count()).select_from(due.subquery())).scalar_one()
        )
    ids = [row.id for row in conn.execute(due)]
    for part in _chunks(ids):
        conn.execute(identity_conflicts.delete().where(c.id.in_(part)))
    return len(ids)
