"""The web-chat widget's endpoints: sessions, messages, the visitor's stream, replies and the
fallback to email once the visitor has left."""

import base64
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient

from omnicx.access import principal_for_role
from omnicx.bootstrap import Services
from omnicx.channels import webchat
from omnicx.channels.webchat import TokenRefused
from omnicx.conversations import FakeChannelSender, Reply
from omnicx.profiles.model import Identifier
from tests.conftest import table_counts

KEY = b"k" * 32
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
AGENT = principal_for_role("user", "agent-1", "Ana Agent", "agent")


def test_tokens_bind_the_site_and_the_visitor_until_they_expire() -> None:
    token = webchat.issue(KEY, "src-1", "anon-1", NOW, timedelta(hours=1))
    visitor = webchat.verify(KEY, token, "src-1", NOW + timedelta(minutes=59))
    assert (visitor.source_id, visitor.anonymous_id) == ("src-1", "anon-1")
    refusals = [
        (token, "src-2", NOW, "the chat token was issued for another site"),
        (
            token,
            "src-1",
            NOW + timedelta(hours=1),
            "the chat token has expired: start a new chat session",
        ),
        (token[:-2] + "xx", "src-1", NOW, "the chat token's signature does not match"),
        ("nonsense", "src-1", NOW, "the chat token is malformed"),
    ]
    for candidate, source_id, at, message in refusals:
        with pytest.raises(TokenRefused) as refused:
            webchat.verify(KEY, candidate, source_id, at)
        assert str(refused.value) == message
    forged = webchat.issue(b"x" * 32, "src-1", "anon-1", NOW, timedelta(hours=1))
    with pytest.raises(TokenRefused):
        webchat.verify(KEY, forged, "src-1", NOW)


def test_the_widget_is_served_as_javascript(client: TestClient) -> None:
    response = client.get("/widget.js")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    assert response.headers["access-control-allow-origin"] == "*"
    assert "ajs_anonymous_id" in response.text
    assert 'role: "dialog"' in response.text


def _session(client: TestClient, write_auth: dict[str, str], anonymous_id: str) -> str:
    response = client.post("/chat/sessions", json={"anonymousId": anonymous_id}, headers=write_auth)
    assert response.status_code == 200, response.json()
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.json()["anonymousId"] == anonymous_id
    token: str = response.json()["token"]
    return token


def _say(client: TestClient, write_auth: dict[str, str], token: str, **body: Any) -> dict[str, Any]:
    response = client.post(
        "/chat/messages", json=body, headers={**write_auth, "X-Chat-Token": token}
    )
    assert response.status_code == 200, response.json()
    result: dict[str, Any] = response.json()
    return result


def test_a_visitor_message_joins_the_browsing_profile(
    client: TestClient, write_auth: dict[str, str], services: Services, drain: Any
) -> None:
    browsed = client.post(
        "/v1/page", json={"anonymousId": "anon-7", "name": "Shoes"}, headers=write_auth
    )
    assert browsed.status_code == 200
    drain()
    token = _session(client, write_auth, "anon-7")
    said = _say(client, write_auth, token, text="Do you have size 38?", clientMessageId="c1")
    again = _say(client, write_auth, token, text="Do you have size 38?", clientMessageId="c1")
    assert again == {**said, "duplicate": True}
    with services.uow(write=False) as uow:
        message = services.conversations(uow).message(said["message_id"])
        profiles = services.profiles(uow)
        owner = profiles.owners({Identifier("anonymous_id", "anon-7")})
    assert message is not None
    assert message.channel == "web_chat"
    assert message.text == "Do you have size 38?"
    assert message.metadata["anonymous_id"] == "anon-7"
    assert list(owner.values()) == [message.customer_id]


def test_refusals_carry_cors_and_write_nothing(
    client: TestClient, write_auth: dict[str, str], services: Services
) -> None:
    token = _session(client, write_auth, "anon-1")
    cases: list[tuple[dict[str, str], Any, int, str]] = [
        ({}, {"text": "hi"}, 401, "missing_write_key"),
        (
            {"Authorization": "Basic " + base64.b64encode(b"nope:").decode()},
            {"text": "hi"},
            401,
            "unknown_write_key",
        ),
        (write_auth, {"text": "hi"}, 401, "missing_chat_token"),
        ({**write_auth, "X-Chat-Token": token + "x"}, {"text": "hi"}, 401, "invalid_chat_token"),
        ({**write_auth, "X-Chat-Token": token}, {"text": "  "}, 400, "missing_text"),
        ({**write_auth, "X-Chat-Token": token}, {"text": "x" * 5001}, 400, "text_too_long"),
        (
            {**write_auth, "X-Chat-Token": token},
            {"text": "hi", "email": "no"},
            400,
            "invalid_email",
        ),
        ({**write_auth, "X-Chat-Token": token}, [1], 400, "malformed_body"),
    ]
    for headers, body, status, code in cases:
        response = client.post("/chat/messages", json=body, headers=headers)
        assert response.status_code == status, (code, response.json())
        assert response.json()["error"]["code"] == code
        assert response.headers["access-control-allow-origin"] == "*"
    bad_id = client.post("/chat/sessions", json={"anonymousId": 5}, headers=write_auth)
    assert bad_id.status_code == 400
    assert bad_id.json()["error"] == {
        "code": "invalid_anonymous_id",
        "message": "anonymousId must be a non-empty string",
        "field": "anonymousId",
    }
    stream = client.get("/chat/stream", params={"key": "nope", "token": token})
    assert stream.status_code == 401
    assert table_counts(services, "conversations", "messages", "profiles") == {
        "conversations": 0,
        "messages": 0,
        "profiles": 0,
    }
    preflight = client.options("/chat/messages")
    assert preflight.status_code == 204
    assert "X-Chat-Token" in preflight.headers["access-control-allow-headers"]


def _stream_events(url: str, params: dict[str, str], wanted: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    with (
        httpx.Client(base_url=url, timeout=10) as http,
        http.stream("GET", "/chat/stream", params=params) as response,
    ):
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == "*"
        for line in response.iter_lines():
            if line.startswith("data: "):
                found.append(orjson.loads(line.removeprefix("data: ")))
                if len(found) == wanted:
                    break
    return found


def test_a_reply_reaches_the_present_visitor_and_goes_by_email_once_it_left(
    client: TestClient, served: str, write_auth: dict[str, str], source: Any, services: Services
) -> None:
    email = FakeChannelSender("email")
    services.channel_senders["email"] = email
    token = _session(client, write_auth, "anon-2")
    said = _say(client, write_auth, token, text="Where is my order?", email="Ana@Example.com")
    params = {"key": source.write_key, "token": token}
    assert [m["text"] for m in _stream_events(served, params, 1)] == ["Where is my order?"]

    reply = services.reply(said["conversation_id"], Reply(author=AGENT, text="On its way!"))
    assert reply.channel == "web_chat"
    assert reply.to == ("anonymous_id", "anon-2")
    assert services.process_outbox() == 1
    shown = _stream_events(served, params, 2)
    assert [(m["direction"], m["text"]) for m in shown] == [
        ("inbound", "Where is my order?"),
        ("outbound", "On its way!"),
    ]
    deadline = time.time() + 5
    while True:
        with services.uow(write=False) as uow:
            states = [d.status for d in services.conversations(uow).deliveries(reply.id)]
        if "delivered" in states or time.time() > deadline:
            break
        time.sleep(0.05)
    assert states[-1] == "delivered"

    # the stream's last word is a presence mark as it closes: wait for it before going away
    deadline = time.time() + 5
    while services.live.subscribers(webchat.visitor_topic("anon-2")) and time.time() < deadline:
        time.sleep(0.02)
    assert services.live.subscribers(webchat.visitor_topic("anon-2")) == 0
    services.live._presence[webchat.presence_key("anon-2")] = time.time() - 3600
    later = services.reply(said["conversation_id"], Reply(author=AGENT, text="Delivered today"))
    assert later.channel == "email"
    assert later.to == ("email", "ana@example.com")
