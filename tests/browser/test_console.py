"""The console in a real browser, as issue 7 asks: an agent's open inbox shows a new inbound SMS
without reloading; a reply by email appears on the thread and leaves through the SMTP relay;
a store associate finds the customer by phone and cannot open the marketer pages; the inbox
and the conversation work from the keyboard with every control labelled; and screenshots of
the main pages land in test-artifacts/screenshots/."""

import re
import secrets
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from omnicx.commerce import locations
from omnicx.commerce.locations import Address, OpeningHours
from omnicx.conversations import Conversation
from omnicx.conversations import services as conversations
from omnicx.events import create_source
from tests.browser.conftest import (
    MAILBOX,
    LiveServer,
    MailRelay,
    add_staff,
    post_twilio_sms,
    screenshot,
    send_email,
    sign_in,
)

STORE_ID = "store-paulista"
SEGMENT = "Gold customers"
JOURNEY = "Welcome series"
FORM_CONTROLS = "input:not([type=hidden]), select, textarea"
WAIT_MS = 10_000
WELCOME: dict[str, Any] = {
    "name": JOURNEY,
    "description": "New customers get a hello by SMS",
    "trigger": {"event": "Signed Up"},
    "start": "wait",
    "nodes": {
        "wait": {"type": "wait", "duration": "1d", "next": "hello"},
        "hello": {
            "type": "send",
            "purpose": "marketing",
            "channels": ["sms"],
            "content": {"text": "Welcome!"},
            "next": "end",
        },
        "end": {"type": "exit"},
    },
}
"""A published journey: whoever signs up waits a day, then gets a hello by SMS."""


def new_phone() -> tuple[str, str]:
    """A São Paulo mobile nobody has used yet: as stored (E.164) and as people type it."""
    digits = f"{secrets.randbelow(10**8):08d}"
    return f"+55119{digits}", f"(11) 9{digits[:4]}-{digits[4:]}"


def sms_conversation(live: LiveServer, sender: str, text: str) -> Conversation:
    """Posts a signed inbound SMS and returns the conversation it landed in."""
    sid = "SM" + secrets.token_hex(16)
    answer = post_twilio_sms(live, sender=sender, text=text, sid=sid)
    assert answer.status_code == 200
    with live.services.uow(write=False) as uow:
        store = live.services.conversations(uow)
        message = store.by_provider_id("sms", sid)
        assert message is not None
        found = store.get(message.conversation_id)
    assert found is not None
    return found


def email_conversation(live: LiveServer, name: str, address: str, subject: str) -> Conversation:
    """Mails the inbound listener and returns the conversation the email opened."""
    message_id = send_email(live, sender=f"{name} <{address}>", subject=subject, text="Oi!")
    with live.services.uow(write=False) as uow:
        found = live.services.conversations(uow).by_email_ids([message_id])
    assert found is not None
    return found


def reply_status(live: LiveServer, conversation_id: str) -> str | None:
    """The delivery status of the conversation's latest outbound message."""
    with live.services.uow(write=False) as uow:
        found = live.services.conversations(uow).messages_of(conversation_id, limit=100)
    return [m.status for m in found if m.direction == "outbound"][-1]


def nav_links(page: Page) -> list[str]:
    areas = page.get_by_role("navigation", name="Console areas")
    return areas.get_by_role("link").all_inner_texts()


def eventually(what: str, done: Callable[[], bool], timeout: float = WAIT_MS / 1000) -> None:
    """Waits for the live server's worker to make `done()` true."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def track(live: LiveServer, batch: list[dict[str, Any]]) -> None:
    """Sends tracked calls to the live server's `/v1/batch` from a new web source."""
    services = live.services
    with services.uow() as uow:
        source = create_source(services.events(uow), "Web shop", "web", uow.clock.now())
        uow.commit()
    answer = httpx.post(
        live.url_for("/v1/batch"),
        auth=(source.write_key, ""),
        json={"batch": batch},
        timeout=WAIT_MS / 1000,
    )
    assert answer.status_code == 200, answer.text


def carla_batch(address: str) -> list[dict[str, Any]]:
    """Carla's identify (name, tier gold) on the email she wrote from, her sign-up and an order."""
    user = f"carla-{secrets.token_hex(4)}"
    return [
        {
            "type": "identify",
            "userId": user,
            "traits": {"name": "Carla Dias", "email": address, "tier": "gold", "city": "Recife"},
        },
        {"type": "track", "userId": user, "event": "Signed Up", "context": {"channel": "web"}},
        {
            "type": "track",
            "userId": user,
            "event": "Order Completed",
            "context": {"channel": "web"},
            "properties": {"total": 259.9},
        },
    ]


def seeded(live: LiveServer, customer_id: str, segment_id: str, journey_id: str) -> bool:
    """Whether the worker has named the customer, counted the segment and started the journey."""
    services = live.services
    with services.uow(write=False) as uow:
        profile = services.profiles(uow).get(customer_id)
        segment, size = services.segmenter.size(uow, segment_id)
        journeys = services.conductor.repo(uow)
        running = sum(count for _, _, _, count in journeys.places(journey_id))
    return (
        profile is not None
        and profile.display_name == "Carla Dias"
        and segment.scan is None
        and size == 1
        and running == 1
    )


@pytest.fixture(scope="module")
def shop_store(live: LiveServer) -> str:
    """A store on the live server, so the counter's forms have somewhere to record."""
    services = live.services
    with services.uow() as uow:
        locations.create_location(
            services.stock(uow),
            location_id=STORE_ID,
            name="Store Paulista",
            kind="store",
            capabilities=["pickup", "accept_returns"],
            address=Address(country="BR", city="São Paulo"),
            hours=OpeningHours(),
            now=uow.clock.now(),
        )
        uow.commit()
    return STORE_ID


def test_an_inbound_sms_appears_in_the_open_inbox_without_reloading(
    page: Page, live: LiveServer
) -> None:
    sign_in(page, live, add_staff(live, "agent"))
    page.goto(live.url_for("/inbox"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Inbox")
    expect(page.locator("html")).to_have_attribute("data-live", "open")
    rows = page.locator("#inbox-rows tr[data-row]")
    before = rows.count()
    page.evaluate("window.stillTheSamePage = 'yes'")
    phone, _ = new_phone()

    conversation = sms_conversation(live, phone, "Meu pedido não chegou")

    row = page.locator(f'#inbox-rows tr[data-row][data-conversation-id="{conversation.id}"]')
    expect(row).to_have_count(1, timeout=WAIT_MS)
    expect(rows).to_have_count(before + 1)
    expect(rows.first).to_have_attribute("data-conversation-id", conversation.id)
    expect(row.get_by_role("link")).to_have_text(phone)
    expect(row.get_by_role("link")).to_have_attribute("href", f"/conversations/{conversation.id}")
    expect(row.locator(".snippet")).to_have_text("Meu pedido não chegou")
    expect(row.locator(".badges .channel")).to_have_text(["sms"])
    expect(row.locator(".status-open")).to_have_text("open")
    expect(page.locator("#announcer")).to_have_text("The inbox was updated.")
    assert page.evaluate("window.stillTheSamePage") == "yes"
    assert page.url == live.url_for("/inbox")
    screenshot(page, "inbox")


def test_a_reply_by_email_shows_on_the_thread_and_reaches_the_relay(
    page: Page, live: LiveServer, mail_relay: MailRelay
) -> None:
    address = f"bruna.{secrets.token_hex(4)}@customer.example"
    conversation = email_conversation(live, "Bruna Costa", address, "Tamanho errado")
    relayed_before = len(mail_relay.received)
    sign_in(page, live, add_staff(live, "agent"))

    page.goto(live.url_for(f"/conversations/{conversation.id}"))
    picker = page.get_by_label("Send on")
    expect(picker.locator("option")).to_have_text(["Automatic: Email now", "Email"])
    picker.select_option("email")
    page.get_by_label("Reply", exact=True).fill("Pode trocar na loja, Bruna.")
    page.get_by_role("button", name="Send").click()

    page.wait_for_url(live.url_for(f"/conversations/{conversation.id}#thread"))
    expect(page.get_by_role("status").filter(has_text="Reply queued")).to_have_text(
        "Reply queued on Email."
    )
    replies = page.locator("#thread li.message.outbound")
    expect(replies).to_have_count(1)
    expect(replies).to_have_attribute("data-channel", "email")
    expect(replies.locator(".badge.channel")).to_have_text("email")
    expect(replies.locator(".badge.channel")).to_have_class(re.compile(r"\bchannel-email\b"))
    expect(replies.locator(".body")).to_have_text("Pode trocar na loja, Bruna.")
    expect(page.locator("#thread li.message.inbound .body")).to_have_text("Oi!")

    received = mail_relay.wait_for(relayed_before + 1)
    [relayed] = [m for m in received[relayed_before:] if m.rcpt_tos == [address]]
    assert relayed.mail_from == MAILBOX
    assert relayed.message["To"] == address
    assert relayed.message["Subject"] == "Re: Tamanho errado"
    body = relayed.message.get_body(preferencelist=("plain",))
    assert body is not None
    assert body.get_content() == "Pode trocar na loja, Bruna.\r\n"
    eventually(
        "the reply's status to be sent", lambda: reply_status(live, conversation.id) == "sent"
    )
    # The thread follows the delivery live, with no reload.
    expect(replies.locator(".delivery")).to_have_text("sent", timeout=10_000)
    screenshot(page, "conversation")


def test_a_store_associate_finds_the_customer_by_phone(
    page: Page, live: LiveServer, shop_store: str
) -> None:
    phone, typed = new_phone()
    conversation = sms_conversation(live, phone, "Vou passar na loja hoje")
    sign_in(page, live, add_staff(live, "store_associate"))
    assert page.url == live.url_for("/store")
    expect(page.get_by_role("heading", level=1)).to_have_text("Who is at the counter?")
    screenshot(page, "store")

    page.get_by_label("Phone or loyalty card").fill(typed)
    page.get_by_role("button", name="Find").click()

    page.wait_for_url(live.url_for(f"/store/customers/{conversation.customer_id}"))
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_have_text(phone)
    expect(heading).to_have_attribute("data-customer-id", conversation.customer_id)
    expect(page.locator(".counter-customer dd").first).to_have_text(phone)
    open_ones = page.locator("li[data-conversation-id]")
    expect(open_ones).to_have_count(1)
    expect(open_ones).to_have_attribute("data-conversation-id", conversation.id)
    expect(open_ones.locator(".channel")).to_have_text(["sms"])
    expect(page.get_by_role("heading", name="Online cart")).to_be_visible()
    expect(page.get_by_text("Nothing in an online cart.")).to_be_visible()
    expect(page.get_by_text("No orders.")).to_be_visible()
    screenshot(page, "store-customer")


def test_a_store_associate_cannot_open_the_marketer_pages(page: Page, live: LiveServer) -> None:
    sign_in(page, live, add_staff(live, "store_associate"))
    assert nav_links(page) == ["Inbox", "Customers", "Store"]

    for path in ("/marketing/segments", "/marketing/journeys"):
        answer = page.goto(live.url_for(path))
        assert answer is not None
        assert answer.status == 403
        expect(page.get_by_role("heading", level=1)).to_have_text("This did not work")
        expect(page.locator("#error-message")).to_have_text(
            "Your role (Store associate) cannot open this page."
        )
        assert nav_links(page) == ["Inbox", "Customers", "Store"]
        expect(page.get_by_role("link", name="Segments")).to_have_count(0)
        expect(page.get_by_role("link", name="Journeys")).to_have_count(0)
        expect(page.locator("table")).to_have_count(0)


def test_the_inbox_opens_the_second_conversation_with_j_j_enter(
    page: Page, live: LiveServer
) -> None:
    older = sms_conversation(live, new_phone()[0], "Primeiro")
    newer = sms_conversation(live, new_phone()[0], "Segundo")
    newest = sms_conversation(live, new_phone()[0], "Terceiro")
    sign_in(page, live, add_staff(live, "agent"))
    page.goto(live.url_for("/inbox"))
    rows = page.locator("#inbox-rows tr[data-row]")
    expect(rows.nth(0)).to_have_attribute("data-conversation-id", newest.id)
    expect(rows.nth(1)).to_have_attribute("data-conversation-id", newer.id)
    expect(rows.nth(2)).to_have_attribute("data-conversation-id", older.id)

    page.keyboard.press("j")
    expect(rows.nth(0).get_by_role("link")).to_be_focused()
    page.keyboard.press("j")
    expect(rows.nth(1).get_by_role("link")).to_be_focused()
    page.keyboard.press("k")
    expect(rows.nth(0).get_by_role("link")).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(rows.nth(1).get_by_role("link")).to_be_focused()
    page.keyboard.press("Enter")

    page.wait_for_url(live.url_for(f"/conversations/{newer.id}"))
    expect(page.locator("#thread li.message.inbound .body")).to_have_text("Segundo")

    page.keyboard.press("r")
    expect(page.get_by_label("Reply", exact=True)).to_be_focused()
    page.evaluate("document.activeElement.blur()")
    page.keyboard.press("n")
    expect(page.get_by_label("Note", exact=True)).to_be_focused()


def unlabelled_controls(page: Page) -> list[str]:
    """The form controls of the page without an accessible name (by their ids or html)."""
    missing = []
    controls = page.locator(FORM_CONTROLS)
    for i in range(controls.count()):
        control = controls.nth(i)
        named = control.evaluate(
            "el => el.labels.length > 0 || !!el.getAttribute('aria-label')"
            " || !!el.getAttribute('aria-labelledby')"
        )
        if not named:
            missing.append(control.evaluate("el => el.id || el.outerHTML"))
            continue
        expect(control).to_have_accessible_name(re.compile(r"\S"))
    return missing


def control_ids(page: Page) -> list[str]:
    ids: list[str] = page.locator(FORM_CONTROLS).evaluate_all("els => els.map(el => el.id)")
    return ids


def test_every_control_of_the_inbox_and_conversation_is_labelled(
    page: Page, live: LiveServer
) -> None:
    phone, _ = new_phone()
    earlier = sms_conversation(live, phone, "Primeira conversa")
    services = live.services
    with services.uow() as uow:
        conversations.change_status(
            services.conversations(uow),
            earlier.id,
            "closed",
            snoozed_until=None,
            now=uow.clock.now(),
            raise_event=uow.raise_event,
        )
        uow.commit()
    current = sms_conversation(live, phone, "Outra coisa")
    assert current.id != earlier.id
    sign_in(page, live, add_staff(live, "agent"))

    page.goto(live.url_for("/inbox"))
    assert control_ids(page) == ["filter-channel", "filter-status", "filter-sla", "filter-reason"]
    expect(page.get_by_label("Channel")).to_have_attribute("name", "channel")
    expect(page.get_by_label("Status")).to_have_attribute("name", "status")
    expect(page.get_by_label("SLA")).to_have_attribute("name", "sla")
    expect(page.get_by_label("Contact reason")).to_have_attribute("name", "reason")
    assert unlabelled_controls(page) == []

    page.goto(live.url_for(f"/conversations/{current.id}"))
    assert control_ids(page) == [
        "reply-channel",
        "reply-text",
        "note-text",
        "new-status",
        "snoozed-until",
        "assign-agent",
        "assign-team",
        "contact-reason",
        "merge-into",
    ]
    expect(page.get_by_label("Send on")).to_have_attribute("name", "channel")
    expect(page.get_by_label("Reply", exact=True)).to_have_attribute("name", "text")
    expect(page.get_by_label("Note", exact=True)).to_have_attribute("name", "text")
    expect(page.get_by_label("Merge into conversation")).to_have_attribute("name", "into")
    assert unlabelled_controls(page) == []


def test_the_customer_360_and_the_marketer_pages_show_what_was_seeded(
    page: Page, live: LiveServer
) -> None:
    address = f"carla.{secrets.token_hex(4)}@customer.example"
    conversation = email_conversation(live, "Carla Dias", address, "Troca de tamanho")
    services = live.services
    with services.uow() as uow:
        journey = services.conductor.create(uow, WELCOME, "browser-test")
        segment = services.segmenter.create(
            uow, SEGMENT, "Gold tier customers", {"trait": "tier", "op": "eq", "value": "gold"}
        )
        uow.commit()
    with services.uow() as uow:
        services.conductor.publish(uow, journey.id, None, "browser-test")
        uow.commit()
    track(live, carla_batch(address))
    eventually(
        "Carla's profile, segment and journey",
        lambda: seeded(live, conversation.customer_id, segment.id, journey.id),
    )

    sign_in(page, live, add_staff(live, "marketer"))
    assert nav_links(page) == ["Customers", "Segments", "Journeys", "Analytics"]

    page.goto(live.url_for(f"/customers/{conversation.customer_id}"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Carla Dias")
    expect(page.locator('#identifiers li[data-kind="email"]')).to_contain_text(address)
    expect(page.get_by_role("region", name="Segments")).to_contain_text(SEGMENT)
    expect(page.get_by_role("region", name="Timeline")).to_contain_text("Order Completed")
    screenshot(page, "customer-360")

    page.goto(live.url_for("/marketing/segments"))
    row = page.locator(f'tr[data-segment="{segment.id}"]')
    expect(row.get_by_role("link")).to_have_text(SEGMENT)
    expect(row.locator("[data-members]")).to_have_text("1")
    expect(row.locator(".pill")).to_have_text("Up to date")
    screenshot(page, "segments")

    page.goto(live.url_for("/marketing/journeys"))
    row = page.locator(f'tr[data-journey="{journey.id}"]')
    expect(row.get_by_role("link")).to_have_text(JOURNEY)
    expect(row.locator("[data-version]")).to_have_text("1")
    expect(row.locator("[data-running]")).to_have_text("1")
    expect(row.locator("[data-ended]")).to_have_text("0")
    screenshot(page, "journeys")
