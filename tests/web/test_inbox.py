"""The agents' inbox: queues, filters, the live rows fragment, labels and role limits."""

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

import pytest
from fastapi.testclient import TestClient

from omnicx.access import Argon2PasswordHasher
from omnicx.bootstrap import Services, build
from omnicx.config import Settings
from omnicx.conversations import FakeChannelSender, InboundMessage, Receipt
from omnicx.desk import services as desk
from omnicx.desk.model import BusinessHours
from omnicx.kernel import FixedClock
from omnicx.web.pages import inbox
from omnicx.webhooks.http import FakeWebhookSender

Console = Callable[..., tuple[TestClient, str]]

AT = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
ANA = (("email", "ana@example.com"), ("phone", "+5511988887777"))
BEA = (("phone", "+5511977776666"),)
CAIO = (("email", "caio@example.com"),)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(AT)


@pytest.fixture
def services(
    settings: Settings, sender: FakeWebhookSender, clock: FixedClock
) -> Iterator[Services]:
    """Services with fake senders for SMS, email and WhatsApp and quick password hashing."""
    from omnicx.db.migrate import upgrade

    built = build(settings, clock=clock, sender=sender)
    upgrade(built.engines)
    built.passwords = Argon2PasswordHasher(time_cost=1, memory_kib=1024, parallelism=1)
    built.channel_senders.clear()
    built.channel_senders.update(
        sms=FakeChannelSender("sms"),
        email=FakeChannelSender("email"),
        whatsapp=FakeChannelSender("whatsapp"),
    )
    yield built
    built.close()


def receive(
    services: Services,
    channel: str,
    sender: tuple[tuple[str, str], ...],
    text: str,
    minutes: int,
    **extra: Any,
) -> Receipt:
    """An inbound message `minutes` after AT."""
    at = AT + timedelta(minutes=minutes)
    return services.receive_inbound(
        InboundMessage(
            channel=channel,
            account="support@shop.example" if channel == "email" else "+5511900000000",
            sender=sender,
            received_at=at,
            provider_message_id=f"{channel}-{minutes}-{text[:10]}",
            text=text,
            **extra,
        )
    )


def user_id(services: Services, email: str) -> str:
    with services.uow(write=False) as uow:
        user = services.users(uow).by_email(email)
    assert user is not None
    return user.id


def set_conversation(services: Services, conversation_id: str, **values: Any) -> None:
    with services.uow() as uow:
        services.conversations(uow).update(conversation_id, **values)
        uow.commit()


def make_team(services: Services, name: str, *members: str) -> str:
    with services.uow() as uow:
        repo, port, now = services.desk(uow), services.desk_port(uow), uow.clock.now()
        team = desk.create_team(repo, name, "", "manual", BusinessHours(), now)
        for member in members:
            desk.add_member(repo, port, team.id, member, now)
        uow.commit()
    return team.id


def row_ids(html: str) -> list[str]:
    return re.findall(r'data-conversation-id="([^"]+)"', html)


class Controls(HTMLParser):
    """The form controls of a page and the ids its labels point at."""

    def __init__(self) -> None:
        super().__init__()
        self.controls: list[dict[str, str | None]] = []
        self.labelled: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "label" and found.get("for"):
            self.labelled.add(str(found["for"]))
        if tag in ("select", "textarea") or (
            tag == "input" and found.get("type") not in ("hidden", "submit")
        ):
            self.controls.append({"tag": tag, **found})


def unlabelled(html: str) -> list[dict[str, str | None]]:
    """Every input, select and textarea with neither a `<label for>` nor an aria-label."""
    parser = Controls()
    parser.feed(html)
    return [
        c
        for c in parser.controls
        if not c.get("aria-label") and (c.get("id") is None or c.get("id") not in parser.labelled)
    ]


def test_the_inbox_lists_every_conversation_newest_activity_first(
    console: Console, services: Services
) -> None:
    ana = receive(services, "sms", ANA, "Where is my order 1001?", 1)
    bea = receive(services, "whatsapp", BEA, "Can I return shoes?", 3)
    caio = receive(services, "email", CAIO, "Invoice please", 2)
    receive(services, "email", ANA, "Also: the invoice", 4)
    client, _ = console("agent")
    page = client.get("/inbox")
    assert page.status_code == 200
    assert row_ids(page.text) == [ana.conversation_id, bea.conversation_id, caio.conversation_id]
    assert '<a href="/inbox?queue=all" aria-current="page">All</a>' in page.text
    row = page.text.split(f'data-conversation-id="{ana.conversation_id}"')[1].split("</tr>")[0]
    assert f'<a href="/conversations/{ana.conversation_id}">ana@example.com</a>' in row
    assert '<div class="snippet snippet-inbound">Also: the invoice</div>' in row
    assert 'data-channel="sms">sms</span> <span class="badge channel channel-email"' in row
    assert '<span class="pill status-open">open</span>' in row
    assert '<span class="priority">normal</span>' in row
    assert '<time datetime="2026-05-04T09:04:00+00:00">2026-05-04 09:04</time>' in row
    assert "data-keys" in page.text
    assert 'data-live-src="/inbox/rows?queue=all"' in page.text
    assert (
        'data-live-types="message.received,message.sent,conversation.opened,'
        "conversation.status_changed,conversation.assigned,conversations.merged,"
        'conversation.split"' in page.text
    )


def test_queues_mine_my_teams_and_unassigned(console: Console, services: Services) -> None:
    client, _ = console("agent")
    me = user_id(services, "agent@shop.example")
    other = user_id(services, _other_agent(services))
    team = make_team(services, "Returns", me)
    make_team(services, "Billing", other)
    mine = receive(services, "sms", ANA, "mine", 1)
    teams = receive(services, "sms", BEA, "team's", 2)
    loose = receive(services, "email", CAIO, "nobody's", 3)
    set_conversation(services, mine.conversation_id, assignee_id=me)
    set_conversation(services, teams.conversation_id, team_id=team, assignee_id=other)
    assert row_ids(client.get("/inbox?queue=mine").text) == [mine.conversation_id]
    assert row_ids(client.get("/inbox?queue=teams").text) == [teams.conversation_id]
    assert row_ids(client.get("/inbox?queue=unassigned").text) == [loose.conversation_id]
    assert row_ids(client.get("/inbox?queue=all").text) == [
        loose.conversation_id,
        teams.conversation_id,
        mine.conversation_id,
    ]
    row = client.get("/inbox?queue=teams").text
    assert "<td>Other Agent</td>" in row
    assert "<td>Returns</td>" in row


def _other_agent(services: Services) -> str:
    from omnicx.access import create_user

    with services.uow() as uow:
        create_user(
            services.users(uow),
            services.passwords,
            email="other@shop.example",
            name="Other Agent",
            role="agent",
            language="en",
            now=uow.clock.now(),
            password="another long password 99",
        )
        uow.commit()
    return "other@shop.example"


def test_my_teams_says_so_when_the_user_is_in_no_team(console: Console, services: Services) -> None:
    receive(services, "sms", ANA, "hello", 1)
    client, _ = console("agent")
    page = client.get("/inbox?queue=teams")
    assert row_ids(page.text) == []
    assert "You are not a member of any team. No conversations match." in page.text


def test_filters_by_channel_status_sla_and_contact_reason(
    console: Console, services: Services
) -> None:
    ana = receive(services, "sms", ANA, "one", 1)
    bea = receive(services, "whatsapp", BEA, "two", 2)
    caio = receive(services, "email", CAIO, "three", 3)
    due = "2026-05-04T10:00:00+00:00"
    set_conversation(services, ana.conversation_id, sla={"state": "breached", "due_at": None})
    set_conversation(services, bea.conversation_id, sla={"state": "warning", "due_at": due})
    set_conversation(services, bea.conversation_id, status="pending", contact_reason="delivery")
    client, _ = console("agent")
    assert row_ids(client.get("/inbox?channel=whatsapp").text) == [bea.conversation_id]
    assert row_ids(client.get("/inbox?status=open").text) == [
        caio.conversation_id,
        ana.conversation_id,
    ]
    assert row_ids(client.get("/inbox?sla=breached").text) == [ana.conversation_id]
    assert row_ids(client.get("/inbox?reason=delivery").text) == [bea.conversation_id]
    assert row_ids(client.get("/inbox?channel=sms&status=pending").text) == []
    page = client.get("/inbox?sla=warning&queue=unassigned")
    assert row_ids(page.text) == [bea.conversation_id]
    assert (
        '<span class="pill sla-warning">due soon</span> '
        '<span class="small muted">due 2026-05-04 10:00</span>' in page.text
    )
    assert '<option value="warning" selected>due soon</option>' in page.text
    assert 'data-live-src="/inbox/rows?queue=unassigned&amp;sla=warning"' in page.text


def test_an_unknown_filter_value_is_refused_with_a_message(console: Console) -> None:
    client, _ = console("agent")
    page = client.get("/inbox?status=lost")
    assert page.status_code == 400
    assert "status must be one of: open, pending, snoozed, resolved, closed" in page.text
    assert client.get("/inbox?queue=everyone").status_code == 400


def test_the_live_fragment_returns_only_the_rows(console: Console, services: Services) -> None:
    client, _ = console("agent")
    ana = receive(services, "sms", ANA, "one", 1)
    first = client.get("/inbox/rows?queue=unassigned")
    assert first.status_code == 200
    assert "<html" not in first.text
    assert row_ids(first.text) == [ana.conversation_id]
    bea = receive(services, "whatsapp", BEA, "two", 2)
    again = client.get("/inbox/rows?queue=unassigned&channel=whatsapp")
    assert row_ids(again.text) == [bea.conversation_id]
    assert f'<a href="/conversations/{bea.conversation_id}">+5511977776666</a>' in again.text


def test_the_list_is_paged(
    console: Console, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inbox, "PAGE_SIZE", 2)
    ana = receive(services, "sms", ANA, "one", 1)
    bea = receive(services, "sms", BEA, "two", 2)
    caio = receive(services, "email", CAIO, "three", 3)
    client, _ = console("agent")
    first = client.get("/inbox?channel=sms").text
    assert row_ids(first) == [bea.conversation_id, ana.conversation_id]
    assert "Older conversations" not in first
    page = client.get("/inbox").text
    assert row_ids(page) == [caio.conversation_id, bea.conversation_id]
    older = re.search(r'<a href="(/inbox\?[^"]+)">Older conversations</a>', page)
    assert older is not None
    rest = client.get(older.group(1).replace("&amp;", "&")).text
    assert row_ids(rest) == [ana.conversation_id]
    assert "Older conversations" not in rest
    assert client.get("/inbox?cursor=nonsense").status_code == 400


def test_every_control_of_the_inbox_is_labelled(console: Console, services: Services) -> None:
    receive(services, "sms", ANA, "one", 1)
    client, _ = console("agent")
    page = client.get("/inbox").text
    assert unlabelled(page) == []
    for name in ("Channel", "Status", "SLA", "Contact reason"):
        assert f">{name}</label>" in page
    assert '<option value="returns_exchanges">Returns and exchanges</option>' in page


def test_roles_without_conversations_read_are_refused(console: Console) -> None:
    for role in ("marketer", "analyst"):
        client, _ = console(role)
        for path in ("/inbox", "/inbox/rows"):
            page = client.get(path)
            assert page.status_code == 403, (role, path)
    client, _ = console("store_associate")
    assert client.get("/inbox").status_code == 200


def test_the_inbox_speaks_the_users_language(console: Console, services: Services) -> None:
    receive(services, "sms", ANA, "one", 1)
    client, _ = console("agent", language="pt-BR")
    page = client.get("/inbox").text
    assert "Caixa de entrada" in page
    assert '<span class="pill status-open">aberta</span>' in page


def test_reading_the_inbox_is_audited(console: Console, services: Services) -> None:
    ana = receive(services, "sms", ANA, "one", 1)
    client, _ = console("agent")
    client.get("/inbox?channel=sms")
    with services.uow(write=False) as uow:
        rows = uow.conn.exec_driver_sql(
            "SELECT actor_role, action, route, customer_id, status FROM audit_log "
            "WHERE route = '/inbox'"
        ).all()
    assert [tuple(r) for r in rows] == [("agent", "read", "/inbox", ana.customer_id, 200)]
