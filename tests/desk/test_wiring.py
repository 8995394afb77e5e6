"""The desk wired to live conversations, through `receive_inbound` and the API, on SQLite and
PostgreSQL: routing, assignment, back-fill, SLA checks, CSAT, canned responses, permissions."""

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from omnicx.access import Argon2PasswordHasher
from omnicx.bootstrap import Services
from omnicx.conversations import FakeChannelSender, InboundMessage
from omnicx.conversations.services import change_status, merge, split
from omnicx.desk.messages import SlaBreached, SlaWarning
from omnicx.kernel import FixedClock
from tests.access.conftest import add_user, sign_in
from tests.conftest import table_counts

T0 = datetime(2026, 3, 2, 12, tzinfo=UTC)


@pytest.fixture(autouse=True)
def cheap_hasher(services: Services) -> None:
    services.passwords = Argon2PasswordHasher(time_cost=1, memory_kib=1024, parallelism=1)


def at(services: Services, when: datetime) -> None:
    services.uow.clock = FixedClock(when)
    services.clock = FixedClock(when)


def inbound(
    channel: str, sender: tuple[tuple[str, str], ...], pid: str, text: str = "hello", **extra: Any
) -> InboundMessage:
    return InboundMessage(
        channel=channel,
        account="support@shop.example" if channel == "email" else "+5511900000000",
        sender=sender,
        received_at=datetime.now(UTC),
        provider_message_id=pid,
        text=text,
        **extra,
    )


def email(n: int | str) -> tuple[tuple[str, str], ...]:
    return (("email", f"c{n}@example.com"),)


def team(client: TestClient, admin: dict[str, str], name: str, strategy: str) -> str:
    made = client.post(
        "/api/desk/teams", json={"name": name, "assignment": strategy}, headers=admin
    )
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def agent(
    client: TestClient,
    services: Services,
    admin: dict[str, str],
    team_id: str,
    name: str,
    *,
    capacity: int = 10,
    availability: str = "online",
) -> str:
    user_id = add_user(services, f"{name}@shop.example", "agent")
    changed = client.put(
        f"/api/desk/agents/{user_id}",
        json={"capacity": capacity, "availability": availability},
        headers=admin,
    )
    assert changed.status_code == 200, changed.text
    added = client.post(
        f"/api/desk/teams/{team_id}/members", json={"user_id": user_id}, headers=admin
    )
    assert added.status_code == 201, added.text
    return user_id


def route_all(client: TestClient, admin: dict[str, str], team_id: str) -> None:
    uploaded = client.put(
        "/api/desk/rules",
        json={"rules": [{"name": "everyone", "conditions": {}, "actions": {"team_id": team_id}}]},
        headers=admin,
    )
    assert uploaded.status_code == 200, uploaded.text


def assignee(services: Services, conversation_id: str) -> str | None:
    with services.uow(write=False) as uow:
        found = services.conversations(uow).get(conversation_id)
    assert found is not None
    return found.assignee_id


def set_status(services: Services, conversation_id: str, status: str) -> None:
    with services.uow() as uow:
        change_status(
            services.conversations(uow),
            conversation_id,
            status,
            snoozed_until=None,
            now=uow.clock.now(),
            raise_event=uow.raise_event,
        )
        uow.commit()


def test_age_55_and_over_routes_a_real_inbound_to_senior_care(
    client: TestClient,
    services: Services,
    admin: dict[str, str],
    write_auth: dict[str, str],
    drain: Callable[[], int],
) -> None:
    senior = team(client, admin, "Senior care", "round_robin")
    general = team(client, admin, "General", "round_robin")
    carer = agent(client, services, admin, senior, "carer")
    rules = [
        {
            "name": "55+",
            "position": 1,
            "conditions": {"field": "customer.age", "op": "gte", "value": 55},
            "actions": {"team_id": senior, "priority": "high", "labels": ["senior"]},
        },
        {"name": "rest", "position": 2, "conditions": {}, "actions": {"team_id": general}},
    ]
    assert client.put("/api/desk/rules", json={"rules": rules}, headers=admin).status_code == 200
    for user, born in (("old", "1950-04-02"), ("young", "2000-04-02")):
        sent = client.post(
            "/v1/identify",
            headers=write_auth,
            json={"userId": user, "traits": {"email": f"{user}@example.com", "birthday": born}},
        )
        assert sent.status_code == 200
    assert drain() == 2

    old = services.receive_inbound(inbound("email", (("email", "old@example.com"),), "<o1@x>"))
    young = services.receive_inbound(inbound("email", (("email", "young@example.com"),), "<y1@x>"))

    with services.uow(write=False) as uow:
        repo = services.conversations(uow)
        routed = repo.get(old.conversation_id)
        other = repo.get(young.conversation_id)
    assert routed is not None
    assert other is not None
    assert (routed.team_id, routed.assignee_id, routed.priority, routed.labels) == (
        senior,
        carer,
        "high",
        ("senior",),
    )
    assert (other.team_id, other.assignee_id, other.priority) == (general, None, "normal")
    queue = client.get("/api/desk/queue", headers=admin).json()["items"]
    assert [(q["conversation_id"], q["team_id"]) for q in queue] == [
        (young.conversation_id, general)
    ]


def test_round_robin_hands_real_inbound_out_in_turn(
    client: TestClient, services: Services, admin: dict[str, str]
) -> None:
    support = team(client, admin, "Support", "round_robin")
    first, second = sorted(
        [
            agent(client, services, admin, support, "ana"),
            agent(client, services, admin, support, "bo"),
        ]
    )
    route_all(client, admin, support)
    owners = []
    for n in range(4):
        at(services, T0 + timedelta(minutes=n))
        receipt = services.receive_inbound(inbound("email", email(n), f"<rr{n}@x>"))
        owners.append(assignee(services, receipt.conversation_id))
    assert owners == [first, second, first, second]
    loads = {
        a["user_id"]: a["load"]
        for a in client.get("/api/desk/agents", headers=admin).json()["items"]
    }
    assert loads == {first: 2, second: 2}


def test_capacity_counts_each_channel_by_its_weight(
    client: TestClient, services: Services, admin: dict[str, str]
) -> None:
    support = team(client, admin, "Phones", "capacity")
    only = agent(client, services, admin, support, "cat", capacity=4)
    route_all(client, admin, support)
    call = services.receive_inbound(
        inbound("call_center", (("phone", "+5511911110001"),), "call-1", kind="call")
    )
    mail = services.receive_inbound(inbound("email", email(2), "<cap2@x>"))
    chat = services.receive_inbound(inbound("sms", (("phone", "+5511911110003"),), "SM3"))

    assert [assignee(services, r.conversation_id) for r in (call, mail, chat)] == [only, only, None]
    agents = client.get("/api/desk/agents", headers=admin).json()["items"]
    assert [(a["user_id"], a["load"], a["capacity"]) for a in agents] == [(only, 4, 4)]
    queue = client.get("/api/desk/queue", headers=admin).json()["items"]
    assert [(q["conversation_id"], q["channel"]) for q in queue] == [(chat.conversation_id, "sms")]


def test_a_returning_customer_goes_back_to_their_agent_on_another_channel(
    client: TestClient, services: Services, admin: dict[str, str]
) -> None:
    support = team(client, admin, "Support", "round_robin")
    first, _second = sorted(
        [
            agent(client, services, admin, support, "ana"),
            agent(client, services, admin, support, "bo"),
        ]
    )
    route_all(client, admin, support)
    at(services, T0)
    x = services.receive_inbound(inbound("email", email("x"), "<x1@x>"))
    at(services, T0 + timedelta(minutes=1))
    services.receive_inbound(inbound("email", email("y"), "<y1@x>"))
    at(services, T0 + timedelta(minutes=2))
    services.receive_inbound(inbound("email", email("z"), "<z1@x>"))
    assert assignee(services, x.conversation_id) == first
    set_status(services, x.conversation_id, "closed")

    at(services, T0 + timedelta(minutes=3))
    back = services.receive_inbound(
        inbound("sms", (("email", "cx@example.com"), ("phone", "+5511922220000")), "SMx2")
    )

    assert back.customer_id == x.customer_id
    assert back.created_conversation is True
    # Round robin alone would pick the second agent (given work longest ago).
    assert assignee(services, back.conversation_id) == first
    view = client.get(f"/api/desk/conversations/{back.conversation_id}", headers=admin).json()
    assert [(a["agent_id"], a["reason"], a["channel"]) for a in view["assignments"]] == [
        (first, "sticky", "sms")
    ]


def test_waiting_conversations_go_out_when_an_agent_comes_online(
    client: TestClient, services: Services, admin: dict[str, str]
) -> None:
    support = team(client, admin, "Support", "round_robin")
    user_id = agent(client, services, admin, support, "dee", availability="offline")
    route_all(client, admin, support)
    older = services.receive_inbound(inbound("email", email(1), "<bf1@x>"))
    newer = services.receive_inbound(inbound("email", email(2), "<bf2@x>"))
    assert [assignee(services, r.conversation_id) for r in (older, newer)] == [None, None]
    session = {"Authorization": f"Bearer {sign_in(services, 'dee@shop.example')}"}

    online = client.put(
        "/api/desk/me/availability", json={"availability": "online"}, headers=session
    )

    assert online.status_code == 200, online.text
    assert (online.json()["availability"], online.json()["load"]) == ("online", 2)
    assert [assignee(services, r.conversation_id) for r in (older, newer)] == [user_id, user_id]
    assert client.get("/api/desk/queue", headers=admin).json() == {"items": []}


def test_sla_warning_and_breach_are_raised_once_through_a_channel_switch_and_a_merge(
    client: TestClient, services: Services, admin: dict[str, str]
) -> None:
    made = client.post(
        "/api/desk/sla-policies",
        json={"name": "Email", "first_response_minutes": 60, "warning_percent": 80},
        headers=admin,
    )
    assert made.status_code == 201, made.text
    policy = made.json()["id"]
    both = (("email", "sla@example.com"), ("phone", "+5511933330000"))
    at(services, T0)
    first = services.receive_inbound(inbound("email", both[:1], "<s1@x>"))
    at(services, T0 + timedelta(minutes=20))
    switched = services.receive_inbound(inbound("sms", both, "SMs2"))
    assert switched.conversation_id == first.conversation_id
    at(services, T0 + timedelta(minutes=25))
    with services.uow() as uow:
        repo = services.conversations(uow)
        later = split(
            repo,
            first.conversation_id,
            switched.message_id,
            now=uow.clock.now(),
            raise_event=uow.raise_event,
        )
        merge(
            repo, later.id, first.conversation_id, now=uow.clock.now(), raise_event=uow.raise_event
        )
        uow.commit()
    survivor = later.id

    at(services, T0 + timedelta(minutes=50))
    warned = services.check_sla()
    again = services.check_sla()
    at(services, T0 + timedelta(minutes=61))
    breached = services.check_sla()
    at(services, T0 + timedelta(hours=5))
    late = services.check_sla()

    assert warned == [
        SlaWarning(
            first.customer_id, survivor, "first_response", policy, T0 + timedelta(minutes=48)
        )
    ]
    assert again == []
    assert breached == [
        SlaBreached(
            first.customer_id, survivor, "first_response", policy, T0 + timedelta(minutes=60)
        )
    ]
    assert late == []
    view = client.get(f"/api/desk/conversations/{survivor}", headers=admin).json()
    assert [(e["metric"], e["kind"]) for e in view["sla_events"]] == [
        ("first_response", "warning"),
        ("first_response", "breached"),
    ]
    # The split-off part started its own clock; the merge folded it into the earlier one.
    assert [(c["metric"], c["started_at"], c["status"]) for c in view["clocks"]] == [
        ("first_response", "2026-03-02T12:00:00Z", "running"),
        ("first_response", "2026-03-02T12:25:00Z", "merged"),
    ]
    assert table_counts(services, "desk_sla_events") == {"desk_sla_events": 2}
    summary = client.get(f"/api/conversations/{survivor}", headers=admin).json()["conversation"][
        "sla"
    ]
    assert summary == {
        "state": "breached",
        "due_at": "2026-03-02T13:00:00+00:00",
        "clocks": {
            "first_response": {
                "status": "running",
                "due_at": "2026-03-02T13:00:00+00:00",
                "warned": True,
                "breached": True,
            }
        },
    }


def test_the_conversation_shows_its_sla_state_and_a_split_starts_its_own_clocks(
    client: TestClient, services: Services, admin: dict[str, str]
) -> None:
    made = client.post(
        "/api/desk/sla-policies",
        json={"name": "All", "first_response_minutes": 30, "warning_percent": 50},
        headers=admin,
    )
    assert made.status_code == 201, made.text
    at(services, T0)
    first = services.receive_inbound(inbound("email", email("split"), "<p1@x>"))

    def sla(conversation_id: str) -> dict[str, Any]:
        found = client.get(f"/api/conversations/{conversation_id}", headers=admin)
        assert found.status_code == 200, found.text
        return dict(found.json()["conversation"]["sla"])

    assert sla(first.conversation_id)["state"] == "running"
    at(services, T0 + timedelta(minutes=16))
    services.check_sla()
    assert sla(first.conversation_id)["state"] == "warning"
    services.channel_senders["email"] = FakeChannelSender("email")
    replied = client.post(
        f"/api/conversations/{first.conversation_id}/replies",
        json={"text": "On its way", "channel": "email"},
        headers=admin,
    )
    assert replied.status_code == 201, replied.text
    assert sla(first.conversation_id) == {
        "state": "met",
        "due_at": None,
        "clocks": {
            "first_response": {
                "status": "stopped",
                "due_at": None,
                "warned": True,
                "breached": False,
            }
        },
    }
    # A new question, split off into a conversation of its own: its clock starts from the
    # customer's message, not from the split.
    at(services, T0 + timedelta(minutes=40))
    asked = services.receive_inbound(
        InboundMessage(
            channel="email",
            account="support@shop.example",
            sender=email("split"),
            received_at=T0 + timedelta(minutes=40),
            provider_message_id="<p2@x>",
            text="and a refund?",
        )
    )
    at(services, T0 + timedelta(minutes=45))
    with services.uow() as uow:
        later = split(
            services.conversations(uow),
            first.conversation_id,
            asked.message_id,
            now=uow.clock.now(),
            raise_event=uow.raise_event,
        )
        uow.commit()
    summary = sla(later.id)
    assert summary["state"] == "running"
    assert summary["clocks"]["first_response"]["due_at"] == "2026-03-02T13:10:00+00:00"


def _asked(services: Services, conversation_id: str) -> str:
    with services.uow(write=False) as uow:
        messages = services.conversations(uow).messages_of(conversation_id)
    asks = [m for m in messages if m.sender_kind == "system" and m.direction == "outbound"]
    assert len(asks) == 1
    assert asks[0].text is not None
    found = re.search(r"/csat/(\S+)$", asks[0].text)
    assert found is not None
    return found.group(1)


def test_csat_from_a_digit_reply_keeps_the_conversation_resolved(
    client: TestClient, services: Services, admin: dict[str, str]
) -> None:
    mail = FakeChannelSender("email")
    services.channel_senders["email"] = mail
    at(services, T0)
    first = services.receive_inbound(inbound("email", email("d"), "<d1@x>"))
    set_status(services, first.conversation_id, "resolved")
    _asked(services, first.conversation_id)
    at(services, T0 + timedelta(hours=1))

    answer = services.receive_inbound(
        inbound("email", email("d"), "<d2@x>", text="4 - quick, thanks")
    )

    assert answer.conversation_id == first.conversation_id
    with services.uow(write=False) as uow:
        conversation = services.conversations(uow).get(first.conversation_id)
    assert conversation is not None
    assert conversation.csat is not None
    assert (conversation.status, conversation.csat.score, conversation.csat.comment) == (
        "resolved",
        4,
        "quick, thanks",
    )
    surveys = client.get(f"/api/desk/conversations/{first.conversation_id}", headers=admin).json()[
        "surveys"
    ]
    assert [(s["channel"], s["score"], s["answered_via"]) for s in surveys] == [
        ("email", 4, "reply")
    ]


def test_csat_from_the_signed_link(
    client: TestClient, services: Services, admin: dict[str, str]
) -> None:
    services.channel_senders["email"] = FakeChannelSender("email")
    at(services, T0)
    first = services.receive_inbound(inbound("email", email("l"), "<l1@x>"))
    set_status(services, first.conversation_id, "resolved")
    token = _asked(services, first.conversation_id)

    page = client.get(f"/csat/{token}")
    forged = client.post(f"/csat/{token[:-2]}xx", data={"score": "5"})
    rated = client.post(f"/csat/{token}", data={"score": "5", "comment": "lovely"})
    twice = client.get(f"/csat/{token}", params={"score": 1})

    assert page.status_code == 200
    assert 'name="score" value="5"' in page.text
    assert forged.status_code == 400
    assert forged.json()["error"]["code"] == "invalid_csat_token"
    assert rated.status_code == 200
    assert "5 out of 5" in rated.text
    assert twice.status_code == 409
    assert twice.json()["error"]["code"] == "csat_answered"
    with services.uow(write=False) as uow:
        conversation = services.conversations(uow).get(first.conversation_id)
    assert conversation is not None
    assert conversation.csat is not None
    assert (conversation.csat.score, conversation.csat.comment) == (5, "lovely")
    at(services, T0 + timedelta(days=4))
    assert client.get(f"/csat/{token}").json()["error"]["code"] == "csat_expired"


def test_csat_not_asked_when_the_channel_cannot_be_used_records_why(
    client: TestClient, services: Services, admin: dict[str, str]
) -> None:
    services.channel_senders["whatsapp"] = FakeChannelSender(
        "whatsapp", refuse="outside the 24-hour window: only approved templates"
    )
    first = services.receive_inbound(inbound("whatsapp", (("phone", "+5511944440000"),), "wa1"))
    set_status(services, first.conversation_id, "resolved")

    view = client.get(f"/api/desk/conversations/{first.conversation_id}", headers=admin).json()
    (survey,) = view["surveys"]
    assert survey["not_asked"] == "whatsapp: outside the 24-hour window: only approved templates"
    with services.uow(write=False) as uow:
        messages = services.conversations(uow).messages_of(first.conversation_id)
    assert [(m.direction, m.sender_kind, m.text) for m in messages[1:]] == [
        ("note", "system", f"CSAT was not asked ({survey['not_asked']})")
    ]
    assert table_counts(services, "outbox")["outbox"] == 0


def test_a_failing_desk_handler_rolls_the_whole_inbound_back(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any) -> None:
        raise RuntimeError("routing broke")

    monkeypatch.setattr(services.desk_core, "route", broken)
    with pytest.raises(RuntimeError, match="routing broke"):
        services.receive_inbound(inbound("email", email(1), "<f1@x>"))
    assert table_counts(services, "conversations", "messages", "events", "profiles") == {
        "conversations": 0,
        "messages": 0,
        "events": 0,
        "profiles": 0,
    }


def test_canned_response_rendered_for_a_conversation(
    client: TestClient,
    services: Services,
    admin: dict[str, str],
    write_auth: dict[str, str],
    drain: Callable[[], int],
) -> None:
    client.post(
        "/v1/identify",
        headers=write_auth,
        json={"userId": "ana", "traits": {"email": "ana@example.com", "first_name": "Ana"}},
    )
    drain()
    receipt = services.receive_inbound(inbound("email", (("email", "ana@example.com"),), "<c1@x>"))
    made = client.post(
        "/api/desk/canned",
        json={
            "shortcut": "hi",
            "title": "Hello",
            "body": "Hi {{customer.first_name}}, {{agent.name}} here.",
        },
        headers=admin,
    )
    bad = client.post(
        "/api/desk/canned",
        json={"shortcut": "bad", "title": "Bad", "body": "Hi {{customer.password}}"},
        headers=admin,
    )
    add_user(services, "eve@shop.example", "agent")
    session = {"Authorization": f"Bearer {sign_in(services, 'eve@shop.example')}"}

    rendered = client.post(
        f"/api/desk/canned/{made.json()['id']}/render",
        json={"conversation_id": receipt.conversation_id},
        headers=session,
    )

    assert made.status_code == 201
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "unknown_variable"
    assert bad.json()["error"]["field"] == "body"
    assert table_counts(services, "desk_canned_responses") == {"desk_canned_responses": 1}
    assert rendered.status_code == 200, rendered.text
    assert rendered.json() == {"text": "Hi Ana, eve here."}


def test_a_bad_rule_upload_names_the_path_and_changes_nothing(
    client: TestClient, services: Services, admin: dict[str, str]
) -> None:
    support = team(client, admin, "Support", "manual")
    route_all(client, admin, support)
    upload = {
        "rules": [
            {"name": "ok", "conditions": {}, "actions": {"team_id": support}},
            {
                "name": "broken",
                "conditions": {"all": [{"field": "channel", "op": "like", "value": "x"}]},
                "actions": {"team_id": support},
            },
        ]
    }
    refused = client.put("/api/desk/rules", json=upload, headers=admin)
    assert refused.status_code == 400
    assert refused.json()["error"]["field"] == "rules[1].conditions.all[0].op"
    assert [r["name"] for r in client.get("/api/desk/rules", headers=admin).json()["items"]] == [
        "everyone"
    ]


def test_permission_refusals(client: TestClient, services: Services, admin: dict[str, str]) -> None:
    add_user(services, "agent@shop.example", "agent")
    add_user(services, "analyst@shop.example", "analyst")
    agent_session = {"Authorization": f"Bearer {sign_in(services, 'agent@shop.example')}"}
    analyst = {"Authorization": f"Bearer {sign_in(services, 'analyst@shop.example')}"}

    configure = client.post("/api/desk/teams", json={"name": "X"}, headers=agent_session)
    own = client.put(
        "/api/desk/me/availability", json={"availability": "away"}, headers=agent_session
    )
    refused = client.put(
        "/api/desk/me/availability", json={"availability": "away"}, headers=analyst
    )
    machine = client.put("/api/desk/me/availability", json={"availability": "away"}, headers=admin)

    assert configure.status_code == 403
    assert configure.json()["error"]["message"] == (
        "this needs the desk.manage permission, which the agent role lacks"
    )
    assert (own.status_code, own.json()["availability"]) == (200, "away")
    assert refused.status_code == 403
    assert machine.status_code == 403
    assert machine.json()["error"]["code"] == "not_a_user"
    assert table_counts(services, "desk_teams") == {"desk_teams": 0}


def test_the_sla_summary_written_on_each_message_is_the_one_its_stored_clocks_give(
    client: TestClient, services: Services, admin: dict[str, str]
) -> None:
    from omnicx.desk import sla as sla_rules

    made = client.post(
        "/api/desk/sla-policies",
        json={
            "name": "All",
            "first_response_minutes": 30,
            "next_response_minutes": 60,
            "resolution_minutes": 600,
            "warning_percent": 50,
            "pause_when_waiting": True,
        },
        headers=admin,
    )
    assert made.status_code == 201, made.text
    services.channel_senders["email"] = FakeChannelSender("email")

    def check(conversation_id: str) -> dict[str, Any]:
        with services.uow(write=False) as uow:
            shown = services.conversations(uow).get(conversation_id)
            clocks = services.desk(uow).clocks(conversation_id)
        assert shown is not None
        assert shown.sla == sla_rules.summary(clocks)
        return shown.sla

    at(services, T0)
    first = services.receive_inbound(inbound("email", email("clocks"), "<c1@x>"))
    assert set(check(first.conversation_id)["clocks"]) == {"first_response", "resolution"}
    at(services, T0 + timedelta(minutes=5))
    replied = client.post(
        f"/api/conversations/{first.conversation_id}/replies",
        json={"text": "Looking into it", "channel": "email"},
        headers=admin,
    )
    assert replied.status_code == 201, replied.text
    at(services, T0 + timedelta(minutes=10))
    services.receive_inbound(inbound("email", email("clocks"), "<c2@x>"))
    after = check(first.conversation_id)
    assert after["clocks"]["next_response"]["status"] == "running"
    assert after["clocks"]["first_response"]["status"] == "stopped"
    set_status(services, first.conversation_id, "pending")
    assert check(first.conversation_id)["state"] == "paused"
    at(services, T0 + timedelta(minutes=20))
    services.receive_inbound(inbound("email", email("clocks"), "<c3@x>"))
    resumed = check(first.conversation_id)
    assert resumed["state"] == "running"
    assert resumed["clocks"]["resolution"]["status"] == "running"
