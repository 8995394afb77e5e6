"""A conversation's messages: paging through them, replies and internal notes, attachment
downloads and delivery histories.

    GET   /api/conversations/{id}/messages                    the next pages
    GET   /api/conversations/{id}/attachments/{attachment_id} the content, as a download
    GET   /api/conversations/{id}/messages/{message_id}/deliveries
    POST  /api/conversations/{id}/replies                     queued on the chosen channel
    POST  /api/conversations/{id}/notes                       internal, never sent
"""

import base64
import binascii
import re
from collections.abc import Sequence
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from omnicx.api.deps import ServicesDep
from omnicx.api.errors import error_responses
from omnicx.api.routes.conversations import (
    ConversationsRead,
    ConversationsWrite,
    Limit,
    audit_customers,
    find_conversation,
    messages_page,
)
from omnicx.api.schemas.conversations import (
    AttachmentUpload,
    DeliveriesPublic,
    DeliveryPublic,
    MessagePublic,
    MessagesPublic,
    NoteCreate,
    ReplyCreate,
)
from omnicx.bootstrap import Services
from omnicx.conversations import AttachmentIn, Message, Reply, Template
from omnicx.db import UnitOfWork
from omnicx.kernel import Invalid, NotFound

router = APIRouter(prefix="/api", tags=["conversations"])

_MEDIA_TYPE = re.compile(r"^[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+$")
_DOWNLOAD: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The attachment's content, with its content type, as a download.",
        "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
    }
}


@router.get(
    "/conversations/{conversation_id}/messages",
    response_model=MessagesPublic,
    summary="A page of a conversation's messages, oldest first",
)
def list_messages(
    conversation_id: str,
    request: Request,
    services: ServicesDep,
    _: ConversationsRead,
    after: Annotated[
        int,
        Query(ge=0, le=2**31, description="`next` of the previous page: the last position seen."),
    ] = 0,
    limit: Limit = 50,
) -> MessagesPublic:
    with services.uow(write=False) as uow:
        conversation = find_conversation(services, uow, conversation_id)
        messages = messages_page(services, uow, conversation.id, after, limit)
    audit_customers(request, [conversation.customer_id])
    return messages


def _message_of(
    services: Services, uow: UnitOfWork, conversation_id: str, message_id: str
) -> Message:
    message = services.conversations(uow).message(message_id)
    if message is None or message.conversation_id != conversation_id:
        raise NotFound(
            "message_not_found",
            f"no message {message_id} in conversation {conversation_id}",
            "message_id",
        )
    return message


def _disposition(filename: str) -> str:
    fallback = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\;' else "_" for c in filename
    )
    return f"attachment; filename=\"{fallback or 'attachment'}\"; filename*=UTF-8''" + quote(
        filename, safe=""
    )


@router.get(
    "/conversations/{conversation_id}/attachments/{attachment_id}",
    summary="Download an attachment",
    response_class=Response,
    responses=_DOWNLOAD,
)
def download_attachment(
    conversation_id: str,
    attachment_id: str,
    request: Request,
    services: ServicesDep,
    _: ConversationsRead,
) -> Response:
    with services.uow(write=False) as uow:
        repo = services.conversations(uow)
        found = repo.attachment_content(attachment_id)
        message = repo.message(found[0].message_id) if found is not None else None
    if found is None or message is None or message.conversation_id != conversation_id:
        raise NotFound(
            "attachment_not_found",
            f"no attachment {attachment_id} in conversation {conversation_id}",
            "attachment_id",
        )
    attachment, content = found
    audit_customers(request, [message.customer_id])
    media_type = (
        attachment.content_type
        if _MEDIA_TYPE.match(attachment.content_type)
        else "application/octet-stream"
    )
    return Response(
        content,
        media_type=media_type,
        headers={
            "Content-Disposition": _disposition(attachment.filename),
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
        },
    )


@router.get(
    "/conversations/{conversation_id}/messages/{message_id}/deliveries",
    response_model=DeliveriesPublic,
    summary="A message's delivery status history",
)
def message_deliveries(
    conversation_id: str,
    message_id: str,
    request: Request,
    services: ServicesDep,
    _: ConversationsRead,
) -> DeliveriesPublic:
    with services.uow(write=False) as uow:
        message = _message_of(services, uow, conversation_id, message_id)
        history = services.conversations(uow).deliveries(message.id)
    audit_customers(request, [message.customer_id])
    return DeliveriesPublic(
        message_id=message.id,
        channel=message.channel,
        status=message.status,
        items=[DeliveryPublic(status=d.status, at=d.at, error=d.error) for d in history],
    )


def _attachments(uploads: Sequence[AttachmentUpload]) -> tuple[AttachmentIn, ...]:
    decoded = []
    for index, upload in enumerate(uploads):
        try:
            content = base64.b64decode(upload.content_base64, validate=True)
        except (binascii.Error, ValueError):
            raise Invalid(
                "invalid_attachment",
                f"attachment {index} ({upload.filename!r}): content_base64 is not base64",
                f"attachments.{index}.content_base64",
            ) from None
        decoded.append(AttachmentIn(upload.filename, upload.content_type.lower(), content))
    return tuple(decoded)


@router.post(
    "/conversations/{conversation_id}/replies",
    response_model=MessagePublic,
    status_code=201,
    summary="Reply to the customer",
    description='The reply is stored as `queued` and sent by the worker. `channel: "auto"` '
    "picks the channel of the last inbound message, else the next one that reaches the "
    "customer and whose rules allow it; 409 `channel_unavailable` names each channel's reason.",
    responses=error_responses(409),
)
def reply(
    conversation_id: str,
    body: ReplyCreate,
    request: Request,
    services: ServicesDep,
    caller: ConversationsWrite,
) -> MessagePublic:
    template = (
        Template(body.template.name, body.template.language, tuple(body.template.params))
        if body.template
        else None
    )
    message = services.reply(
        conversation_id,
        Reply(
            author=caller,
            channel=body.channel,
            text=body.text,
            html=body.html,
            attachments=_attachments(body.attachments),
            template=template,
            subject=body.subject,
        ),
    )
    audit_customers(request, [message.customer_id])
    return MessagePublic.of(message)


@router.post(
    "/conversations/{conversation_id}/notes",
    response_model=MessagePublic,
    status_code=201,
    summary="Add an internal note (never sent to the customer)",
    responses=error_responses(409),
)
def add_note(
    conversation_id: str,
    body: NoteCreate,
    request: Request,
    services: ServicesDep,
    caller: ConversationsWrite,
) -> MessagePublic:
    message = services.reply(
        conversation_id,
        Reply(
            author=caller,
            text=body.text,
            html=body.html,
            attachments=_attachments(body.attachments),
            note=True,
        ),
    )
    audit_customers(request, [message.customer_id])
    return MessagePublic.of(message)
