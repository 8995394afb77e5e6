"""The conversation page: the thread across channels, the customer beside it, and its forms
(reply, note, status, assignment, contact reason, merge) with their refusals."""

import re
from datetime import timedelta

from omnicx.access import Principal, principal_for_role
from omnicx.bootstrap import Services
from omnicx.conversations import FakeChannelSender, Reply
from omnicx.conversations import services as conversations
from omnicx.desk import services as desk
from omnicx.kernel import FixedClock
from tests.conftest import table_counts
from tests.web.test_inbox import (
    ANA,
    BEA,
    Console,
    clock,
    make_team,
    receive,
    services,
    unlabelled,
    user_id,
)

__all__ = ["clock", "services"]

WRITES = ("messages", "outbox", "message_deliveries", "conversations", "audit_log")


def fake(services: Services, channel: str) -> FakeChannelSender:
    sender = services.channel_senders[channel]
    assert isinstance(sender, FakeChannelSender)
    return sender


def messages_of(services: Services, conversation_id: str) -> list[tuple[str, str, str | None]]:
    with services.uow(write=False) as uow:
        found = services.conversations(uow).messages_of(conversation_id)
    return [(m.direction, m.channel, m.text) for m in found]


def outbox(services: Services) -> list[tuple[str, str]]:
    with services.uow(write=False) as uow:
        rows = uow.conn.exec_driver_sql("SELECT topic, key FROM outbox ORDER BY id").all()
    return [(r[0], r[1]) for r in rows]


def counts(services: Services) -> dict[str, int]:
    return table_counts(services, *WRITES[:-1])


def options(html: str, select_id: str) -> list[str]:
    found = re.search(rf'<select id="{select_id}"[^>]*>(.*?)</select>', html, re.S)
    assert found is not None, select_id
    return re.findall(r'<option value="([^"]*)"', found.group(1))


def test_the_thread_shows_every_channel_and_the_customer_beside_it(
    console: Console, services: Services
) -> None:
    first = receive(services, "sms", ANA, "Where is my order?", 1)
    receive(services, "email", ANA, "Sent from email too", 2, sender_name="Ana Souza")
    services.reply(
        first.conversation_id,
        Reply(author=_agent(services), channel="sms", text="It ships today."),
    )
    services.reply(
        first.conversation_id, Reply(author=_agent(services), text="Check carrier", note=True)
    )
    client, _ = console("agent")
    page = client.get(f"/conversations/{first.conversation_id}")
    assert page.status_code == 200
    thread = page.text.split('id="thread"')[1].split("</section>")[0]
    kinds = re.findall(
        r'<li class="message (\w+) kind-message" id="m-[^"]+" data-channel="(\w+)"', thread
    )
    assert kinds == [
        ("inbound", "sms"),
        ("inbound", "email"),
        ("outbound", "sms"),
        ("note", "note"),
    ]
    # The name the email showed became the customer's, so the SMS before it is hers too.
    assert thread.count('<span class="sender">Ana Souza</span>') == 2
    assert '<span class="sender">ana@example.com</span>' not in thread
    assert '<span class="sender">Desk Bot</span>' in thread
    assert '<div class="body">It ships today.</div>' in thread
    assert (
        '<span class="pill delivery delivery-queued" title="Delivery status">queued</span>'
        in thread
    )
    assert '<span class="badge note-badge">Internal note</span>' in thread
    assert f'data-live-conversation="{first.conversation_id}"' in page.text
    assert 'data-live-types="message.received,message.sent,message.delivery"' in page.text
    aside = page.text.split('<aside class="customer-context"')[1]
    assert '<li><span class="muted">email</span> ana@example.com</li>' in aside
    assert '<li><span class="muted">phone</span> +5511988887777</li>' in aside
    assert "<h3>Consents</h3>" in aside
    assert "<h3>Orders</h3>" in aside
    assert "<h3>Segments</h3>" not in aside
    assert 'data-channel="sms">sms</span> <time datetime="2026-05-04T09:01:00+00:00">' in aside


def _agent(services: Services) -> Principal:
    return principal_for_role("user", "bot-user", "Desk Bot", "agent")


def test_the_channel_picker_offers_only_channels_usable_now(
    console: Console, services: Services
) -> None:
    got = receive(services, "sms", BEA, "hi", 1)
    fake(services, "whatsapp").refuse = "outside the 24-hour window: send an approved template"
    client, _ = console("agent")
    page = client.get(f"/conversations/{got.conversation_id}").text
    assert options(page, "reply-channel") == ["auto", "sms"]
    assert (
        '<p class="unusable" data-channel="whatsapp">WhatsApp cannot be used now: outside the '
        "24-hour window: send an approved template</p>" in page
    )
    assert (
        '<p class="unusable" data-channel="email">Email cannot be used now: the customer has no '
        "identifier this channel can reach</p>" in page
    )


def test_a_reply_is_queued_on_the_chosen_channel(console: Console, services: Services) -> None:
    got = receive(services, "sms", ANA, "hi", 1)
    client, csrf = console("agent")
    answer = client.post(
        f"/conversations/{got.conversation_id}/reply",
        data={"csrf": csrf, "channel": "email", "text": "  Your order ships today.  "},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/conversations/{got.conversation_id}#thread"
    assert messages_of(services, got.conversation_id) == [
        ("inbound", "sms", "hi"),
        ("outbound", "email", "Your order ships today."),
    ]
    with services.uow(write=False) as uow:
        sent = services.conversations(uow).messages_of(got.conversation_id)[-1]
    assert (sent.status, sent.to, sent.sender_name) == (
        "queued",
        ("email", "ana@example.com"),
        "Agent Person",
    )
    assert outbox(services) == [("channel.send", sent.id)]
    page = client.get(answer.headers["location"])
    assert '<p class="flash flash-ok" role="status">Reply queued on Email.</p>' in page.text
    assert "Reply queued on Email." not in client.get(f"/conversations/{got.conversation_id}").text


def test_an_automatic_reply_takes_the_channel_the_customer_wrote_on(
    console: Console, services: Services
) -> None:
    got = receive(services, "whatsapp", ANA, "hi", 1)
    client, csrf = console("agent")
    client.post(
        f"/conversations/{got.conversation_id}/reply",
        data={"csrf": csrf, "channel": "auto", "text": "Hello!"},
    )
    assert messages_of(services, got.conversation_id)[-1] == ("outbound", "whatsapp", "Hello!")


def test_a_refused_channel_says_why_and_writes_nothing(
    console: Console, services: Services
) -> None:
    got = receive(services, "sms", ANA, "hi", 1)
    fake(services, "whatsapp").refuse = "outside the 24-hour window"
    client, csrf = console("agent")
    before = counts(services)
    page = client.post(
        f"/conversations/{got.conversation_id}/reply",
        data={"csrf": csrf, "channel": "whatsapp", "text": "Draft I typed"},
    )
    assert page.status_code == 409
    assert (
        '<p class="flash flash-error" role="alert" id="form-error">Not done: whatsapp: outside '
        "the 24-hour window</p>" in page.text
    )
    assert ">Draft I typed</textarea>" in page.text
    assert counts(services) == before
    assert outbox(services) == []
    empty = client.post(
        f"/conversations/{got.conversation_id}/reply", data={"csrf": csrf, "text": "   "}
    )
    assert empty.status_code == 400
    assert "Not done: a reply needs text, html, attachments or a template" in empty.text
    assert counts(services) == before


def test_a_form_without_the_csrf_token_writes_nothing(console: Console, services: Services) -> None:
    got = receive(services, "sms", ANA, "hi", 1)
    client, _ = console("agent")
    before = counts(services)
    for action, data in [
        ("reply", {"text": "x", "channel": "sms"}),
        ("note", {"text": "x"}),
        ("status", {"status": "resolved"}),
        ("reason", {"reason": "delivery"}),
    ]:
        answer = client.post(
            f"/conversations/{got.conversation_id}/{action}", data={"csrf": "forged", **data}
        )
        assert answer.status_code == 403, action
        assert "This form has expired or did not come from the console." in answer.text
    assert counts(services) == before
    with services.uow(write=False) as uow:
        found = services.conversations(uow).get(got.conversation_id)
    assert found is not None
    assert (found.status, found.contact_reason) == ("open", None)


def test_an_internal_note_is_kept_and_never_sent(console: Console, services: Services) -> None:
    got = receive(services, "sms", ANA, "hi", 1)
    client, csrf = console("agent")
    answer = client.post(
        f"/conversations/{got.conversation_id}/note",
        data={"csrf": csrf, "text": "VIP, be quick"},
    )
    assert answer.status_code == 200
    assert '<p class="flash flash-ok" role="status">Note added.</p>' in answer.text
    assert messages_of(services, got.conversation_id)[-1] == ("note", "note", "VIP, be quick")
    assert outbox(services) == []


def test_status_changes_and_a_refused_transition_shows_the_reason(
    console: Console, services: Services, clock: FixedClock
) -> None:
    got = receive(services, "sms", ANA, "hi", 1)
    client, csrf = console("agent")
    url = f"/conversations/{got.conversation_id}"
    done = client.post(f"{url}/status", data={"csrf": csrf, "status": "resolved"})
    assert '<p class="flash flash-ok" role="status">Status changed to resolved.</p>' in done.text
    assert options(done.text, "new-status") == ["closed", "open"]
    refused = client.post(f"{url}/status", data={"csrf": csrf, "status": "pending"})
    assert refused.status_code == 409
    assert (
        "Not done: refused transition resolved -&gt; pending: a resolved conversation can "
        "become closed, open" in refused.text
    )
    client.post(f"{url}/status", data={"csrf": csrf, "status": "open"})
    later = (clock.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    snoozed = client.post(
        f"{url}/status", data={"csrf": csrf, "status": "snoozed", "snoozed_until": later}
    )
    assert "Status changed to snoozed." in snoozed.text
    assert "until 2026-05-05 09:00" in snoozed.text
    with services.uow(write=False) as uow:
        found = services.conversations(uow).get(got.conversation_id)
    assert found is not None
    assert found.status == "snoozed"
    no_time = client.post(
        f"{url}/status", data={"csrf": csrf, "status": "pending", "snoozed_until": "soon"}
    )
    assert no_time.status_code == 400
    assert "Not done: snooze until must be a date and time" in no_time.text


def test_assignment_to_an_agent_and_a_team(console: Console, services: Services) -> None:
    got = receive(services, "sms", ANA, "hi", 1)
    client, csrf = console("agent")
    me = user_id(services, "agent@shop.example")
    team = make_team(services, "Returns", me)
    url = f"/conversations/{got.conversation_id}"
    page = client.get(url).text
    assert options(page, "assign-agent") == ["", me]
    assert options(page, "assign-team") == ["", team]
    assert "Assign to me" in page
    done = client.post(f"{url}/assignment", data={"csrf": csrf, "assignee": me, "team": team})
    assert '<p class="flash flash-ok" role="status">Assignment saved.</p>' in done.text
    assert '<dd id="conversation-assignee">Agent Person</dd>' in done.text
    assert '<dd id="conversation-team">Returns</dd>' in done.text
    with services.uow(write=False) as uow:
        found = services.conversations(uow).get(got.conversation_id)
        held = services.desk(uow).open_assignment(got.conversation_id)
    assert found is not None
    assert (found.assignee_id, found.team_id) == (me, team)
    assert held is not None
    assert held["agent_id"] == me
    refused = client.post(f"{url}/assignment", data={"csrf": csrf, "assignee": "nobody-here"})
    assert refused.status_code == 404
    assert "Not done:" in refused.text
    client.post(f"{url}/assignment", data={"csrf": csrf, "assignee": "", "team": team})
    with services.uow(write=False) as uow:
        found = services.conversations(uow).get(got.conversation_id)
    assert found is not None
    assert (found.assignee_id, found.team_id) == (None, team)


def test_the_contact_reason_comes_from_the_taxonomy(console: Console, services: Services) -> None:
    got = receive(services, "sms", ANA, "hi", 1)
    client, csrf = console("agent")
    url = f"/conversations/{got.conversation_id}"
    assert options(client.get(url).text, "contact-reason")[:3] == ["", "order_status", "delivery"]
    done = client.post(f"{url}/reason", data={"csrf": csrf, "reason": "delivery"})
    assert '<dd id="conversation-reason">Delivery</dd>' in done.text
    refused = client.post(f"{url}/reason", data={"csrf": csrf, "reason": "weather"})
    assert refused.status_code == 400
    assert "Not done: contact reason must be one of: order_status" in refused.text
    with services.uow(write=False) as uow:
        found = services.conversations(uow).get(got.conversation_id)
    assert found is not None
    assert found.contact_reason == "delivery"


def test_merging_into_another_conversation_of_the_customer(
    console: Console, services: Services
) -> None:
    first = receive(services, "sms", ANA, "one", 1)
    second = receive(services, "email", ANA, "two", 2)
    with services.uow() as uow:
        split = conversations.split(
            services.conversations(uow),
            first.conversation_id,
            second.message_id,
            now=uow.clock.now(),
            raise_event=uow.raise_event,
        )
        uow.commit()
    client, csrf = console("agent")
    page = client.get(f"/conversations/{split.id}").text
    assert 'data-confirm="Merge this conversation into the other one?' in page
    assert f'<option value="{first.conversation_id}">' in page
    assert f'<li><a href="/conversations/{first.conversation_id}">' in page
    refused = client.post(f"/conversations/{split.id}/merge", data={"csrf": csrf, "into": split.id})
    assert refused.status_code == 400
    assert "Not done: a conversation cannot be merged into itself" in refused.text
    answer = client.post(
        f"/conversations/{split.id}/merge",
        data={"csrf": csrf, "into": first.conversation_id},
        follow_redirects=False,
    )
    assert answer.headers["location"] == f"/conversations/{first.conversation_id}"
    assert messages_of(services, first.conversation_id) == [
        ("inbound", "sms", "one"),
        ("inbound", "email", "two"),
    ]
    with services.uow(write=False) as uow:
        gone = services.conversations(uow).get(split.id)
    assert gone is not None
    assert (gone.merged_into, gone.status) == (first.conversation_id, "closed")
    shown = client.get(answer.headers["location"]).text
    assert "A conversation was merged into this one." in shown
    old = client.get(f"/conversations/{split.id}").text
    assert "This conversation was merged into another one." in old
    assert 'id="reply-form"' not in old


def test_canned_responses_fill_the_reply(console: Console, services: Services) -> None:
    got = receive(services, "sms", ANA, "hi", 1)
    with services.uow() as uow:
        item = desk.create_canned(
            services.desk(uow),
            "ship",
            "Shipping times",
            "Hi! {{ agent.first_name }} here: it ships in 2 days.",
            None,
            uow.clock.now(),
        )
        uow.commit()
    client, _ = console("agent")
    url = f"/conversations/{got.conversation_id}"
    page = client.get(url).text
    assert (
        f'<option value="{item.id}" data-text="Hi! Agent here: it ships in 2 days.">'
        "Shipping times (/ship)</option>" in page
    )
    filled = client.get(f"{url}?canned={item.id}").text
    assert ">Hi! Agent here: it ships in 2 days.</textarea>" in filled


def test_the_live_thread_fragment(console: Console, services: Services) -> None:
    got = receive(services, "sms", ANA, "first", 1)
    client, _ = console("agent")
    receive(services, "sms", ANA, "second", 2)
    fragment = client.get(f"/conversations/{got.conversation_id}/thread")
    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    assert re.findall(r'<div class="body">([^<]*)</div>', fragment.text) == ["first", "second"]


def test_every_control_is_labelled_and_keys_are_explained(
    console: Console, services: Services
) -> None:
    first = receive(services, "sms", ANA, "one", 1)
    second = receive(services, "email", ANA, "two", 2)
    with services.uow() as uow:
        conversations.split(
            services.conversations(uow),
            first.conversation_id,
            second.message_id,
            now=uow.clock.now(),
            raise_event=uow.raise_event,
        )
        uow.commit()
    client, _ = console("agent")
    page = client.get(f"/conversations/{first.conversation_id}").text
    assert unlabelled(page) == []
    for label in ("Send on", "Reply", "Note", "New status", "Agent", "Team", "Contact reason"):
        assert f">{label}</label>" in page
    assert '<button type="submit" class="primary">Send</button>' in page
    assert '<script src="/console/static/conversation.js' in page


def test_who_may_see_and_act(console: Console, services: Services) -> None:
    got = receive(services, "sms", ANA, "hi", 1)
    url = f"/conversations/{got.conversation_id}"
    marketer, csrf = console("marketer")
    assert marketer.get(url).status_code == 403
    assert marketer.get(f"{url}/thread").status_code == 403
    refused = marketer.post(f"{url}/note", data={"csrf": csrf, "text": "x"})
    assert refused.status_code == 403
    assert messages_of(services, got.conversation_id) == [("inbound", "sms", "hi")]
    agent, _ = console("agent")
    assert agent.get("/conversations/nope").status_code == 404


def test_opening_and_replying_are_audited(console: Console, services: Services) -> None:
    got = receive(services, "sms", ANA, "hi", 1)
    client, csrf = console("agent")
    client.get(f"/conversations/{got.conversation_id}")
    client.post(
        f"/conversations/{got.conversation_id}/reply",
        data={"csrf": csrf, "channel": "sms", "text": "ok"},
        follow_redirects=False,
    )
    with services.uow(write=False) as uow:
        rows = uow.conn.exec_driver_sql(
            "SELECT action, method, route, customer_id, status FROM audit_log "
            "WHERE route LIKE '/conversations/%' ORDER BY id"
        ).all()
    assert [tuple(r) for r in rows] == [
        ("read", "GET", "/conversations/{conversation_id}", got.customer_id, 200),
        ("create", "POST", "/conversations/{conversation_id}/reply", got.customer_id, 303),
    ]


def test_the_page_speaks_the_users_language(console: Console, services: Services) -> None:
    got = receive(services, "sms", ANA, "Oi", 1)
    client, csrf = console("agent", language="es")
    page = client.get(f"/conversations/{got.conversation_id}").text
    assert '<h2 id="reply-heading">Responder al cliente</h2>' in page
    assert '<option value="auto" selected>Automático: SMS ahora</option>' in page
    done = client.post(
        f"/conversations/{got.conversation_id}/status", data={"csrf": csrf, "status": "resolved"}
    )
    assert "Estado cambiado a resuelta." in done.text
