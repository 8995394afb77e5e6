"""Deterministic identity resolution: facts in, a decision out, no I/O.

Identifiers are taken strongest first (the rules' priority). Unknown ones join the cluster
being built; a known one brings its profile in, merging it with the cluster unless a rule
forbids it:

- a blocked value (a shop's shared email, "null", "anonymous") is never linked;
- per-kind limits (by default at most one `user_id` per profile) cap what a cluster may hold;
- two profiles separated by an undone merge are never merged again automatically.

A refused link is recorded as a conflict and that identifier is left out, so the event still
lands on the strongest profile it can (Segment's "drop the lowest-priority identifier" rule).
"""

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from omnicx.profiles.model import Identifier, IdentityRules

ProfileId = str


@dataclass(frozen=True)
class MergeDecision:
    survivor_id: ProfileId
    loser_id: ProfileId
    identifier: Identifier
    """The strongest identifier of the cluster the other profile was linked to."""
    other: Identifier
    """The identifier that belonged to the other profile."""


@dataclass(frozen=True)
class ConflictDecision:
    profile_id: ProfileId | None
    """None: the profile the resolution creates."""
    other_profile_id: ProfileId | None
    identifier: Identifier
    rule: str
    detail: str


@dataclass(frozen=True)
class Resolution:
    target: ProfileId | None
    """The profile the event belongs to; None with `attach` non-empty: create one."""
    attach: tuple[Identifier, ...]
    merges: tuple[MergeDecision, ...] = ()
    conflicts: tuple[ConflictDecision, ...] = ()
    ignored: tuple[Identifier, ...] = ()

    @property
    def creates_profile(self) -> bool:
        return self.target is None and bool(self.attach)


@dataclass
class IdentityFacts:
    """What the store knows about the identifiers of one event."""

    owners: Mapping[Identifier, ProfileId]
    limited_values: Mapping[ProfileId, Mapping[str, Collection[str]]] = field(default_factory=dict)
    separated: Collection[frozenset[ProfileId]] = ()


def resolve(
    observed: Collection[Identifier], facts: IdentityFacts, rules: IdentityRules
) -> Resolution:
    ordered = sorted(dict.fromkeys(observed), key=lambda i: rules.priority(i.kind))
    target: ProfileId | None = None
    anchor: Identifier | None = None
    absorbed: set[ProfileId] = set()
    attach: list[Identifier] = []
    merges: list[MergeDecision] = []
    conflicts: list[ConflictDecision] = []
    ignored: list[Identifier] = []
    held: dict[str, set[str]] = {kind: set() for kind in rules.limited_kinds}

    for identifier in ordered:
        if rules.is_blocked(identifier):
            ignored.append(identifier)
            continue
        owner = facts.owners.get(identifier)
        if owner is None:
            broken = _breaks_limit(held, {identifier.kind: {identifier.value}}, rules)
            if broken:
                conflicts.append(
                    ConflictDecision(
                        target,
                        None,
                        identifier,
                        f"limit:{broken}",
                        f"a profile may hold at most {rules.limits[broken]} {broken}; "
                        f"{identifier} was not linked",
                    )
                )
                continue
            attach.append(identifier)
            _add(held, identifier.kind, {identifier.value}, rules)
            continue
        if owner == target or owner in absorbed:
            continue
        theirs = facts.limited_values.get(owner, {})
        broken = _breaks_limit(held, theirs, rules)
        if broken:
            conflicts.append(
                ConflictDecision(
                    target,
                    owner,
                    identifier,
                    f"limit:{broken}",
                    f"linking {identifier} would give one profile more than "
                    f"{rules.limits[broken]} {broken}",
                )
            )
            continue
        if target is not None and frozenset((target, owner)) in facts.separated:
            conflicts.append(
                ConflictDecision(
                    target,
                    owner,
                    identifier,
                    "separated",
                    f"{identifier} links two profiles whose merge was undone",
                )
            )
            continue
        for kind, values in theirs.items():
            _add(held, kind, set(values), rules)
        if target is None or anchor is None:
            target, anchor = owner, identifier
            continue
        survivor, loser = (target, owner) if target < owner else (owner, target)
        merges.append(MergeDecision(survivor, loser, anchor, identifier))
        absorbed.add(loser)
        target = survivor

    return Resolution(target, tuple(attach), tuple(merges), tuple(conflicts), tuple(ignored))


def _breaks_limit(
    held: Mapping[str, set[str]], extra: Mapping[str, Collection[str]], rules: IdentityRules
) -> str | None:
    for kind, values in extra.items():
        limit = rules.limits.get(kind)
        if limit and len(held.get(kind, set()) | set(values)) > limit:
            return kind
    return None


def _add(held: dict[str, set[str]], kind: str, values: set[str], rules: IdentityRules) -> None:
    if kind in held:
        held[kind] |= values


def merged_traits(
    mine: Mapping[str, "TraitStamp"], theirs: Mapping[str, "TraitStamp"]
) -> dict[str, "TraitStamp"]:
    """Traits of two merged profiles: per key, the value written at the later event time."""
    result = dict(mine)
    for key, stamp in theirs.items():
        current = result.get(key)
        if current is None or stamp[0] > current[0]:
            result[key] = stamp
    return result


TraitStamp = tuple[int, object]
"""(event time in microseconds, anything): what last-write-wins compares."""
