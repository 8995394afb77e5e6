"""Verb-named event services: sources, acknowledging calls, resolving them, the timeline."""

import secrets
from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from typing import Any

from omnicx.events.messages import EventsStored
from omnicx.events.model import CHANNEL_PATTERN, Source, TimelineItem
from omnicx.events.ports import EventRepository, IngestQueue
from omnicx.kernel import Conflict, Event, Invalid, NotFound, new_id
from omnicx.kernel.moments import micros
from omnicx.privacy import SuppressionScreen
from omnicx.profiles import Identifier, ProfileWriter

Batch = tuple[int, str, list[dict[str, Any]]]


def create_source(repo: EventRepository, name: str, channel: str, now: datetime) -> Source:
    name = name.strip()
    if not name or len(name) > 200:
        raise Invalid("invalid_source_name", "a source needs a name of 1 to 200 characters", "name")
    if not CHANNEL_PATTERN.match(channel):
        raise Invalid(
            "invalid_channel",
            "channel must be a lower-case name such as web, store or sms",
            "channel",
        )
    if repo.source_by_name(name) is not None:
        raise Conflict("source_exists", f"a source named {name!r} exists already", "name")
    source = Source(
        id=new_id(), name=name, write_key=secrets.token_urlsafe(24), channel=channel, created_at=now
    )
    repo.add_source(source)
    return source


def rotate_write_key(repo: EventRepository, source_id: str, now: datetime) -> Source:
    """Give a source a new write key; the old one stops being accepted."""
    source = repo.replace_write_key(source_id, secrets.token_urlsafe(24), now)
    if source is None:
        raise NotFound("source_not_found", f"no source {source_id}", "source_id")
    return source


def acknowledge(
    queue: IngestQueue, source: Source, items: list[dict[str, Any]], received_at: int
) -> None:
    """Durably keep validated events; a 200 is answered only after this returns."""
    queue.push(source.id, items, received_at)


def resolve_batches(
    batches: Sequence[Batch],
    *,
    events: EventRepository,
    writer: ProfileWriter,
    screen: SuppressionScreen | None = None,
    raise_event: Callable[[Event], None] | None = None,
) -> int:
    """Dedupe, resolve identities, apply traits and store the events of acknowledged batches.

    With `raise_event`, one `EventsStored` names the new events (those with a profile) for the
    bus's reactions.

    A replayed messageId (same source) is a no-op: it neither writes nor merges again. An
    event naming an erased person (an identifier in the suppression list of `screen`) is
    dropped before anything is resolved. Returns how many events were new.
    """
    flat = [(source_id, item) for _, source_id, items in batches for item in items]
    existing = events.existing_message_ids({(s, e["messageId"]) for s, e in flat})
    fresh: list[tuple[str, dict[str, Any]]] = []
    for source_id, item in flat:
        key = (source_id, item["messageId"])
        if key in existing:
            continue
        existing.add(key)
        fresh.append((source_id, item))
    if screen is not None:
        fresh = _unsuppressed(fresh, screen)
    wanted: set[Identifier] = set()
    observed_of: list[list[Identifier]] = []
    for _, item in fresh:
        observed = [_identifier(pair) for pair in item["identifiers"]]
        observed_of.append(observed)
        wanted.update(observed)
        if "previousId" in item:
            wanted.add(Identifier("user_id", item["previousId"]))
            wanted.add(Identifier("anonymous_id", item["previousId"]))
    writer.prefetch(wanted)
    ids = events.allocate_ids(len(fresh))
    rows = []
    for (source_id, item), event_id, observed in zip(fresh, ids, observed_of, strict=True):
        if "previousId" in item:
            observed.append(_previous(writer, item["previousId"]))
        profile_id = writer.resolve(
            observed, event_id=event_id, channel=item["channel"], source_id=source_id
        )
        if profile_id is not None and item["traits"]:
            contacts = {k: v for k, v in item["identifiers"] if k in ("email", "phone")}
            writer.set_traits(
                profile_id,
                item["traits"],
                ts=item["ts"],
                channel=item["channel"],
                source_id=source_id,
                event_id=event_id,
                contacts=contacts,
            )
        properties = item["properties"]
        if "previousId" in item:
            properties = {"previousId": item["previousId"], **properties}
        rows.append(
            {
                "id": event_id,
                "source_id": source_id,
                "message_id": item["messageId"],
                "profile_id": profile_id,
                "type": item["type"],
                "event": item["event"],
                "name": item["name"],
                "channel": item["channel"],
                "ts": item["ts"],
                "received_at": item["receivedAt"],
                "user_id": item["userId"],
                "anonymous_id": item["anonymousId"],
                "properties": properties,
                "context": item["context"],
                "traits": item["traits"],
            }
        )
    writer.flush()
    events.insert_events(rows)
    if raise_event is not None and rows:
        raise_event(EventsStored(rows))
    return len(rows)


def _named(item: dict[str, Any]) -> list[tuple[str, str]]:
    named = [(kind, value) for kind, value in item["identifiers"]]
    if "previousId" in item:
        named += [("user_id", item["previousId"]), ("anonymous_id", item["previousId"])]
    return named


def _unsuppressed(
    fresh: list[tuple[str, dict[str, Any]]], screen: SuppressionScreen
) -> list[tuple[str, dict[str, Any]]]:
    """The events that name no erased person; the others are counted on the list and dropped."""
    if not fresh or not screen.active():
        return fresh
    named = [_named(item) for _, item in fresh]
    suppressed = screen.suppressed({pair for pairs in named for pair in pairs})
    if not suppressed:
        return fresh
    kept: list[tuple[str, dict[str, Any]]] = []
    hits: dict[tuple[str, str], int] = {}
    for entry, pairs in zip(fresh, named, strict=True):
        found = suppressed.intersection(pairs)
        if not found:
            kept.append(entry)
        for pair in found:
            hits[pair] = hits.get(pair, 0) + 1
    screen.record(hits)
    return kept


def _identifier(pair: list[str]) -> Identifier:
    # tuple.__new__ skips the named tuple's Python-level constructor: this runs per event.
    return tuple.__new__(Identifier, pair)


def _previous(writer: ProfileWriter, previous_id: str) -> Identifier:
    """An alias's previousId is a user id when one is known by that value, else anonymous."""
    as_user = Identifier("user_id", previous_id)
    return as_user if writer.knows(as_user) else Identifier("anonymous_id", previous_id)


def timeline_page(
    events: EventRepository,
    member_ids: Collection[str],
    *,
    cursor: str | None,
    limit: int,
    newest_first: bool,
    channels: Collection[str],
    types: Collection[str],
) -> tuple[list[TimelineItem], str | None]:
    if not 1 <= limit <= 500:
        raise Invalid("invalid_limit", "limit must be between 1 and 500", "limit")
    after = decode_cursor(cursor) if cursor else None
    items = events.timeline(
        member_ids,
        after=after,
        limit=limit + 1,
        newest_first=newest_first,
        channels=channels,
        types=types,
    )
    more = len(items) > limit
    items = items[:limit]
    next_cursor = encode_cursor(items[-1]) if more and items else None
    return items, next_cursor


def encode_cursor(item: TimelineItem) -> str:
    return f"{micros(item.timestamp)}.{item.id}"


def decode_cursor(cursor: str) -> tuple[int, int]:
    try:
        ts, event_id = cursor.split(".")
        return int(ts), int(event_id)
    except ValueError:
        raise Invalid("invalid_cursor", "cursor is not one this API returned", "cursor") from None
