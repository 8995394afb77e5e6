"""The desk's bus handlers: what it does when conversations change.

    ConversationOpened          route by the rules (team, priority, labels), then place it
    MessageReceived             a digit reply to an open CSAT ask records it (and the
                                conversation stays resolved); else start or resume the SLA
                                clocks and hand an unowned conversation to an agent
    MessageSent                 an agent's outbound message stops the response clocks
    ConversationStatusChanged   pause, resume or stop clocks; a resolution frees the agent
                                (back-fill) and asks CSAT on the last inbound channel
    ConversationsMerged         the survivor keeps the earliest clock of each metric
    ConversationSplit           a split-off conversation whose customer still awaits an answer
                                starts its own clocks, from their last message

Handlers run inside the unit of work that raised the event: anything they write commits with
that change, and a handler that fails rolls the whole change back.
"""

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from omnicx.conversations import (
    Conversation,
    ConversationOpened,
    ConversationsMerged,
    ConversationSplit,
    ConversationStatusChanged,
    MessageReceived,
    MessageSent,
)
from omnicx.db import UnitOfWork
from omnicx.desk import csat
from omnicx.desk.adapter import SYSTEM, SqlConversationDesk
from omnicx.desk.model import CsatSurvey
from omnicx.desk.services import Desk
from omnicx.desk.store import SqlDeskRepository
from omnicx.kernel import Conflict, Invalid, MessageBus


@dataclass
class DeskReactions:
    core: Desk
    repo_for: Callable[[UnitOfWork], SqlDeskRepository]
    port_for: Callable[[UnitOfWork], SqlConversationDesk]
    key: Callable[[], bytes]
    """The CSAT link key (derived from the index key, which may rotate)."""

    def register(self, bus: MessageBus) -> None:
        bus.subscribe(ConversationOpened, self.opened)
        bus.subscribe(MessageReceived, self.received)
        bus.subscribe(MessageSent, self.sent)
        bus.subscribe(ConversationStatusChanged, self.status_changed)
        bus.subscribe(ConversationsMerged, self.merged)
        bus.subscribe(ConversationSplit, self.split)

    def _language(self, port: SqlConversationDesk, conversation: Conversation) -> str | None:
        traits = port.traits(conversation.customer_id)
        language = traits.get("language") or traits.get("locale")
        return language if isinstance(language, str) else None

    def opened(self, event: ConversationOpened, uow: UnitOfWork) -> None:
        repo, port = self.repo_for(uow), self.port_for(uow)
        conversation = port.conversation(event.conversation_id)
        if conversation is None or not conversation.is_active:
            return
        now = uow.clock.now()
        conversation = self.core.route(repo, port, conversation, now)
        self.core.place(repo, port, conversation, now, self._language(port, conversation))

    def received(self, event: MessageReceived, uow: UnitOfWork) -> None:
        repo, port = self.repo_for(uow), self.port_for(uow)
        conversation = port.conversation(event.conversation_id)
        if conversation is None or conversation.merged_into is not None:
            return
        now = uow.clock.now()
        message = port.message(event.message_id)
        text = message.text if message is not None else None
        if self.core.answer_from_reply(repo, port, conversation.id, text, now):
            if event.reopened and conversation.status == "open":
                port.set_status(conversation.id, "resolved")
            return
        clocks = self.core.start_clocks(repo, conversation, event.channel, now)
        self.core.summarize(repo, port, conversation.id, clocks)
        self._own(repo, port, conversation, now)

    def _own(
        self,
        repo: SqlDeskRepository,
        port: SqlConversationDesk,
        conversation: Conversation,
        now: datetime,
    ) -> None:
        """Make sure the conversation is held or waiting: a reopened one whose agent was
        freed on resolution goes back to that agent when they have room, else to the team."""
        if conversation.team_id is None or repo.queued(conversation.id):
            return
        language = self._language(port, conversation)
        if conversation.assignee_id is None:
            self.core.place(repo, port, conversation, now, language)
            return
        if repo.open_assignment(conversation.id) is not None:
            return
        given = self.core.place(repo, port, replace(conversation, assignee_id=None), now, language)
        if given is None:
            port.assign(conversation.id, conversation.team_id, None, "desk")

    def sent(self, event: MessageSent, uow: UnitOfWork) -> None:
        if event.direction != "outbound" or event.author_id == SYSTEM.id:
            return
        repo = self.repo_for(uow)
        self.core.responded(repo, event.conversation_id, uow.clock.now())
        self.core.summarize(repo, self.port_for(uow), event.conversation_id)

    def status_changed(self, event: ConversationStatusChanged, uow: UnitOfWork) -> None:
        repo, port = self.repo_for(uow), self.port_for(uow)
        now = uow.clock.now()
        survey = self.core.status_changed(repo, port, event.conversation_id, event.new_status, now)
        self.core.summarize(repo, port, event.conversation_id)
        if survey is not None:
            self.ask(repo, port, survey)

    def ask(self, repo: SqlDeskRepository, port: SqlConversationDesk, survey: CsatSurvey) -> None:
        """Send the CSAT ask on the survey's channel; when that channel cannot be used now,
        the survey records why and the agents get a note."""
        token = csat.sign(self.key(), survey.id, survey.expires_at)
        try:
            port.send_system(
                survey.conversation_id, survey.channel, self.core.csat_text(survey, token)
            )
        except (Conflict, Invalid) as refused:
            reason = refused.message
            repo.survey_not_asked(survey.id, reason)
            port.note_system(survey.conversation_id, f"CSAT was not asked ({reason})")

    def merged(self, event: ConversationsMerged, uow: UnitOfWork) -> None:
        repo = self.repo_for(uow)
        self.core.merged(repo, event.conversation_id, event.merged_id)
        self.core.summarize(repo, self.port_for(uow), event.conversation_id)

    def split(self, event: ConversationSplit, uow: UnitOfWork) -> None:
        repo, port = self.repo_for(uow), self.port_for(uow)
        conversation = port.conversation(event.conversation_id)
        last = port.last_inbound(event.conversation_id)
        if conversation is None or last is None or not conversation.is_active:
            return
        if (
            conversation.last_message_at is not None
            and conversation.last_message_at > last.created_at
        ):
            return  # already answered
        since = min(last.created_at, uow.clock.now())
        self.core.start_clocks(repo, conversation, last.channel, since)
        self.core.summarize(repo, port, conversation.id)
