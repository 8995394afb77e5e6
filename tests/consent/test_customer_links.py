"""The customer's signed links, through the real app: one-click unsubscribe (RFC 8058), the
preference centre, and double opt-in with the confirmation email delivered to a local SMTP
sink."""

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from omnicx.bootstrap import Services
from omnicx.config import Settings
from omnicx.consent.links import confirmation_url, csrf_token, unsubscribe_token
from omnicx.kernel import FixedClock
from tests.channels.email.conftest import Sink
from tests.conftest import table_counts
from tests.consent.conftest import PUBLIC

CONSENT_TABLES = ("consent_changes", "consents", "consent_preferences", "consent_confirmations")
NOTHING = dict.fromkeys(CONSENT_TABLES, 0)
FORM = {"content-type": "application/x-www-form-urlencoded"}


@pytest.fixture
def settings(make_settings: Callable[..., Settings], sink: Sink) -> Settings:
    return make_settings(
        public_base_url=PUBLIC,
        email_addresses="support@shop.example",
        smtp_relay_host=sink.host,
        smtp_relay_port=sink.port,
        smtp_relay_security="none",
    )


def path(url: str) -> str:
    assert url.startswith(PUBLIC)
    return url[len(PUBLIC) :]


def allowed(services: Services, customer: str, purpose: str, channel: str) -> bool:
    with services.uow(write=False) as uow:
        return services.may_contact(uow, customer, purpose, channel).allowed


def grant_all_marketing(client: TestClient, admin: dict[str, str], customer: str) -> None:
    answer = client.put(
        f"/api/customers/{customer}/consents",
        headers=admin,
        json={
            "items": [{"purpose": "marketing", "channel": "*", "state": "granted"}],
            "source": {"channel": "store", "actor_kind": "customer", "method": "import"},
        },
    )
    assert answer.status_code == 200


def test_one_click_unsubscribe_revokes_the_purpose_everywhere(
    client: TestClient, services: Services, admin: dict[str, str], ana: str
) -> None:
    grant_all_marketing(client, admin, ana)
    headers = services.consent_center.unsubscribe_headers(ana, "marketing", "email")
    link = re.match(r"<([^>]+)>", headers["List-Unsubscribe"])
    assert link is not None
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "mailto:support@shop.example?subject=unsubscribe%20" in headers["List-Unsubscribe"]

    page = client.get(path(link.group(1)))
    assert page.status_code == 200
    assert 'name="List-Unsubscribe" value="One-Click"' in page.text
    assert allowed(services, ana, "marketing", "sms")

    answer = client.post(path(link.group(1)), content="List-Unsubscribe=One-Click", headers=FORM)

    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    assert not any(allowed(services, ana, "marketing", c) for c in ("email", "sms", "whatsapp"))
    assert allowed(services, ana, "service", "email")
    with services.uow(write=False) as uow:
        (change, _) = services.consent(uow).history(ana)
    assert (change.source.method, change.source.channel, change.channel) == (
        "one_click",
        "email",
        "*",
    )
    assert change.proof["ip"] == "testclient"
    assert change.proof["link"] == "List-Unsubscribe"


def test_a_bad_unsubscribe_token_is_refused_and_nothing_is_stored(
    client: TestClient, services: Services, ana: str
) -> None:
    token = unsubscribe_token(services.consent_center.key, ana, "marketing", "email")
    forged = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    other_key = unsubscribe_token(b"k" * 32, ana, "marketing", "email")
    before = table_counts(services, *CONSENT_TABLES, "events")

    for bad in (forged, other_key, "not-a-token", "a.b"):
        answer = client.post(f"/u/{bad}", content="List-Unsubscribe=One-Click", headers=FORM)
        assert answer.status_code == 403, bad
        assert client.get(f"/u/{bad}").status_code == 403

    wrong_body = client.post(f"/u/{token}", content="List-Unsubscribe=Yes", headers=FORM)
    assert wrong_body.status_code == 400
    assert wrong_body.json()["error"]["field"] == "List-Unsubscribe"
    assert table_counts(services, *CONSENT_TABLES, "events") == before


def test_double_opt_in_waits_for_the_confirmation_link(
    client: TestClient, services: Services, admin: dict[str, str], ana: str, sink: Sink
) -> None:
    form_proof = {
        "ip": "198.51.100.7",
        "user_agent": "Mozilla/5.0",
        "form_text": "Quero receber ofertas por e-mail",
        "form_version": "2026-11",
    }
    answer = client.put(
        f"/api/customers/{ana}/consents",
        headers=admin,
        json={
            "items": [
                {"purpose": "marketing", "channel": "email", "state": "granted"},
                {"purpose": "marketing", "channel": "sms", "state": "granted"},
            ],
            "source": {"channel": "web", "method": "web_form", "actor_kind": "customer"},
            "proof": form_proof,
        },
    )

    assert answer.status_code == 200, answer.json()
    body = answer.json()
    assert [(c["purpose"], c["channel"]) for c in body["changes"]] == [("marketing", "sms")]
    (pending,) = body["pending"]
    assert (pending["purpose"], pending["channel"], pending["status"]) == (
        "marketing",
        "email",
        "pending",
    )
    assert not allowed(services, ana, "marketing", "email")
    assert allowed(services, ana, "marketing", "sms")
    again = client.put(
        f"/api/customers/{ana}/consents",
        headers=admin,
        json={
            "items": [{"purpose": "marketing", "channel": "email", "state": "granted"}],
            "source": {"channel": "web", "method": "web_form", "actor_kind": "customer"},
        },
    )
    assert again.json()["pending"][0]["id"] == pending["id"]
    assert table_counts(services, "consent_confirmations") == {"consent_confirmations": 1}

    assert services.process_outbox() >= 1
    (mail,) = sink.received
    assert mail.rcpt_tos == ["ana@example.com"]
    assert str(mail.message["Subject"]) == "Please confirm your subscription"
    text = mail.message.get_body(preferencelist=("plain",))
    assert text is not None
    link = re.search(re.escape(PUBLIC) + r"(/consent/confirm/[A-Za-z0-9_.-]+)", text.get_content())
    assert link is not None
    assert services.process_outbox() == 0

    confirmed = client.get(link.group(1), headers={"user-agent": "MailApp/1"})

    assert confirmed.status_code == 200, confirmed.text
    assert "confirmed" in confirmed.text
    assert allowed(services, ana, "marketing", "email")
    with services.uow(write=False) as uow:
        latest = services.consent(uow).history(ana)[0]
    assert (latest.purpose, latest.channel, latest.state, latest.source.method) == (
        "marketing",
        "email",
        "granted",
        "double_opt_in",
    )
    assert latest.proof["form_text"] == "Quero receber ofertas por e-mail"
    opt_in: dict[str, Any] = latest.proof["double_opt_in"]
    assert opt_in["confirmation_id"] == pending["id"]
    assert (opt_in["user_agent"], opt_in["ip"]) == ("MailApp/1", "testclient")
    assert opt_in["confirmed_at"] == "2026-11-23T12:00:00+00:00"

    twice = client.get(link.group(1))
    assert twice.status_code == 200
    assert "already" in twice.text
    with services.uow(write=False) as uow:
        assert len(services.consent(uow).history(ana)) == 2
    assert client.get("/consent/confirm/forged.token").status_code == 403


def test_the_preference_centre_shows_and_changes_consents_and_preferences(
    client: TestClient, services: Services, admin: dict[str, str], ana: str, sink: Sink
) -> None:
    link = client.post(f"/api/customers/{ana}/preference-link", headers=admin)
    assert link.status_code == 200
    url = path(link.json()["url"])
    token = url.rpartition("/")[2]

    page = client.get(url)

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "script" not in page.text
    assert 'name="csrf"' in page.text
    assert 'value="service:whatsapp" aria-label' in page.text
    assert re.search(r'value="service:sms"[^>]*checked', page.text)
    assert not re.search(r'value="marketing:sms"[^>]*checked', page.text)
    assert "form-action 'self'" in page.headers["content-security-policy"]

    form = [
        ("csrf", csrf_token(services.consent_center.key, token)),
        ("consent", "marketing:sms"),
        ("consent", "marketing:email"),
        ("consent", "service:email"),
        ("consent", "service:sms"),
        ("language", "pt-BR"),
        ("time_zone", "America/Sao_Paulo"),
        ("quiet_start", "21:00"),
        ("quiet_end", "08:00"),
        ("max_per_day", "2"),
        ("max_per_week", ""),
        ("channel_order", "whatsapp, email"),
        ("action", "save"),
    ]
    saved = client.post(
        url,
        data=dict(form)
        | {"consent": ["marketing:sms", "marketing:email", "service:email", "service:sms"]},
    )

    assert saved.status_code == 200, saved.text
    assert "Suas escolhas foram salvas" in saved.text
    assert allowed(services, ana, "marketing", "sms")
    assert not allowed(services, ana, "marketing", "email")
    assert not allowed(services, ana, "service", "whatsapp")
    assert allowed(services, ana, "service", "sms")
    with services.uow(write=False) as uow:
        prefs = services.consent(uow).preferences(ana)
        pending = services.consent(uow).pending(ana, uow.clock.now())
    assert (prefs.language, prefs.time_zone, prefs.max_per_day) == ("pt-BR", "America/Sao_Paulo", 2)
    assert prefs.channel_order == ("whatsapp", "email")
    assert [(p.purpose, p.channel) for p in pending] == [("marketing", "email")]
    assert "confirme no seu e-mail" in saved.text


def test_a_bad_preference_form_changes_nothing(
    client: TestClient, services: Services, admin: dict[str, str], ana: str
) -> None:
    url = path(client.post(f"/api/customers/{ana}/preference-link", headers=admin).json()["url"])
    token = url.rpartition("/")[2]
    csrf = csrf_token(services.consent_center.key, token)
    before = table_counts(services, *CONSENT_TABLES, "events", "outbox")

    forged = client.post(url, data={"csrf": "nope", "consent": "marketing:sms"})
    assert forged.status_code == 403
    bad_zone = client.post(
        url, data={"csrf": csrf, "consent": ["marketing:sms"], "time_zone": "Mars/Olympus"}
    )
    assert bad_zone.status_code == 200
    assert "Nothing was saved" in bad_zone.text
    assert "Mars/Olympus" in bad_zone.text
    unknown = client.post(url, data={"csrf": csrf, "consent": "spam:fax"})
    assert unknown.status_code == 200
    assert "is not on this page" in unknown.text
    assert client.get("/preferences/forged.token").status_code == 403
    assert table_counts(services, *CONSENT_TABLES, "events", "outbox") == before


def test_stop_all_offers_from_the_preference_centre(
    client: TestClient, services: Services, admin: dict[str, str], ana: str
) -> None:
    grant_all_marketing(client, admin, ana)
    url = path(client.post(f"/api/customers/{ana}/preference-link", headers=admin).json()["url"])
    csrf = csrf_token(services.consent_center.key, url.rpartition("/")[2])

    answer = client.post(url, data={"csrf": csrf, "action": "unsubscribe_all"})

    assert answer.status_code == 200
    assert not allowed(services, ana, "marketing", "push")
    assert not allowed(services, ana, "feedback", "email")
    assert allowed(services, ana, "service", "email")


def test_an_expired_confirmation_grants_nothing(
    client: TestClient, services: Services, admin: dict[str, str], ana: str, sink: Sink
) -> None:
    answer = client.put(
        f"/api/customers/{ana}/consents",
        headers=admin,
        json={
            "items": [{"purpose": "marketing", "channel": "email", "state": "granted"}],
            "source": {"channel": "web", "method": "web_form", "actor_kind": "customer"},
        },
    )
    (pending,) = answer.json()["pending"]
    clock = services.clock
    assert isinstance(clock, FixedClock)
    url = confirmation_url(
        PUBLIC, services.consent_center.key, pending["id"], clock.now() + timedelta(days=30)
    )
    clock.advance(timedelta(days=8))

    expired = client.get(path(url))

    assert expired.status_code == 409
    assert expired.json()["error"]["code"] == "confirmation_expired"
    assert not allowed(services, ana, "marketing", "email")
    assert services.process_outbox() >= 1
    assert sink.received == []
