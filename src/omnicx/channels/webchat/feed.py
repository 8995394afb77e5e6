"""What the agents' live stream carries: the conversation domain's events, once committed.

    type                          from
    conversation.opened           ConversationOpened
    message.received              MessageReceived (a message, a call or a store visit)
    message.sent                  MessageSent (an agent's reply, queued; or an internal note)
    message.delivery              MessageDeliveryChanged
    conversation.status_changed   ConversationStatusChanged
    conversation.assigned         ConversationAssigned (the desk's assignment)
    conversations.merged          ConversationsMerged
    conversation.split            ConversationSplit
    sla.warning                   SlaWarning (the desk's scheduled check)
    sla.breached                  SlaBreached

Each payload holds the event's ids and facts (customer, conversation, message, channel,
statuses, assignee), never a body: a reader opens the conversation through the API, which
checks and audits that read.
"""

import dataclasses
import time
from typing import Any

from omnicx.channels.webchat.broadcast import AGENTS, Broadcaster
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
from omnicx.db import UnitOfWork
from omnicx.desk.messages import SlaBreached, SlaWarning
from omnicx.kernel import Event, MessageBus

EVENT_TYPES: dict[type[Event], str] = {
    ConversationOpened: "conversation.opened",
    MessageReceived: "message.received",
    MessageSent: "message.sent",
    MessageDeliveryChanged: "message.delivery",
    ConversationStatusChanged: "conversation.status_changed",
    ConversationAssigned: "conversation.assigned",
    ConversationsMerged: "conversations.merged",
    ConversationSplit: "conversation.split",
    SlaWarning: "sla.warning",
    SlaBreached: "sla.breached",
}
STREAM_TYPES = frozenset(EVENT_TYPES.values())


def payload(event: Event) -> dict[str, Any]:
    return {
        "type": EVENT_TYPES[type(event)],
        "published_at": time.time(),
        **dataclasses.asdict(event),
    }


def relay(bus: MessageBus, broadcaster: Broadcaster) -> None:
    """Publish each conversation event to the agents' topic after its transaction commits
    (a rolled-back change is never announced)."""

    def announce(event: Event, uow: UnitOfWork) -> None:
        news = payload(event)
        uow.on_commit(lambda: broadcaster.publish(AGENTS, news))

    for event_type in EVENT_TYPES:
        bus.subscribe(event_type, announce)
