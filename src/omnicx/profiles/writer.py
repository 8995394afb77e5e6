"""Resolving many events' identities in one transaction, with the facts cached between them.

The ingest worker hands a chunk of events to one `ProfileWriter`: it looks identifiers up in
bulk, decides each event with `identity.resolve`, buffers the rows it creates and writes them
in a few statements at `flush()`. A merge flushes first, so the store's bulk updates see every
row. Domain events (created, merged, traits changed) are raised on the unit of work.
"""

from collections.abc import Callable, Collection, Mapping
from datetime import datetime
from typing import Any

from omnicx.kernel import Event, Invalid, new_id
from omnicx.profiles.identifiers import normalize
from omnicx.profiles.identity import IdentityFacts, Resolution, resolve
from omnicx.profiles.messages import ProfileCreated, ProfilesMerged, TraitsChanged
from omnicx.profiles.model import Identifier, IdentityRules, TraitValue
from omnicx.profiles.ports import ProfileRepository

NAME_KEYS = ("name", "firstName", "first_name", "lastName", "last_name")


class ProfileWriter:
    def __init__(
        self,
        repo: ProfileRepository,
        rules: IdentityRules,
        now: datetime,
        raise_event: Callable[[Event], None],
    ) -> None:
        self.repo = repo
        self.rules = rules
        self.now = now
        self._raise = raise_event
        self._owners: dict[Identifier, str | None] = {}
        self._limited: dict[str, dict[str, set[str]]] = {}
        self._traits: dict[str, dict[str, TraitValue]] = {}
        self._separated: set[frozenset[str]] = set()
        self._loaded: set[str] = set()
        self._new_profiles: list[dict[str, Any]] = []
        self._new_identifiers: list[dict[str, Any]] = []
        self._conflicts: list[dict[str, Any]] = []
        self._history: list[dict[str, Any]] = []
        self._dirty_traits: dict[str, set[str]] = {}
        self._changes: dict[str, dict[str, dict[str, Any]]] = {}
        self._contacts: dict[str, dict[str, str]] = {}

    # -- facts ---------------------------------------------------------------------------

    def prefetch(self, wanted: Collection[Identifier]) -> None:
        missing = [i for i in wanted if i not in self._owners]
        if not missing:
            return
        found = self.repo.owners(missing)
        for identifier in missing:
            self._owners[identifier] = found.get(identifier)
        self._load({p for p in found.values() if p not in self._loaded})

    def _load(self, profile_ids: set[str]) -> None:
        if not profile_ids:
            return
        limited = self.repo.limited_values(profile_ids, self.rules.limited_kinds)
        loaded_traits = self.repo.current_traits(profile_ids)
        for pid in profile_ids:
            self._limited[pid] = limited.get(pid, {})
            self._traits[pid] = loaded_traits.get(pid, {})
        self._separated |= self.repo.separations(profile_ids)
        self._loaded |= profile_ids

    def knows(self, identifier: Identifier) -> bool:
        self.prefetch([identifier])
        return self._owners.get(identifier) is not None

    # -- resolution ----------------------------------------------------------------------

    def resolve(
        self,
        observed: Collection[Identifier],
        *,
        event_id: int | None,
        channel: str,
        source_id: str | None,
    ) -> str | None:
        """The live profile the event belongs to (created or merged as needed)."""
        self.prefetch(observed)
        owners = {i: p for i in observed if (p := self._owners.get(i)) is not None}
        decision = resolve(
            observed,
            IdentityFacts(owners=owners, limited_values=self._limited, separated=self._separated),
            self.rules,
        )
        return self._apply(decision, event_id=event_id, channel=channel, source_id=source_id)

    def _apply(
        self, decision: Resolution, *, event_id: int | None, channel: str, source_id: str | None
    ) -> str | None:
        target = decision.target
        for merge in decision.merges:
            self._merge(merge.survivor_id, merge.loser_id, merge.identifier, merge.other, event_id)
        if decision.creates_profile:
            target = new_id()
            self._new_profiles.append(
                {
                    "id": target,
                    "canonical_id": target,
                    "merged_into": None,
                    "created_at": self.now,
                    "updated_at": self.now,
                }
            )
            self._loaded.add(target)
            self._limited[target] = {}
            self._traits[target] = {}
            self._raise(
                ProfileCreated(target, tuple((i.kind, i.value) for i in decision.attach), channel)
            )
        if target is None:
            return None
        for identifier in decision.attach:
            self._owners[identifier] = target
            if identifier.kind in self.rules.limits:
                self._limited[target].setdefault(identifier.kind, set()).add(identifier.value)
            if identifier.kind in ("email", "phone"):
                self._contacts.setdefault(target, {}).setdefault(identifier.kind, identifier.value)
            self._new_identifiers.append(
                {
                    "kind": identifier.kind,
                    "value": identifier.value,
                    "profile_id": target,
                    "origin_profile_id": target,
                    "source_id": source_id,
                    "channel": channel,
                    "event_id": event_id,
                    "created_at": self.now,
                }
            )
        for conflict in decision.conflicts:
            self._conflicts.append(
                {
                    "id": new_id(),
                    "profile_id": conflict.profile_id or target,
                    "other_profile_id": conflict.other_profile_id,
                    "kind": conflict.identifier.kind,
                    "value": conflict.identifier.value,
                    "rule": conflict.rule,
                    "detail": conflict.detail,
                    "event_id": event_id,
                    "created_at": self.now,
                }
            )
        return target

    def _merge(
        self,
        survivor: str,
        loser: str,
        identifier: Identifier,
        other: Identifier,
        event_id: int | None,
    ) -> None:
        self.flush()
        merge_id = new_id()
        self.repo.merge(
            {
                "id": merge_id,
                "survivor_id": survivor,
                "loser_id": loser,
                "kind": identifier.kind,
                "value": identifier.value,
                "event_id": event_id,
                "reason": f"one event carried {identifier} and {other}, known on two profiles",
                "created_at": self.now,
                "undone_at": None,
                "undone_by": None,
            }
        )
        for identifier_, owner in self._owners.items():
            if owner == loser:
                self._owners[identifier_] = survivor
        for kind, values in self._limited.pop(loser, {}).items():
            self._limited.setdefault(survivor, {}).setdefault(kind, set()).update(values)
        theirs = self._traits.pop(loser, {})
        mine = self._traits.setdefault(survivor, {})
        for key, value in theirs.items():
            if key not in mine or value.ts > mine[key].ts:
                self._record_change(survivor, key, mine.get(key), value)
                mine[key] = value
                self._dirty_traits.setdefault(survivor, set()).add(key)
        self._separated = {
            frozenset(survivor if p == loser else p for p in pair) for pair in self._separated
        }
        self._separated = {pair for pair in self._separated if len(pair) == 2}
        self._loaded.discard(loser)
        self._raise(
            ProfilesMerged(merge_id, survivor, loser, identifier.kind, identifier.value, event_id)
        )

    # -- traits --------------------------------------------------------------------------

    def set_traits(
        self,
        profile_id: str,
        values: Mapping[str, Any],
        *,
        ts: int,
        channel: str,
        source_id: str | None,
        event_id: int | None,
    ) -> None:
        """Last write wins by event time; every change of value is kept in the history."""
        current = self._traits.setdefault(profile_id, {})
        for key, value in values.items():
            old = current.get(key)
            if old is not None and old.value == value and old.ts >= ts:
                continue
            if old is None or old.value != value:
                self._history.append(
                    {
                        "profile_id": profile_id,
                        "key": key,
                        "value": value,
                        "ts": ts,
                        "channel": channel,
                        "source_id": source_id,
                        "event_id": event_id,
                        "created_at": self.now,
                    }
                )
            if old is not None and old.ts > ts:
                continue  # an older write: history only
            new = TraitValue(value, ts, channel, source_id, event_id)
            if old is None or old.value != value:
                self._record_change(profile_id, key, old, new)
            current[key] = new
            self._dirty_traits.setdefault(profile_id, set()).add(key)

    def _record_change(
        self, profile_id: str, key: str, old: TraitValue | None, new: TraitValue
    ) -> None:
        changes = self._changes.setdefault(profile_id, {})
        first_old = changes[key]["old"] if key in changes else (old.value if old else None)
        changes[key] = {"old": first_old, "new": new.value, "channel": new.channel}

    # -- writing -------------------------------------------------------------------------

    def flush(self) -> None:
        repo = self.repo
        repo.insert_profiles(self._new_profiles)
        repo.insert_identifiers(self._new_identifiers)
        repo.insert_conflicts(self._conflicts)
        repo.insert_trait_history(self._history)
        trait_rows = []
        for pid, keys in self._dirty_traits.items():
            values = self._traits.get(pid, {})
            for key in keys:
                t = values[key]
                trait_rows.append(
                    {
                        "profile_id": pid,
                        "key": key,
                        "value": t.value,
                        "ts": t.ts,
                        "channel": t.channel,
                        "source_id": t.source_id,
                        "event_id": t.event_id,
                    }
                )
        repo.upsert_traits(trait_rows)
        touched = set(self._dirty_traits) | set(self._contacts)
        repo.update_display([self._display(pid) for pid in sorted(touched)])
        for pid, changes in self._changes.items():
            if changes:
                self._raise(TraitsChanged(pid, changes))
        self._new_profiles, self._new_identifiers, self._conflicts, self._history = [], [], [], []
        self._dirty_traits, self._changes, self._contacts = {}, {}, {}

    def _display(self, profile_id: str) -> dict[str, Any]:
        values = {k: t.value for k, t in self._traits.get(profile_id, {}).items()}
        contacts = self._contacts.get(profile_id, {})
        return {
            "id": profile_id,
            "display_name": display_name(values),
            "email": self._valid("email", values.get("email")) or contacts.get("email"),
            "phone": self._valid("phone", values.get("phone")) or contacts.get("phone"),
            "updated_at": self.now,
        }

    def _valid(self, kind: str, value: Any) -> str | None:
        try:
            return normalize(kind, value, self.rules.region).value if value else None
        except Invalid:
            return None


def display_name(values: Mapping[str, Any]) -> str | None:
    name = _text(values.get("name"))
    if name:
        return name[:200]
    first = _text(values.get("firstName")) or _text(values.get("first_name"))
    last = _text(values.get("lastName")) or _text(values.get("last_name"))
    joined = " ".join(part for part in (first, last) if part)
    return joined[:200] or None


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None
