"""The gate's API over HTTP: a customer's decisions, broadcasts with their counts, and
message templates; bad input names the field and writes nothing."""

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from omnicx.bootstrap import Services
from omnicx.config import Settings
from omnicx.conversations import DeliveryUpdate, FakeChannelSender
from omnicx.orchestration.gate import Content
from omnicx.orchestration.store.segments import SqlSegmentRepository
from tests.conftest import table_counts
from tests.orchestration.test_sending import FakeRules, add_customer, intent


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(quiet_hours="", channel_rates={})


@pytest.fixture
def gate(services: Services) -> Services:
    services.sending.senders = {
        "sms": FakeChannelSender("sms"),
        "email": FakeChannelSender("email"),
    }
    services.sending.rules = FakeRules(refused={"email": "marketing not granted on email"})
    return services


def submit(services: Services, *intents: Any) -> None:
    with services.uow() as uow:
        for one in intents:
            services.submit_send(uow, one)
        uow.commit()


def test_a_customers_decisions_newest_first_with_reason_origin_and_delivery(
    gate: Services, client: TestClient, admin: dict[str, str]
) -> None:
    ana = add_customer(gate, phone="+5511988887777", email="ana@example.com")
    submit(
        gate,
        intent(ana, "first", purpose="transactional", origin="system:orders"),
        intent(ana, "second", channels=("email",)),
        intent(ana, "third", origin="broadcast:b1"),
    )
    gate.process_outbox()
    gate.record_send_receipt(DeliveryUpdate("sms", "sms-1", "delivered", gate.clock.now()))

    answer = client.get(f"/api/customers/{ana}/decisions", headers=admin)

    assert answer.status_code == 200
    items = answer.json()["items"]
    assert [(i["send_id"], i["outcome"], i["code"], i["status"], i["delivery"]) for i in items] == [
        ("third", "send", "sent", "sent", "sent"),
        ("second", "skip", "no_consent", "skipped", None),
        ("first", "send", "sent", "delivered", "delivered"),
    ]
    assert items[1]["reason"] == "no channel: email: marketing not granted on email"
    assert [i["origin"] for i in items] == [
        "broadcast:b1",
        "journey:welcome:v1:send_1",
        "system:orders",
    ]
    assert answer.json()["next_before"] is None

    page = client.get(f"/api/customers/{ana}/decisions?limit=2", headers=admin).json()
    rest = client.get(
        f"/api/customers/{ana}/decisions?limit=2&before={page['next_before']}", headers=admin
    ).json()
    assert [i["send_id"] for i in page["items"] + rest["items"]] == ["third", "second", "first"]


def test_decisions_of_an_unknown_customer_are_404(
    client: TestClient, admin: dict[str, str]
) -> None:
    answer = client.get("/api/customers/nobody/decisions", headers=admin)

    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "customer_not_found"


# -- broadcasts ---------------------------------------------------------------------------


def _segment(services: Services, members: list[str]) -> str:
    with services.uow() as uow:
        segment = services.segmenter.create(
            uow, "VIP", "", {"trait": "vip", "op": "eq", "value": True}
        )
        repo = SqlSegmentRepository(uow.conn, services.cipher)
        for member in members:
            repo.enter(segment.id, member, uow.clock.now())
        uow.commit()
    return segment.id


def test_a_broadcast_is_scheduled_sent_and_counted(
    gate: Services, client: TestClient, admin: dict[str, str]
) -> None:
    members = [add_customer(gate, phone=f"+55119444400{i:02d}") for i in range(3)]
    members.append(add_customer(gate, email="nophone@example.com"))
    segment = _segment(gate, members)

    created = client.post(
        "/api/broadcasts",
        headers=admin,
        json={
            "name": "Spring sale",
            "segment_id": segment,
            "content": {"text": "Spring: {{ pct }} off", "variables": {"pct": "15%"}},
            "channels": ["sms"],
            "priority": 70,
        },
    )
    assert created.status_code == 201
    body = created.json()
    assert (body["status"], body["purpose"], body["category"], body["created_by"][:8]) == (
        "scheduled",
        "marketing",
        "broadcast",
        "api_key:",
    )
    while gate.process_outbox() + gate.process_sends():
        pass

    shown = client.get(f"/api/broadcasts/{body['id']}", headers=admin).json()
    assert (shown["status"], shown["expanded"]) == ("done", 4)
    assert shown["counts"] == {
        "decided": 4,
        "queued": 0,
        "sent": 3,
        "delivered": 0,
        "failed": 0,
        "deferred": 0,
        "cancelled": 0,
        "unknown": 0,
        "skipped": {"unreachable": 1},
    }
    listed = client.get("/api/broadcasts", headers=admin).json()["items"]
    assert [b["id"] for b in listed] == [body["id"]]
    again = client.post(f"/api/broadcasts/{body['id']}/cancel", headers=admin)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "broadcast_finished"


@pytest.mark.parametrize(
    ("changes", "status", "field"),
    [
        ({"segment_id": "missing"}, 404, "segment_id"),
        ({"priority": 101}, 422, "priority"),
        ({"purpose": "Loud"}, 400, "purpose"),
        ({"content": {}}, 400, "content.text"),
        ({"content": {"template": "nope"}}, 400, "content.template"),
        ({"content": {"text": "{% if %}"}}, 400, "content.text"),
        ({"schedule_at": "2026-11-23T10:00:00"}, 422, "schedule_at"),
        ({"extra": 1}, 422, "extra"),
    ],
)
def test_a_bad_broadcast_names_the_field_and_writes_nothing(
    gate: Services,
    client: TestClient,
    admin: dict[str, str],
    changes: dict[str, Any],
    status: int,
    field: str,
) -> None:
    segment = _segment(gate, [])
    body = {"name": "x", "segment_id": segment, "content": {"text": "hi"}, **changes}

    answer = client.post("/api/broadcasts", headers=admin, json=body)

    assert answer.status_code == status
    error = answer.json()["error"]
    named = error.get("field") or ",".join(i["field"] for i in error.get("items", []))
    assert field in named
    assert table_counts(gate, "broadcasts", "sends") == {"broadcasts": 0, "sends": 0}


def test_an_unknown_broadcast_is_404(client: TestClient, admin: dict[str, str]) -> None:
    assert client.get("/api/broadcasts/nope", headers=admin).status_code == 404
    assert client.post("/api/broadcasts/nope/cancel", headers=admin).status_code == 404


# -- templates ---------------------------------------------------------------------------


def test_templates_are_put_read_used_and_deleted(
    gate: Services, client: TestClient, admin: dict[str, str]
) -> None:
    put = client.put(
        "/api/templates/cart_reminder",
        headers=admin,
        json={
            "variants": [
                {"text": "You left {{ item }} in your cart"},
                {"language": "pt-BR", "text": "Você esqueceu {{ item }} no carrinho"},
                {"channel": "email", "subject": "Your cart", "html": "<p>{{ item }}</p>"},
            ]
        },
    )
    assert put.status_code == 200
    assert [(v["channel"], v["language"]) for v in put.json()["variants"]] == [
        ("*", "*"),
        ("*", "pt-br"),
        ("email", "*"),
    ]
    assert client.get("/api/templates", headers=admin).json() == {"items": ["cart_reminder"]}
    ana = add_customer(gate, phone="+5511988887777")
    submit(
        gate,
        intent(
            ana,
            purpose="transactional",
            channels=("sms",),
            content=Content(template="cart_reminder", variables={"item": "sneakers"}),
        ),
    )
    gate.process_outbox()
    sms = gate.sending.senders["sms"]
    assert isinstance(sms, FakeChannelSender)
    assert sms.sent[0].text == "You left sneakers in your cart"

    assert client.delete("/api/templates/cart_reminder", headers=admin).status_code == 204
    assert client.get("/api/templates/cart_reminder", headers=admin).status_code == 404
    assert client.delete("/api/templates/cart_reminder", headers=admin).status_code == 404


@pytest.mark.parametrize(
    ("name", "variants", "field"),
    [
        ("Bad Name", [{"text": "x"}], "name"),
        ("ok", [{"text": "{{ oops"}], "variants[0].text"),
        ("ok", [{"text": "a"}, {"text": "b"}], "variants[1]"),
        ("ok", [{"subject": "only a subject"}], "variants[0]"),
        ("ok", [{"language": "not a tag!", "text": "x"}], "variants[0]"),
        ("ok", [{"channel": "SMS", "text": "x"}], "variants[0]"),
    ],
)
def test_a_bad_template_names_the_field_and_writes_nothing(
    gate: Services,
    client: TestClient,
    admin: dict[str, str],
    name: str,
    variants: list[dict[str, Any]],
    field: str,
) -> None:
    answer = client.put(f"/api/templates/{name}", headers=admin, json={"variants": variants})

    assert answer.status_code == 400
    assert answer.json()["error"]["field"] == field
    assert table_counts(gate, "send_templates") == {"send_templates": 0}
