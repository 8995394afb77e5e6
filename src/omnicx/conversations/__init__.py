"""Conversations that follow the customer across channels.

One thread per customer, each message with its own channel.
"""

from omnicx.conversations.fakes import FakeChannelSender
from omnicx.conversations.messages import (
    ConversationAssigned,
    ConversationOpened,
    ConversationsMerged,
    ConversationSplit,
    ConversationStatusChanged,
    MessageDeliveryChanged,
    MessageReceived,
    MessageSent,
)
from omnicx.conversations.model import (
    AttachmentIn,
    Conversation,
    DeliveryUpdate,
    InboundMessage,
    Message,
    Receipt,
    Reply,
    Template,
    ThreadHints,
)
from omnicx.conversations.ports import (
    ChannelSender,
    OutboundMessage,
    SendContext,
    SendFailed,
    SendResult,
    ThreadHeaders,
)

__all__ = [
    "AttachmentIn",
    "ChannelSender",
    "Conversation",
    "ConversationAssigned",
    "ConversationOpened",
    "ConversationSplit",
    "ConversationStatusChanged",
    "ConversationsMerged",
    "DeliveryUpdate",
    "FakeChannelSender",
    "InboundMessage",
    "Message",
    "MessageDeliveryChanged",
    "MessageReceived",
    "MessageSent",
    "OutboundMessage",
    "Receipt",
    "Reply",
    "SendContext",
    "SendFailed",
    "SendResult",
    "Template",
    "ThreadHeaders",
    "ThreadHints",
]
