"""Verb-named consent services: recording consents and opt-outs, keywords heard on any channel,
one-click unsubscribes, double opt-in, preferences, suppressions and the contact decision.

They see a `ConsentRepository` and plain facts; the caller owns the unit of work and commits.
Every change is appended to the history, replaces the current record when it is the newest,
goes on the customer's timeline and is raised as `ConsentChanged`.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from omnicx.consent.keywords import Keywords
from omnicx.consent.messages import ConfirmationRequested, ConsentChanged
from omnicx.consent.model import (
    ALL_CHANNELS,
    CHANNELS,
    DOUBLE_OPT_IN_METHODS,
    Confirmation,
    ConsentChange,
    ConsentPolicy,
    ConsentSource,
    ContactPermission,
    Preferences,
    Suppression,
    Wish,
    check_actor_kind,
    check_channel,
    check_method,
    check_preferences,
    check_purpose,
    check_reason,
    check_source_channel,
    check_state,
    consent_channel,
)
from omnicx.consent.policy import CHANNEL_OF_KIND, decide
from omnicx.consent.ports import ConsentRepository
from omnicx.kernel import Conflict, Event, Invalid, NotFound, new_id
from omnicx.profiles.identifiers import normalize

Raise = Callable[[Event], None]

MAX_PROOF_KEYS = 50
MAX_NOTE = 2000
SUPPRESSIBLE_KINDS = tuple(CHANNEL_OF_KIND)

GRANTED_EVENT = "Consent Granted"
REVOKED_EVENT = "Consent Revoked"


@dataclass(frozen=True)
class Recorded:
    """What one request recorded: the changes, and the double opt-ins now pending."""

    changes: tuple[ConsentChange, ...] = ()
    pending: tuple[Confirmation, ...] = ()


# -- checks ---------------------------------------------------------------------------------


def check_wishes(wishes: Sequence[Wish], policy: ConsentPolicy) -> list[Wish]:
    if not wishes:
        raise Invalid("items_required", "name at least one purpose and channel", "items")
    if len(wishes) > 100:
        raise Invalid("too_many_items", "at most 100 consents at once", "items")
    seen: set[tuple[str, str]] = set()
    checked: list[Wish] = []
    for i, wish in enumerate(wishes):
        purpose = check_purpose(wish.purpose, policy, f"items.{i}.purpose")
        channel = check_channel(wish.channel, f"items.{i}.channel")
        state = check_state(wish.state, f"items.{i}.state")
        if (purpose, channel) in seen:
            raise Invalid("duplicate_item", f"{purpose} on {channel} appears twice", f"items.{i}")
        seen.add((purpose, channel))
        checked.append(Wish(purpose, channel, state))
    return checked


def check_source(source: ConsentSource) -> ConsentSource:
    for value, name in ((source.actor_id, "actor_id"), (source.store_id, "store_id")):
        if value is not None and not 0 < len(value) <= 64:
            raise Invalid("invalid_source", f"{name} is 1 to 64 characters", f"source.{name}")
    return replace(
        source,
        channel=check_source_channel(source.channel),
        actor_kind=check_actor_kind(source.actor_kind),
        method=check_method(source.method),
    )


def check_proof(proof: Mapping[str, Any] | None) -> dict[str, Any]:
    if proof is None:
        return {}
    if len(proof) > MAX_PROOF_KEYS:
        raise Invalid("proof_too_large", f"proof holds at most {MAX_PROOF_KEYS} keys", "proof")
    return dict(proof)


def check_note(note: str | None) -> str | None:
    if note is None:
        return None
    text = note.strip()
    if len(text) > MAX_NOTE:
        raise Invalid("note_too_long", f"note is at most {MAX_NOTE} characters", "note")
    return text or None


# -- recording ------------------------------------------------------------------------------


def _timeline(repo: ConsentRepository, customer_id: str, changes: Sequence[ConsentChange]) -> None:
    """One timeline entry per kind of change ("Consent Granted", "Consent Revoked")."""
    groups: dict[str, list[ConsentChange]] = {}
    for change in changes:
        name = GRANTED_EVENT if change.state == "granted" else REVOKED_EVENT
        groups.setdefault(name, []).append(change)
    for name, group in groups.items():
        first = group[0]
        repo.add_timeline(
            customer_id,
            name,
            first.source.channel,
            first.at,
            {
                "consents": [
                    {"purpose": c.purpose, "channel": c.channel, "state": c.state} for c in group
                ],
                "method": first.source.method,
                "actor_kind": first.source.actor_kind,
                "detail": first.detail,
                "change_ids": [c.id for c in group],
            },
        )


def _apply(
    repo: ConsentRepository,
    customer_id: str,
    changes: Sequence[ConsentChange],
    raise_event: Raise,
) -> None:
    if not changes:
        return
    repo.add_changes(changes)
    _timeline(repo, customer_id, changes)
    for change in changes:
        raise_event(
            ConsentChanged(
                customer_id,
                change.purpose,
                change.channel,
                change.state,
                change.at,
                change.source.method,
            )
        )


def _change(
    customer_id: str,
    wish: Wish,
    source: ConsentSource,
    *,
    at: datetime,
    now: datetime,
    recorded_by: str,
    proof: dict[str, Any],
    note: str | None,
    detail: str | None,
) -> ConsentChange:
    return ConsentChange(
        id=new_id(),
        customer_id=customer_id,
        purpose=wish.purpose,
        channel=wish.channel,
        state=wish.state,
        at=at,
        source=source,
        recorded_by=recorded_by,
        recorded_at=now,
        proof=proof,
        note=note,
        detail=detail,
    )


def record_consents(
    repo: ConsentRepository,
    customer_id: str,
    wishes: Sequence[Wish],
    source: ConsentSource,
    *,
    proof: Mapping[str, Any] | None,
    note: str | None,
    at: datetime | None,
    now: datetime,
    recorded_by: str,
    policy: ConsentPolicy,
    raise_event: Raise,
    enqueue: Callable[[str], None],
    detail: str | None = None,
) -> Recorded:
    """Record what the customer said. A grant of marketing by email from a web form or the
    preference centre does not take effect yet: it becomes a pending confirmation whose email
    `enqueue(confirmation_id)` schedules (double opt-in)."""
    checked = check_wishes(wishes, policy)
    indexed = sorted(enumerate(checked), key=lambda item: item[1].channel != ALL_CHANNELS)
    source = check_source(source)
    evidence = check_proof(proof)
    text = check_note(note)
    when = at or now
    if when.tzinfo is None:
        raise Invalid("invalid_at", "at needs a time zone", "at")
    if when > now + timedelta(minutes=5):
        raise Invalid("at_in_future", "a consent cannot be dated in the future", "at")
    confirm = policy.double_opt_in and source.method in DOUBLE_OPT_IN_METHODS
    repo.lock_customer(customer_id)
    changes: list[ConsentChange] = []
    pending: list[Confirmation] = []
    for i, wish in indexed:
        if confirm and wish.state == "granted" and wish.purpose == "marketing":
            if wish.channel == ALL_CHANNELS:
                raise Invalid(
                    "double_opt_in_per_channel",
                    "a form grants marketing channel by channel: email needs a confirmation",
                    f"items.{i}.channel",
                )
            if wish.channel == "email":
                pending.append(
                    _pending(
                        repo,
                        customer_id,
                        wish,
                        source,
                        evidence,
                        recorded_by,
                        now,
                        policy,
                        enqueue,
                        raise_event,
                        f"items.{i}",
                    )
                )
                continue
        changes.append(
            _change(
                customer_id,
                wish,
                source,
                at=when,
                now=now,
                recorded_by=recorded_by,
                proof=evidence,
                note=text,
                detail=detail,
            )
        )
    _apply(repo, customer_id, changes, raise_event)
    return Recorded(tuple(changes), tuple(pending))


def _pending(
    repo: ConsentRepository,
    customer_id: str,
    wish: Wish,
    source: ConsentSource,
    proof: dict[str, Any],
    recorded_by: str,
    now: datetime,
    policy: ConsentPolicy,
    enqueue: Callable[[str], None],
    raise_event: Raise,
    field: str,
) -> Confirmation:
    email = repo.contact_email(customer_id)
    if email is None:
        raise Invalid(
            "email_required",
            "double opt-in needs the customer's email address, and none is known",
            field,
        )
    for waiting in repo.pending(customer_id, now):
        if (waiting.purpose, waiting.channel, waiting.email) == (wish.purpose, "email", email):
            return waiting
    confirmation = Confirmation(
        id=new_id(),
        customer_id=customer_id,
        purpose=wish.purpose,
        channel="email",
        email=email,
        source=source,
        proof=proof,
        recorded_by=recorded_by,
        created_at=now,
        expires_at=now + timedelta(hours=policy.confirm_hours),
    )
    repo.add_confirmation(confirmation)
    enqueue(confirmation.id)
    raise_event(ConfirmationRequested(customer_id, confirmation.id, confirmation.purpose, "email"))
    return confirmation


def opt_out(
    repo: ConsentRepository,
    customer_id: str,
    purpose: str,
    channel: str,
    source: ConsentSource,
    *,
    note: str | None,
    proof: Mapping[str, Any] | None,
    now: datetime,
    recorded_by: str,
    policy: ConsentPolicy,
    raise_event: Raise,
) -> Recorded:
    """A "not interested" told to an agent or a store associate: `purpose` revoked on
    `channel` ("*", every channel, unless the customer named one)."""
    return record_consents(
        repo,
        customer_id,
        [Wish(purpose, channel, "revoked")],
        source,
        proof=proof,
        note=note,
        at=None,
        now=now,
        recorded_by=recorded_by,
        policy=policy,
        raise_event=raise_event,
        enqueue=_never,
        detail=f"{source.actor_kind} opt-out",
    )


def _never(_: str) -> None:
    raise AssertionError("an opt-out never asks for a confirmation")


def hear(
    repo: ConsentRepository,
    customer_id: str,
    channel: str,
    text: str | None,
    *,
    keywords: Keywords,
    proof: Mapping[str, Any],
    at: datetime,
    now: datetime,
    policy: ConsentPolicy,
    raise_event: Raise,
) -> Recorded | None:
    """A message from the customer that is exactly an opt-out keyword revokes marketing on
    every channel and every purpose but transactional on the channel it came by; an opt-in
    keyword (START) grants the optional purposes back on that channel. Anything else: None."""
    found = keywords.match(text)
    if found is None:
        return None
    kind, word = found
    said_on = consent_channel(channel)
    on_channel = said_on if said_on in CHANNELS else None
    if kind == "opt_out":
        wishes = [Wish("marketing", ALL_CHANNELS, "revoked")]
        if on_channel is not None:
            wishes += [
                Wish(p, on_channel, "revoked") for p in policy.optional_purposes if p != "marketing"
            ]
    else:
        if on_channel is None:
            return None
        wishes = [Wish(p, on_channel, "granted") for p in policy.optional_purposes]
    return record_consents(
        repo,
        customer_id,
        wishes,
        ConsentSource(
            channel=said_on if on_channel else channel,
            actor_kind="customer",
            method="keyword",
            actor_id=customer_id,
        ),
        proof={**proof, "keyword": word},
        note=None,
        at=min(at, now),
        now=now,
        recorded_by="customer",
        policy=policy,
        raise_event=raise_event,
        enqueue=_never,
        detail=f"keyword {word}",
    )


def unsubscribe(
    repo: ConsentRepository,
    customer_id: str,
    purpose: str,
    said_on: str,
    *,
    method: str,
    proof: Mapping[str, Any],
    now: datetime,
    policy: ConsentPolicy,
    raise_event: Raise,
) -> Recorded:
    """An unsubscribe link followed (or a mailto answered): `purpose` revoked everywhere."""
    return record_consents(
        repo,
        customer_id,
        [Wish(purpose, ALL_CHANNELS, "revoked")],
        ConsentSource(
            channel=consent_channel(said_on),
            actor_kind="customer",
            method=method,
            actor_id=customer_id,
        ),
        proof=proof,
        note=None,
        at=None,
        now=now,
        recorded_by="customer",
        policy=policy,
        raise_event=raise_event,
        enqueue=_never,
        detail="one-click unsubscribe" if method == "one_click" else "unsubscribe",
    )


def confirm(
    repo: ConsentRepository,
    confirmation_id: str,
    *,
    proof: Mapping[str, Any],
    now: datetime,
    raise_event: Raise,
) -> tuple[Confirmation, ConsentChange | None]:
    """Follow a double opt-in link: the pending grant is recorded with the form's proof and
    the confirmation's. Following it again changes nothing (no change is returned)."""
    confirmation = repo.confirmation(confirmation_id, lock=True)
    if confirmation is None:
        raise NotFound("confirmation_not_found", "this confirmation no longer exists", "token")
    status = confirmation.status(now)
    if status == "confirmed":
        return confirmation, None
    if status == "expired":
        raise Conflict(
            "confirmation_expired", "this confirmation has expired: subscribe again", "token"
        )
    change_proof = {
        **confirmation.proof,
        "double_opt_in": {
            "confirmation_id": confirmation.id,
            "requested_at": confirmation.created_at.isoformat(),
            "confirmed_at": now.isoformat(),
            **dict(proof),
        },
    }
    change = ConsentChange(
        id=new_id(),
        customer_id=confirmation.customer_id,
        purpose=confirmation.purpose,
        channel=confirmation.channel,
        state="granted",
        at=now,
        source=replace(confirmation.source, method="double_opt_in"),
        recorded_by=confirmation.recorded_by,
        recorded_at=now,
        proof=change_proof,
        detail="double opt-in",
    )
    repo.lock_customer(confirmation.customer_id)
    _apply(repo, confirmation.customer_id, [change], raise_event)
    repo.mark_confirmed(confirmation.id, change.id, now)
    return replace(confirmation, confirmed_at=now, change_id=change.id), change


# -- preferences ----------------------------------------------------------------------------


def change_preferences(
    repo: ConsentRepository,
    customer_id: str,
    preferences: Preferences,
    *,
    now: datetime,
    by: str,
) -> Preferences:
    checked = replace(check_preferences(preferences), updated_at=now)
    repo.set_preferences(customer_id, checked, now, by)
    return checked


# -- suppressions ---------------------------------------------------------------------------


def suppress(
    repo: ConsentRepository,
    kind: str,
    value: str,
    reason: str,
    *,
    channel: str | None,
    note: str | None,
    region: str,
    now: datetime,
    by: str,
) -> Suppression:
    """Put an identifier on the suppression list, kept by its keyed hash only."""
    if kind not in SUPPRESSIBLE_KINDS:
        raise Invalid(
            "unknown_identifier_kind",
            f"kind must be one of {', '.join(SUPPRESSIBLE_KINDS)}",
            "kind",
        )
    try:
        identifier = normalize(kind, value, region)
    except Invalid as error:
        raise Invalid(error.code, error.message, "value") from None
    why = check_reason(reason)
    where = check_channel(channel) if channel else CHANNEL_OF_KIND[kind]
    if why in ("legal", "complained"):
        where = ALL_CHANNELS
    hashed = repo.blind(kind, identifier.value)
    found = repo.list_suppressions(kind=kind, value_hash=hashed, limit=1)
    if found:
        raise Conflict(
            "already_suppressed",
            f"this {kind} is suppressed already ({found[0].reason}, id {found[0].id})",
            "value",
        )
    suppression = Suppression(
        id=new_id(),
        kind=kind,
        value_hash=hashed,
        reason=why,
        channel=where,
        created_at=now,
        created_by=by,
        note=check_note(note),
    )
    repo.add_suppression(suppression)
    return suppression


def lift(repo: ConsentRepository, suppression_id: str) -> Suppression:
    found = repo.get_suppression(suppression_id)
    if found is None:
        raise NotFound("suppression_not_found", f"no suppression {suppression_id}", "id")
    repo.remove_suppression(suppression_id)
    return found


# -- deciding -------------------------------------------------------------------------------


def may_contact(
    repo: ConsentRepository, customer_id: str, purpose: str, channel: str, now: datetime
) -> ContactPermission:
    return decide(repo.current(customer_id), repo.suppressions(customer_id), purpose, channel, now)


def contact_blocks(
    repo: ConsentRepository,
    customer_id: str,
    purpose: str,
    channels: Sequence[str],
    now: datetime,
) -> dict[str, str]:
    """Of `channels`, those `purpose` may not use, with why."""
    consents = repo.current(customer_id)
    suppressions = repo.suppressions(customer_id)
    blocked: dict[str, str] = {}
    for channel in channels:
        answer = decide(consents, suppressions, purpose, channel, now)
        if not answer.allowed:
            blocked[channel] = answer.reason
    return blocked


def effective(
    repo: ConsentRepository,
    customer_id: str,
    purposes: Sequence[str],
    now: datetime,
    channels: Sequence[str] = CHANNELS,
) -> list[tuple[str, str, ContactPermission]]:
    """Every (purpose, channel) with the answer `may_contact` would give."""
    consents = repo.current(customer_id)
    suppressions = repo.suppressions(customer_id)
    return [(p, c, decide(consents, suppressions, p, c, now)) for p in purposes for c in channels]
