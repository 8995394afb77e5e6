"""Channel x contact reason and friction from real conversations: inbound messages through
`receive_inbound`, reasons, statuses and CSAT through the API, an SLA breach through the desk's
check, with exact numbers in JSON and CSV; bad parameters are 400s naming them."""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from omnicx.access import Argon2PasswordHasher
from omnicx.bootstrap import Services
from omnicx.conversations import InboundMessage
from omnicx.kernel import FixedClock
from omnicx.orchestration.store.segments import segment_members
from omnicx.privacy import Actor
from tests.access.conftest import add_user, sign_in
from tests.conftest import table_counts

T0 = datetime(2026, 3, 2, 12, tzinfo=UTC)
ANA = (("email", "ana@example.com"),)
ANA_PHONE = (("email", "ana@example.com"), ("phone", "+5511911110000"))
BIA = (("phone", "+5511922220000"),)
CAIO = (("email", "caio@example.com"),)
PERIOD = {"from": "2026-03-01", "to": "2026-03-08"}


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """SQLite only here; test_service_databases.py runs the history on both databases."""
    return f"sqlite:///{tmp_path / 'omnicx.db'}"


@pytest.fixture(autouse=True)
def cheap_hasher(services: Services) -> None:
    services.passwords = Argon2PasswordHasher(time_cost=1, memory_kib=1024, parallelism=1)


def at(services: Services, when: datetime) -> None:
    services.uow.clock = FixedClock(when)
    services.clock = FixedClock(when)


def inbound(services: Services, channel: str, sender: tuple[tuple[str, str], ...], pid: str) -> Any:
    return services.receive_inbound(
        InboundMessage(
            channel=channel,
            account="+5511900000000",
            sender=sender,
            received_at=services.clock.now(),
            provider_message_id=pid,
            text="hello",
        )
    )


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def set_reason(client: TestClient, admin: dict[str, str], conversation: str, reason: str) -> None:
    ok(
        client.patch(
            f"/api/conversations/{conversation}", json={"contact_reason": reason}, headers=admin
        )
    )


def set_status(client: TestClient, admin: dict[str, str], conversation: str, status: str) -> None:
    ok(
        client.post(
            f"/api/conversations/{conversation}/status", json={"status": status}, headers=admin
        )
    )


def csat(client: TestClient, admin: dict[str, str], conversation: str, score: int) -> None:
    ok(
        client.post(
            f"/api/desk/conversations/{conversation}/csat", json={"score": score}, headers=admin
        ),
        201,
    )


def history(client: TestClient, services: Services, admin: dict[str, str]) -> dict[str, str]:
    """Four conversations of three customers over a week:

    ana   email, 12:00 day 1; an SMS 10 minutes later (a switch); reason delivery; the
          first-response SLA (60 minutes) breached; resolved after 1 hour, CSAT 4, closed
    ana   WhatsApp on day 4, reason delivery: a repeat of the first (ended 3 days before)
    bia   SMS on day 2, resolved after 30 minutes, CSAT 2, then given the reason payment
    caio  email on day 3, no reason, still open
    """
    ok(
        client.post(
            "/api/desk/sla-policies",
            json={"name": "All", "first_response_minutes": 60, "warning_percent": 80},
            headers=admin,
        ),
        201,
    )
    at(services, T0)
    first = inbound(services, "email", ANA, "<a1@x>")
    at(services, T0 + timedelta(minutes=10))
    switched = inbound(services, "sms", ANA_PHONE, "SMa2")
    assert switched.conversation_id == first.conversation_id
    set_reason(client, admin, first.conversation_id, "delivery")
    at(services, T0 + timedelta(minutes=61))
    assert len(services.check_sla()) == 2  # the warning (at 48 minutes) and the breach
    at(services, T0 + timedelta(hours=1))
    set_status(client, admin, first.conversation_id, "resolved")
    csat(client, admin, first.conversation_id, 4)
    at(services, T0 + timedelta(hours=2))
    set_status(client, admin, first.conversation_id, "closed")

    at(services, T0 + timedelta(days=1))
    bia = inbound(services, "sms", BIA, "SMb1")
    at(services, T0 + timedelta(days=1, minutes=30))
    set_status(client, admin, bia.conversation_id, "resolved")
    csat(client, admin, bia.conversation_id, 2)
    set_reason(client, admin, bia.conversation_id, "payment")

    at(services, T0 + timedelta(days=2))
    caio = inbound(services, "email", CAIO, "<c1@x>")

    at(services, T0 + timedelta(days=3))
    again = inbound(services, "whatsapp", ANA_PHONE[1:], "wamid.a3")
    assert again.created_conversation
    set_reason(client, admin, again.conversation_id, "delivery")
    return {
        "ana": first.customer_id,
        "ana_first": first.conversation_id,
        "ana_again": again.conversation_id,
        "bia": bia.customer_id,
        "caio": caio.customer_id,
    }


EXPECTED_CELLS = [
    {
        "channel": "email",
        "reason": "delivery",
        "conversations": 1,
        "resolved": 1,
        "mean_resolution_seconds": 3600.0,
        "csat_mean": 4.0,
        "csat_count": 1,
    },
    {
        "channel": "email",
        "reason": None,
        "conversations": 1,
        "resolved": 0,
        "mean_resolution_seconds": None,
        "csat_mean": None,
        "csat_count": 0,
    },
    {
        "channel": "sms",
        "reason": "payment",
        "conversations": 1,
        "resolved": 1,
        "mean_resolution_seconds": 1800.0,
        "csat_mean": 2.0,
        "csat_count": 1,
    },
    {
        "channel": "whatsapp",
        "reason": "delivery",
        "conversations": 1,
        "resolved": 0,
        "mean_resolution_seconds": None,
        "csat_mean": None,
        "csat_count": 0,
    },
]


def test_channel_reasons_and_friction_from_real_conversations(
    client: TestClient, services: Services, admin: dict[str, str]
) -> None:
    ids = history(client, services, admin)
    at(services, T0 + timedelta(days=4))

    reasons = ok(client.get("/api/analytics/channel-reasons", params=PERIOD, headers=admin))
    assert reasons == {
        "period": {
            "from": "2026-03-01",
            "to": "2026-03-08",
            "channel": None,
            "segment": None,
            "store": None,
        },
        "cells": EXPECTED_CELLS,
    }

    found = ok(client.get("/api/analytics/friction", params=PERIOD, headers=admin))
    assert found["channels"] == [
        {
            "channel": "email",
            "conversations": 2,
            "repeat_contacts": 0,
            "repeat_rate": 0.0,
            "switches_out": 1,
            "switches_in": 0,
            "sla_breaches": 1,
        },
        {
            "channel": "sms",
            "conversations": 1,
            "repeat_contacts": 0,
            "repeat_rate": 0.0,
            "switches_out": 0,
            "switches_in": 1,
            "sla_breaches": 0,
        },
        {
            "channel": "whatsapp",
            "conversations": 1,
            "repeat_contacts": 1,
            "repeat_rate": 1.0,
            "switches_out": 0,
            "switches_in": 0,
            "sla_breaches": 0,
        },
    ]
    assert found["switches"] == [{"from": "email", "to": "sms", "count": 1}]
    assert found["breaches"] == [{"channel": "email", "metric": "first_response", "count": 1}]

    # The period counts conversations by the day they opened.
    later = ok(
        client.get(
            "/api/analytics/channel-reasons",
            params={"from": "2026-03-03", "to": "2026-03-05"},
            headers=admin,
        )
    )
    assert [(c["channel"], c["reason"]) for c in later["cells"]] == [
        ("email", None),
        ("sms", "payment"),
    ]
    sms = ok(
        client.get(
            "/api/analytics/channel-reasons", params={**PERIOD, "channel": "sms"}, headers=admin
        )
    )
    assert sms["cells"] == [EXPECTED_CELLS[2]]

    # The repeat goes when its reason changes, and the cells follow.
    set_reason(client, admin, ids["ana_again"], "payment")
    moved = ok(client.get("/api/analytics/friction", params=PERIOD, headers=admin))
    assert [(c["channel"], c["repeat_contacts"]) for c in moved["channels"]] == [
        ("email", 0),
        ("sms", 0),
        ("whatsapp", 0),
    ]
    cells = ok(client.get("/api/analytics/channel-reasons", params=PERIOD, headers=admin))
    assert [(c["channel"], c["reason"]) for c in cells["cells"]][-1] == ("whatsapp", "payment")


def test_reports_as_csv(client: TestClient, services: Services, admin: dict[str, str]) -> None:
    history(client, services, admin)
    response = client.get(
        "/api/analytics/channel-reasons", params={**PERIOD, "format": "csv"}, headers=admin
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == (
        'attachment; filename="omnicx-channel-reasons-2026-03-01-2026-03-08.csv"'
    )
    assert response.text == (
        "channel,reason,conversations,resolved,mean_resolution_seconds,csat_mean,csat_count\n"
        "email,delivery,1,1,3600.0,4.0,1\n"
        "email,,1,0,,,0\n"
        "sms,payment,1,1,1800.0,2.0,1\n"
        "whatsapp,delivery,1,0,,,0\n"
    )
    friction = client.get(
        "/api/analytics/friction", params={**PERIOD, "format": "csv"}, headers=admin
    )
    assert friction.text == (
        "channel,conversations,repeat_contacts,repeat_rate,switches_out,switches_in,"
        "sla_breaches\n"
        "email,2,0,0.0,1,0,1\n"
        "sms,1,0,0.0,0,1,0\n"
        "whatsapp,1,1,1.0,0,0,0\n"
    )


def test_segment_filter_counts_its_members_only(
    client: TestClient, services: Services, admin: dict[str, str]
) -> None:
    ids = history(client, services, admin)
    made = ok(
        client.post(
            "/api/segments",
            json={"name": "Ana", "condition": {"trait": "vip", "op": "eq", "value": "yes"}},
            headers=admin,
        ),
        201,
    )
    with services.engines.main.begin() as conn:
        conn.execute(
            segment_members.insert().values(segment_id=made["id"], profile_id=ids["ana"], since=T0)
        )
    params = {**PERIOD, "segment": made["id"]}
    cells = ok(client.get("/api/analytics/channel-reasons", params=params, headers=admin))
    assert cells["cells"] == [EXPECTED_CELLS[0], EXPECTED_CELLS[3]]
    found = ok(client.get("/api/analytics/friction", params=params, headers=admin))
    assert [
        (c["channel"], c["conversations"], c["repeat_contacts"], c["switches_out"])
        for c in found["channels"]
    ] == [("email", 1, 0, 1), ("sms", 0, 0, 0), ("whatsapp", 1, 1, 0)]
    assert found["breaches"] == [{"channel": "email", "metric": "first_response", "count": 1}]


@pytest.mark.parametrize(
    ("params", "field", "code"),
    [
        ({"from": "2026-02-30"}, "from", "invalid_date"),
        ({"to": "yesterday"}, "to", "invalid_date"),
        ({"from": "2026-03-08", "to": "2026-03-01"}, "from", "invalid_period"),
        ({"channel": "E-mail"}, "channel", "invalid_channel"),
        ({"store": "SP01"}, "store", "unsupported_parameter"),
        ({"segment": "no-such-segment"}, "segment", "unknown_segment"),
        ({"format": "xml"}, "format", "invalid_format"),
    ],
)
def test_a_bad_parameter_is_a_400_naming_it(
    client: TestClient,
    services: Services,
    admin: dict[str, str],
    params: dict[str, str],
    field: str,
    code: str,
) -> None:
    response = client.get("/api/analytics/channel-reasons", params=params, headers=admin)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["code"], error["field"]) == (code, field)
    assert set(response.json()) == {"error"}


def test_reports_need_analytics_read(client: TestClient, services: Services) -> None:
    add_user(services, "agent@shop.example", "agent")
    add_user(services, "analyst@shop.example", "analyst")
    agent = {"Authorization": f"Bearer {sign_in(services, 'agent@shop.example')}"}
    analyst = {"Authorization": f"Bearer {sign_in(services, 'analyst@shop.example')}"}
    for path in ("channel-reasons", "friction", "campaigns", "availability-gaps"):
        assert client.get(f"/api/analytics/{path}", headers=agent).status_code == 403
        assert client.get(f"/api/analytics/{path}", headers=analyst).status_code == 200


def test_a_profile_merge_and_an_erasure_reach_the_read_model(
    client: TestClient, services: Services, admin: dict[str, str]
) -> None:
    ids = history(client, services, admin)
    # Bia turns out to be Ana: a message naming both joins the profiles.
    at(services, T0 + timedelta(days=5))
    inbound(services, "email", (("email", "ana@example.com"), ("phone", "+5511922220000")), "<m>")
    with services.engines.main.connect() as conn:
        owners = conn.execute(
            sa.text("SELECT DISTINCT customer_id FROM analytics_service_conversations")
        ).scalars()
        assert len(set(owners)) == 2  # ana (with bia folded in) and caio
    services.erase_customer(ids["caio"], Actor("api_key", "k1", "test key", "admin"), "asked")
    # The message joined ana's open WhatsApp conversation; caio's one is gone.
    assert table_counts(services, "analytics_service_conversations") == {
        "analytics_service_conversations": 3
    }
    # The counters keep their anonymous totals.
    cells = ok(client.get("/api/analytics/channel-reasons", params=PERIOD, headers=admin))
    assert cells["cells"] == EXPECTED_CELLS
