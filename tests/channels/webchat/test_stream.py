"""The agents' live stream: committed conversation news, filtered, as server-sent events."""

import asyncio
import threading
import time
from datetime import UTC, datetime

import httpx
import orjson
from fastapi.testclient import TestClient
from sse_starlette import ServerSentEvent

from omnicx.api.stream import events
from omnicx.bootstrap import Services
from omnicx.channels.webchat import AGENTS, LocalBroadcaster
from omnicx.conversations import InboundMessage


def _inbound(text: str, provider_id: str) -> InboundMessage:
    return InboundMessage(
        channel="sms",
        account="+5511300000000",
        sender=(("phone", "+5511988887777"),),
        received_at=datetime.now(UTC),
        provider_message_id=provider_id,
        text=text,
    )


def test_a_committed_inbound_is_announced_and_a_rolled_back_one_is_not(
    services: Services,
) -> None:
    async def scenario() -> list[dict[str, object]]:
        subscription = services.live.subscribe([AGENTS])
        receipt = await asyncio.to_thread(services.receive_inbound, _inbound("hi", "SM1"))
        got = []
        while (news := await subscription.next(0.5)) is not None:
            got.append(news)
        services.live.unsubscribe(subscription)
        return [{**n, "published_at": 0} for n in got] + [{"receipt": receipt.message_id}]

    *news, marker = asyncio.run(scenario())
    message_id = marker["receipt"]
    assert [n["type"] for n in news] == ["conversation.opened", "message.received"]
    received = news[1]
    assert received["message_id"] == message_id
    assert received["channel"] == "sms"
    assert received["kind"] == "message"
    assert "text" not in received


def test_the_stream_needs_conversations_read(client: TestClient, services: Services) -> None:
    from tests.access.conftest import add_user, sign_in

    add_user(services, "analyst@shop.example", "analyst")
    token = sign_in(services, "analyst@shop.example")
    refused = client.get("/api/stream", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden"
    assert client.get("/api/stream").status_code == 401


def test_unknown_event_types_are_refused(client: TestClient, admin: dict[str, str]) -> None:
    response = client.get("/api/stream", params={"types": "message.received,nope"}, headers=admin)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unknown_stream_type"
    assert response.json()["error"]["field"] == "types"


def test_an_inbound_reaches_an_open_stream_over_http(
    served: str, services: Services, admin: dict[str, str]
) -> None:
    url = served
    seen: list[tuple[str, dict[str, object]]] = []
    ready = threading.Event()

    def read() -> None:
        with (
            httpx.Client(base_url=url, timeout=10) as http,
            http.stream(
                "GET", "/api/stream", params={"types": "message.received"}, headers=admin
            ) as response,
        ):
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            event = None
            for line in response.iter_lines():
                if line.startswith(":"):
                    ready.set()
                elif line.startswith("event: "):
                    event = line.removeprefix("event: ")
                elif line.startswith("data: ") and event:
                    seen.append((event, orjson.loads(line.removeprefix("data: "))))
                    return

    reader = threading.Thread(target=read)
    reader.start()
    assert ready.wait(5)
    deadline = time.time() + 5
    while isinstance(services.live, LocalBroadcaster) and services.live.subscribers(AGENTS) < 1:
        assert time.time() < deadline
        time.sleep(0.01)
    receipt = services.receive_inbound(_inbound("hello", "SM2"))
    reader.join(timeout=10)
    ((event, data),) = seen
    assert event == "message.received"
    assert data["message_id"] == receipt.message_id
    assert data["conversation_id"] == receipt.conversation_id
    assert data["customer_id"] == receipt.customer_id


def test_news_that_arrived_together_leaves_in_one_chunk_still_filtered() -> None:
    async def scenario() -> list[object]:
        live = LocalBroadcaster()
        stream = events(
            None,  # type: ignore[arg-type]  # asked only after a second without news
            live,
            frozenset({"message.received"}),
            customer_id="c1",
            conversation_id=None,
        )
        opening = await anext(stream)
        for n, (kind, customer) in enumerate(
            [
                ("message.received", "c1"),
                ("conversation.assigned", "c1"),
                ("message.received", "c2"),
                ("message.received", "c1"),
            ]
        ):
            live.publish(AGENTS, {"type": kind, "customer_id": customer, "n": n})
        await asyncio.sleep(0)  # the loop takes the thread-safe hand-overs
        chunk = await anext(stream)
        await stream.aclose()
        return [opening, chunk]

    opening, chunk = asyncio.run(scenario())
    assert isinstance(opening, ServerSentEvent)
    assert chunk == (
        b'event: message.received\r\ndata: {"type":"message.received","customer_id":"c1","n":0}'
        b"\r\n\r\nevent: message.received\r\n"
        b'data: {"type":"message.received","customer_id":"c1","n":3}\r\n\r\n'
    )
