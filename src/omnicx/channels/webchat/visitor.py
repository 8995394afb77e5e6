"""What a web-chat visitor may see: its own messages and the replies addressed to it.

A visitor is an anonymousId, and identity resolution may join it to a customer with other
conversations and other channels; the widget shows none of those, only web-chat messages this
anonymousId sent and replies sent to it, so claiming someone's email in a chat reveals nothing.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from omnicx.conversations.model import Conversation, Message
from omnicx.profiles.model import Identifier

CHANNEL = "web_chat"


class ProfileLookup(Protocol):
    def owners(self, wanted: Any) -> dict[Identifier, str]: ...


class ConversationReader(Protocol):
    def of_customer(self, canonical_id: str, *, limit: int = 100) -> list[Conversation]: ...
    def messages_of(
        self, conversation_id: str, *, after_seq: int = 0, limit: int = 10_000
    ) -> list[Message]: ...


@dataclass(frozen=True)
class VisitorMessage:
    id: str
    conversation_id: str
    seq: int
    direction: str
    text: str | None
    at: datetime
    sender_name: str | None
    status: str | None

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "conversation_id": self.conversation_id,
            "direction": self.direction,
            "text": self.text,
            "at": self.at.isoformat(),
            "sender_name": self.sender_name if self.direction == "outbound" else None,
        }


def visible(message: Message, anonymous_id: str) -> bool:
    if message.channel != CHANNEL:
        return False
    if message.direction == "inbound":
        return message.metadata.get("anonymous_id") == anonymous_id
    if message.direction == "outbound":
        return message.to == ("anonymous_id", anonymous_id)
    return False


def visitor_messages(
    profiles: ProfileLookup,
    conversations: ConversationReader,
    anonymous_id: str,
    after: dict[str, int],
    *,
    recent: int = 5,
) -> list[VisitorMessage]:
    """Messages the visitor has not been shown yet, oldest first; `after` maps each
    conversation to the last seq already looked at and is advanced in place."""
    owner = profiles.owners({Identifier("anonymous_id", anonymous_id)}).get(
        Identifier("anonymous_id", anonymous_id)
    )
    if owner is None:
        return []
    found: list[VisitorMessage] = []
    for conversation in conversations.of_customer(owner, limit=recent):
        seen = after.get(conversation.id, 0)
        for message in conversations.messages_of(conversation.id, after_seq=seen):
            shown = visible(message, anonymous_id)
            if shown and message.direction == "outbound" and message.status == "queued":
                break  # shown once the worker has sent it, so it can be marked delivered
            seen = max(seen, message.seq)
            if shown and message.status != "failed":
                found.append(
                    VisitorMessage(
                        message.id,
                        conversation.id,
                        message.seq,
                        message.direction,
                        message.text,
                        message.created_at,
                        message.sender_name,
                        message.status,
                    )
                )
        after[conversation.id] = seen
    found.sort(key=lambda m: (m.at, m.seq))
    return found
