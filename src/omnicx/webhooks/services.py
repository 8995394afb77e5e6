"""Subscriptions, fan-out of profile events into the outbox, signing and delivery.

A delivery's body is JSON `{"id", "type", "created_at", "data"}`; its signature header is
`Omnicx-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the secret>`.
Receivers recompute it and reject stale `t` to stop replays.
"""

import hashlib
import hmac
import secrets
from dataclasses import asdict
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import orjson

from omnicx.kernel import Event, Invalid, NotFound, new_id
from omnicx.kernel.moments import iso
from omnicx.profiles import ProfileCreated, ProfilesMerged, ProfileUnmerged, TraitsChanged
from omnicx.webhooks.model import TOPICS, Subscription
from omnicx.webhooks.ports import SubscriptionRepository, WebhookSender

_TOPIC_OF: dict[type[Event], str] = {
    ProfileCreated: "profile.created",
    ProfilesMerged: "profile.merged",
    ProfileUnmerged: "profile.unmerged",
    TraitsChanged: "traits.changed",
}


def topic_of(event: Event) -> str | None:
    return _TOPIC_OF.get(type(event))


def create_subscription(
    repo: SubscriptionRepository, url: str, topics: list[str], description: str, now: datetime
) -> Subscription:
    if not _is_http_url(url):
        raise Invalid("invalid_url", "url must be an absolute http(s) URL", "url")
    unknown = [t for t in topics if t not in TOPICS]
    if unknown or not topics:
        raise Invalid("invalid_topics", f"topics must be some of: {', '.join(TOPICS)}", "topics")
    subscription = Subscription(
        id=new_id(),
        url=url,
        topics=tuple(dict.fromkeys(topics)),
        secret="whsec_" + secrets.token_urlsafe(32),
        description=description.strip(),
        created_at=now,
    )
    repo.add(subscription)
    return subscription


def _is_http_url(url: str) -> bool:
    if any(ch.isspace() or not ch.isprintable() for ch in url):
        return False
    try:
        parts = urlsplit(url)
        _ = parts.port  # a port out of range raises here
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def delete_subscription(repo: SubscriptionRepository, subscription_id: str) -> None:
    if not repo.remove(subscription_id):
        raise NotFound("webhook_not_found", f"no webhook {subscription_id}", "id")


def fan_out(
    event: Event, subscriptions: list[Subscription], repo: SubscriptionRepository, now: datetime
) -> int:
    """Queue one delivery per subscription that wants this event's topic."""
    topic = topic_of(event)
    if topic is None:
        return 0
    wanted = [s for s in subscriptions if topic in s.topics]
    for subscription in wanted:
        repo.enqueue(
            subscription.id,
            {
                "id": new_id(),
                "type": topic,
                "created_at": iso(now),
                "data": asdict(event),
            },
        )
    return len(wanted)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


class DeliveryFailed(Exception):
    """The receiver did not take the delivery; the outbox retries it with backoff."""


def deliver(
    sender: WebhookSender, subscription: Subscription, payload: dict[str, Any], now: datetime
) -> None:
    body = orjson.dumps(payload)
    timestamp = int(now.timestamp())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "omnicx-webhooks/1",
        "Omnicx-Event-Id": str(payload.get("id", "")),
        "Omnicx-Event-Type": str(payload.get("type", "")),
        "Omnicx-Signature": sign(subscription.secret, timestamp, body),
    }
    try:
        status = sender.post(subscription.url, body, headers)
    except OSError as error:
        raise DeliveryFailed(f"no answer from {subscription.url}: {error}") from error
    if not 200 <= status < 300:
        raise DeliveryFailed(f"{subscription.url} answered {status}")
