"""`GET /api/stream`: the agents' live stream of conversation news, as server-sent events.

Each event's `event:` is its type (`message.received`, `message.sent`, `message.delivery`,
`conversation.opened`, `conversation.status_changed`, `conversation.assigned`,
`conversations.merged`, `conversation.split`) and its `data:` the JSON payload of ids and facts
(see `omnicx.channels.webchat.feed`); bodies are never streamed, so reading a message stays an
audited call to the conversations API. Only callers whose role grants `conversations.read` may
open it; `types`, `customer_id` and `conversation_id` narrow it.

News is published after its transaction commits, to the streams of this process, or of every
server when `OMNICX_LIVE_BROKER_URL` names a Redis broker (needed with several API servers, and
for news the worker process makes: delivery receipts of the replies it sends). Nothing is
replayed: a client that reconnects reloads the conversations it shows. A client that falls
1,000 events behind gets a `lagged` event and the stream ends.
"""

from collections.abc import AsyncGenerator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from sse_starlette import EventSourceResponse, ServerSentEvent

from omnicx.access import Principal
from omnicx.api.deps import ServicesDep, require
from omnicx.api.errors import error_responses
from omnicx.channels.webchat import AGENTS, STREAM_TYPES, Broadcaster
from omnicx.kernel import Invalid

router = APIRouter(tags=["live"])

PING_SECONDS = 15
_WAIT_SECONDS = 1.0
_CHUNK_EVENTS = 64

ConversationsRead = Annotated[Principal, Depends(require("conversations.read"))]


def parse_types(types: str | None) -> frozenset[str]:
    if types is None or not types.strip():
        return STREAM_TYPES
    wanted = frozenset(t.strip() for t in types.split(",") if t.strip())
    unknown = sorted(wanted - STREAM_TYPES)
    if unknown:
        raise Invalid(
            "unknown_stream_type",
            f"unknown event type {', '.join(unknown)}; known: {', '.join(sorted(STREAM_TYPES))}",
            "types",
        )
    return wanted


async def events(
    request: Request,
    broadcaster: Broadcaster,
    wanted: frozenset[str],
    customer_id: str | None,
    conversation_id: str | None,
) -> AsyncGenerator[ServerSentEvent | bytes, None]:
    subscription = broadcaster.subscribe([AGENTS])
    try:
        yield ServerSentEvent(comment="omnicx live stream")
        while True:
            news = await subscription.next(_WAIT_SECONDS)
            if subscription.lagged:
                yield ServerSentEvent(
                    event="lagged",
                    data='{"message": "this stream fell too far behind; reconnect"}',
                )
                return
            if news is None:
                if await request.is_disconnected():
                    return
                continue
            # News that arrived together (a batch's commit) leaves in one chunk.
            chunk = b"".join(
                ServerSentEvent(event=str(n["type"]), data=orjson.dumps(n).decode()).encode()
                for n in (news, *subscription.ready(_CHUNK_EVENTS - 1))
                if _matches(n, wanted, customer_id, conversation_id)
            )
            if chunk:
                yield chunk
    finally:
        broadcaster.unsubscribe(subscription)


def _matches(
    news: dict[str, Any],
    wanted: frozenset[str],
    customer_id: str | None,
    conversation_id: str | None,
) -> bool:
    if news.get("type") not in wanted:
        return False
    if customer_id is not None and news.get("customer_id") != customer_id:
        return False
    return conversation_id is None or conversation_id in (
        news.get("conversation_id"),
        news.get("merged_id"),
        news.get("source_id"),
    )


@router.get(
    "/api/stream",
    summary="Live stream of conversation news for agents (server-sent events)",
    include_in_schema=False,
    response_class=EventSourceResponse,
    responses={
        200: {
            "description": "An endless `text/event-stream`; each event is named by its type.",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        **error_responses(400),
    },
)
async def stream(
    request: Request,
    services: ServicesDep,
    caller: ConversationsRead,
    types: Annotated[
        str | None,
        Query(max_length=500, description="Comma-separated event types; all when absent."),
    ] = None,
    customer_id: Annotated[str | None, Query(max_length=64)] = None,
    conversation_id: Annotated[str | None, Query(max_length=64)] = None,
) -> EventSourceResponse:
    wanted = parse_types(types)
    request.state.audit_action = "stream"
    return EventSourceResponse(
        events(request, services.live, wanted, customer_id, conversation_id),
        ping=PING_SECONDS,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
