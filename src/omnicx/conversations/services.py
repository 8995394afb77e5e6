"""Verb-named conversation services: receiving, replying, delivery, status, merge and split.

They see a `ConversationRepository` and plain facts; the composition root resolves the
customer and writes the timeline in the same unit of work.
"""

import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from omnicx.conversations.messages import (
    ContactReasonChanged,
    ConversationAssigned,
    ConversationOpened,
    ConversationsMerged,
    ConversationSplit,
    ConversationStatusChanged,
    CsatRecorded,
    MessageDeliveryChanged,
    MessageReceived,
    MessageSent,
)
from omnicx.conversations.model import (
    REACH,
    REPLY_ORDER,
    Attachment,
    AttachmentIn,
    Conversation,
    DeliveryStatus,
    DeliveryUpdate,
    InboundMessage,
    Message,
    Receipt,
    Reply,
    Status,
    check_csat,
    check_labels,
    check_priority,
    check_transition,
)
from omnicx.conversations.ports import ChannelSender, ConversationRepository, SendContext
from omnicx.kernel import Conflict, Event, Invalid, NotFound, new_id

Raise = Callable[[Event], None]

DELIVERY_RANK = {"queued": 0, "sent": 1, "delivered": 2, "read": 3, "undelivered": 4, "failed": 4}


@dataclass(frozen=True)
class ConversationPolicy:
    reopen_days: int = 7
    contact_reasons: tuple[str, ...] = ()
    max_attachment_bytes: int = 10 * 1024 * 1024
    max_message_bytes: int = 25 * 1024 * 1024
    max_text_chars: int = 100_000
    email_domain: str = "omnicx.localhost"


def _get(repo: ConversationRepository, conversation_id: str, *, lock: bool = False) -> Conversation:
    conversation = repo.get(conversation_id, lock=lock)
    if conversation is None:
        raise NotFound(
            "conversation_not_found", f"no conversation {conversation_id}", "conversation_id"
        )
    return conversation


def _live(repo: ConversationRepository, conversation: Conversation | None) -> Conversation | None:
    seen = 0
    while conversation is not None and conversation.merged_into is not None and seen < 20:
        conversation = repo.get(conversation.merged_into)
        seen += 1
    return conversation


# -- receiving ------------------------------------------------------------------------------


def check_inbound(inbound: InboundMessage, policy: ConversationPolicy) -> None:
    if not inbound.channel or not inbound.channel.replace("_", "").isalnum():
        raise Invalid("invalid_channel", "channel must be a lower-case name", "channel")
    if not inbound.sender:
        raise Invalid("sender_required", "an inbound message needs a sender identifier", "sender")
    if inbound.received_at.tzinfo is None:
        raise Invalid("invalid_received_at", "received_at needs a time zone", "received_at")
    for body, name in ((inbound.text, "text"), (inbound.html, "html")):
        if body is not None and len(body) > policy.max_text_chars:
            raise Invalid(
                "message_too_long",
                f"{name} is longer than {policy.max_text_chars} characters",
                name,
            )


def _keep_attachments(
    attachments: Sequence[AttachmentIn], policy: ConversationPolicy
) -> tuple[list[AttachmentIn], list[str]]:
    """Attachments within the size limits, and a warning for each one left out."""
    kept: list[AttachmentIn] = []
    warnings: list[str] = []
    total = 0
    for attachment in attachments:
        size = len(attachment.content)
        if size > policy.max_attachment_bytes:
            warnings.append(
                f"attachment {attachment.filename!r} ({size} bytes) is over the "
                f"{policy.max_attachment_bytes}-byte limit and was not kept"
            )
        elif total + size > policy.max_message_bytes:
            warnings.append(
                f"attachment {attachment.filename!r} was not kept: the message's attachments "
                f"are over {policy.max_message_bytes} bytes"
            )
        else:
            total += size
            kept.append(attachment)
    return kept, warnings


def _hinted(
    repo: ConversationRepository, inbound: InboundMessage, customer_id: str
) -> Conversation | None:
    thread = inbound.thread
    found = None
    if thread.conversation_id:
        found = repo.get(thread.conversation_id)
    if found is None and thread.reply_token:
        found = repo.by_reply_token(thread.reply_token)
    if found is None:
        ids = [i for i in (thread.in_reply_to, *reversed(thread.references)) if i]
        found = repo.by_email_ids(ids)
    found = _live(repo, found)
    if found is None or found.customer_id != customer_id:
        return None
    return found


def _joinable(conversation: Conversation, now: datetime, policy: ConversationPolicy) -> bool:
    if conversation.is_active:
        return True
    if conversation.status != "resolved" or conversation.resolved_at is None:
        return False
    return now - conversation.resolved_at <= timedelta(days=policy.reopen_days)


def _pick(
    repo: ConversationRepository,
    inbound: InboundMessage,
    customer_id: str,
    now: datetime,
    policy: ConversationPolicy,
) -> Conversation | None:
    hinted = _hinted(repo, inbound, customer_id)
    if hinted is not None and _joinable(hinted, now, policy):
        return hinted
    mine = repo.of_customer(customer_id)
    for conversation in mine:
        if conversation.is_active:
            return conversation
    for conversation in mine:
        if _joinable(conversation, now, policy):
            return conversation
    return None


def receive(
    repo: ConversationRepository,
    inbound: InboundMessage,
    customer_id: str,
    *,
    now: datetime,
    policy: ConversationPolicy,
    raise_event: Raise,
    new_customer: bool = False,
) -> tuple[Receipt, Message]:
    """Store an inbound message in the customer's conversation (opened or reopened as needed).

    The caller checked `provider_message_id` for a duplicate and holds the customer's lock;
    `new_customer`: the customer was created for this message, so has no conversation yet.
    """
    repo.lock_customer(customer_id)
    conversation = None if new_customer else _pick(repo, inbound, customer_id, now, policy)
    created = conversation is None
    at = inbound.received_at
    if conversation is None:
        conversation = Conversation(
            id=new_id(),
            customer_id=customer_id,
            status="open",
            priority="normal",
            created_at=now,
            updated_at=now,
            subject=inbound.thread.subject,
            reply_token=secrets.token_hex(12),
            last_inbound_channel=inbound.channel,
            last_message_at=at,
            channels=(inbound.channel,),
        )
        repo.add_conversation(conversation)
        raise_event(ConversationOpened(customer_id, conversation.id, inbound.channel))
    reopened = not created and conversation.status != "open"
    attachments, dropped = _keep_attachments(inbound.attachments, policy)
    message = Message(
        id=new_id(),
        conversation_id=conversation.id,
        customer_id=customer_id,
        seq=1 if created else repo.next_seq(conversation.id),
        direction="inbound",
        kind=inbound.kind,
        channel=inbound.channel,
        account=inbound.account,
        sender_kind="customer",
        sender_id=customer_id,
        created_at=at,
        text=inbound.text,
        html=inbound.html,
        subject=inbound.thread.subject,
        sender_name=inbound.sender_name,
        provider_message_id=inbound.provider_message_id,
        email_message_id=inbound.provider_message_id if inbound.channel == "email" else None,
        in_reply_to=inbound.thread.in_reply_to,
        references=inbound.thread.references,
        warnings=(*inbound.warnings, *dropped),
        metadata=dict(inbound.metadata),
    )
    repo.add_message(message)
    stored = _store_attachments(repo, message.id, attachments, now)
    if not created:  # a new conversation was written with all of this
        changes: dict[str, Any] = {
            "updated_at": now,
            "last_inbound_channel": inbound.channel,
            "last_message_at": max(at, conversation.last_message_at or at),
            "channels": _with_channel(conversation.channels, inbound.channel),
        }
        if conversation.subject is None and inbound.thread.subject:
            changes["subject"] = inbound.thread.subject
        if reopened:
            changes.update(status="open", snoozed_until=None, resolved_at=None)
            raise_event(
                ConversationStatusChanged(customer_id, conversation.id, conversation.status, "open")
            )
        repo.update(conversation.id, **changes)
    raise_event(
        MessageReceived(
            customer_id, conversation.id, message.id, inbound.channel, inbound.kind, reopened
        )
    )
    receipt = Receipt(customer_id, conversation.id, message.id, created, False)
    return receipt, replace(message, attachments=stored)


def _with_channel(channels: Sequence[str], channel: str) -> tuple[str, ...]:
    return tuple(channels) if channel in channels else (*channels, channel)


def _store_attachments(
    repo: ConversationRepository,
    message_id: str,
    attachments: Sequence[AttachmentIn],
    now: datetime,
) -> tuple[Attachment, ...]:
    stored = []
    for item in attachments:
        attachment = Attachment(
            new_id(),
            message_id,
            (item.filename or "attachment")[:255],
            (item.content_type or "application/octet-stream")[:200],
            len(item.content),
        )
        repo.add_attachment(attachment, item.content, now)
        stored.append(attachment)
    return tuple(stored)


# -- replying -------------------------------------------------------------------------------


def reachable(
    identifiers: Sequence[tuple[str, str]],
    channel: str,
    blocked: Mapping[str, str] | None = None,
) -> tuple[str, str] | None:
    """The customer identifier a message on `channel` goes to, or None when the customer
    cannot be reached there. This is the one place reachability is decided: `blocked` holds
    the channels consent rules out (an opt-out, a suppression), each with why."""
    if blocked and channel in blocked:
        return None
    for kind in REACH.get(channel, (channel, f"{channel}_id")):
        for held_kind, value in identifiers:
            if held_kind == kind:
                return held_kind, value
    return None


@dataclass(frozen=True)
class Route:
    channel: str
    to: tuple[str, str]
    account: str | None
    sender: ChannelSender


def _route_on(
    repo: ConversationRepository,
    conversation: Conversation,
    channel: str,
    reply: Reply | None,
    *,
    identifiers: Sequence[tuple[str, str]],
    senders: Mapping[str, ChannelSender],
    now: datetime,
    blocked: Mapping[str, str] | None,
) -> Route | str:
    """The route a reply on `channel` takes now, or why that channel cannot be used."""
    to = reachable(identifiers, channel, blocked)
    if to is None and blocked and channel in blocked:
        return blocked[channel]
    if to is None:
        return "the customer has no identifier this channel can reach"
    last = repo.last_inbound(conversation.customer_id, channel)
    account = last.account if last is not None else None
    ctx = SendContext(
        customer_id=conversation.customer_id,
        conversation_id=conversation.id,
        channel=channel,
        account=account,
        to=to,
        now=now,
        last_inbound_at=last.created_at if last is not None else None,
        template=reply.template if reply is not None else None,
        has_attachments=bool(reply.attachments) if reply is not None else False,
    )
    refused = senders[channel].can_send(ctx)
    if refused is None:
        return Route(channel, to, account, senders[channel])
    return refused


def _auto_order(conversation: Conversation, senders: Mapping[str, ChannelSender]) -> list[str]:
    order = [conversation.last_inbound_channel, *REPLY_ORDER, *sorted(senders)]
    return list(dict.fromkeys(c for c in order if c and c in senders))


def choose_channel(
    repo: ConversationRepository,
    conversation: Conversation,
    reply: Reply,
    *,
    identifiers: Sequence[tuple[str, str]],
    senders: Mapping[str, ChannelSender],
    now: datetime,
    blocked: Mapping[str, str] | None = None,
) -> Route:
    """The channel a reply goes out on: the one named, or with "auto" the channel of the last
    inbound message, then the next reachable one whose rules and consent allow it."""
    if reply.channel == "auto":
        candidates = _auto_order(conversation, senders)
    else:
        if reply.channel not in senders:
            raise Invalid(
                "unknown_channel", f"no channel {reply.channel!r} can send replies", "channel"
            )
        candidates = [reply.channel]
    reasons: list[str] = []
    for channel in candidates:
        found = _route_on(
            repo,
            conversation,
            channel,
            reply,
            identifiers=identifiers,
            senders=senders,
            now=now,
            blocked=blocked,
        )
        if isinstance(found, Route):
            return found
        reasons.append(f"{channel}: {found}")
    if not candidates:
        raise Conflict("no_channel", "no channel can send replies", "channel")
    raise Conflict("channel_unavailable", "; ".join(reasons), "channel")


def reply_channels(
    repo: ConversationRepository,
    conversation: Conversation,
    *,
    identifiers: Sequence[tuple[str, str]],
    senders: Mapping[str, ChannelSender],
    now: datetime,
    blocked: Mapping[str, str] | None = None,
) -> list[tuple[str, str | None]]:
    """Every channel that sends replies, in the order "auto" tries them, each with None when
    a plain text reply could go out on it now, else why not (as `choose_channel` decides)."""
    out: list[tuple[str, str | None]] = []
    for channel in _auto_order(conversation, senders):
        found = _route_on(
            repo,
            conversation,
            channel,
            None,
            identifiers=identifiers,
            senders=senders,
            now=now,
            blocked=blocked,
        )
        out.append((channel, None if isinstance(found, Route) else found))
    return out


def check_reply(reply: Reply, policy: ConversationPolicy) -> None:
    if not (reply.text or reply.html or reply.attachments or reply.template):
        raise Invalid("empty_reply", "a reply needs text, html, attachments or a template", "text")
    for body, name in ((reply.text, "text"), (reply.html, "html")):
        if body is not None and len(body) > policy.max_text_chars:
            raise Invalid(
                "message_too_long",
                f"{name} is longer than {policy.max_text_chars} characters",
                name,
            )
    total = 0
    for attachment in reply.attachments:
        total += len(attachment.content)
        if len(attachment.content) > policy.max_attachment_bytes:
            raise Invalid(
                "attachment_too_large",
                f"attachment {attachment.filename!r} is over {policy.max_attachment_bytes} bytes",
                "attachments",
            )
    if total > policy.max_message_bytes:
        raise Invalid(
            "attachments_too_large",
            f"attachments are over {policy.max_message_bytes} bytes together",
            "attachments",
        )
    if reply.note and (reply.template or reply.channel != "auto"):
        raise Invalid("invalid_note", "an internal note has no channel nor template", "channel")


def reply(
    repo: ConversationRepository,
    conversation_id: str,
    answer: Reply,
    *,
    identifiers: Sequence[tuple[str, str]],
    senders: Mapping[str, ChannelSender],
    now: datetime,
    policy: ConversationPolicy,
    raise_event: Raise,
    enqueue: Callable[[str], None],
    blocked: Mapping[str, str] | None = None,
) -> Message:
    """Store an agent's reply as queued and have it sent (`enqueue(message_id)` writes the
    outbox row); an internal note is stored and never sent. `blocked`: the channels consent
    rules out for service messages to this customer, with why."""
    check_reply(answer, policy)
    conversation = _get(repo, conversation_id, lock=True)
    if conversation.merged_into is not None:
        raise Conflict(
            "conversation_merged", f"conversation was merged into {conversation.merged_into}"
        )
    if conversation.status == "closed" and not answer.note:
        raise Conflict("conversation_closed", "a closed conversation takes no replies")
    author = answer.author
    common: dict[str, Any] = {
        "id": new_id(),
        "conversation_id": conversation.id,
        "customer_id": conversation.customer_id,
        "seq": repo.next_seq(conversation.id),
        "sender_kind": "agent"
        if author.kind == "user"
        else ("system" if author.role == "system" else "bot"),
        "sender_id": author.id,
        "sender_name": author.name,
        "created_at": now,
        "text": answer.text,
        "html": answer.html,
        "kind": "message",
    }
    if answer.note:
        message = Message(direction="note", channel="note", account=None, **common)
        repo.add_message(message)
        stored = _store_attachments(repo, message.id, answer.attachments, now)
        repo.update(conversation.id, updated_at=now)
        raise_event(
            MessageSent(
                conversation.customer_id, conversation.id, message.id, "note", "note", author.id
            )
        )
        return replace(message, attachments=stored)
    route = choose_channel(
        repo,
        conversation,
        answer,
        identifiers=identifiers,
        senders=senders,
        now=now,
        blocked=blocked,
    )
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    subject = answer.subject or conversation.subject
    if route.channel == "email":
        last = repo.last_inbound(conversation.customer_id, "email", conversation.id)
        if last is not None and last.email_message_id:
            in_reply_to = last.email_message_id
            references = (*last.references, last.email_message_id)[-20:]
        if subject and in_reply_to and not subject.lower().startswith("re:"):
            subject = f"Re: {subject}"
    metadata: dict[str, Any] = {}
    if answer.template is not None:
        metadata["template"] = {
            "name": answer.template.name,
            "language": answer.template.language,
            "params": list(answer.template.params),
        }
    message = Message(
        direction="outbound",
        channel=route.channel,
        account=route.account,
        to=route.to,
        subject=subject,
        email_message_id=f"<{common['id']}@{policy.email_domain}>"
        if route.channel == "email"
        else None,
        in_reply_to=in_reply_to,
        references=references,
        status="queued",
        metadata=metadata,
        **common,
    )
    repo.add_message(message)
    stored = _store_attachments(repo, message.id, answer.attachments, now)
    repo.add_delivery(DeliveryStatus(message.id, "queued", now))
    repo.update(
        conversation.id,
        updated_at=now,
        last_message_at=max(now, conversation.last_message_at or now),
        channels=_with_channel(conversation.channels, route.channel),
    )
    enqueue(message.id)
    raise_event(
        MessageSent(
            conversation.customer_id,
            conversation.id,
            message.id,
            route.channel,
            "outbound",
            author.id,
        )
    )
    return replace(message, attachments=stored)


# -- delivery -------------------------------------------------------------------------------


def record_delivery(
    repo: ConversationRepository, update: DeliveryUpdate, *, now: datetime, raise_event: Raise
) -> Message:
    """Append a provider's status to the message's history; the current status only moves
    forward (a late "sent" after "delivered" is kept in the history alone)."""
    if update.status not in DELIVERY_RANK:
        raise Invalid("invalid_status", f"unknown delivery status {update.status!r}", "status")
    message = repo.by_provider_id(update.channel, update.provider_message_id)
    if message is None or message.direction != "outbound":
        raise NotFound(
            "message_not_found",
            f"no {update.channel} message {update.provider_message_id}",
            "provider_message_id",
        )
    history = repo.deliveries(message.id)
    if any(h.status == update.status and h.at == update.at for h in history):
        return message
    repo.add_delivery(DeliveryStatus(message.id, update.status, update.at, update.error))
    current = DELIVERY_RANK.get(message.status or "queued", 0)
    if DELIVERY_RANK[update.status] >= current:
        repo.set_delivery(message.id, update.status, None, now)
        message = replace(message, status=update.status)
    raise_event(
        MessageDeliveryChanged(
            message.customer_id,
            message.conversation_id,
            message.id,
            message.channel,
            update.status,
            update.error,
        )
    )
    return message


def mark_sent(
    repo: ConversationRepository,
    message: Message,
    *,
    provider_message_id: str | None,
    status: str,
    error: str | None,
    now: datetime,
    raise_event: Raise,
) -> None:
    state = status if status in DELIVERY_RANK else "sent"
    repo.set_delivery(message.id, state, provider_message_id, now)  # type: ignore[arg-type]
    repo.add_delivery(DeliveryStatus(message.id, state, now, error))  # type: ignore[arg-type]
    raise_event(
        MessageDeliveryChanged(
            message.customer_id, message.conversation_id, message.id, message.channel, state, error
        )
    )


# -- changes --------------------------------------------------------------------------------


def change_status(
    repo: ConversationRepository,
    conversation_id: str,
    status: str,
    *,
    snoozed_until: datetime | None,
    now: datetime,
    raise_event: Raise,
) -> Conversation:
    conversation = _get(repo, conversation_id, lock=True)
    check_transition(conversation, status, now, snoozed_until)  # type: ignore[arg-type]
    new: Status = status  # type: ignore[assignment]
    values: dict[str, Any] = {"status": new, "updated_at": now, "snoozed_until": snoozed_until}
    if new == "resolved":
        values["resolved_at"] = now
    elif new == "closed":
        values["closed_at"] = now
    elif new == "open":
        values["resolved_at"] = None
    repo.update(conversation.id, **values)
    raise_event(
        ConversationStatusChanged(
            conversation.customer_id, conversation.id, conversation.status, new
        )
    )
    return _get(repo, conversation.id)


def change_details(
    repo: ConversationRepository,
    conversation_id: str,
    *,
    priority: str | None = None,
    contact_reason: str | None = None,
    clear_reason: bool = False,
    labels: Sequence[str] | None = None,
    reasons: Sequence[str],
    now: datetime,
    raise_event: Raise,
) -> Conversation:
    conversation = _get(repo, conversation_id, lock=True)
    if conversation.merged_into is not None:
        raise Conflict(
            "conversation_merged", f"conversation was merged into {conversation.merged_into}"
        )
    values: dict[str, Any] = {}
    if priority is not None:
        values["priority"] = check_priority(priority)
    if contact_reason is not None:
        if contact_reason not in reasons:
            raise Invalid(
                "invalid_contact_reason",
                f"contact reason must be one of: {', '.join(reasons) or '(none configured)'}",
                "contact_reason",
            )
        values["contact_reason"] = contact_reason
    elif clear_reason:
        values["contact_reason"] = None
    if labels is not None:
        values["labels"] = check_labels(list(labels))
    if values:
        repo.update(conversation.id, updated_at=now, **values)
    reason = values.get("contact_reason", conversation.contact_reason)
    if reason != conversation.contact_reason:
        raise_event(
            ContactReasonChanged(
                conversation.customer_id, conversation.id, conversation.contact_reason, reason
            )
        )
    return _get(repo, conversation.id)


def assign(
    repo: ConversationRepository,
    conversation_id: str,
    *,
    team_id: str | None,
    assignee_id: str | None,
    now: datetime,
    raise_event: Raise,
) -> Conversation:
    """Set the team and agent (None unassigns); the desk decides who."""
    conversation = _get(repo, conversation_id, lock=True)
    if conversation.status == "closed" or conversation.merged_into is not None:
        raise Conflict("conversation_closed", "a closed conversation cannot be assigned")
    if (conversation.team_id, conversation.assignee_id) == (team_id, assignee_id):
        return conversation
    repo.update(conversation.id, team_id=team_id, assignee_id=assignee_id, updated_at=now)
    raise_event(
        ConversationAssigned(
            conversation.customer_id,
            conversation.id,
            team_id,
            assignee_id,
            conversation.team_id,
            conversation.assignee_id,
        )
    )
    return _get(repo, conversation.id)


def set_sla(
    repo: ConversationRepository,
    conversation_id: str,
    *,
    sla_policy_id: str | None,
    sla: Mapping[str, Any],
    now: datetime,
) -> None:
    """The desk's SLA policy and clocks for the conversation."""
    _get(repo, conversation_id)
    repo.update(conversation_id, sla_policy_id=sla_policy_id, sla=dict(sla), updated_at=now)


def record_csat(
    repo: ConversationRepository,
    conversation_id: str,
    *,
    score: int,
    comment: str | None,
    at: datetime,
    raise_event: Raise,
) -> Conversation:
    check_csat(score, comment)
    conversation = _get(repo, conversation_id, lock=True)
    if conversation.csat is not None:
        raise Conflict("csat_recorded", "this conversation's CSAT was recorded already")
    repo.update(conversation.id, csat_score=score, csat_comment=comment, csat_at=at, updated_at=at)
    raise_event(CsatRecorded(conversation.customer_id, conversation.id, score, at))
    return _get(repo, conversation.id)


# -- merge and split ------------------------------------------------------------------------


def _order(messages: Sequence[Message], rank: Mapping[str, int]) -> list[str]:
    return [
        m.id for m in sorted(messages, key=lambda m: (m.created_at, rank[m.conversation_id], m.seq))
    ]


def merge(
    repo: ConversationRepository,
    conversation_id: str,
    merged_id: str,
    *,
    now: datetime,
    raise_event: Raise,
) -> Conversation:
    """Move every message of `merged_id` into `conversation_id`, in time order; the merged
    conversation is closed and points at the survivor."""
    if conversation_id == merged_id:
        raise Invalid("merge_self", "a conversation cannot be merged into itself", "merged_id")
    target = _get(repo, conversation_id, lock=True)
    source = repo.get(merged_id, lock=True)
    if source is None:
        raise NotFound("conversation_not_found", f"no conversation {merged_id}", "merged_id")
    for c in (target, source):
        if c.merged_into is not None:
            raise Conflict("conversation_merged", f"conversation {c.id} was merged already")
    if target.status == "closed":
        raise Conflict("conversation_closed", "a closed conversation cannot take messages")
    if target.customer_id != source.customer_id:
        raise Conflict(
            "different_customers", "only conversations of the same customer can be merged"
        )
    moving = repo.messages_of(source.id)
    staying = repo.messages_of(target.id)
    repo.move_messages([m.id for m in moving], target.id)
    ordered = _order([*staying, *moving], {target.id: 0, source.id: 1})
    repo.renumber(target.id, ordered)
    channels = target.channels
    for channel in source.channels:
        channels = _with_channel(channels, channel)
    last = [c.last_message_at for c in (target, source) if c.last_message_at is not None]
    repo.update(
        target.id,
        channels=channels,
        labels=check_labels([*target.labels, *source.labels]),
        last_message_at=max(last) if last else None,
        last_inbound_channel=_last_inbound([*staying, *moving]) or target.last_inbound_channel,
        updated_at=now,
    )
    repo.update(source.id, merged_into=target.id, status="closed", closed_at=now, updated_at=now)
    if source.status != "closed":
        raise_event(
            ConversationStatusChanged(source.customer_id, source.id, source.status, "closed")
        )
    raise_event(ConversationsMerged(target.customer_id, target.id, source.id))
    return _get(repo, target.id)


def _last_inbound(messages: Sequence[Message]) -> str | None:
    inbound = [m for m in messages if m.direction == "inbound"]
    return max(inbound, key=lambda m: (m.created_at, m.seq)).channel if inbound else None


def split(
    repo: ConversationRepository,
    conversation_id: str,
    from_message_id: str,
    *,
    now: datetime,
    raise_event: Raise,
) -> Conversation:
    """Move the message `from_message_id` and every later one into a new conversation."""
    source = _get(repo, conversation_id, lock=True)
    if source.merged_into is not None or source.status == "closed":
        raise Conflict("conversation_closed", "a closed conversation cannot be split")
    messages = repo.messages_of(source.id)
    index = next((i for i, m in enumerate(messages) if m.id == from_message_id), None)
    if index is None:
        raise NotFound(
            "message_not_found",
            f"no message {from_message_id} in conversation {source.id}",
            "message_id",
        )
    if index == 0:
        raise Invalid(
            "split_at_first",
            "splitting at the first message would leave the conversation empty",
            "message_id",
        )
    staying, moving = messages[:index], messages[index:]
    new = Conversation(
        id=new_id(),
        customer_id=source.customer_id,
        status="open",
        priority=source.priority,
        created_at=now,
        updated_at=now,
        last_message_at=max(m.created_at for m in moving),
        last_inbound_channel=_last_inbound(moving),
        subject=source.subject,
        contact_reason=source.contact_reason,
        team_id=source.team_id,
        labels=source.labels,
        channels=tuple(dict.fromkeys(m.channel for m in moving if m.direction != "note")),
        split_from=source.id,
        reply_token=secrets.token_hex(12),
    )
    repo.add_conversation(new)
    repo.move_messages([m.id for m in moving], new.id)
    repo.renumber(new.id, [m.id for m in moving])
    repo.update(
        source.id,
        channels=tuple(dict.fromkeys(m.channel for m in staying if m.direction != "note")),
        last_message_at=max(m.created_at for m in staying),
        last_inbound_channel=_last_inbound(staying),
        updated_at=now,
    )
    raise_event(ConversationOpened(new.customer_id, new.id, moving[0].channel))
    raise_event(ConversationSplit(new.customer_id, new.id, source.id))
    return _get(repo, new.id)
