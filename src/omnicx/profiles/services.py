"""Verb-named profile services; each takes a repository bound to a unit of work."""

import contextlib
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from omnicx.kernel import Event, Invalid, NotFound
from omnicx.profiles.identifiers import normalize
from omnicx.profiles.messages import ProfileUnmerged, TraitsChanged
from omnicx.profiles.model import Identifier, Merge, Profile, TraitValue
from omnicx.profiles.ports import ProfileRepository
from omnicx.profiles.writer import display_name


def find_profile(repo: ProfileRepository, profile_id: str) -> Profile:
    profile = repo.get(profile_id)
    if profile is None:
        raise NotFound("customer_not_found", f"no customer {profile_id}", "id")
    return profile


def lookup_profile(
    repo: ProfileRepository, kind: str, raw: str, region: str, kinds: tuple[str, ...]
) -> Profile:
    if kind not in kinds:
        raise Invalid("unknown_identifier_kind", f"kind must be one of: {', '.join(kinds)}", "kind")
    try:
        identifier = normalize(kind, raw, region)
    except Invalid as error:
        raise Invalid(error.code, error.message, "value") from error
    owner = repo.owners([identifier]).get(identifier)
    if owner is None:
        raise NotFound("customer_not_found", f"no customer with {identifier}", "value")
    return find_profile(repo, owner)


def search_profiles(repo: ProfileRepository, q: str, region: str, limit: int) -> list[Profile]:
    text = q.strip()
    if not text:
        return []
    found: list[Identifier] = []
    for kind in ("email", "phone"):
        with contextlib.suppress(Invalid):
            found.append(normalize(kind, text, region))
    return repo.search(text, found, limit)


def subtree(members: Mapping[str, str | None], top: str) -> set[str]:
    """`top` and every profile whose merge chain reaches it."""
    children: dict[str, list[str]] = {}
    for pid, parent in members.items():
        if parent is not None:
            children.setdefault(parent, []).append(pid)
    result, stack = set(), [top]
    while stack:
        pid = stack.pop()
        result.add(pid)
        stack.extend(children.get(pid, ()))
    return result


def traits_from_history(history: list[dict[str, Any]]) -> dict[str, TraitValue]:
    """Recompute current traits: per key, the value of the latest event time."""
    current: dict[str, TraitValue] = {}
    for row in history:  # ordered by ts, id
        old = current.get(row["key"])
        if old is None or row["ts"] >= old.ts:
            current[row["key"]] = TraitValue(
                row["value"], row["ts"], row["channel"], row["source_id"], row["event_id"]
            )
    return current


def undo_merge(
    repo: ProfileRepository,
    merge_id: str,
    *,
    actor: str,
    now: datetime,
    raise_event: Callable[[Event], None],
) -> Merge:
    """Split a merge: the loser and everything that came with it become a profile again.

    Identifiers and trait history return by the profile they first joined; events are kept
    against the profile they were written to, so they follow without being moved. The two
    profiles are separated so that the same identifiers do not merge them again by themselves.
    """
    merge = repo.get_merge(merge_id)
    if merge is None:
        raise NotFound("merge_not_found", f"no merge {merge_id}", "merge_id")
    if merge.undone_at is not None:
        raise Invalid("merge_already_undone", f"merge {merge_id} was undone already", "merge_id")
    loser = find_profile(repo, merge.loser_id)
    root = loser.canonical_id
    members = repo.members(root)
    moved = subtree(members, merge.loser_id)
    before = repo.traits_of(root)
    repo.detach(merge, moved, now, actor)
    kept = set(members) - moved
    for new_root, group in ((root, kept), (merge.loser_id, moved)):
        rebuilt = traits_from_history(repo.trait_history(group))
        repo.replace_traits(new_root, rebuilt)
        changes = {
            key: {
                "old": before[key].value if key in before else None,
                "new": t.value,
                "channel": t.channel,
            }
            for key, t in rebuilt.items()
            if key not in before or before[key].value != t.value
        }
        changes.update(
            {
                key: {"old": before[key].value, "new": None, "channel": None}
                for key in before
                if key not in rebuilt
            }
        )
        if changes:
            raise_event(TraitsChanged(new_root, changes))
        values = {k: t.value for k, t in rebuilt.items()}
        repo.update_display(
            [_display_row(values, repo.identifiers_of(new_root), new_root, now)], replace=True
        )
    raise_event(ProfileUnmerged(merge.id, root, merge.loser_id))
    return merge


def _display_row(
    values: Mapping[str, Any], idents: list[dict[str, Any]], pid: str, now: datetime
) -> dict[str, Any]:
    def first(kind: str) -> str | None:
        trait = values.get(kind)
        if isinstance(trait, str) and trait.strip():
            return trait.strip()
        return next((i["value"] for i in idents if i["kind"] == kind), None)

    return {
        "id": pid,
        "display_name": display_name(values),
        "email": first("email"),
        "phone": first("phone"),
        "updated_at": now,
    }
