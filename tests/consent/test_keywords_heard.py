"""Opt-outs said on a channel, through the real webhooks: a Twilio SMS signed with the `twilio`
package's scheme saying "PARAR" revokes marketing on every channel and the optional purposes
on SMS, at once, in the message's own transaction; START subscribes SMS again; a WhatsApp
"baja" works the same; an email to our List-Unsubscribe mailto unsubscribes."""

from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode

import httpx2
import pytest
from fastapi.testclient import TestClient
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from omnicx.asgi import app_for
from omnicx.bootstrap import Services
from omnicx.config import Settings
from omnicx.consent.links import unsubscribe_token
from tests.channels.providers.conftest import (
    PUBLIC,
    SHOP_NUMBER,
    TWILIO_SID,
    TWILIO_TOKEN,
    FakeProvider,
    provider_settings,
)
from tests.channels.providers.test_webhooks import whatsapp_post, whatsapp_text
from tests.consent.conftest import receive


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(**provider_settings(), email_addresses="support@shop.example")


@pytest.fixture
def app(services: Services) -> Iterator[TestClient]:
    client = FakeProvider().client()
    services.twilio.client = client
    services.whatsapp.client = client
    with TestClient(app_for(services, run_worker=False)) as test_client:
        yield test_client


def twilio_sms(client: TestClient, sid: str, body: str) -> httpx2.Response:
    values = {
        "MessageSid": sid,
        "AccountSid": TWILIO_SID,
        "From": "+55 11 98888-7777",
        "To": SHOP_NUMBER,
        "Body": body,
        "NumMedia": "0",
    }
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(
        PUBLIC + "/webhooks/twilio/sms", values
    )
    return client.post(
        "/webhooks/twilio/sms",
        content=urlencode(values),
        headers={
            "content-type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        },
    )


def allowed(client: TestClient, admin: dict[str, str], customer: str) -> dict[Any, bool]:
    body = client.get(f"/api/customers/{customer}/context", headers=admin).json()
    return {(e["purpose"], e["channel"]): e["allowed"] for e in body["consents"]["effective"]}


def customer_of_phone(client: TestClient, admin: dict[str, str]) -> str:
    found = client.get(
        "/api/customers/lookup?kind=phone&value=%2B5511988887777", headers=admin
    ).json()
    return str(found["id"])


def test_parar_by_sms_revokes_marketing_everywhere_at_once(
    app: TestClient, services: Services, admin: dict[str, str]
) -> None:
    hello = twilio_sms(app, "SM" + "1" * 32, "Oi, quero ofertas")
    assert hello.status_code == 200
    customer = customer_of_phone(app, admin)
    granted = app.put(
        f"/api/customers/{customer}/consents",
        headers=admin,
        json={
            "items": [
                {"purpose": "marketing", "channel": "*", "state": "granted"},
                {"purpose": "feedback", "channel": "sms", "state": "granted"},
            ],
            "source": {"channel": "sms", "actor_kind": "customer", "method": "import"},
        },
    )
    assert granted.status_code == 200
    assert allowed(app, admin, customer)[("marketing", "email")]

    stop = twilio_sms(app, "SM" + "2" * 32, "  Parar ")

    assert stop.status_code == 200
    now = allowed(app, admin, customer)
    assert not any(now[("marketing", c)] for c in ("email", "sms", "whatsapp", "telegram", "push"))
    assert not now[("service", "sms")]
    assert not now[("feedback", "sms")]
    assert now[("transactional", "sms")]
    assert now[("service", "whatsapp")]
    context = app.get(f"/api/customers/{customer}/context", headers=admin).json()
    revoked = {
        (c["purpose"], c["channel"]): c
        for c in context["consents"]["current"]
        if c["state"] == "revoked"
    }
    assert set(revoked) == {("marketing", "*"), ("service", "sms"), ("feedback", "sms")}
    marketing = revoked[("marketing", "*")]
    assert (marketing["detail"], marketing["source"]["channel"]) == ("keyword PARAR", "sms")
    assert marketing["source"]["method"] == "keyword"
    reason = next(
        e["reason"]
        for e in context["consents"]["effective"]
        if (e["purpose"], e["channel"]) == ("marketing", "email")
    )
    assert reason.startswith("marketing revoked on every channel by keyword PARAR on sms, ")
    events = app.get(f"/api/customers/{customer}/timeline?channel=sms", headers=admin).json()
    names = [i["event"] for i in events["items"]]
    assert names[:2] == ["Consent Revoked", "Message Received"]
    history = app.get(f"/api/customers/{customer}/consents", headers=admin).json()["history"]
    proof = next(h["proof"] for h in history if h["purpose"] == "marketing")
    assert proof["keyword"] == "PARAR"
    assert proof["provider_message_id"] == "SM" + "2" * 32

    again = twilio_sms(app, "SM" + "2" * 32, "  Parar ")
    assert again.status_code == 200
    after = app.get(f"/api/customers/{customer}/consents", headers=admin).json()["history"]
    assert len(after) == len(history)

    start = twilio_sms(app, "SM" + "3" * 32, "START")
    assert start.status_code == 200
    back = allowed(app, admin, customer)
    assert back[("marketing", "sms")]
    assert back[("service", "sms")]
    assert not back[("marketing", "email")]


def test_a_message_that_only_mentions_stop_changes_nothing(
    app: TestClient, services: Services, admin: dict[str, str]
) -> None:
    assert twilio_sms(app, "SM" + "4" * 32, "Please stop the delivery, wrong address").status_code
    customer = customer_of_phone(app, admin)

    body = app.get(f"/api/customers/{customer}/consents", headers=admin).json()
    assert body["current"] == []
    assert body["history"] == []


def test_baja_on_whatsapp_works_the_same(
    app: TestClient, services: Services, admin: dict[str, str]
) -> None:
    answer = whatsapp_post(app, whatsapp_text("baja", "wamid.BAJA1", services.clock.now()))

    assert answer.status_code == 200, answer.text
    customer = customer_of_phone(app, admin)
    now = allowed(app, admin, customer)
    assert not now[("marketing", "email")]
    assert not now[("service", "whatsapp")]
    assert now[("service", "sms")]


def test_an_email_to_the_unsubscribe_mailto_unsubscribes(
    services: Services, admin: dict[str, str], app: TestClient
) -> None:
    ana = receive(services, (("email", "ana@example.com"),), "Olá", pid="<a1@example.com>")
    token = unsubscribe_token(services.consent_center.key, ana.customer_id, "marketing", "email")

    receive(
        services,
        (("email", "ana@example.com"),),
        "",
        pid="<a2@example.com>",
        subject=f"unsubscribe {token}",
    )

    body = app.get(f"/api/customers/{ana.customer_id}/consents", headers=admin).json()
    assert [(c["purpose"], c["channel"], c["state"]) for c in body["current"]] == [
        ("marketing", "*", "revoked")
    ]
    assert body["current"][0]["source"]["method"] == "mailto"


def test_a_consent_that_cannot_be_recorded_never_costs_the_message(
    services: Services, admin: dict[str, str], app: TestClient
) -> None:
    ana = receive(services, (("email", "ana@example.com"),), "Olá", pid="<b1@example.com>")
    token = unsubscribe_token(services.consent_center.key, ana.customer_id, "lottery", "email")

    kept = receive(
        services,
        (("email", "ana@example.com"),),
        "",
        pid="<b2@example.com>",
        subject=f"unsubscribe {token}",
    )

    assert not kept.duplicate
    body = app.get(f"/api/customers/{ana.customer_id}/consents", headers=admin).json()
    assert body["history"] == []
