"""Reading Segment-spec calls: validation, identifiers, skew-corrected timestamps.

Pure: bytes and settings in, normalised events (or an error naming every bad item) out.
A request is taken whole or not at all, so a 400 never leaves half a batch behind.
"""

import uuid
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from omnicx.events.model import CHANNEL_PATTERN, EVENT_TYPES
from omnicx.kernel import Invalid
from omnicx.kernel.moments import micros as _micros
from omnicx.profiles import normalize

NormalizedEvent = dict[str, Any]


class IngestRejected(Exception):
    """A request omnicx will not take; `status` is 400, 401 or 413."""

    def __init__(
        self, status: int, code: str, message: str, items: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.items = items or []


@dataclass(frozen=True)
class IngestLimits:
    max_event_bytes: int = 32 * 1024
    max_body_bytes: int = 500 * 1024


@dataclass(frozen=True)
class IdentityConfig:
    kinds: tuple[str, ...]
    region: str


@dataclass
class Parsed:
    write_key: str | None
    events: list[NormalizedEvent] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)


TRAIT_KEYS = {
    "email": "email",
    "phone": "phone",
    "loyaltyId": "loyalty_id",
    "loyalty_id": "loyalty_id",
}


def decode_body(body: bytes, content_encoding: str | None, limits: IngestLimits) -> Any:
    if content_encoding and content_encoding.strip().lower() == "gzip":
        body = _gunzip(body, limits.max_body_bytes)
    elif content_encoding and content_encoding.strip().lower() not in ("identity", ""):
        raise IngestRejected(
            400,
            "unsupported_encoding",
            f"Content-Encoding {content_encoding!r} is not supported; use gzip",
        )
    if len(body) > limits.max_body_bytes:
        raise IngestRejected(
            413, "body_too_large", f"the body is over {limits.max_body_bytes} bytes"
        )
    if not body.strip():
        raise IngestRejected(400, "empty_body", "the body is empty; send a JSON object")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise IngestRejected(
            400, "malformed_json", f"the body is not valid JSON: {error}"
        ) from error


def _gunzip(body: bytes, limit: int) -> bytes:
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error as error:
        raise IngestRejected(400, "malformed_gzip", f"the gzip body is corrupt: {error}") from error
    if len(data) > limit or inflater.unconsumed_tail:
        raise IngestRejected(413, "body_too_large", f"the body is over {limit} bytes unpacked")
    if not inflater.eof:
        raise IngestRejected(400, "malformed_gzip", "the gzip body is truncated")
    return data


def parse_call(
    payload: Any,
    call_type: str | None,
    *,
    received_at: datetime,
    default_channel: str | None,
    limits: IngestLimits,
    identity: IdentityConfig,
) -> Parsed:
    """`call_type` None means a batch (`{"batch": [...]}`)."""
    if not isinstance(payload, dict):
        raise IngestRejected(400, "invalid_body", "the body must be a JSON object")
    write_key = payload.get("writeKey")
    if write_key is not None and not isinstance(write_key, str):
        raise IngestRejected(
            400,
            "invalid_event",
            "writeKey must be a string",
            [{"index": None, "field": "writeKey", "message": "must be a string"}],
        )
    parsed = Parsed(write_key=write_key)
    if call_type is None:
        items = payload.get("batch")
        if not isinstance(items, list):
            raise IngestRejected(
                400,
                "invalid_batch",
                "batch must be an array of events",
                [{"index": None, "field": "batch", "message": "must be an array"}],
            )
        if not items:
            raise IngestRejected(
                400,
                "empty_batch",
                "batch holds no events",
                [{"index": None, "field": "batch", "message": "is empty"}],
            )
        shared = {k: payload[k] for k in ("context", "integrations") if k in payload}
        batch_sent_at = payload.get("sentAt")
    else:
        items = [payload]
        shared = {}
        batch_sent_at = None
    errors: list[dict[str, Any]] = []
    too_large: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        where = index if call_type is None else None
        if isinstance(item, dict) and len(orjson.dumps(item)) > limits.max_event_bytes:
            too_large.append(
                {
                    "index": where,
                    "field": None,
                    "message": f"event is over {limits.max_event_bytes} bytes",
                }
            )
            continue
        try:
            event, warnings = _parse_event(
                item, call_type, shared, batch_sent_at, received_at, default_channel, identity
            )
        except _ItemError as error:
            errors.append({"index": where, "field": error.field, "message": error.message})
            continue
        parsed.events.append(event)
        parsed.warnings.extend({"index": where, **w} for w in warnings)
    if too_large:
        raise IngestRejected(413, "event_too_large", "events over the size limit", too_large)
    if errors:
        noun = "event" if len(errors) == 1 else "events"
        raise IngestRejected(400, "invalid_event", f"{len(errors)} invalid {noun}", errors)
    return parsed


class _ItemError(Exception):
    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _parse_event(
    item: Any,
    call_type: str | None,
    shared: Mapping[str, Any],
    batch_sent_at: Any,
    received_at: datetime,
    default_channel: str | None,
    identity: IdentityConfig,
) -> tuple[NormalizedEvent, list[dict[str, Any]]]:
    if not isinstance(item, dict):
        raise _ItemError(None, "an event must be a JSON object")
    kind = call_type or item.get("type")
    if kind not in EVENT_TYPES:
        raise _ItemError("type", f"type must be one of {', '.join(EVENT_TYPES)}; got {kind!r}")
    user_id = _id_field(item, "userId")
    anonymous_id = _id_field(item, "anonymousId")
    if user_id is None and anonymous_id is None:
        raise _ItemError("userId", "an event needs a userId or an anonymousId")
    context = _object(item, "context")
    if "context" in shared and isinstance(shared["context"], dict):
        context = {**shared["context"], **context}
    properties = _object(item, "properties")
    traits = _object(item, "traits")
    event_name = None
    name = None
    extra: dict[str, Any] = {}
    if kind == "track":
        event_name = item.get("event")
        if not isinstance(event_name, str) or not event_name.strip():
            raise _ItemError("event", "a track call needs an event name")
        if len(event_name) > 200:
            raise _ItemError("event", "event name is longer than 200 characters")
    elif kind in ("page", "screen"):
        name = item.get("name")
        if name is not None and not isinstance(name, str):
            raise _ItemError("name", "name must be a string")
        category = item.get("category")
        if category is not None:
            properties = {"category": category, **properties}
    elif kind == "group":
        group_id = _id_field(item, "groupId")
        if group_id is None:
            raise _ItemError("groupId", "a group call needs a groupId")
        extra["groupId"] = group_id
    elif kind == "alias":
        previous = _id_field(item, "previousId")
        if previous is None:
            raise _ItemError("previousId", "an alias call needs a previousId")
        if user_id is None:
            raise _ItemError("userId", "an alias call needs a userId")
        extra["previousId"] = previous

    message_id = item.get("messageId")
    if message_id is None:
        message_id = str(uuid.uuid4())
    elif not isinstance(message_id, str | int) or isinstance(message_id, bool):
        raise _ItemError("messageId", "messageId must be a string")
    message_id = str(message_id)
    if not message_id or len(message_id) > 100:
        raise _ItemError("messageId", "messageId must be 1 to 100 characters")

    channel = context.get("channel", default_channel or "other")
    if not isinstance(channel, str) or not CHANNEL_PATTERN.match(channel):
        raise _ItemError(
            "context.channel", "channel must be a lower-case name such as web, store or sms"
        )

    ts = _timestamp(item, batch_sent_at, received_at)

    person_traits = traits if kind == "identify" else {}
    context_traits = context.get("traits")
    if context_traits is not None and not isinstance(context_traits, dict):
        raise _ItemError("context.traits", "context.traits must be an object")
    if context_traits:
        person_traits = {**context_traits, **person_traits}
    identifiers, warnings = _identifiers(
        user_id,
        anonymous_id,
        person_traits,
        context,
        identity,
        "traits" if kind == "identify" else "context.traits",
    )
    event: NormalizedEvent = {
        "type": kind,
        "messageId": message_id,
        "userId": user_id,
        "anonymousId": anonymous_id,
        "event": event_name,
        "name": name,
        "channel": channel,
        "ts": ts,
        "receivedAt": _micros(received_at),
        "properties": properties,
        "context": context,
        "traits": person_traits or None,
        "identifiers": identifiers,
    }
    if kind == "group":
        event["properties"] = {"groupId": extra["groupId"], "traits": traits, **properties}
    if kind == "alias":
        event["previousId"] = extra["previousId"]
    return event, warnings


def _id_field(item: Mapping[str, Any], key: str) -> str | None:
    value = item.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _ItemError(key, f"{key} must be a string")
    text = str(value).strip()
    if len(text) > 320:
        raise _ItemError(key, f"{key} is longer than 320 characters")
    return text or None


def _object(item: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = item.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _ItemError(key, f"{key} must be an object")
    return value


def _identifiers(
    user_id: str | None,
    anonymous_id: str | None,
    traits: Mapping[str, Any],
    context: Mapping[str, Any],
    identity: IdentityConfig,
    trait_field: str,
) -> tuple[list[list[str]], list[dict[str, Any]]]:
    found: list[list[str]] = []
    warnings: list[dict[str, Any]] = []
    if user_id is not None:
        found.append(["user_id", user_id])
    if anonymous_id is not None:
        found.append(["anonymous_id", anonymous_id])
    candidates: list[tuple[str, Any, str]] = []
    for key, value in traits.items():
        kind = TRAIT_KEYS.get(key) or (key if key in identity.kinds else None)
        if kind and kind not in ("user_id", "anonymous_id") and value not in (None, ""):
            candidates.append((kind, value, f"{trait_field}.{key}"))
    external = context.get("externalIds")
    if isinstance(external, list):
        for position, entry in enumerate(external):
            if isinstance(entry, dict) and entry.get("type") in identity.kinds:
                candidates.append(
                    (entry["type"], entry.get("id"), f"context.externalIds[{position}].id")
                )
    device = context.get("device")
    if "device_id" in identity.kinds and isinstance(device, dict) and device.get("id"):
        candidates.append(("device_id", device["id"], "context.device.id"))
    for kind, value, where in candidates:
        try:
            identifier = normalize(kind, value, identity.region)
        except Invalid as error:
            warnings.append(
                {
                    "field": where,
                    "code": error.code,
                    "message": f"{error.message}; it was kept as a trait but not linked",
                }
            )
            continue
        pair = [identifier.kind, identifier.value]
        if pair not in found:
            found.append(pair)
    return found, warnings


def _timestamp(item: Mapping[str, Any], batch_sent_at: Any, received_at: datetime) -> int:
    """`timestamp = receivedAt - (sentAt - originalTimestamp)`, the Segment skew correction."""
    original = _moment(item, "originalTimestamp") or _moment(item, "timestamp")
    sent = _moment(item, "sentAt")
    if sent is None and batch_sent_at is not None:
        sent = _moment({"sentAt": batch_sent_at}, "sentAt")
    if original is None:
        return _micros(received_at)
    if sent is None:
        return _micros(original)
    return _micros(received_at) - (_micros(sent) - _micros(original))


def _moment(item: Mapping[str, Any], key: str) -> datetime | None:
    value = item.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _ItemError(key, f"{key} must be an ISO-8601 string")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise _ItemError(key, f"{key} is not an ISO-8601 timestamp: {value!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment
