"""`SqlConsentRepository`: the consent tables behind the `ConsentRepository` port.

A customer's consents are read over every profile merged into them (like their events), so
a merge or its undo needs no rewrite: per (purpose, channel) the newest record wins.
"""

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import datetime, time
from typing import Any

import sqlalchemy as sa

from omnicx.consent.model import (
    ChannelLimit,
    Confirmation,
    ConsentChange,
    ConsentRecord,
    ConsentSource,
    Preferences,
    Suppression,
)
from omnicx.consent.store.tables import (
    CUSTOMER_TABLES,
    consent_changes,
    consent_confirmations,
    consent_preferences,
    consent_suppressions,
    consents,
)
from omnicx.crypto import FieldCipher
from omnicx.db.bulk import select_in
from omnicx.events.store import SqlEventRepository
from omnicx.kernel.moments import micros
from omnicx.profiles.store import SqlProfileRepository, profiles

TIMELINE_SOURCE = "consent"
"""`source_id` of the timeline events consent writes."""

_CHUNK = 500

KEPT_PROOF = ("form", "form_text", "form_version", "text_version", "keyword", "page")
"""What an erasure keeps of a consent's proof: which text was agreed to, never who or where."""


def _reader(conn: sa.Connection, column: sa.Column[Any]) -> Callable[[Any], Any]:
    """How SQLAlchemy turns a raw value of `column` into Python (for reads through
    `select_in`, which skip the result processing of a Core query)."""
    process = column.type._cached_result_processor(conn.dialect, None)
    return process if process is not None else _same


def _same(value: Any) -> Any:
    return value


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _source(row: Any) -> ConsentSource:
    return ConsentSource(
        channel=row.source_channel,
        actor_kind=row.actor_kind,
        method=row.method,
        actor_id=row.actor_id,
        store_id=row.store_id,
    )


def _time(text: str | None) -> time | None:
    if not text:
        return None
    hours, _, minutes = text.partition(":")
    return time(int(hours), int(minutes))


class SqlConsentRepository:
    def __init__(self, conn: sa.Connection, cipher: FieldCipher) -> None:
        self.conn = conn
        self.cipher = cipher

    # -- customers --------------------------------------------------------------------------

    def _members_of(self, customer_id: str) -> Any:
        """Every profile standing for the same person as `customer_id` (it included)."""
        root = (
            sa.select(profiles.c.canonical_id).where(profiles.c.id == customer_id).scalar_subquery()
        )
        return sa.select(profiles.c.id).where(profiles.c.canonical_id == root)

    def _root(self, customer_id: str) -> str:
        found = self.conn.execute(
            sa.select(profiles.c.canonical_id).where(profiles.c.id == customer_id)
        ).scalar_one_or_none()
        return str(found) if found else customer_id

    def members(self, customer_id: str) -> list[str]:
        found = [str(r) for r in self.conn.execute(self._members_of(customer_id)).scalars()]
        return found or [customer_id]

    def lock_customer(self, customer_id: str) -> None:
        """Serialise the writers of one customer's consents (SQLite's write lock does it)."""
        if self.conn.dialect.name == "postgresql":
            self.conn.execute(
                sa.select(profiles.c.id).where(profiles.c.id == customer_id).with_for_update()
            )

    # -- consents ---------------------------------------------------------------------------

    def _record(self, row: Any) -> ConsentRecord:
        return ConsentRecord(
            customer_id=row.profile_id,
            purpose=row.purpose,
            channel=row.channel,
            state=row.state,
            at=row.at,
            source=_source(row),
            change_id=row.change_id,
            detail=row.detail,
        )

    def current(self, customer_id: str) -> list[ConsentRecord]:
        rows = self.conn.execute(
            sa.select(consents).where(
                sa.or_(
                    consents.c.profile_id == customer_id,
                    consents.c.profile_id.in_(self._members_of(customer_id)),
                )
            )
        )
        best: dict[tuple[str, str], ConsentRecord] = {}
        for row in rows:
            record = self._record(row)
            key = (record.purpose, record.channel)
            held = best.get(key)
            if held is None or (record.at, record.change_id) > (held.at, held.change_id):
                best[key] = record
        root = self._root(customer_id)
        return [
            ConsentRecord(
                root, r.purpose, r.channel, r.state, r.at, r.source, r.change_id, r.detail
            )
            for r in sorted(best.values(), key=lambda r: (r.purpose, r.channel))
        ]

    def current_many(
        self, members: Mapping[str, Collection[str]]
    ) -> dict[str, list[ConsentRecord]]:
        """`current` of many canonical customers at once; `members` maps each to the ids of
        the profiles standing for them (it included)."""
        owner = {m: customer for customer, ids in members.items() for m in (customer, *ids)}
        rows = select_in(
            self.conn,
            "SELECT profile_id, purpose, channel, at, change_id, state, source_channel, "
            "actor_kind, method, actor_id, store_id, detail FROM consents "
            "WHERE profile_id IN ({marks})",
            sorted(owner),
        )
        at_of = _reader(self.conn, consents.c.at)
        best: dict[tuple[str, str, str], tuple[Any, ...]] = {}
        for row in rows:
            at = at_of(row[3])
            key = (owner[row[0]], row[1], row[2])
            held = best.get(key)
            if held is None or (at, row[4]) > (held[0], held[1]):
                best[key] = (at, row[4], *row[5:])
        found: dict[str, list[ConsentRecord]] = {customer: [] for customer in members}
        for (customer, purpose, channel), kept in sorted(best.items(), key=lambda i: i[0]):
            at, change_id, state, source, actor_kind, method, actor_id, store_id, detail = kept
            found[customer].append(
                ConsentRecord(
                    customer,
                    purpose,
                    channel,
                    state,
                    at,
                    ConsentSource(source, actor_kind, method, actor_id, store_id),
                    change_id,
                    detail,
                )
            )
        return found

    def _change(self, row: Any) -> ConsentChange:
        return ConsentChange(
            id=row.id,
            customer_id=row.profile_id,
            purpose=row.purpose,
            channel=row.channel,
            state=row.state,
            at=row.at,
            source=_source(row),
            recorded_by=row.recorded_by,
            recorded_at=row.recorded_at,
            proof=self.cipher.reveal(row.proof) or {},
            note=self.cipher.reveal(row.note),
            detail=row.detail,
        )

    def history(self, customer_id: str, limit: int = 200) -> list[ConsentChange]:
        rows = self.conn.execute(
            sa.select(consent_changes)
            .where(
                sa.or_(
                    consent_changes.c.profile_id == customer_id,
                    consent_changes.c.profile_id.in_(self._members_of(customer_id)),
                )
            )
            .order_by(consent_changes.c.at.desc(), consent_changes.c.id.desc())
            .limit(limit)
        )
        return [self._change(r) for r in rows]

    def add_changes(self, changes: Sequence[ConsentChange]) -> None:
        for change in changes:
            assert change.customer_id is not None
            source = change.source
            common = {
                "state": change.state,
                "at": change.at,
                "source_channel": source.channel,
                "actor_kind": source.actor_kind,
                "actor_id": source.actor_id,
                "store_id": source.store_id,
                "method": source.method,
                "detail": change.detail,
            }
            self.conn.execute(
                consent_changes.insert().values(
                    id=change.id,
                    profile_id=change.customer_id,
                    purpose=change.purpose,
                    channel=change.channel,
                    proof=self.cipher.seal_if(True, change.proof),
                    note=self.cipher.seal_if(True, change.note),
                    recorded_by=change.recorded_by,
                    recorded_at=change.recorded_at,
                    **common,
                )
            )
            key = (
                (consents.c.profile_id == change.customer_id)
                & (consents.c.purpose == change.purpose)
                & (consents.c.channel == change.channel)
            )
            held = self.conn.execute(sa.select(consents.c.at).where(key)).scalar_one_or_none()
            values = {**common, "change_id": change.id, "updated_at": change.recorded_at}
            if held is None:
                self.conn.execute(
                    consents.insert().values(
                        profile_id=change.customer_id,
                        purpose=change.purpose,
                        channel=change.channel,
                        **values,
                    )
                )
            elif change.at >= held:
                self.conn.execute(consents.update().where(key).values(**values))

    def add_timeline(
        self, customer_id: str, name: str, channel: str, at: datetime, properties: dict[str, Any]
    ) -> None:
        events = SqlEventRepository(self.conn, self.cipher)
        (event_id,) = events.allocate_ids(1)
        ts = micros(at)
        events.insert_events(
            [
                {
                    "id": event_id,
                    "source_id": TIMELINE_SOURCE,
                    "message_id": properties["change_ids"][0],
                    "profile_id": customer_id,
                    "type": "track",
                    "event": name,
                    "name": None,
                    "channel": channel[:40],
                    "ts": ts,
                    "received_at": ts,
                    "user_id": None,
                    "anonymous_id": None,
                    "properties": properties,
                    "context": {"channel": channel},
                    "traits": None,
                }
            ]
        )

    def contact_email(self, customer_id: str) -> str | None:
        found = SqlProfileRepository(self.conn, self.cipher).identifiers_of(self._root(customer_id))
        return next((str(i["value"]) for i in found if i["kind"] == "email"), None)

    # -- preferences ------------------------------------------------------------------------

    def preferences(self, customer_id: str) -> Preferences:
        row = self.conn.execute(
            sa.select(consent_preferences)
            .where(
                sa.or_(
                    consent_preferences.c.profile_id == customer_id,
                    consent_preferences.c.profile_id.in_(self._members_of(customer_id)),
                )
            )
            .order_by(consent_preferences.c.updated_at.desc())
            .limit(1)
        ).first()
        return self._preferences(row)

    def preferences_many(self, members: Mapping[str, Collection[str]]) -> dict[str, Preferences]:
        """`preferences` of many canonical customers at once (`members` as in
        `current_many`)."""
        owner = {m: customer for customer, ids in members.items() for m in (customer, *ids)}
        stamps = select_in(
            self.conn,
            "SELECT profile_id, updated_at FROM consent_preferences WHERE profile_id IN ({marks})",
            sorted(owner),
        )
        found = dict.fromkeys(members, Preferences())
        if not stamps:
            return found
        at_of = _reader(self.conn, consent_preferences.c.updated_at)
        newest: dict[str, tuple[datetime, str]] = {}
        for profile_id, updated_at in stamps:
            customer, at = owner[profile_id], at_of(updated_at)
            held = newest.get(customer)
            if held is None or at > held[0]:
                newest[customer] = (at, profile_id)
        chosen = {profile_id: customer for customer, (_, profile_id) in newest.items()}
        for part in _chunks(sorted(chosen)):
            query = sa.select(consent_preferences).where(consent_preferences.c.profile_id.in_(part))
            for row in self.conn.execute(query):
                found[chosen[row.profile_id]] = self._preferences(row)
        return found

    def _preferences(self, row: Any) -> Preferences:
        if row is None:
            return Preferences()
        start, end = _time(row.quiet_start), _time(row.quiet_end)
        return Preferences(
            channel_order=tuple(row.channel_order),
            language=row.language,
            time_zone=row.time_zone,
            quiet_hours=(start, end) if start is not None and end is not None else None,
            max_per_day=row.max_per_day,
            max_per_week=row.max_per_week,
            channel_limits=tuple(
                ChannelLimit(c["channel"], c.get("max_per_day"), c.get("max_per_week"))
                for c in row.channel_limits
            ),
            updated_at=row.updated_at,
        )

    def set_preferences(
        self, customer_id: str, preferences: Preferences, now: datetime, by: str
    ) -> None:
        window = preferences.quiet_hours
        values = {
            "channel_order": list(preferences.channel_order),
            "language": preferences.language,
            "time_zone": preferences.time_zone,
            "quiet_start": f"{window[0]:%H:%M}" if window else None,
            "quiet_end": f"{window[1]:%H:%M}" if window else None,
            "max_per_day": preferences.max_per_day,
            "max_per_week": preferences.max_per_week,
            "channel_limits": [
                {"channel": c.channel, "max_per_day": c.max_per_day, "max_per_week": c.max_per_week}
                for c in preferences.channel_limits
            ],
            "updated_at": now,
            "updated_by": by,
        }
        updated = self.conn.execute(
            consent_preferences.update()
            .where(consent_preferences.c.profile_id == customer_id)
            .values(**values)
        )
        if not updated.rowcount:
            self.conn.execute(consent_preferences.insert().values(profile_id=customer_id, **values))

    # -- suppressions -----------------------------------------------------------------------

    def blind(self, kind: str, value: str) -> str:
        return self.cipher.blind(kind, value)

    def _suppression(self, row: Any) -> Suppression:
        return Suppression(
            id=row.id,
            kind=row.kind,
            value_hash=row.value_hash,
            reason=row.reason,
            channel=row.channel,
            created_at=row.created_at,
            created_by=row.created_by,
            note=self.cipher.reveal(row.note),
        )

    def suppressions_of(self, hashed: Collection[tuple[str, str]]) -> list[Suppression]:
        if not hashed:
            return []
        rows = self.conn.execute(
            sa.select(consent_suppressions)
            .where(consent_suppressions.c.value_hash.in_(sorted({h for _, h in hashed})))
            .order_by(consent_suppressions.c.created_at, consent_suppressions.c.id)
        )
        wanted = set(hashed)
        return [self._suppression(r) for r in rows if (r.kind, r.value_hash) in wanted]

    def hashes_of(self, identifiers: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        return {(kind, self.cipher.blind(kind, value)) for kind, value in identifiers}

    def suppressions(self, customer_id: str) -> list[Suppression]:
        found = SqlProfileRepository(self.conn, self.cipher).identifiers_of(self._root(customer_id))
        return self.suppressions_of(self.hashes_of((i["kind"], i["value"]) for i in found))

    def suppressions_many(
        self, identifiers: Mapping[str, Iterable[tuple[str, str]]]
    ) -> dict[str, list[Suppression]]:
        """`suppressions` of many canonical customers at once, given the (kind, value) of the
        identifiers each holds."""
        return self.suppressions_hashed(
            {customer: self.hashes_of(held) for customer, held in identifiers.items()}
        )

    def suppressions_hashed(
        self, wanted: Mapping[str, Collection[tuple[str, str]]]
    ) -> dict[str, list[Suppression]]:
        """`suppressions_many` given the (kind, look-up hash) of each customer's identifiers
        (as the identifiers table holds them) instead of their values."""
        found: dict[str, list[Suppression]] = {customer: [] for customer in wanted}
        hits = select_in(
            self.conn,
            "SELECT id, kind, value_hash FROM consent_suppressions WHERE value_hash IN ({marks})",
            sorted({hashed for pairs in wanted.values() for _, hashed in pairs}),
        )
        if not hits:
            return found
        ids = sorted(row[0] for row in hits)
        rows = [
            self._suppression(r)
            for part in _chunks(ids)
            for r in self.conn.execute(
                sa.select(consent_suppressions).where(consent_suppressions.c.id.in_(part))
            )
        ]
        rows.sort(key=lambda s: (s.created_at, s.id))
        for customer, pairs in wanted.items():
            held = pairs if isinstance(pairs, set | frozenset) else set(pairs)
            found[customer] = [s for s in rows if (s.kind, s.value_hash) in held]
        return found

    def add_suppression(self, suppression: Suppression) -> None:
        self.conn.execute(
            consent_suppressions.insert().values(
                id=suppression.id,
                kind=suppression.kind,
                value_hash=suppression.value_hash,
                reason=suppression.reason,
                channel=suppression.channel,
                note=self.cipher.seal_if(True, suppression.note),
                created_by=suppression.created_by,
                created_at=suppression.created_at,
            )
        )

    def get_suppression(self, suppression_id: str) -> Suppression | None:
        row = self.conn.execute(
            sa.select(consent_suppressions).where(consent_suppressions.c.id == suppression_id)
        ).first()
        return self._suppression(row) if row else None

    def remove_suppression(self, suppression_id: str) -> None:
        self.conn.execute(
            consent_suppressions.delete().where(consent_suppressions.c.id == suppression_id)
        )

    def list_suppressions(
        self,
        *,
        kind: str | None = None,
        value_hash: str | None = None,
        reason: str | None = None,
        limit: int = 100,
    ) -> list[Suppression]:
        query = sa.select(consent_suppressions)
        if kind is not None:
            query = query.where(consent_suppressions.c.kind == kind)
        if value_hash is not None:
            query = query.where(consent_suppressions.c.value_hash == value_hash)
        if reason is not None:
            query = query.where(consent_suppressions.c.reason == reason)
        rows = self.conn.execute(
            query.order_by(
                consent_suppressions.c.created_at.desc(), consent_suppressions.c.id.desc()
            ).limit(limit)
        )
        return [self._suppression(r) for r in rows]

    # -- double opt-in ----------------------------------------------------------------------

    def _confirmation(self, row: Any) -> Confirmation:
        return Confirmation(
            id=row.id,
            customer_id=row.profile_id,
            purpose=row.purpose,
            channel=row.channel,
            email=self.cipher.reveal(row.email),
            source=_source(row),
            proof=self.cipher.reveal(row.proof) or {},
            recorded_by=row.recorded_by,
            created_at=row.created_at,
            expires_at=row.expires_at,
            confirmed_at=row.confirmed_at,
            change_id=row.change_id,
            sent_at=row.sent_at,
        )

    def add_confirmation(self, confirmation: Confirmation) -> None:
        source = confirmation.source
        self.conn.execute(
            consent_confirmations.insert().values(
                id=confirmation.id,
                profile_id=confirmation.customer_id,
                purpose=confirmation.purpose,
                channel=confirmation.channel,
                email=self.cipher.seal_if(True, confirmation.email),
                email_hash=self.cipher.blind("email", confirmation.email),
                source_channel=source.channel,
                actor_kind=source.actor_kind,
                actor_id=source.actor_id,
                store_id=source.store_id,
                method=source.method,
                proof=self.cipher.seal_if(True, confirmation.proof),
                recorded_by=confirmation.recorded_by,
                created_at=confirmation.created_at,
                expires_at=confirmation.expires_at,
            )
        )

    def confirmation(self, confirmation_id: str, *, lock: bool = False) -> Confirmation | None:
        query = sa.select(consent_confirmations).where(
            consent_confirmations.c.id == confirmation_id
        )
        if lock and self.conn.dialect.name == "postgresql":
            query = query.with_for_update()
        row = self.conn.execute(query).first()
        return self._confirmation(row) if row else None

    def pending(self, customer_id: str, now: datetime) -> list[Confirmation]:
        rows = self.conn.execute(
            sa.select(consent_confirmations)
            .where(
                sa.or_(
                    consent_confirmations.c.profile_id == customer_id,
                    consent_confirmations.c.profile_id.in_(self._members_of(customer_id)),
                ),
                consent_confirmations.c.confirmed_at.is_(None),
                consent_confirmations.c.expires_at > now,
            )
            .order_by(consent_confirmations.c.created_at)
        )
        return [self._confirmation(r) for r in rows]

    def mark_confirmed(self, confirmation_id: str, change_id: str, now: datetime) -> None:
        self.conn.execute(
            consent_confirmations.update()
            .where(consent_confirmations.c.id == confirmation_id)
            .values(confirmed_at=now, change_id=change_id)
        )

    def mark_sent(self, confirmation_id: str, now: datetime) -> None:
        self.conn.execute(
            consent_confirmations.update()
            .where(consent_confirmations.c.id == confirmation_id)
            .values(sent_at=now)
        )

    # -- privacy ----------------------------------------------------------------------------

    def customer_rows(
        self, profile_ids: Sequence[str], hashed: Collection[tuple[str, str]]
    ) -> dict[str, list[dict[str, Any]]]:
        """Every row about the person, as stored; suppressions of their identifiers too."""
        found: dict[str, list[dict[str, Any]]] = {}
        for table in CUSTOMER_TABLES:
            rows = self.conn.execute(
                sa.select(table).where(table.c.profile_id.in_(list(profile_ids)))
            )
            found[str(table.name)] = [dict(r._mapping) for r in rows]
        found["consent_suppressions"] = [
            {
                "id": s.id,
                "kind": s.kind,
                "reason": s.reason,
                "channel": s.channel,
                "note": s.note,
                "created_at": s.created_at,
            }
            for s in self.suppressions_of(hashed)
        ]
        return found

    def erase_customer(self, profile_ids: Sequence[str], request_id: str) -> dict[str, int]:
        """Current consents, preferences and confirmations go; the history stays as the
        proof of what was agreed, under the erasure request, with who said it and where
        (address, device, message, notes) removed."""
        ids = list(profile_ids)
        counts: dict[str, int] = {}
        rows = self.conn.execute(
            sa.select(
                consent_changes.c.id, consent_changes.c.proof, consent_changes.c.actor_kind
            ).where(consent_changes.c.profile_id.in_(ids))
        ).all()
        for row in rows:
            proof = self.cipher.reveal(row.proof) or {}
            kept = {k: v for k, v in proof.items() if k in KEPT_PROOF}
            values: dict[str, Any] = {
                "profile_id": None,
                "erasure_request_id": request_id,
                "proof": self.cipher.seal_if(True, kept),
                "note": None,
            }
            if row.actor_kind == "customer":
                values["actor_id"] = None
            self.conn.execute(
                consent_changes.update().where(consent_changes.c.id == row.id).values(**values)
            )
        counts["consent_changes"] = len(rows)
        for table in (consents, consent_preferences, consent_confirmations):
            result = self.conn.execute(table.delete().where(table.c.profile_id.in_(ids)))
            counts[str(table.name)] = int(result.rowcount or 0)
        return counts

    def forget_suppression_notes(self, hashed: Collection[tuple[str, str]]) -> int:
        """The suppressions of the person's identifiers stay (kind, hash, reason, channel),
        their free-text notes go: how many notes were removed."""
        ids = [s.id for s in self.suppressions_of(hashed) if s.note is not None]
        if ids:
            self.conn.execute(
                consent_suppressions.update()
                .where(consent_suppressions.c.id.in_(ids))
                .values(note=None)
            )
        return len(ids)
