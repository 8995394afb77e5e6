"""Outbound webhooks: other systems kept in sync with signed, retried deliveries."""

from omnicx.webhooks.model import TOPICS, Delivery, Subscription
from omnicx.webhooks.services import (
    create_subscription,
    delete_subscription,
    deliver,
    fan_out,
    sign,
    topic_of,
)

__all__ = [
    "TOPICS",
    "Delivery",
    "Subscription",
    "create_subscription",
    "delete_subscription",
    "deliver",
    "fan_out",
    "sign",
    "topic_of",
]
