"""Customer events as omnicx keeps them, whatever channel they came from."""

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

EVENT_TYPES = ("identify", "track", "page", "screen", "group", "alias")
SHORT_TYPES = {
    "i": "identify",
    "t": "track",
    "p": "page",
    "s": "screen",
    "g": "group",
    "a": "alias",
}

CHANNELS = (
    "web",
    "app",
    "store",
    "call_center",
    "email",
    "sms",
    "whatsapp",
    "telegram",
    "viber",
    "social",
    "push",
    "in_app",
    "qr",
    "chat",
    "kiosk",
    "other",
)
"""The usual channels; any other lower-case name is accepted too."""

CHANNEL_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


@dataclass(frozen=True)
class Source:
    """Where events come from: a web shop, an app, a store's till, the call centre..."""

    id: str
    name: str
    write_key: str
    channel: str
    created_at: datetime


@dataclass(frozen=True)
class TimelineItem:
    id: int
    type: str
    event: str | None
    name: str | None
    channel: str
    timestamp: datetime
    received_at: datetime
    message_id: str
    source_id: str
    profile_id: str | None
    properties: dict[str, Any]
    context: dict[str, Any]
    traits: dict[str, Any] | None
