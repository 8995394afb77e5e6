"""The web-chat channel: replies reach a visitor through the widget's open stream.

`can_send` allows a reply while the visitor is present (a stream open now, or closed less
than `away_minutes` ago); once the visitor has left it refuses with the reason, and a reply
with `channel: "auto"` goes on to the next channel the customer can be reached on (email when
the address is known). `send` marks the message sent and nudges the visitor's streams on every
server; the stream reads the message from the database and records it `delivered` when it
reaches the widget.
"""

import time

from omnicx.channels.webchat.broadcast import Broadcaster, visitor_topic
from omnicx.conversations.ports import OutboundMessage, SendContext, SendFailed, SendResult

CHANNEL = "web_chat"


def presence_key(anonymous_id: str) -> str:
    return f"chat:{anonymous_id}"


class WebChatSender:
    channel = CHANNEL
    reaches = ("anonymous_id",)

    def __init__(self, broadcaster: Broadcaster, away_minutes: float) -> None:
        self.broadcaster = broadcaster
        self.away_seconds = away_minutes * 60

    def present(self, anonymous_id: str) -> bool:
        seen = self.broadcaster.last_seen(presence_key(anonymous_id))
        return seen is not None and time.time() - seen < self.away_seconds

    def can_send(self, ctx: SendContext) -> str | None:
        kind, value = ctx.to
        if kind != "anonymous_id":
            return f"web chat reaches a visitor by anonymous_id, not by {kind}"
        if ctx.template is not None:
            return "web chat has no templates"
        if not self.present(value):
            minutes = self.away_seconds / 60
            return f"the visitor left the chat (no open widget for {minutes:g} minutes)"
        return None

    def send(self, out: OutboundMessage) -> SendResult:
        kind, value = out.to
        if kind != "anonymous_id":
            raise SendFailed(f"web chat cannot reach {kind}", retry=False)
        self.broadcaster.publish(
            visitor_topic(value),
            {"type": "message", "conversation_id": out.conversation_id, "id": out.message_id},
        )
        return SendResult(provider_message_id=out.message_id, status="sent")
