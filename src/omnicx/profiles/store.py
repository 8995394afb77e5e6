"""SQL storage of profiles, the identity graph and traits (SQLAlchemy Core)."""

from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa

from omnicx.db import JsonValue, UtcDateTime, metadata
from omnicx.db.bulk import execute_many, insert_many, select_in, upsert_many
from omnicx.profiles.model import Conflict, Identifier, Merge, Profile, TraitValue

ID = sa.String(36)

profiles = sa.Table(
    "profiles",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("canonical_id", ID, nullable=False, index=True),
    sa.Column("merged_into", ID, nullable=True),
    sa.Column("display_name", sa.String(200), nullable=True),
    sa.Column("email", sa.String(320), nullable=True),
    sa.Column("phone", sa.String(32), nullable=True),
    sa.Column("search_text", sa.String(700), nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

identifiers = sa.Table(
    "identifiers",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("value", sa.String(320), nullable=False),
    sa.Column("profile_id", ID, nullable=False, index=True),
    sa.Column("origin_profile_id", ID, nullable=False, index=True),
    sa.Column("source_id", ID, nullable=True),
    sa.Column("channel", sa.String(40), nullable=True),
    sa.Column("event_id", sa.BigInteger(), nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.UniqueConstraint("value", "kind"),
)

traits = sa.Table(
    "traits",
    metadata,
    sa.Column("profile_id", ID, primary_key=True),
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("value", JsonValue, nullable=True),
    sa.Column("ts", sa.BigInteger(), nullable=False),
    sa.Column("channel", sa.String(40), nullable=False),
    sa.Column("source_id", ID, nullable=True),
    sa.Column("event_id", sa.BigInteger(), nullable=True),
)

trait_history = sa.Table(
    "trait_history",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("profile_id", ID, nullable=False, index=True),
    sa.Column("key", sa.String(200), nullable=False),
    sa.Column("value", JsonValue, nullable=True),
    sa.Column("ts", sa.BigInteger(), nullable=False),
    sa.Column("channel", sa.String(40), nullable=False),
    sa.Column("source_id", ID, nullable=True),
    sa.Column("event_id", sa.BigInteger(), nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)

merges = sa.Table(
    "merges",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("survivor_id", ID, nullable=False, index=True),
    sa.Column("loser_id", ID, nullable=False, index=True),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("value", sa.String(320), nullable=False),
    sa.Column("event_id", sa.BigInteger(), nullable=True),
    sa.Column("reason", sa.String(500), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("undone_at", UtcDateTime(), nullable=True),
    sa.Column("undone_by", sa.String(200), nullable=True),
)

identity_conflicts = sa.Table(
    "identity_conflicts",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("profile_id", ID, nullable=False, index=True),
    sa.Column("other_profile_id", ID, nullable=True, index=True),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("value", sa.String(320), nullable=False),
    sa.Column("rule", sa.String(80), nullable=False),
    sa.Column("detail", sa.String(500), nullable=False),
    sa.Column("event_id", sa.BigInteger(), nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)

profile_separations = sa.Table(
    "profile_separations",
    metadata,
    sa.Column("profile_a", ID, primary_key=True),
    sa.Column("profile_b", ID, primary_key=True),
    sa.Column("merge_id", ID, nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)

_CHUNK = 500


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _profile(row: sa.Row[Any]) -> Profile:
    return Profile(
        id=row.id,
        canonical_id=row.canonical_id,
        merged_into=row.merged_into,
        created_at=row.created_at,
        updated_at=row.updated_at,
        display_name=row.display_name,
        email=row.email,
        phone=row.phone,
    )


def _merge(row: sa.Row[Any]) -> Merge:
    return Merge(
        id=row.id,
        survivor_id=row.survivor_id,
        loser_id=row.loser_id,
        kind=row.kind,
        value=row.value,
        event_id=row.event_id,
        reason=row.reason,
        created_at=row.created_at,
        undone_at=row.undone_at,
    )


class SqlProfileRepository:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn
        self._no_separations: bool | None = None

    # -- identity facts ------------------------------------------------------------------

    def owners(self, wanted: Collection[Identifier]) -> dict[Identifier, str]:
        found: dict[Identifier, str] = {}
        wanted = set(wanted)
        rows = select_in(
            self.conn,
            "SELECT kind, value, profile_id FROM identifiers WHERE value IN ({marks})",
            sorted({i.value for i in wanted}),
        )
        for kind, value, profile_id in rows:
            key = Identifier(kind, value)
            if key in wanted:
                found[key] = profile_id
        return found

    def limited_values(
        self, profile_ids: Collection[str], kinds: Collection[str]
    ) -> dict[str, dict[str, set[str]]]:
        result: dict[str, dict[str, set[str]]] = {}
        if not kinds or not profile_ids:
            return result
        kind_list = sorted(kinds)
        rows = select_in(
            self.conn,
            f"SELECT profile_id, kind, value FROM identifiers WHERE kind IN "  # noqa: S608
            f"({', '.join('?' * len(kind_list))}) AND profile_id IN ({{marks}})",
            sorted(profile_ids),
            before=kind_list,
        )
        for profile_id, kind, value in rows:
            result.setdefault(profile_id, {}).setdefault(kind, set()).add(value)
        return result

    def separations(self, profile_ids: Collection[str]) -> set[frozenset[str]]:
        result: set[frozenset[str]] = set()
        if self._no_separations is None:
            self._no_separations = (
                self.conn.execute(sa.select(profile_separations.c.merge_id).limit(1)).first()
                is None
            )
        if self._no_separations or not profile_ids:
            return result
        a = profiles.alias("a")
        b = profiles.alias("b")
        s = profile_separations
        for part in _chunks(sorted(profile_ids)):
            rows = self.conn.execute(
                sa.select(a.c.canonical_id, b.c.canonical_id)
                .select_from(s.join(a, a.c.id == s.c.profile_a).join(b, b.c.id == s.c.profile_b))
                .where(sa.or_(a.c.canonical_id.in_(part), b.c.canonical_id.in_(part)))
            )
            result.update(frozenset((x, y)) for x, y in rows if x != y)
        return result

    def current_traits(self, profile_ids: Collection[str]) -> dict[str, dict[str, TraitValue]]:
        result: dict[str, dict[str, TraitValue]] = {}
        if not profile_ids:
            return result
        rows = select_in(
            self.conn,
            "SELECT profile_id, key, value, ts, channel, source_id, event_id FROM traits "
            "WHERE profile_id IN ({marks})",
            sorted(profile_ids),
        )
        raw_json = self.conn.dialect.name == "sqlite"
        for profile_id, key, value, ts, channel, source_id, event_id in rows:
            if raw_json and value is not None:
                value = orjson.loads(value)
            result.setdefault(profile_id, {})[key] = TraitValue(
                value, ts, channel, source_id, event_id
            )
        return result

    # -- writes --------------------------------------------------------------------------

    def insert_profiles(self, rows: Sequence[Mapping[str, Any]]) -> None:
        insert_many(self.conn, profiles, rows)

    def insert_identifiers(self, rows: Sequence[Mapping[str, Any]]) -> None:
        insert_many(self.conn, identifiers, rows)

    def upsert_traits(self, rows: Sequence[Mapping[str, Any]]) -> None:
        upsert_many(self.conn, traits, rows, ("profile_id", "key"))

    def insert_trait_history(self, rows: Sequence[Mapping[str, Any]]) -> None:
        insert_many(self.conn, trait_history, rows)

    def insert_conflicts(self, rows: Sequence[Mapping[str, Any]]) -> None:
        insert_many(self.conn, identity_conflicts, rows)

    def update_display(self, rows: Sequence[Mapping[str, Any]], *, replace: bool = False) -> None:
        """Set the denormalised name, email and phone; without `replace`, None keeps the old."""
        if not rows:
            return
        new = "?" if replace else "COALESCE(?, {0})"
        name, email, phone = (new.format(c) for c in ("display_name", "email", "phone"))
        sql = (
            f"UPDATE profiles SET display_name = {name}, email = {email}, phone = {phone}, "  # noqa: S608
            f"updated_at = ?, search_text = lower(COALESCE({name}, '') || ' ' || "
            f"COALESCE({email}, '') || ' ' || COALESCE({phone}, '')) WHERE id = ?"
        )
        stamp = UtcDateTime()._cached_bind_processor(self.conn.dialect)
        assert stamp is not None
        execute_many(
            self.conn,
            sql,
            [
                (
                    r["display_name"],
                    r["email"],
                    r["phone"],
                    stamp(r["updated_at"]),
                    r["display_name"],
                    r["email"],
                    r["phone"],
                    r["id"],
                )
                for r in rows
            ],
        )

    def apply_merges(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Write merges in their order: a later merge may take an earlier survivor."""
        if not rows:
            return
        pairs = [{"s": r["survivor_id"], "l": r["loser_id"]} for r in rows]
        s: sa.BindParameter[str] = sa.bindparam("s")
        loser: sa.BindParameter[str] = sa.bindparam("l")
        c = self.conn
        c.execute(
            profiles.update().where(profiles.c.canonical_id == loser).values(canonical_id=s), pairs
        )
        c.execute(profiles.update().where(profiles.c.id == loser).values(merged_into=s), pairs)
        c.execute(
            identifiers.update().where(identifiers.c.profile_id == loser).values(profile_id=s),
            pairs,
        )
        c.execute(traits.delete().where(traits.c.profile_id == loser), pairs)
        c.execute(merges.insert(), list(rows))

    # -- reads ---------------------------------------------------------------------------

    def get(self, profile_id: str) -> Profile | None:
        row = self.conn.execute(sa.select(profiles).where(profiles.c.id == profile_id)).first()
        return _profile(row) if row else None

    def get_merge(self, merge_id: str) -> Merge | None:
        row = self.conn.execute(sa.select(merges).where(merges.c.id == merge_id)).first()
        return _merge(row) if row else None

    def members(self, root_id: str) -> dict[str, str | None]:
        rows = self.conn.execute(
            sa.select(profiles.c.id, profiles.c.merged_into).where(
                profiles.c.canonical_id == root_id
            )
        )
        return dict(rows.all())

    def identifiers_of(self, root_id: str) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            sa.select(identifiers)
            .where(identifiers.c.profile_id == root_id)
            .order_by(identifiers.c.id)
        )
        return [dict(row._mapping) for row in rows]

    def traits_of(self, root_id: str) -> dict[str, TraitValue]:
        return self.current_traits([root_id]).get(root_id, {})

    def trait_history(self, member_ids: Iterable[str]) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            sa.select(trait_history)
            .where(trait_history.c.profile_id.in_(list(member_ids)))
            .order_by(trait_history.c.ts, trait_history.c.id)
        )
        return [dict(row._mapping) for row in rows]

    def merges_of(self, root_id: str) -> list[Merge]:
        members = list(self.members(root_id)) or [root_id]
        rows = self.conn.execute(
            sa.select(merges)
            .where(sa.or_(merges.c.survivor_id.in_(members), merges.c.loser_id.in_(members)))
            .order_by(merges.c.created_at, merges.c.id)
        )
        return [_merge(row) for row in rows]

    def conflicts(self, profile_id: str | None, limit: int) -> list[Conflict]:
        query = sa.select(identity_conflicts)
        if profile_id is not None:
            members = list(self.members(profile_id)) or [profile_id]
            query = query.where(
                sa.or_(
                    identity_conflicts.c.profile_id.in_(members),
                    identity_conflicts.c.other_profile_id.in_(members),
                )
            )
        rows = self.conn.execute(
            query.order_by(
                identity_conflicts.c.created_at.desc(), identity_conflicts.c.id.desc()
            ).limit(limit)
        )
        return [
            Conflict(
                id=r.id,
                profile_id=r.profile_id,
                other_profile_id=r.other_profile_id,
                kind=r.kind,
                value=r.value,
                rule=r.rule,
                detail=r.detail,
                event_id=r.event_id,
                created_at=r.created_at,
            )
            for r in rows
        ]

    def search(self, text: str, found: Sequence[Identifier], limit: int) -> list[Profile]:
        clauses: list[sa.ColumnElement[bool]] = []
        if text:
            escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            clauses.append(profiles.c.search_text.like(f"%{escaped}%", escape="\\"))
        if found:
            owned = sa.select(identifiers.c.profile_id).where(
                sa.or_(
                    *[
                        sa.and_(identifiers.c.kind == i.kind, identifiers.c.value == i.value)
                        for i in found
                    ]
                )
            )
            clauses.append(profiles.c.id.in_(owned))
        if not clauses:
            return []
        rows = self.conn.execute(
            sa.select(profiles)
            .where(profiles.c.id == profiles.c.canonical_id, sa.or_(*clauses))
            .order_by(profiles.c.updated_at.desc(), profiles.c.id)
            .limit(limit)
        )
        return [_profile(row) for row in rows]

    # -- unmerge -------------------------------------------------------------------------

    def detach(self, merge: Merge, subtree: Collection[str], now: datetime, actor: str) -> None:
        c = self.conn
        restored = merge.loser_id
        members = list(subtree)
        c.execute(
            profiles.update()
            .where(profiles.c.id == restored)
            .values(merged_into=None, updated_at=now)
        )
        for part in _chunks(members):
            c.execute(
                profiles.update().where(profiles.c.id.in_(part)).values(canonical_id=restored)
            )
            c.execute(
                identifiers.update()
                .where(identifiers.c.origin_profile_id.in_(part))
                .values(profile_id=restored)
            )
        c.execute(
            merges.update().where(merges.c.id == merge.id).values(undone_at=now, undone_by=actor)
        )
        a, b = sorted((merge.survivor_id, merge.loser_id))
        c.execute(
            profile_separations.insert().values(
                profile_a=a, profile_b=b, merge_id=merge.id, created_at=now
            )
        )

    def replace_traits(self, root_id: str, values: Mapping[str, TraitValue]) -> None:
        self.conn.execute(traits.delete().where(traits.c.profile_id == root_id))
        self.upsert_traits(
            [
                {
                    "profile_id": root_id,
                    "key": key,
                    "value": t.value,
                    "ts": t.ts,
                    "channel": t.channel,
                    "source_id": t.source_id,
                    "event_id": t.event_id,
                }
                for key, t in values.items()
            ]
        )
