"""SQL storage of profiles, the identity graph and traits (SQLAlchemy Core).

Sensitive values are sealed here, on the way in, and opened on the way out, so the domain
sees plaintext only: contact columns, identifier values of sensitive kinds (found by their
keyed hash `value_hash`), trait values under sensitive keys, and the values and texts of merges
and conflicts. `search_text` holds the display name only.
"""

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, cast

import orjson
import sqlalchemy as sa

from omnicx.crypto import FieldCipher
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
    sa.Column("email", sa.Text(), nullable=True),
    sa.Column("phone", sa.Text(), nullable=True),
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
    sa.Column("value", sa.Text(), nullable=False),
    # blind(kind, value); empty only on rows written before 0004 until the sealing pass
    sa.Column("value_hash", sa.String(64), nullable=True),
    sa.Column("profile_id", ID, nullable=False, index=True),
    sa.Column("origin_profile_id", ID, nullable=False, index=True),
    sa.Column("source_id", ID, nullable=True),
    sa.Column("channel", sa.String(40), nullable=True),
    sa.Column("event_id", sa.BigInteger(), nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.UniqueConstraint("value_hash", "kind"),
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
    sa.Column("value", sa.Text(), nullable=False),
    sa.Column("event_id", sa.BigInteger(), nullable=True),
    sa.Column("reason", sa.Text(), nullable=False),
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
    sa.Column("value", sa.Text(), nullable=False),
    sa.Column("rule", sa.String(80), nullable=False),
    sa.Column("detail", sa.Text(), nullable=False),
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

key_rotations = sa.Table(
    "key_rotations",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("primary_key", sa.String(32), nullable=False),
    sa.Column("fields", sa.String(64), nullable=False),
    sa.Column("counts", JsonValue, nullable=False),
    sa.Column("started_at", UtcDateTime(), nullable=False),
    sa.Column("finished_at", UtcDateTime(), nullable=True),
)
"""Each sealing pass: under which primary key and sensitive fields it left every row."""

_CHUNK = 500

Fix = Callable[[Mapping[str, Any]], dict[str, Any]]
"""Given a row, the columns to write so that it is sealed as the keys and fields say now."""

PROFILE_TABLES = (
    "profiles",
    "identifiers",
    "traits",
    "trait_history",
    "merges",
    "identity_conflicts",
)


def changed(old: Any, new: Any) -> bool:
    return new is not old and new != old


def reseal_rows(
    conn: sa.Connection, table: sa.Table, fix: Fix, after: tuple[Any, ...] | None, limit: int
) -> tuple[tuple[Any, ...] | None, int]:
    """One batch of the sealing pass over `table` in primary key order, after `after`.

    Returns where the next batch starts (None at the end) and how many rows were rewritten.
    The rows read are locked on PostgreSQL (SQLite's writer lock covers them), so a write
    that lands meanwhile is never overwritten with an older value.
    """
    pk = list(table.primary_key.columns)
    query = sa.select(table).order_by(*pk).limit(limit)
    if after is not None:
        query = query.where(sa.tuple_(*pk) > sa.tuple_(*after) if len(pk) > 1 else pk[0] > after[0])
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    rows = conn.execute(query).all()
    count = 0
    for row in rows:
        values = fix(cast(Mapping[str, Any], row._mapping))
        if values:
            conn.execute(
                table.update().where(*(c == row._mapping[c.name] for c in pk)).values(**values)
            )
            count += 1
    last = tuple(rows[-1]._mapping[c.name] for c in pk) if len(rows) == limit else None
    return last, count


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


_PROFILE = sa.select(profiles).where(profiles.c.id == sa.bindparam("profile_id"))


# Built once: asked by every message and event chunk that resolves identities.
_ANY_SEPARATION = sa.select(profile_separations.c.merge_id).limit(1)


class SqlProfileRepository:
    def __init__(self, conn: sa.Connection, cipher: FieldCipher) -> None:
        self.conn = conn
        self.cipher = cipher
        self._no_separations: bool | None = None
        self._hashes: dict[Identifier, str] = {}

    # -- sealing -------------------------------------------------------------------------

    def value_hash(self, identifier: Identifier) -> str:
        """The look-up hash of an identifier, computed once per repository (one chunk)."""
        hashed = self._hashes.get(identifier)
        if hashed is None:
            hashed = self.cipher.blind(identifier.kind, identifier.value)
            self._hashes[identifier] = hashed
        return hashed

    def _seal_text(self, kind: str, value: str) -> str:
        cipher = self.cipher
        return cipher.seal(value) if cipher.enabled and cipher.is_sensitive(kind) else value

    def _open(self, value: Any) -> Any:
        return self.cipher.open(value) if self.cipher.is_sealed(value) else value

    def _profile(self, row: sa.Row[Any]) -> Profile:
        return Profile(
            id=row.id,
            canonical_id=row.canonical_id,
            merged_into=row.merged_into,
            created_at=row.created_at,
            updated_at=row.updated_at,
            display_name=row.display_name,
            email=self._open(row.email),
            phone=self._open(row.phone),
        )

    def _merge(self, row: sa.Row[Any]) -> Merge:
        return Merge(
            id=row.id,
            survivor_id=row.survivor_id,
            loser_id=row.loser_id,
            kind=row.kind,
            value=self._open(row.value),
            event_id=row.event_id,
            reason=self._open(row.reason),
            created_at=row.created_at,
            undone_at=row.undone_at,
        )

    # -- identity facts ------------------------------------------------------------------

    def owners(self, wanted: Collection[Identifier]) -> dict[Identifier, str]:
        found: dict[Identifier, str] = {}
        by_hash = {(i.kind, self.value_hash(i)): i for i in wanted}
        rows = select_in(
            self.conn,
            "SELECT kind, value_hash, profile_id FROM identifiers WHERE value_hash IN ({marks})",
            sorted({hashed for _, hashed in by_hash}),
        )
        for kind, hashed, profile_id in rows:
            key = by_hash.get((kind, hashed))
            if key is not None:
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
        is_sealed, open_ = self.cipher.is_sealed, self.cipher.open
        for profile_id, kind, value in rows:
            plain = open_(value) if is_sealed(value) else value
            result.setdefault(profile_id, {}).setdefault(kind, set()).add(plain)
        return result

    def separations(self, profile_ids: Collection[str]) -> set[frozenset[str]]:
        result: set[frozenset[str]] = set()
        if self._no_separations is None:
            self._no_separations = self.conn.execute(_ANY_SEPARATION).first() is None
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
        reveal = self.cipher.reveal
        for profile_id, key, value, ts, channel, source_id, event_id in rows:
            # A JSON column has numeric affinity in SQLite: a bare number comes back as one.
            if raw_json and isinstance(value, str | bytes):
                value = orjson.loads(value)
            if value is not None and not isinstance(value, int | float | bool):
                value = reveal(value)
            result.setdefault(profile_id, {})[key] = TraitValue(
                value, ts, channel, source_id, event_id
            )
        return result

    # -- writes --------------------------------------------------------------------------

    def insert_profiles(self, rows: Sequence[Mapping[str, Any]]) -> None:
        insert_many(self.conn, profiles, rows)

    def insert_identifiers(self, rows: Sequence[Mapping[str, Any]]) -> None:
        insert_many(
            self.conn,
            identifiers,
            [
                {
                    **r,
                    "value": self._seal_text(r["kind"], r["value"]),
                    "value_hash": self.value_hash(Identifier(r["kind"], r["value"])),
                }
                for r in rows
            ],
        )

    def _sealed_values(self, rows: Sequence[Mapping[str, Any]]) -> Sequence[Mapping[str, Any]]:
        if not self.cipher.enabled:
            return rows
        seal_under = self.cipher.seal_under
        return [{**r, "value": seal_under(r["key"], r["value"])} for r in rows]

    def upsert_traits(self, rows: Sequence[Mapping[str, Any]]) -> None:
        upsert_many(self.conn, traits, self._sealed_values(rows), ("profile_id", "key"))

    def insert_trait_history(self, rows: Sequence[Mapping[str, Any]]) -> None:
        insert_many(self.conn, trait_history, self._sealed_values(rows))

    def insert_conflicts(self, rows: Sequence[Mapping[str, Any]]) -> None:
        seal = self.cipher.seal_if
        on = self.cipher.enabled
        insert_many(
            self.conn,
            identity_conflicts,
            [
                {
                    **r,
                    "value": self._seal_text(r["kind"], r["value"]),
                    "detail": seal(on, r["detail"]),
                }
                for r in rows
            ],
        )

    def update_display(self, rows: Sequence[Mapping[str, Any]], *, replace: bool = False) -> None:
        """Set the denormalised name, email and phone; without `replace`, None keeps the old.

        Email and phone are sealed; `search_text` is the lower-cased name alone (email and
        phone are searched through the identifiers' hashes).
        """
        if not rows:
            return
        new = "?" if replace else "COALESCE(?, {0})"
        name, email, phone = (new.format(c) for c in ("display_name", "email", "phone"))
        sql = (
            f"UPDATE profiles SET display_name = {name}, email = {email}, phone = {phone}, "  # noqa: S608
            f"updated_at = ?, search_text = lower({name}) WHERE id = ?"
        )
        stamp = UtcDateTime()._cached_bind_processor(self.conn.dialect)
        assert stamp is not None
        seal = self.cipher.seal_if
        sensitive = self.cipher.is_sensitive
        email_on, phone_on = sensitive("email"), sensitive("phone")
        execute_many(
            self.conn,
            sql,
            [
                (
                    r["display_name"],
                    seal(email_on, r["email"]),
                    seal(phone_on, r["phone"]),
                    stamp(r["updated_at"]),
                    r["display_name"],
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
        on = self.cipher.enabled
        c.execute(
            merges.insert(),
            [
                {
                    **r,
                    "value": self._seal_text(r["kind"], r["value"]),
                    "reason": self.cipher.seal_if(on, r["reason"]),
                }
                for r in rows
            ],
        )

    # -- reads ---------------------------------------------------------------------------

    def get(self, profile_id: str) -> Profile | None:
        row = self.conn.execute(_PROFILE, {"profile_id": profile_id}).first()
        return self._profile(row) if row else None

    def get_merge(self, merge_id: str) -> Merge | None:
        row = self.conn.execute(sa.select(merges).where(merges.c.id == merge_id)).first()
        return self._merge(row) if row else None

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
        return [{**row._mapping, "value": self._open(row.value)} for row in rows]

    def traits_of(self, root_id: str) -> dict[str, TraitValue]:
        return self.current_traits([root_id]).get(root_id, {})

    # -- reads of many customers at once (the gate's batches) ----------------------------

    def canonical_ids(self, profile_ids: Collection[str]) -> dict[str, str]:
        """Profile id -> the canonical id it stands under, for those of `profile_ids` that
        exist."""
        rows = select_in(
            self.conn,
            "SELECT id, canonical_id FROM profiles WHERE id IN ({marks})",
            sorted(set(profile_ids)),
        )
        return dict(rows)

    def canonical_with_members(
        self, profile_ids: Collection[str]
    ) -> tuple[dict[str, str], dict[str, list[str]]]:
        """`canonical_ids` of `profile_ids` and `members_of` their roots, in one statement."""
        rows = select_in(
            self.conn,
            "SELECT id, canonical_id FROM profiles WHERE canonical_id IN "
            "(SELECT canonical_id FROM profiles WHERE id IN ({marks}))",
            sorted(set(profile_ids)),
        )
        wanted = set(profile_ids)
        canonical: dict[str, str] = {}
        members: dict[str, list[str]] = {}
        seen: set[str] = set()
        for profile_id, root in rows:
            if profile_id in wanted:
                canonical[profile_id] = root
            if profile_id not in seen:  # a root reached from two chunks of ids
                seen.add(profile_id)
                members.setdefault(root, []).append(profile_id)
        for ids in members.values():
            ids.sort()
        return canonical, members

    def members_of(self, root_ids: Collection[str]) -> dict[str, list[str]]:
        """`members` of many roots: root -> its profiles' ids, sorted (empty lists left out)."""
        rows = select_in(
            self.conn,
            "SELECT canonical_id, id FROM profiles WHERE canonical_id IN ({marks})",
            sorted(set(root_ids)),
        )
        found: dict[str, list[str]] = {}
        for root, profile_id in rows:
            found.setdefault(root, []).append(profile_id)
        for ids in found.values():
            ids.sort()
        return found

    def held_sealed(
        self, root_ids: Collection[str]
    ) -> dict[str, list[tuple[str, str, str, str | None]]]:
        """Each root's identifiers as `identifiers_of` orders them: (kind, value, look-up hash
        `blind(kind, value)` as stored, or computed for a row the sealing pass has not hashed
        yet, the value as stored when it is sealed or None): a copy of the address elsewhere
        can keep that token instead of sealing the value again."""
        rows = select_in(
            self.conn,
            "SELECT profile_id, kind, value, value_hash FROM identifiers "
            "WHERE profile_id IN ({marks}) ORDER BY id",
            sorted(set(root_ids)),
        )
        found: dict[str, list[tuple[str, str, str, str | None]]] = {}
        is_sealed, open_ = self.cipher.is_sealed, self.cipher.open
        for profile_id, kind, stored, hashed in rows:
            token = stored if is_sealed(stored) else None
            value = stored if token is None else open_(token)
            if not hashed:
                hashed = self.value_hash(Identifier(kind, value))
            found.setdefault(profile_id, []).append((kind, value, hashed, token))
        return found

    def trait_history(self, member_ids: Iterable[str]) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            sa.select(trait_history)
            .where(trait_history.c.profile_id.in_(list(member_ids)))
            .order_by(trait_history.c.ts, trait_history.c.id)
        )
        reveal = self.cipher.reveal
        return [{**row._mapping, "value": reveal(row.value)} for row in rows]

    def merges_of(self, root_id: str) -> list[Merge]:
        members = list(self.members(root_id)) or [root_id]
        rows = self.conn.execute(
            sa.select(merges)
            .where(sa.or_(merges.c.survivor_id.in_(members), merges.c.loser_id.in_(members)))
            .order_by(merges.c.created_at, merges.c.id)
        )
        return [self._merge(row) for row in rows]

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
                value=self._open(r.value),
                rule=r.rule,
                detail=self._open(r.detail),
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
                        sa.and_(
                            identifiers.c.kind == i.kind,
                            identifiers.c.value_hash == self.value_hash(i),
                        )
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
        return [self._profile(row) for row in rows]

    # -- the sealing pass ----------------------------------------------------------------

    def reseal(
        self, table: str, after: tuple[Any, ...] | None, limit: int
    ) -> tuple[tuple[Any, ...] | None, int]:
        """One batch of the sealing pass over one of `PROFILE_TABLES`."""
        cipher = self.cipher
        sensitive = cipher.is_sensitive

        def text_for(kind: str) -> Callable[[Any], Any]:
            on = sensitive(kind)
            return lambda v: cipher.seal_if(on, v)

        def always(v: Any) -> Any:
            return cipher.seal_if(True, v)

        def fix_columns(
            row: Mapping[str, Any], seals: dict[str, Callable[[Any], Any]]
        ) -> dict[str, Any]:
            out = {}
            for column, seal in seals.items():
                new = cipher.reseal(row[column], seal)
                if changed(row[column], new):
                    out[column] = new
            return out

        def fix_profile(row: Mapping[str, Any]) -> dict[str, Any]:
            out = fix_columns(row, {"email": text_for("email"), "phone": text_for("phone")})
            name, text = row["display_name"], row["search_text"]
            if (name is None and text is not None) or (
                name is not None and (text is None or len(text) != len(name))
            ):
                out["search_text"] = sa.func.lower(profiles.c.display_name)
            return out

        def fix_identifier(row: Mapping[str, Any]) -> dict[str, Any]:
            out = fix_columns(row, {"value": text_for(row["kind"])})
            plain = self._open(row["value"])
            hashed = cipher.blind(row["kind"], plain)
            if row["value_hash"] != hashed:
                out["value_hash"] = hashed
            return out

        def fix_trait(row: Mapping[str, Any]) -> dict[str, Any]:
            value = row["value"]
            new = cipher.reseal(value, lambda v: cipher.seal_under(row["key"], v))
            return {"value": new} if changed(value, new) else {}

        fixes: dict[str, tuple[sa.Table, Fix]] = {
            "profiles": (profiles, fix_profile),
            "identifiers": (identifiers, fix_identifier),
            "traits": (traits, fix_trait),
            "trait_history": (trait_history, fix_trait),
            "merges": (
                merges,
                lambda r: fix_columns(r, {"value": text_for(r["kind"]), "reason": always}),
            ),
            "identity_conflicts": (
                identity_conflicts,
                lambda r: fix_columns(r, {"value": text_for(r["kind"]), "detail": always}),
            ),
        }
        target, fix = fixes[table]
        return reseal_rows(self.conn, target, fix, after, limit)

    def last_rotation(self) -> dict[str, Any] | None:
        row = self.conn.execute(
            sa.select(key_rotations)
            .where(key_rotations.c.finished_at.is_not(None))
            .order_by(key_rotations.c.id.desc())
            .limit(1)
        ).first()
        return dict(row._mapping) if row else None

    def start_rotation(self, primary_key: str, fields: str, now: datetime) -> int:
        return int(
            self.conn.execute(
                key_rotations.insert()
                .values(primary_key=primary_key, fields=fields, counts={}, started_at=now)
                .returning(key_rotations.c.id)
            ).scalar_one()
        )

    def finish_rotation(self, rotation_id: int, counts: Mapping[str, int], now: datetime) -> None:
        self.conn.execute(
            key_rotations.update()
            .where(key_rotations.c.id == rotation_id)
            .values(counts=dict(counts), finished_at=now)
        )

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
        self._no_separations = False

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
