"""Web chat: the embeddable widget's channel, visitor tokens, and the live fan-out that carries
committed conversation news to agents' and visitors' streams."""

from omnicx.channels.webchat.broadcast import (
    AGENTS,
    Broadcaster,
    LocalBroadcaster,
    RedisBroadcaster,
    Subscription,
    build_broadcaster,
    visitor_topic,
)
from omnicx.channels.webchat.feed import STREAM_TYPES
from omnicx.channels.webchat.feed import relay as relay_to_stream
from omnicx.channels.webchat.sender import CHANNEL, WebChatSender, presence_key
from omnicx.channels.webchat.token import (
    ChatVisitor,
    TokenRefused,
    chat_key,
    check_anonymous_id,
    issue,
    verify,
)

__all__ = [
    "AGENTS",
    "CHANNEL",
    "STREAM_TYPES",
    "Broadcaster",
    "ChatVisitor",
    "LocalBroadcaster",
    "RedisBroadcaster",
    "Subscription",
    "TokenRefused",
    "WebChatSender",
    "build_broadcaster",
    "chat_key",
    "check_anonymous_id",
    "issue",
    "presence_key",
    "relay_to_stream",
    "verify",
    "visitor_topic",
]
