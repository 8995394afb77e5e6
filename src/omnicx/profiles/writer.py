"""Resolving many events' identities in one transaction, with the facts cached between them.

The ingest worker hands a chunk of events to one `ProfileWriter`: it looks identifiers up in
bulk, decides each event with `identity.resolve`, and buffers every row it creates. Merges are
applied in memory at once (a redirect map sends a merged profile to its survivor) and written
at `flush()` in a few batched statements, after the rows created in the chunk, so the bulk
updates see every row. Domain events (created, merged, traits changed) are raised on the
unit of work.
"""

from collections.abc import Callable, Collection, Mapping
from datetime import datetime
from typing import Any

from omnicx.kernel import Event, new_id
from omnicx.profiles.identity import IdentityFacts, Resolution, resolve
from omnicx.profiles.messages import ProfileCreated, ProfilesMerged, TraitsChanged
from omnicx.profiles.model import Identifier, IdentityRules, TraitValue
from omnicx.profiles.ports import ProfileRepository

_UNKNOWN = "\0unknown"
"""Marks an identifier not looked up yet (None means looked up and unknown)."""

NAME_KEYS = frozenset({"name", "firstName", "first_name", "lastName", "last_name"})
SHOWN_NAME = "channel_name"
"""`source_id` of a name taken from what the customer shows on a channel: any other write of
the trait replaces it, whatever its time (an import of older data included)."""


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
        self._redirect: dict[str, str] = {}
        self._limited: dict[str, dict[str, set[str]]] = {}
        self._traits: dict[str, dict[str, TraitValue]] = {}
        self._separated: set[frozenset[str]] = set()
        self._loaded: set[str] = set()
        self._not_blocked: set[Identifier] = set()
        self._new_profiles: dict[str, dict[str, Any]] = {}
        self._new_identifiers: list[dict[str, Any]] = []
        self._merges: list[dict[str, Any]] = []
        self._conflicts: list[dict[str, Any]] = []
        self._history: list[dict[str, Any]] = []
        self._dirty_traits: dict[str, set[str]] = {}
        self._changes: dict[str, dict[str, dict[str, Any]]] = {}
        self._contacts: dict[str, dict[str, str]] = {}

    # -- facts ---------------------------------------------------------------------------

    def canon(self, profile_id: str) -> str:
        """The live profile a (possibly merged in this chunk) profile id now stands for."""
        redirect = self._redirect
        if profile_id not in redirect:
            return profile_id
        root = profile_id
        while root in redirect:
            root = redirect[root]
        while profile_id != root:
            redirect[profile_id], profile_id = root, redirect[profile_id]
        return root

    def prefetch(self, wanted: Collection[Identifier]) -> None:
        missing = [i for i in wanted if i not in self._owners]
        if not missing:
            return
        found = self.repo.owners(missing)
        owners = self._owners
        fresh: set[str] = set()
        for identifier in missing:
            owner = found.get(identifier)
            if owner is not None:
                owner = self.canon(owner)
                if owner not in self._loaded:
                    fresh.add(owner)
            owners[identifier] = owner
        self._load(fresh)

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

    def _allowed(self, observed: Collection[Identifier]) -> bool:
        """No identifier is blocked (each one is checked once per chunk)."""
        checked = self._not_blocked
        for identifier in observed:
            if identifier not in checked:
                if self.rules.is_blocked(identifier):
                    return False
                checked.add(identifier)
        return True

    def created(self, profile_id: str) -> bool:
        """Whether this writer created the profile (it has no history yet)."""
        return profile_id in self._new_profiles

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
        known = self._owners
        redirect = self._redirect
        # The common case first: every identifier already belongs to the same profile.
        target: str | None = None
        for identifier in observed:
            owner = known.get(identifier, _UNKNOWN)
            if owner is _UNKNOWN:
                self.prefetch(observed)
                owner = known[identifier]
            if owner is None:
                target = None
                break
            if owner in redirect:
                owner = self.canon(owner)
            if target is None:
                target = owner
            elif owner != target:
                target = None
                break
        if target is not None and self._allowed(observed):
            return target
        owners: dict[Identifier, str] = {}
        for identifier in observed:
            owner = known[identifier]
            if owner is not None:
                owners[identifier] = self.canon(owner) if owner in redirect else owner
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
            self._new_profiles[target] = {
                "id": target,
                "canonical_id": target,
                "merged_into": None,
                "created_at": self.now,
                "updated_at": self.now,
            }
            self._loaded.add(target)
            self._limited[target] = {}
            self._traits[target] = {}
            self._raise(
                ProfileCreated(target, tuple((i.kind, i.value) for i in decision.attach), channel)
            )
        if target is None:
            return None
        limits = self.rules.limits
        for identifier in decision.attach:
            self._owners[identifier] = target
            if identifier.kind in limits:
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
        merge_id = new_id()
        self._merges.append(
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
        self._redirect[loser] = survivor
        for kind, values in self._limited.pop(loser, {}).items():
            self._limited.setdefault(survivor, {}).setdefault(kind, set()).update(values)
        theirs = self._traits.pop(loser, {})
        mine = self._traits.setdefault(survivor, {})
        for key, value in theirs.items():
            if key not in mine or value.ts > mine[key].ts:
                self._record_change(survivor, key, mine.get(key), value)
                mine[key] = value
                self._dirty_traits.setdefault(survivor, set()).add(key)
        self._dirty_traits.pop(loser, None)
        contacts = self._contacts.pop(loser, {})
        for kind, contact in contacts.items():
            self._contacts.setdefault(survivor, {}).setdefault(kind, contact)
        if any(loser in pair for pair in self._separated):
            self._separated = {
                pair
                for pair in (frozenset(self.canon(p) for p in pair) for pair in self._separated)
                if len(pair) == 2
            }
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
        contacts: Mapping[str, str] | None = None,
    ) -> None:
        """Last write wins by event time; every change of value is kept in the history.

        `contacts`: the event's email and phone as normalised identifiers, shown on the
        profile when the traits that carried them win.
        """
        current = self._traits.setdefault(profile_id, {})
        dirty = self._dirty_traits.setdefault(profile_id, set())
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
            if old is not None and old.ts > ts and old.source_id != SHOWN_NAME:
                continue  # an older write: history only
            new = TraitValue(value, ts, channel, source_id, event_id)
            if old is None or old.value != value:
                self._record_change(profile_id, key, old, new)
                if contacts and key in contacts:
                    self._contacts.setdefault(profile_id, {})[key] = contacts[key]
            current[key] = new
            dirty.add(key)

    def name_if_unnamed(
        self, profile_id: str, name: str | None, *, ts: int, channel: str, event_id: int | None
    ) -> bool:
        """The name a customer shows on a channel (a WhatsApp or Telegram profile name, an
        email's display name) becomes their `name` trait when they have no name yet; a name
        already known, from the shop's own data or an earlier message, is never replaced, and
        the shop's own data replaces it later, even when dated before it (`SHOWN_NAME`).
        Whether it was taken."""
        name = " ".join((name or "").split())[:200]
        if not name:
            return False
        self._load({profile_id} - self._loaded)
        known = self._traits.get(profile_id, {})
        if any(_text(known[k].value) for k in NAME_KEYS if k in known):
            return False
        self.set_traits(
            profile_id,
            {"name": name},
            ts=ts,
            channel=channel,
            source_id=SHOWN_NAME,
            event_id=event_id,
        )
        return True

    def _record_change(
        self, profile_id: str, key: str, old: TraitValue | None, new: TraitValue
    ) -> None:
        changes = self._changes.setdefault(profile_id, {})
        first_old = changes[key]["old"] if key in changes else (old.value if old else None)
        changes[key] = {"old": first_old, "new": new.value, "channel": new.channel}

    # -- writing -------------------------------------------------------------------------

    def flush(self) -> None:
        repo = self.repo
        canon = self.canon
        # New rows go in as first written; the merges, applied in order, then move them.
        repo.insert_profiles(list(self._new_profiles.values()))
        for row in self._new_identifiers:
            row["profile_id"] = canon(row["profile_id"])
        repo.insert_identifiers(self._new_identifiers)
        repo.apply_merges(self._merges)
        for row in self._conflicts:
            row["profile_id"] = canon(row["profile_id"])
            if row["other_profile_id"] is not None:
                row["other_profile_id"] = canon(row["other_profile_id"])
        repo.insert_conflicts(self._conflicts)
        repo.insert_trait_history(self._history)
        trait_rows = []
        touched: set[str] = set()
        for pid, keys in self._dirty_traits.items():
            if not keys or pid in self._redirect:
                continue
            touched.add(pid)
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
        touched |= {pid for pid in self._contacts if pid not in self._redirect}
        repo.update_display([self._display(pid) for pid in sorted(touched)])
        for pid, changes in self._changes.items():
            if changes and pid not in self._redirect:
                self._raise(TraitsChanged(pid, changes))
        self._new_profiles, self._new_identifiers, self._merges = {}, [], []
        self._conflicts, self._history = [], []
        self._dirty_traits, self._changes, self._contacts = {}, {}, {}

    def _display(self, profile_id: str) -> dict[str, Any]:
        keys = self._dirty_traits.get(profile_id, set())
        contacts = self._contacts.get(profile_id, {})
        name = None
        if keys & NAME_KEYS:
            name = display_name({k: t.value for k, t in self._traits.get(profile_id, {}).items()})
        return {
            "id": profile_id,
            "display_name": name,
            "email": contacts.get("email"),
            "phone": contacts.get("phone"),
            "updated_at": self.now,
        }


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
