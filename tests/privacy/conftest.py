"""A person worth erasing: two profiles merged into one, five kinds of identifiers, traits,
webhook deliveries, a dead letter and a conversation (an email with an attachment and an
agent's reply); consents with proof and preferences, a segment, a journey that emailed them
(opened), an in-app message, an app install registered for push, an order shipped to their
street, a return and loyalty points; and a bystander who must survive everything."""

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from omnicx.bootstrap import Services
from omnicx.config import Settings
from omnicx.conversations import AttachmentIn, FakeChannelSender, InboundMessage, ThreadHints
from omnicx.kernel import FixedClock
from omnicx.orchestration.gate import Content, SendIntent
from omnicx.webhooks import create_subscription
from tests.channels.push.conftest import ServiceAccount, app_token, service_account

__all__ = ["service_account"]  # the push tests' Firebase service account, a fixture here too

IDENTIFIERS = {
    ("user_id", "zq-user-5521"),
    ("anonymous_id", "anon-zq81"),
    ("anonymous_id", "anon-zq82"),
    ("email", "zeldarina.q@example.org"),
    ("phone", "+5511977776543"),
    ("loyalty_id", "LOY-88231"),
}
TRAIT_VALUES = {
    "Zeldarina",
    "Quixotesca",
    "Pindamonhangaba-Z",
    "ultramarine-7731",
    "+55 11 97777-6543",
}
DEVICE_TOKEN = "fcm-zq-install-5521"
"""The person's app install, registered for push."""
MARKERS = {value for _, value in IDENTIFIERS} | TRAIT_VALUES | {DEVICE_TOKEN}
"""Everything that names the person: none of it may be left anywhere after an erasure."""
PUBLIC = "https://cx.shop.example"


def privacy_settings(
    make_settings: Callable[..., Settings], account: ServiceAccount, **overrides: Any
) -> Settings:
    """Tracked emails, the in-app inbox and app installs (FCM) on, no quiet hours."""
    values: dict[str, Any] = {
        "public_base_url": PUBLIC,
        "email_tracking": True,
        "inapp_enabled": True,
        "fcm_service_account": json.dumps(account.info),
        "quiet_hours": "",
        "channel_rates": {},
        **overrides,
    }
    return make_settings(**values)


@pytest.fixture
def settings(make_settings: Callable[..., Settings], service_account: ServiceAccount) -> Settings:
    return privacy_settings(make_settings, service_account)


def batches() -> list[dict[str, Any]]:
    return [
        {
            "type": "identify",
            "messageId": "zq-1",
            "anonymousId": "anon-zq81",
            "timestamp": "2026-05-01T10:00:00Z",
            "traits": {
                "email": "zeldarina.q@example.org",
                "firstName": "Zeldarina",
                "favourite": "ultramarine-7731",
            },
        },
        {
            "type": "identify",
            "messageId": "zq-2",
            "userId": "zq-user-5521",
            "anonymousId": "anon-zq82",
            "timestamp": "2026-05-02T10:00:00Z",
            "traits": {
                "phone": "+55 11 97777-6543",
                "lastName": "Quixotesca",
                "loyaltyId": "LOY-88231",
                "city": "Pindamonhangaba-Z",
            },
        },
        {
            "type": "track",
            "messageId": "zq-3",
            "userId": "zq-user-5521",
            "anonymousId": "anon-zq81",
            "event": "Order Completed",
            "timestamp": "2026-05-03T10:00:00Z",
            "properties": {"total": 120.5},
        },
        {
            "type": "identify",
            "messageId": "by-1",
            "userId": "bystander-1",
            "timestamp": "2026-05-01T09:00:00Z",
            "traits": {"email": "bystander@example.net", "firstName": "Bernardo"},
        },
    ]


@dataclass
class Person:
    id: str
    merged_id: str
    bystander: str
    places: "Places"


@dataclass(frozen=True)
class Places:
    """What the person has in the newer domains, by id."""

    segment_id: str
    journey_id: str
    order_id: str
    return_id: str


@pytest.fixture
def person(
    client: TestClient,
    services: Services,
    write_auth: dict[str, str],
    admin: dict[str, str],
    drain: Callable[[], int],
    source: Any,
) -> Person:
    with services.uow() as uow:
        create_subscription(
            services.webhooks(uow),
            "https://crm.example.com/hooks",
            ["profile.created", "profile.merged", "traits.changed"],
            "CRM",
            uow.clock.now(),
        )
        uow.commit()
    services.forget_subscriptions()
    for call in batches():
        response = client.post("/v1/batch", headers=write_auth, json={"batch": [call]})
        assert response.status_code == 200
        drain()
    with services.uow() as uow:
        services.events(uow).add_dead_letter(
            source.id,
            [
                {
                    "type": "track",
                    "messageId": "zq-dead",
                    "userId": "zq-user-5521",
                    "anonymousId": None,
                    "identifiers": [["user_id", "zq-user-5521"]],
                    "traits": {"city": "Pindamonhangaba-Z"},
                },
                {
                    "type": "track",
                    "messageId": "by-dead",
                    "userId": "bystander-1",
                    "anonymousId": None,
                    "identifiers": [["user_id", "bystander-1"]],
                    "traits": {},
                },
            ],
            "ValueError: could not resolve zq-user-5521",
            uow.clock.now(),
        )
        uow.commit()

    def lookup(kind: str, value: str) -> str:
        found = client.get(
            "/api/customers/lookup", params={"kind": kind, "value": value}, headers=admin
        )
        assert found.status_code == 200, found.text
        customer_id: str = found.json()["id"]
        return customer_id

    survivor = lookup("user_id", "zq-user-5521")
    merged = client.get(f"/api/customers/{survivor}", headers=admin).json()["merged_ids"]
    assert len(merged) == 1
    _converse(client, services, admin, survivor)
    clock = services.uow.clock
    services.uow.clock = FixedClock(LATER)
    try:
        places = _everywhere(client, services, admin, write_auth, drain, survivor)
    finally:
        services.uow.clock = clock
    return Person(survivor, merged[0], lookup("user_id", "bystander-1"), places)


WROTE_AT = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
REPLIED_AT = datetime(2026, 5, 4, 11, 0, tzinfo=UTC)
LATER = datetime(2026, 5, 5, 10, 0, tzinfo=UTC)
"""When the person's consents, journey, messages, order and return are recorded."""


def _converse(client: TestClient, services: Services, admin: dict[str, str], survivor: str) -> None:
    """The person writes an email (with an attachment) and an agent answers it."""
    receipt = services.receive_inbound(
        InboundMessage(
            channel="email",
            account="support@shop.example",
            sender=(("email", "zeldarina.q@example.org"),),
            sender_name="Zeldarina Quixotesca",
            received_at=WROTE_AT,
            provider_message_id="<zq-mail-1@example.org>",
            text="My parcel to Pindamonhangaba-Z never came; call +55 11 97777-6543.",
            html="<p>Zeldarina here: ultramarine-7731 scarf</p>",
            thread=ThreadHints(subject="Zeldarina's order"),
            attachments=(AttachmentIn("zeldarina.txt", "text/plain", b"Quixotesca LOY-88231"),),
        )
    )
    assert receipt.customer_id == survivor
    services.channel_senders["email"] = FakeChannelSender("email")
    clock = services.uow.clock
    services.uow.clock = FixedClock(REPLIED_AT)
    try:
        replied = client.post(
            f"/api/conversations/{receipt.conversation_id}/replies",
            json={"text": "Dear Zeldarina Quixotesca, it ships to Pindamonhangaba-Z today."},
            headers=admin,
        )
    finally:
        services.uow.clock = clock
    assert replied.status_code == 201, replied.text


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


JOURNEY = {
    "name": "Parcel news",
    "trigger": {"event": "Parcel Asked"},
    "start": "mail",
    "nodes": {
        "mail": {
            "type": "send",
            "purpose": "marketing",
            "channels": ["email"],
            "content": {"template": "parcel_news"},
            "next": "done",
        },
        "done": {"type": "exit"},
    },
}
NEWS_HTML = (
    "<p>Hi {{ customer.first_name }} {{ customer.last_name }}, "
    '<a href="https://shop.example/parcels">follow your parcel</a>.</p>'
)
SHIP_TO = {
    "name": "Zeldarina Quixotesca",
    "line1": "Rua Pindamonhangaba-Z, 77",
    "city": "Taubaté",
    "postal_code": "12010-000",
    "country": "BR",
    "phone": "+55 11 97777-6543",
}
TEE = "TEE-ZQ-M"


def _everywhere(
    client: TestClient,
    services: Services,
    admin: dict[str, str],
    write_auth: dict[str, str],
    drain: Callable[[], int],
    survivor: str,
) -> Places:
    """The newer domains, through the API as a shop would use them."""
    base = f"/api/customers/{survivor}"
    ok(
        client.put(
            f"{base}/consents",
            headers=admin,
            json={
                "items": [{"purpose": "marketing", "channel": "email", "state": "granted"}],
                "source": {"channel": "web", "actor_kind": "customer"},
                "proof": {
                    "ip": "203.0.113.77",
                    "typed_name": "Zeldarina Quixotesca",
                    "form_text": "News by email",
                    "form_version": "2",
                },
                "note": "Zeldarina ticked the box in Pindamonhangaba-Z",
            },
        )
    )
    ok(
        client.put(
            f"{base}/preferences",
            headers=admin,
            json={"time_zone": "America/Sao_Paulo", "language": "pt-BR"},
        )
    )
    ok(
        client.post(
            "/api/suppressions",
            headers=admin,
            json={
                "kind": "phone",
                "value": "+55 11 97777-6543",
                "reason": "manual",
                "channel": "sms",
                "note": "Zeldarina Quixotesca asked for no more texts",
            },
        ),
        201,
    )
    segment = ok(
        client.post(
            "/api/segments",
            headers=admin,
            json={"name": "Named", "condition": {"trait": "firstName", "op": "exists"}},
        ),
        201,
    )
    while services.evaluate_segments():
        pass

    ok(
        client.put(
            "/api/templates/parcel_news",
            headers=admin,
            json={
                "variants": [
                    {"channel": "email", "subject": "Parcel news", "html": NEWS_HTML},
                ]
            },
        )
    )
    journey = ok(client.post("/api/journeys", headers=admin, json=JOURNEY), 201)
    ok(client.post(f"/api/journeys/{journey['id']}/publish", headers=admin, json={}))
    asked = {
        "userId": "zq-user-5521",
        "event": "Parcel Asked",
        "messageId": "zq-4",
        "timestamp": "2026-05-05T10:00:00Z",
        "properties": {"to": "Pindamonhangaba-Z"},
    }
    ok(client.post("/v1/track", headers=write_auth, json=asked))
    drain()
    services.run_journeys()
    _settle(services)
    mailer = services.channel_senders["email"]
    assert isinstance(mailer, FakeChannelSender)
    (news,) = [m for m in mailer.sent if m.html and "/t/o/" in m.html]
    (pixel,) = re.findall(rf'src="{re.escape(PUBLIC)}(/t/o/[^"]+\.gif)"', news.html or "")
    assert client.get(pixel).status_code == 200

    app = app_token(client, admin, "zq-user-5521")
    ok(client.get("/inapp/messages", headers=app))
    ok(
        client.post(
            "/push/devices", json={"token": DEVICE_TOKEN, "platform": "android"}, headers=app
        ),
        201,
    )
    with services.uow() as uow:
        services.submit_send(
            uow,
            SendIntent(
                send_id="zq-voucher",
                customer_id=survivor,
                purpose="transactional",
                category="voucher",
                priority=80,
                channels=("in_app",),
                content=Content(text="Zeldarina, your Pindamonhangaba-Z voucher is ready"),
                origin="system:vouchers",
            ),
        )
        uow.commit()
    _settle(services)

    order_id, return_id = _shop(client, admin, survivor)
    return Places(segment["id"], journey["id"], order_id, return_id)


def _settle(services: Services) -> None:
    while services.process_outbox() + services.process_sends():
        pass


def _shop(client: TestClient, admin: dict[str, str], survivor: str) -> tuple[str, str]:
    """A web order shipped to the person's street and delivered (it earns points), a return
    at a store, and points given by hand."""
    for location in (
        {
            "id": "dc-zq",
            "name": "DC",
            "kind": "distribution_centre",
            "capabilities": ["ship"],
            "address": {"country": "BR", "city": "Cajamar"},
            "priority": 10,
        },
        {
            "id": "store-zq",
            "name": "Store",
            "kind": "store",
            "capabilities": ["pickup", "accept_returns"],
            "address": {"country": "BR", "city": "São Paulo"},
            "priority": 50,
        },
    ):
        ok(client.post("/api/commerce/locations", headers=admin, json=location), 201)
    product = ok(
        client.post(
            "/api/commerce/products",
            headers=admin,
            json={"handle": "tee-zq", "title": "Tee", "variants": [{"sku": TEE}]},
        ),
        201,
    )
    ok(
        client.put(
            f"/api/commerce/products/{product['id']}/listings/web",
            headers=admin,
            json={"published": True, "purchasable": True},
        )
    )
    ok(client.put(f"/api/commerce/prices/{TEE}", headers=admin, json={"amount": 5000}))
    ok(
        client.post(
            "/api/commerce/stock/movements",
            headers=admin,
            json={"kind": "receipt", "location_id": "dc-zq", "sku": TEE, "qty": 5},
        ),
        201,
    )
    sell = {**admin, "Idempotency-Key": "zq-order-1"}
    order = ok(
        client.post(
            "/api/commerce/orders",
            headers=sell,
            json={
                "channel": "web",
                "customer_id": survivor,
                "groups": [{"type": "ship", "address": SHIP_TO, "lines": [{"sku": TEE, "qty": 2}]}],
                "payment": {"method": "card", "amount": 10000, "currency": "BRL"},
                "note": "Zeldarina asks to ring twice",
            },
        ),
        201,
    )
    for event in ("shipped", "delivered"):
        ok(
            client.post(
                f"/api/commerce/orders/{order['id']}/events", headers=admin, json={"type": event}
            )
        )
    returned = ok(
        client.post(
            "/api/commerce/returns",
            headers={**admin, "Idempotency-Key": "zq-return-1"},
            json={
                "order_id": order["id"],
                "location_id": "store-zq",
                "lines": [{"sku": TEE, "qty": 1, "reason": "faulty", "condition": "damaged"}],
                "refund_to": "store_credit",
                "note": "Zeldarina says the seam split in Pindamonhangaba-Z",
            },
        ),
        201,
    )
    ok(
        client.post(
            f"/api/loyalty/{survivor}/earn",
            headers={**admin, "Idempotency-Key": "zq-gift"},
            json={"points": 30, "channel": "store", "reason": "Zeldarina's birthday"},
        )
    )
    return str(order["id"]), str(returned["id"])
