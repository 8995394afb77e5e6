"""`SqlConversationDesk`: the desk's `ConversationDesk` port over the conversations domain,
bound to one unit of work so what the desk does commits (or rolls back) with the change that
caused it."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from omnicx.access.model import Principal, StaffUser
from omnicx.access.store import SqlUserRepository
from omnicx.conversations import Conversation, Message, Reply
from omnicx.conversations import services as conversations
from omnicx.conversations.inbox import Inbox
from omnicx.conversations.store import SqlConversationRepository
from omnicx.crypto import FieldCipher
from omnicx.db import UnitOfWork
from omnicx.profiles.store import SqlProfileRepository

SYSTEM = Principal("api_key", "desk", "omnicx", "system", frozenset())
"""The author of the desk's own messages (CSAT asks, notes): stored with sender kind
`system`, and never counted as an agent's response by SLA clocks."""


class SqlConversationDesk:
    def __init__(
        self,
        uow: UnitOfWork,
        cipher: FieldCipher,
        inbox: Inbox,
        contact_reasons: Sequence[str],
    ) -> None:
        self.uow = uow
        self.inbox = inbox
        self.reasons = tuple(contact_reasons)
        self.repo = SqlConversationRepository(uow.conn, cipher)
        self.profiles = SqlProfileRepository(uow.conn, cipher)
        self.users = SqlUserRepository(uow.conn)
        self._traits: dict[str, dict[str, Any]] = {}

    def _now(self) -> datetime:
        return self.uow.clock.now()

    def conversation(self, conversation_id: str) -> Conversation | None:
        return self.repo.get(conversation_id)

    def message(self, message_id: str) -> Message | None:
        return self.repo.message(message_id)

    def _canonical(self, customer_id: str) -> str:
        profile = self.profiles.get(customer_id)
        return profile.canonical_id if profile is not None else customer_id

    def last_inbound(self, conversation_id: str) -> Message | None:
        conversation = self.repo.get(conversation_id)
        if conversation is None or conversation.last_inbound_channel is None:
            return None
        return self.repo.last_inbound(
            self._canonical(conversation.customer_id),
            conversation.last_inbound_channel,
            conversation_id,
        )

    def traits(self, customer_id: str) -> dict[str, Any]:
        """The customer's traits, read once per port: the desk writes none, and one reaction
        asks for them more than once (routing, then placing with the language)."""
        if customer_id not in self._traits:
            found = self.profiles.traits_of(self._canonical(customer_id))
            self._traits[customer_id] = {name: trait.value for name, trait in found.items()}
        return dict(self._traits[customer_id])

    def staff(self, user_id: str) -> StaffUser | None:
        return self.users.get(user_id)

    def assign(
        self, conversation_id: str, team_id: str | None, assignee_id: str | None, actor: str
    ) -> None:
        conversations.assign(
            self.repo,
            conversation_id,
            team_id=team_id,
            assignee_id=assignee_id,
            now=self._now(),
            raise_event=self.uow.raise_event,
        )

    def classify(self, conversation_id: str, priority: str | None, labels: tuple[str, ...]) -> None:
        current = self.repo.get(conversation_id)
        if current is None:
            return
        conversations.change_details(
            self.repo,
            conversation_id,
            priority=priority,
            labels=[*current.labels, *labels] if labels else None,
            reasons=self.reasons,
            now=self._now(),
            raise_event=self.uow.raise_event,
        )

    def set_status(self, conversation_id: str, status: str) -> None:
        conversations.change_status(
            self.repo,
            conversation_id,
            status,
            snoozed_until=None,
            now=self._now(),
            raise_event=self.uow.raise_event,
        )

    def set_sla(self, conversation_id: str, summary: dict[str, Any]) -> None:
        self.repo.update(conversation_id, sla=summary)

    def send_system(self, conversation_id: str, channel: str, text: str) -> None:
        self.inbox.reply_within(
            self.uow, conversation_id, Reply(author=SYSTEM, channel=channel, text=text)
        )

    def note_system(self, conversation_id: str, text: str) -> None:
        self.inbox.reply_within(
            self.uow, conversation_id, Reply(author=SYSTEM, text=text, note=True)
        )

    def record_csat(
        self, conversation_id: str, score: int, comment: str | None, at: datetime
    ) -> None:
        conversations.record_csat(
            self.repo,
            conversation_id,
            score=score,
            comment=comment,
            at=at,
            raise_event=self.uow.raise_event,
        )
