"""The consent API end to end, on SQLite and PostgreSQL: consents with source and proof, the
agent's opt-out, preferences, the suppression list, the customer context, and replies that
respect a revoked channel."""

from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from omnicx.access import principal_for_role
from omnicx.bootstrap import Services
from omnicx.conversations import Reply
from omnicx.kernel import Conflict
from tests.conftest import table_counts
from tests.consent.conftest import Staff

TABLES = (
    "consent_changes",
    "consents",
    "consent_preferences",
    "consent_confirmations",
    "consent_suppressions",
)
NOTHING = dict.fromkeys(TABLES, 0)


def effective(body: dict[str, Any]) -> dict[tuple[str, str], bool]:
    return {(e["purpose"], e["channel"]): e["allowed"] for e in body["effective"]}


def put(client: TestClient, headers: dict[str, str], customer: str, **body: Any) -> Any:
    return client.put(f"/api/customers/{customer}/consents", headers=headers, json=body)


def timeline(client: TestClient, headers: dict[str, str], customer: str) -> list[dict[str, Any]]:
    answer = client.get(f"/api/customers/{customer}/timeline?type=track", headers=headers)
    assert answer.status_code == 200
    return [i for i in answer.json()["items"] if i["source_id"] == "consent"]


def test_a_customer_without_consents_may_get_service_but_no_marketing(
    client: TestClient, admin: dict[str, str], ana: str
) -> None:
    answer = client.get(f"/api/customers/{ana}/consents", headers=admin)

    assert answer.status_code == 200
    body = answer.json()
    assert (body["customer_id"], body["current"], body["history"]) == (ana, [], [])
    assert (body["pending"], body["suppressions"]) == ([], [])
    allowed = effective(body)
    assert allowed[("transactional", "sms")]
    assert allowed[("service", "email")]
    assert not allowed[("marketing", "email")]
    assert not allowed[("feedback", "sms")]
    reasons = {(e["purpose"], e["channel"]): e["reason"] for e in body["effective"]}
    assert reasons[("marketing", "whatsapp")] == "marketing not granted on whatsapp"


def test_recorded_consents_keep_source_and_sealed_proof(
    client: TestClient, services: Services, staff: Staff, admin: dict[str, str], ana: str
) -> None:
    agent = staff("agent")
    proof = {"ip": "203.0.113.9", "form_text": "Quero receber ofertas por SMS", "form_version": "3"}

    answer = put(
        client,
        agent,
        ana,
        items=[
            {"purpose": "marketing", "channel": "sms", "state": "granted"},
            {"purpose": "feedback", "channel": "*", "state": "denied"},
        ],
        source={"channel": "call_center"},
        proof=proof,
        note="Cliente pediu por telefone",
    )

    assert answer.status_code == 200, answer.json()
    body = answer.json()
    assert [(c["purpose"], c["channel"], c["state"]) for c in body["changes"]] == [
        ("feedback", "*", "denied"),
        ("marketing", "sms", "granted"),
    ]
    assert body["pending"] == []
    source = body["changes"][1]["source"]
    assert (source["channel"], source["actor_kind"], source["method"]) == (
        "call_center",
        "agent",
        "api",
    )
    allowed = effective(body["consents"])
    assert allowed[("marketing", "sms")]
    assert not allowed[("marketing", "email")]
    assert not allowed[("feedback", "email")]
    history = client.get(f"/api/customers/{ana}/consents", headers=admin).json()["history"]
    assert {h["purpose"]: (h["proof"], h["note"]) for h in history} == {
        "marketing": (proof, "Cliente pediu por telefone"),
        "feedback": (proof, "Cliente pediu por telefone"),
    }
    with services.engines.main.connect() as conn:
        stored = conn.execute(sa.text("SELECT proof, note FROM consent_changes")).all()
    assert all("203.0.113.9" not in str(p) and "telefone" not in n for p, n in stored)
    events = timeline(client, admin, ana)
    assert sorted((e["event"], e["channel"]) for e in events) == [
        ("Consent Granted", "call_center"),
        ("Consent Revoked", "call_center"),
    ]
    granted = next(e for e in events if e["event"] == "Consent Granted")
    assert granted["properties"]["consents"] == [
        {"purpose": "marketing", "channel": "sms", "state": "granted"}
    ]


def test_bad_consents_name_the_field_and_write_nothing(
    client: TestClient, services: Services, admin: dict[str, str], ana: str
) -> None:
    before = table_counts(services, *TABLES, "events", "outbox")
    item = {"purpose": "marketing", "channel": "sms", "state": "granted"}
    cases: list[tuple[dict[str, Any], str, str | None]] = [
        ({"items": [{**item, "purpose": "spam"}]}, "unknown_purpose", "items.0.purpose"),
        ({"items": [{**item, "channel": "pigeon"}]}, "unknown_channel", "items.0.channel"),
        ({"items": [{**item, "state": "maybe"}]}, "invalid_state", "items.0.state"),
        ({"items": [item, item]}, "duplicate_item", "items.1"),
        ({"items": [item], "source": {"channel": "sms", "method": "x"}}, "unknown_method", None),
        ({"items": [item], "at": "2099-01-01T00:00:00Z"}, "at_in_future", "at"),
        (
            {"items": [item], "source": {"channel": "sms", "actor_kind": "robot"}},
            "invalid_actor_kind",
            "source.actor_kind",
        ),
        (
            {
                "items": [{"purpose": "marketing", "channel": "*", "state": "granted"}],
                "source": {"channel": "web", "method": "web_form"},
            },
            "double_opt_in_per_channel",
            "items.0.channel",
        ),
    ]
    for body, code, field in cases:
        body.setdefault("source", {"channel": "web"})
        answer = put(client, admin, ana, **body)
        assert answer.status_code == 400, (body, answer.json())
        error = answer.json()["error"]
        assert error["code"] == code
        assert error["field"] == (field or "source.method")
    shape = put(client, admin, ana, items=[], source={"channel": "web"})
    assert shape.status_code == 422
    assert shape.json()["error"]["field"] == "items"
    missing = put(client, admin, "no-such-customer", items=[item], source={"channel": "web"})
    assert missing.status_code == 404
    assert table_counts(services, *TABLES, "events", "outbox") == before


def test_not_interested_told_to_an_agent_stops_offers_on_every_channel(
    client: TestClient, staff: Staff, admin: dict[str, str], ana: str
) -> None:
    granted = put(
        client,
        admin,
        ana,
        items=[
            {"purpose": "marketing", "channel": "email", "state": "granted"},
            {"purpose": "marketing", "channel": "whatsapp", "state": "granted"},
        ],
        source={"channel": "web", "method": "import", "actor_kind": "customer"},
    )
    assert granted.status_code == 200
    agent = staff("agent")

    answer = client.post(
        f"/api/customers/{ana}/opt-outs",
        headers=agent,
        json={"note": "Disse que não tem interesse"},
    )

    assert answer.status_code == 201, answer.json()
    body = answer.json()
    (change,) = body["changes"]
    assert (change["purpose"], change["channel"], change["state"]) == ("marketing", "*", "revoked")
    assert (change["source"]["actor_kind"], change["source"]["method"]) == ("agent", "agent")
    assert change["source"]["channel"] == "call_center"
    assert change["note"] == "Disse que não tem interesse"
    allowed = effective(body["consents"])
    assert not any(allowed[("marketing", c)] for c in ("email", "sms", "whatsapp", "call"))
    assert allowed[("service", "whatsapp")]
    reason = next(
        e["reason"]
        for e in body["consents"]["effective"]
        if (e["purpose"], e["channel"]) == ("marketing", "email")
    )
    assert reason.startswith("marketing revoked on every channel by agent opt-out on call_center")

    till = staff("store_associate")
    at_store = client.post(
        f"/api/customers/{ana}/opt-outs",
        headers=till,
        json={"purpose": "feedback", "channel": "sms", "store_id": "loja-paulista"},
    )
    assert at_store.status_code == 201
    source = at_store.json()["changes"][0]["source"]
    assert (source["actor_kind"], source["method"], source["channel"], source["store_id"]) == (
        "store",
        "store",
        "store",
        "loja-paulista",
    )


def test_preferences_are_replaced_whole_and_checked(
    client: TestClient, services: Services, admin: dict[str, str], ana: str
) -> None:
    url = f"/api/customers/{ana}/preferences"
    empty = client.get(url, headers=admin).json()
    assert empty == {
        "customer_id": ana,
        "channel_order": [],
        "language": None,
        "time_zone": None,
        "quiet_hours": None,
        "max_per_day": None,
        "max_per_week": None,
        "channel_limits": [],
        "updated_at": None,
    }
    body = {
        "channel_order": ["whatsapp", "email"],
        "language": "pt-br",
        "time_zone": "America/Sao_Paulo",
        "quiet_hours": "21:00-08:00",
        "max_per_day": 2,
        "max_per_week": 6,
        "channel_limits": [{"channel": "sms", "max_per_day": 1}],
    }

    saved = client.put(url, headers=admin, json=body)

    assert saved.status_code == 200, saved.json()
    assert client.get(url, headers=admin).json() == {
        **body,
        "customer_id": ana,
        "language": "pt-BR",
        "channel_limits": [{"channel": "sms", "max_per_day": 1, "max_per_week": None}],
        "updated_at": "2026-11-23T12:00:00Z",
    }
    changes: list[tuple[dict[str, Any], str, str]] = [
        ({"time_zone": "Mars/Olympus"}, "invalid_time_zone", "time_zone"),
        ({"quiet_hours": "21h-8h"}, "invalid_quiet_hours", "quiet_hours"),
        ({"channel_order": ["fax"]}, "unknown_channel", "channel_order.0"),
        ({"max_per_day": 9, "max_per_week": 3}, "invalid_limit", "max_per_day"),
    ]
    for change, code, field in changes:
        refused = client.put(url, headers=admin, json={**body, **change})
        assert refused.status_code == 400, change
        assert (refused.json()["error"]["code"], refused.json()["error"]["field"]) == (code, field)
    assert client.get(url, headers=admin).json()["time_zone"] == "America/Sao_Paulo"
    with services.uow(write=False) as uow:
        kept = services.consent(uow).preferences(ana)
    assert kept.quiet_hours is not None
    assert kept.channel_order == ("whatsapp", "email")


def test_the_suppression_list_blocks_by_keyed_hash(
    client: TestClient, services: Services, admin: dict[str, str], ana: str
) -> None:
    created = client.post(
        "/api/suppressions",
        headers=admin,
        json={"kind": "email", "value": " Ana@Example.com ", "reason": "bounced", "note": "550"},
    )

    assert created.status_code == 201, created.json()
    suppression = created.json()
    assert (suppression["kind"], suppression["reason"], suppression["channel"]) == (
        "email",
        "bounced",
        "email",
    )
    with services.engines.main.connect() as conn:
        raw = conn.execute(sa.text("SELECT * FROM consent_suppressions")).all()
    assert "ana@example.com" not in str(raw)
    found = client.get("/api/suppressions?kind=email&value=ANA@example.com", headers=admin).json()[
        "items"
    ]
    assert [s["id"] for s in found] == [suppression["id"]]
    again = client.post(
        "/api/suppressions",
        headers=admin,
        json={"kind": "email", "value": "ana@example.com", "reason": "manual"},
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already_suppressed"
    body = client.get(f"/api/customers/{ana}/consents", headers=admin).json()
    assert [s["id"] for s in body["suppressions"]] == [suppression["id"]]
    allowed = effective(body)
    assert not allowed[("transactional", "email")]
    assert allowed[("transactional", "sms")]
    with services.uow(write=False) as uow:
        answer = services.may_contact(uow, ana, "service", "email")
    assert not answer.allowed
    assert answer.reason.startswith("email suppressed (bounced) on email since")

    for body_, code, field in [
        ({"kind": "fax", "value": "1", "reason": "manual"}, "unknown_identifier_kind", "kind"),
        ({"kind": "email", "value": "nope", "reason": "manual"}, "invalid_email", "value"),
        ({"kind": "phone", "value": "+55119", "reason": "manual"}, "invalid_phone", "value"),
        ({"kind": "phone", "value": "+5511977776666", "reason": "x"}, "invalid_reason", "reason"),
    ]:
        refused = client.post("/api/suppressions", headers=admin, json=body_)
        assert refused.status_code == 400
        assert (refused.json()["error"]["code"], refused.json()["error"]["field"]) == (code, field)

    lifted = client.delete(f"/api/suppressions/{suppression['id']}", headers=admin)
    assert lifted.status_code == 200
    assert client.delete(f"/api/suppressions/{suppression['id']}", headers=admin).status_code == 404
    assert table_counts(services, "consent_suppressions") == {"consent_suppressions": 0}


def test_the_customer_context_shows_consents_and_preferences(
    client: TestClient, admin: dict[str, str], ana: str
) -> None:
    put(
        client,
        admin,
        ana,
        items=[{"purpose": "marketing", "channel": "whatsapp", "state": "granted"}],
        source={"channel": "store", "actor_kind": "store", "store_id": "loja-1"},
    )
    client.put(
        f"/api/customers/{ana}/preferences",
        headers=admin,
        json={"time_zone": "America/Sao_Paulo", "quiet_hours": "22:00-07:30"},
    )

    context = client.get(f"/api/customers/{ana}/context", headers=admin).json()

    assert [(c["purpose"], c["channel"], c["state"]) for c in context["consents"]["current"]] == [
        ("marketing", "whatsapp", "granted")
    ]
    assert effective(context["consents"])[("marketing", "whatsapp")]
    assert context["preferences"]["quiet_hours"] == "22:00-07:30"
    assert "Consent Granted" in [e["event"] for e in context["recent_events"]]


def test_an_agent_reply_skips_a_channel_where_service_was_revoked(
    client: TestClient, services: Services, admin: dict[str, str], ana: str
) -> None:
    put(
        client,
        admin,
        ana,
        items=[{"purpose": "service", "channel": "sms", "state": "revoked"}],
        source={"channel": "sms", "actor_kind": "customer"},
    )
    with services.uow(write=False) as uow:
        (conversation,) = services.conversations(uow).of_customer(ana)
    agent = principal_for_role("user", "agent-1", "Rita", "agent")

    with pytest.raises(Conflict) as refused:
        services.reply(conversation.id, Reply(agent, channel="sms", text="Oi Ana"))
    assert refused.value.code == "channel_unavailable"
    assert refused.value.message.startswith("sms: service revoked on sms by api")
    sent = services.reply(conversation.id, Reply(agent, channel="auto", text="Oi Ana"))
    assert (sent.channel, sent.to) == ("email", ("email", "ana@example.com"))


def test_a_merged_id_redirects_and_unknown_is_404(
    client: TestClient, admin: dict[str, str], bea: str
) -> None:
    assert client.get("/api/customers/nobody/consents", headers=admin).status_code == 404
    assert client.get("/api/customers/nobody/preferences", headers=admin).status_code == 404
    assert client.get(f"/api/customers/{bea}/preferences", headers=admin).status_code == 200
