"""Consent events (past tense) and the query other domains ask.

ConsentChanged(customer_id, purpose, channel, state, at, method)
    a consent was recorded; journeys and the send gate may react (exit on opt-out)
ConfirmationRequested(customer_id, confirmation_id, purpose, channel)
    a double opt-in email is on its way
ContactBlocks(customer_id, purpose, channels)  ->  {channel: why it is blocked}
    asked by conversations before an agent's reply picks its channel
"""

from dataclasses import dataclass
from datetime import datetime

from omnicx.kernel import Event, MessageBus, Query


@dataclass(frozen=True)
class ConsentChanged(Event):
    customer_id: str
    purpose: str
    channel: str
    state: str
    at: datetime
    method: str


@dataclass(frozen=True)
class ConfirmationRequested(Event):
    customer_id: str
    confirmation_id: str
    purpose: str
    channel: str


@dataclass(frozen=True)
class ContactBlocks(Query):
    """Which of `channels` may not carry a message of `purpose` to the customer; the answer
    is a dict of channel to the reason, channels that are fine left out."""

    customer_id: str
    purpose: str
    channels: tuple[str, ...]


def blocked_channels(
    bus: MessageBus, uow: object, customer_id: str, purpose: str, channels: tuple[str, ...]
) -> dict[str, str]:
    """Ask `ContactBlocks` on the bus: the channels `purpose` may not use, with why (none when
    consent is not wired)."""
    blocked: dict[str, str] = {}
    for answer in bus.ask(ContactBlocks(customer_id, purpose, channels), uow):
        blocked.update(answer)
    return blocked
