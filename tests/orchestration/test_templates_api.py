"""Templates over HTTP, on SQLite and PostgreSQL: previews (saved and unsaved, for a customer
or with sample variables, with SMS segments and the variables left without a value), the
checks when a template is saved, and the publish-time check of journeys and broadcasts: a
missing variable is refused with the node and the variable named, and nothing is published."""

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from omnicx.bootstrap import Services
from omnicx.config import Settings
from tests.conftest import table_counts
from tests.orchestration.test_sending import add_customer

CART = {
    "variants": [
        {"language": "en", "text": "Hi {{ customer.first_name }}, {{ event.total }} in your cart"},
        {"language": "pt-BR", "text": "Oi {{ customer.first_name }}, {{ event.total | currency }}"},
        {
            "channel": "email",
            "language": "en",
            "subject": "{{ customer.first_name }}, your cart",
            "html": "<p>{{ traits.tier | default('friend') }} &mdash; {{ event.total }}</p>",
        },
        {
            "channel": "push",
            "language": "*",
            "subject": "Your cart",
            "text": "{{ event.items | length }} items waiting",
        },
    ]
}


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(quiet_hours="", channel_rates={})


@pytest.fixture
def cart(client: TestClient, admin: dict[str, str]) -> dict[str, Any]:
    answer = client.put("/api/templates/cart", headers=admin, json=CART)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


# -- preview ---------------------------------------------------------------------------------


def test_a_preview_for_a_customer_uses_their_name_and_language(
    services: Services, client: TestClient, admin: dict[str, str], cart: dict[str, Any]
) -> None:
    ana = add_customer(services, email="ana@example.com", phone="+5511988887777")
    client.put(
        f"/api/customers/{ana}/preferences",
        headers=admin,
        json={"language": "pt-BR"},
    )

    answer = client.post(
        "/api/templates/cart/preview",
        headers=admin,
        json={"customer_id": ana, "channel": "sms", "variables": {"event": {"total": 1234.5}}},
    )

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["template"], body["language"]) == ("cart", "pt-BR")
    (item,) = body["items"]
    assert (item["channel"], item["variant_channel"], item["variant_language"]) == (
        "sms",
        "*",
        "pt-br",
    )
    # No first name: empty, as a send renders it; an SMS's no-break spaces are made plain.
    assert item["text"] == "Oi , R$ 1.234,50"
    assert item["sms"] == {
        "encoding": "GSM-7",
        "characters": len(item["text"]),
        "units": len(item["text"]),
        "segments": 1,
        "per_segment": 160,
    }
    assert body["uses"] == ["customer.first_name", "event.total"]
    assert body["missing"] == ["customer.first_name"]


def test_a_preview_without_a_customer_marks_what_has_no_value(
    client: TestClient, admin: dict[str, str], cart: dict[str, Any]
) -> None:
    answer = client.post(
        "/api/templates/cart/preview",
        headers=admin,
        json={"channel": "email", "language": "en", "variables": {"event": {"total": 80}}},
    )

    assert answer.status_code == 200, answer.text
    (item,) = answer.json()["items"]
    assert item["subject"] == "{{ customer.first_name }}, your cart"
    assert item["html"] == "<p>friend &mdash; 80</p>"
    assert item["sms"] is None
    assert answer.json()["missing"] == ["customer.first_name"]


def test_a_preview_of_every_variant(
    client: TestClient, admin: dict[str, str], cart: dict[str, Any]
) -> None:
    answer = client.post(
        "/api/templates/cart/preview",
        headers=admin,
        json={"variables": {"event": {"total": 5, "items": [1, 2]}}, "language": "es"},
    )

    assert answer.status_code == 200, answer.text
    items = answer.json()["items"]
    assert [(i["variant_channel"], i["variant_language"]) for i in items] == [
        ("*", "en"),
        ("*", "pt-br"),
        ("email", "en"),
        ("push", "*"),
    ]
    assert (items[3]["subject"], items[3]["text"]) == ("Your cart", "2 items waiting")


def test_an_unsaved_template_is_previewed_and_checked(
    client: TestClient, admin: dict[str, str]
) -> None:
    emoji = "Promoção relâmpago 🎉 " * 4
    answer = client.post(
        "/api/templates/preview",
        headers=admin,
        json={
            "variants": [{"channel": "sms", "text": emoji + "{{ code }}"}],
            "channel": "sms",
            "variables": {"code": "X"},
        },
    )

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["template"] is None
    (item,) = body["items"]
    assert item["text"] == emoji + "X"
    assert item["sms"]["encoding"] == "UCS-2"
    assert item["sms"]["units"] == len(emoji + "X") + 4  # each 🎉 takes two units
    assert item["sms"]["segments"] == 2

    unsafe = client.post(
        "/api/templates/preview",
        headers=admin,
        json={"variants": [{"text": "{{ ''.__class__.__mro__ }}"}]},
    )
    assert unsafe.status_code == 400
    assert unsafe.json()["error"]["code"] == "unsafe_template"
    assert unsafe.json()["error"]["field"] == "variants[0].text"


@pytest.mark.parametrize(
    ("path", "body", "status", "code", "field"),
    [
        ("/api/templates/nope/preview", {}, 404, "template_not_found", "name"),
        ("/api/templates/Bad Name/preview", {}, 400, "invalid_template_name", "name"),
        ("/api/templates/mail/preview", {"channel": "sms"}, 400, "no_variant", "channel"),
        ("/api/templates/cart/preview", {"channel": "SMS!"}, 400, "invalid_channel", "channel"),
        (
            "/api/templates/cart/preview",
            {"customer_id": "nobody"},
            404,
            "customer_not_found",
            "customer_id",
        ),
        ("/api/templates/cart/preview", {"channel": "sms", "language": "en"}, 200, None, None),
    ],
)
def test_preview_refusals_name_the_field(
    client: TestClient,
    admin: dict[str, str],
    cart: dict[str, Any],
    path: str,
    body: dict[str, Any],
    status: int,
    code: str | None,
    field: str | None,
) -> None:
    only_email = {"variants": [{"channel": "email", "text": "x"}]}
    assert client.put("/api/templates/mail", headers=admin, json=only_email).status_code == 200
    answer = client.post(path, headers=admin, json=body)
    assert answer.status_code == status, answer.text
    if code is not None:
        assert (answer.json()["error"]["code"], answer.json()["error"]["field"]) == (code, field)


def test_a_template_reaching_for_python_internals_is_refused_when_saved(
    services: Services, client: TestClient, admin: dict[str, str]
) -> None:
    answer = client.put(
        "/api/templates/evil",
        headers=admin,
        json={"variants": [{"text": "ok"}, {"channel": "email", "html": "{{ ''.__class__ }}"}]},
    )

    assert answer.status_code == 400
    assert answer.json()["error"] == {
        "code": "unsafe_template",
        "message": "variants[1].html: a template may not reach '__class__': names starting "
        "with _ are Python's internals, closed to templates",
        "field": "variants[1].html",
    }
    assert table_counts(services, "send_templates") == {"send_templates": 0}


# -- publish time ------------------------------------------------------------------------------


def _journey(trigger: dict[str, Any], content: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": "Cart reminder",
        "trigger": trigger,
        "start": "remind",
        "nodes": {
            "remind": {
                "type": "send",
                "purpose": "marketing",
                "channels": ["sms"],
                "content": content,
                "next": "done",
            },
            "done": {"type": "exit"},
        },
    }


def test_publishing_a_journey_whose_template_needs_a_missing_variable_is_refused(
    services: Services, client: TestClient, admin: dict[str, str], cart: dict[str, Any]
) -> None:
    created = client.post(
        "/api/journeys",
        headers=admin,
        json=_journey({"segment": "vips"}, {"template": "cart"}),
    )
    assert created.status_code == 201, created.text
    journey = created.json()["id"]

    checked = client.post(f"/api/journeys/{journey}/validate", headers=admin)
    published = client.post(f"/api/journeys/{journey}/publish", headers=admin, json={})

    assert checked.json()["valid"] is False
    why = (
        "uses {{ event.total }}, but this journey is not entered on an event, so there is no "
        "event to read"
    )
    assert published.status_code == 400
    error = published.json()["error"]
    assert error["code"] == "invalid_definition"
    assert error["field"] == "nodes.remind.content.template"
    assert error["message"] == (
        f"nodes.remind.content.template: template 'cart' (*, en) text {why} (and 1 more)"
    )
    # The email and push variants are not checked: this node sends SMS only.
    assert [i["message"] for i in error["items"]] == [
        f"template 'cart' (*, en) text {why}",
        f"template 'cart' (*, pt-br) text {why}",
    ]
    assert [p["field"] for p in checked.json()["problems"]] == ["nodes.remind.content.template"] * 2
    assert table_counts(services, "journey_versions") == {"journey_versions": 0}
    assert client.get(f"/api/journeys/{journey}", headers=admin).json()["status"] == "draft"


def test_a_journey_entered_on_an_event_provides_the_event_and_publishes(
    services: Services, client: TestClient, admin: dict[str, str], cart: dict[str, Any]
) -> None:
    created = client.post(
        "/api/journeys",
        headers=admin,
        json=_journey({"event": "Cart Abandoned"}, {"template": "cart"}),
    )
    journey = created.json()["id"]

    published = client.post(f"/api/journeys/{journey}/publish", headers=admin, json={})

    assert published.status_code == 200, published.text
    assert published.json()["version"] == 1


@pytest.mark.parametrize(
    ("content", "field", "message"),
    [
        ({"template": "nope"}, "nodes.remind.content.template", "no template is named 'nope'"),
        (
            {"text": "Your code {{ coupon }}"},
            "nodes.remind.content.text",
            "uses {{ coupon }}, but nothing provides coupon: not a customer field, a trait, a "
            "journey field, an event property or one of the send's variables",
        ),
        (
            {"text": "Hi {{ customer.nickname }}"},
            "nodes.remind.content.text",
            "{{ customer.nickname }} does not exist; customer holds id, name, first_name, "
            "last_name, email, phone",
        ),
    ],
)
def test_other_content_a_journey_cannot_render_is_refused_at_publish(
    services: Services,
    client: TestClient,
    admin: dict[str, str],
    content: dict[str, Any],
    field: str,
    message: str,
) -> None:
    journey = client.post(
        "/api/journeys", headers=admin, json=_journey({"event": "Cart Abandoned"}, content)
    ).json()["id"]

    published = client.post(f"/api/journeys/{journey}/publish", headers=admin, json={})

    assert published.status_code == 400
    assert [(i["field"], i["message"]) for i in published.json()["error"]["items"]] == [
        (field, message)
    ]
    assert table_counts(services, "journey_versions") == {"journey_versions": 0}


def test_a_journeys_own_variables_satisfy_its_template(
    client: TestClient, admin: dict[str, str]
) -> None:
    client.put(
        "/api/templates/coupon", headers=admin, json={"variants": [{"text": "Use {{ coupon }}"}]}
    )
    content = {"template": "coupon", "variables": {"coupon": "WELCOME10"}}
    journey = client.post(
        "/api/journeys", headers=admin, json=_journey({"segment": "vips"}, content)
    ).json()["id"]

    published = client.post(f"/api/journeys/{journey}/publish", headers=admin, json={})

    assert published.status_code == 200, published.text


def test_a_broadcast_whose_template_needs_a_missing_variable_is_refused(
    services: Services, client: TestClient, admin: dict[str, str], cart: dict[str, Any]
) -> None:
    answer = client.post(
        "/api/broadcasts",
        headers=admin,
        json={"name": "Cart push", "segment_id": "vips", "content": {"template": "cart"}},
    )

    assert answer.status_code == 400
    error = answer.json()["error"]
    assert (error["code"], error["field"]) == ("missing_variable", "content.template")
    assert error["message"] == (
        "template 'cart' (*, en) text uses {{ event.total }}, but only a journey entered on an "
        "event provides event, or pass event in the send's variables"
    )
    assert table_counts(services, "broadcasts") == {"broadcasts": 0}
