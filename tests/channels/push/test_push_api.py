"""Push end to end on both databases: a visitor's browser and a signed-in customer's app
register, a reply on the push channel reaches them through the local push service and FCM,
the service worker's receipts move the message and land on the timeline, and gone devices
are forgotten."""

import json
from typing import Any

import http_ece  # type: ignore[import-untyped]
from fastapi.testclient import TestClient

from omnicx.access import principal_for_role
from omnicx.bootstrap import Services
from omnicx.channels.push import owner_of
from omnicx.conversations import InboundMessage, Message, Reply
from tests.channels.push.conftest import (
    PROJECT,
    PUBLIC,
    Browser,
    LocalServer,
    Vapid,
    answer,
    app_token,
    timeline,
    token_exchange,
    visitor,
)
from tests.conftest import table_counts

AGENT = principal_for_role("user", "agent-1", "Rita", "agent")
SEND = f"/v1/projects/{PROJECT}/messages:send"


def chat(client: TestClient, headers: dict[str, str], text: str) -> dict[str, Any]:
    response = client.post("/chat/messages", json={"text": text}, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def message(services: Services, message_id: str) -> Message:
    with services.uow(write=False) as uow:
        found = services.conversations(uow).message(message_id)
    assert found is not None
    return found


def test_a_visitor_s_browser_gets_the_reply_and_reports_receipts(
    client: TestClient,
    services: Services,
    server: LocalServer,
    browser: Browser,
    write_auth: dict[str, str],
    admin: dict[str, str],
) -> None:
    server.routes[("POST", "/wpush/ana")] = answer(201)
    ana = visitor(client, write_auth, "anon-ana")
    subscription = browser.subscription(f"{server.url}/wpush/ana")

    registered = client.post(
        "/push/subscriptions", json={"subscription": subscription}, headers=ana
    )
    assert registered.status_code == 201, registered.text
    assert registered.headers["access-control-allow-origin"] == "*"
    assert registered.json()["kind"] == "webpush"
    again = client.post("/push/subscriptions", json={"subscription": subscription}, headers=ana)
    assert again.json()["id"] == registered.json()["id"]
    assert table_counts(services, "push_registrations") == {"push_registrations": 1}

    receipt = chat(client, ana, "Where is my order?")
    reply = services.reply(
        receipt["conversation_id"], Reply(author=AGENT, channel="push", text="It ships today")
    )
    assert (reply.channel, reply.to, reply.status) == (
        "push",
        ("anonymous_id", "anon-ana"),
        "queued",
    )
    assert services.process_outbox() == 1

    (seen,) = server.on("POST", "/wpush/ana")
    payload = json.loads(
        http_ece.decrypt(
            seen.body, private_key=browser.key, auth_secret=browser.auth, version="aes128gcm"
        )
    )
    assert payload["title"] == "Shop"
    assert payload["body"] == "It ships today"
    assert payload["message_id"] == reply.id
    assert payload["receipt_url"] == f"{PUBLIC}/push/receipts"
    sent = message(services, reply.id)
    assert (sent.status, sent.provider_message_id) == ("sent", reply.id)

    for event in ("delivered", "clicked", "clicked"):
        posted = client.post("/push/receipts", json={"token": payload["receipt"], "event": event})
        assert posted.status_code == 204, posted.text
    assert message(services, reply.id).status == "read"
    assert timeline(client, admin, sent.customer_id) == [
        ("Message Delivered", "push", "delivered"),
        ("Message Clicked", "push", "clicked"),
    ]


def test_a_forged_receipt_token_is_refused_and_records_nothing(
    client: TestClient, services: Services
) -> None:
    response = client.post("/push/receipts", json={"token": "eyJ4Ijox.forged", "event": "clicked"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_receipt_token"
    bad_event = client.post("/push/receipts", json={"token": "a.b", "event": "exploded"})
    assert bad_event.status_code == 400
    assert table_counts(services, "message_deliveries", "events") == {
        "message_deliveries": 0,
        "events": 0,
    }


def test_an_app_gets_the_reply_through_fcm_and_an_unregistered_token_is_forgotten(
    client: TestClient, services: Services, server: LocalServer, admin: dict[str, str]
) -> None:
    token_exchange(server)
    server.routes[("POST", SEND)] = answer(
        404,
        {
            "error": {
                "code": 404,
                "message": "Requested entity was not found.",
                "status": "NOT_FOUND",
                "details": [
                    {
                        "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                        "errorCode": "UNREGISTERED",
                    }
                ],
            }
        },
    )
    bia = app_token(client, admin, "u-bia")
    device = client.post(
        "/push/devices", json={"token": "fcm-token-bia", "platform": "android"}, headers=bia
    )
    assert device.status_code == 201, device.text
    inbound = services.receive_inbound(
        InboundMessage(
            channel="email",
            account="support@localhost",
            sender=(("email", "bia@shop.example"), ("user_id", "u-bia")),
            received_at=services.clock.now(),
            text="Is it shipped?",
        )
    )
    reply = services.reply(
        inbound.conversation_id, Reply(author=AGENT, channel="push", text="Yes, today")
    )
    assert reply.to == ("user_id", "u-bia")
    assert services.process_outbox() == 1

    (sent,) = server.on("POST", SEND)
    assert sent.headers["authorization"] == "Bearer ya29.app"
    assert sent.json()["message"]["token"] == "fcm-token-bia"
    assert sent.json()["message"]["notification"] == {"title": "Shop", "body": "Yes, today"}
    assert message(services, reply.id).status == "failed"
    assert table_counts(services, "push_registrations") == {"push_registrations": 0}
    # A refusal at hand-over is the send's own outcome, not a receipt.
    assert timeline(client, admin, inbound.customer_id) == []


def test_registering_needs_proof_and_a_valid_device(
    client: TestClient,
    services: Services,
    server: LocalServer,
    browser: Browser,
    write_auth: dict[str, str],
) -> None:
    subscription = {"subscription": browser.subscription(f"{server.url}/wpush/x")}
    nobody = client.post("/push/subscriptions", json=subscription)
    assert nobody.status_code == 401
    assert nobody.json()["error"]["code"] == "missing_credentials"
    assert nobody.headers["access-control-allow-origin"] == "*"
    forged = client.post(
        "/push/subscriptions", json=subscription, headers={"X-App-Token": "e30.forged"}
    )
    assert (forged.status_code, forged.json()["error"]["code"]) == (401, "invalid_app_token")
    no_chat = client.post("/push/subscriptions", json=subscription, headers=write_auth)
    assert no_chat.status_code == 401

    ana = visitor(client, write_auth, "anon-ana")
    elsewhere = browser.subscription("https://push.evil.example/x")
    refused = client.post("/push/subscriptions", json={"subscription": elsewhere}, headers=ana)
    assert refused.status_code == 400
    assert refused.json()["error"] == {
        "code": "unknown_push_service",
        "message": "subscription.endpoint: push.evil.example is not a known push service "
        "(OMNICX_WEBPUSH_ENDPOINT_HOSTS)",
        "field": "subscription.endpoint",
    }
    empty = client.post("/push/devices", json={"token": ""}, headers=ana)
    assert (empty.status_code, empty.json()["error"]["field"]) == (400, "token")
    malformed = client.post("/push/devices", content=b"{", headers=ana)
    assert malformed.json()["error"]["code"] == "malformed_json"
    assert table_counts(services, "push_registrations", "profiles") == {
        "push_registrations": 0,
        "profiles": 0,
    }


def test_only_the_owner_removes_a_subscription(
    client: TestClient,
    services: Services,
    server: LocalServer,
    browser: Browser,
    write_auth: dict[str, str],
) -> None:
    ana = visitor(client, write_auth, "anon-ana")
    bob = visitor(client, write_auth, "anon-bob")
    endpoint = f"{server.url}/wpush/ana"
    subscription = {"subscription": browser.subscription(endpoint)}
    assert client.post("/push/subscriptions", json=subscription, headers=ana).status_code == 201

    stolen = client.request(
        "DELETE", "/push/subscriptions", json={"endpoint": endpoint}, headers=bob
    )
    assert stolen.status_code == 404
    assert table_counts(services, "push_registrations") == {"push_registrations": 1}
    mine = client.request("DELETE", "/push/subscriptions", json={"endpoint": endpoint}, headers=ana)
    assert mine.status_code == 204
    assert table_counts(services, "push_registrations") == {"push_registrations": 0}


def test_staff_see_and_remove_a_customer_s_devices(
    client: TestClient,
    services: Services,
    server: LocalServer,
    browser: Browser,
    admin: dict[str, str],
    reader: dict[str, str],
) -> None:
    cai = app_token(client, admin, "u-cai")
    endpoint = browser.subscription(f"{server.url}/wpush/cai")
    created = client.post("/push/subscriptions", json={"subscription": endpoint}, headers=cai)
    device = client.post("/push/devices", json={"token": "fcm-cai", "platform": "ios"}, headers=cai)
    assert (created.status_code, device.status_code) == (201, 201)
    listed = client.get(
        f"/api/customers/{customer_of(services, 'u-cai')}/push-registrations", headers=reader
    )
    assert listed.status_code == 200, listed.text
    items = listed.json()["items"]
    assert [(i["kind"], i["platform"], i["address_kind"], i["service"]) for i in items] == [
        ("webpush", "web", "user_id", "127.0.0.1"),
        ("fcm", "ios", "user_id", None),
    ]
    assert "fcm-cai" not in listed.text

    customer = listed.json()["customer_id"]
    refused = client.delete(
        f"/api/customers/{customer}/push-registrations/{items[1]['id']}", headers=reader
    )
    assert refused.status_code == 403
    gone = client.delete(
        f"/api/customers/{customer}/push-registrations/{items[1]['id']}", headers=admin
    )
    assert gone.status_code == 204
    missing = client.delete(
        f"/api/customers/{customer}/push-registrations/{items[1]['id']}", headers=admin
    )
    assert missing.status_code == 404
    assert table_counts(services, "push_registrations") == {"push_registrations": 1}


def customer_of(services: Services, user_id: str) -> str:
    with services.uow(write=False) as uow:
        owner = owner_of(uow, services.cipher, ("user_id", user_id))
    assert owner is not None
    return owner


def test_the_scripts_and_the_vapid_key_are_served_to_any_origin(
    client: TestClient, vapid: Vapid
) -> None:
    key = client.get("/push/vapid-public-key")
    assert key.json() == {"key": vapid.public}
    for path, marker in (("/push/sw.js", "notificationclick"), ("/inbox.js", "omnicxInbox")):
        script = client.get(path)
        assert script.status_code == 200
        assert script.headers["content-type"] == "text/javascript; charset=utf-8"
        assert script.headers["access-control-allow-origin"] == "*"
        assert marker in script.text
    preflight = client.options("/push/subscriptions")
    assert preflight.status_code == 204
    assert "X-App-Token" in preflight.headers["access-control-allow-headers"]
    assert "DELETE" in preflight.headers["access-control-allow-methods"]
