"""Receiving, replying and delivery through the composition root, on SQLite and PostgreSQL."""

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from omnicx.access.model import principal_for_role
from omnicx.bootstrap import Services
from omnicx.conversations import (
    AttachmentIn,
    DeliveryUpdate,
    FakeChannelSender,
    InboundMessage,
    Reply,
    ThreadHints,
)
from omnicx.conversations.services import change_status, merge, split
from omnicx.kernel import Conflict
from omnicx.kernel.moments import micros
from omnicx.profiles import ProfileWriter
from tests.conftest import table_counts

AGENT = principal_for_role("user", "agent-1", "Agent One", "agent")
TABLES = ("conversations", "messages", "message_attachments", "message_deliveries", "outbox")


def inbound(
    channel: str, sender: tuple[tuple[str, str], ...], pid: str, **extra: object
) -> InboundMessage:
    return InboundMessage(
        channel=channel,
        account="support@shop.example" if channel == "email" else "+5511900000000",
        sender=sender,
        received_at=datetime.now(UTC),
        provider_message_id=pid,
        text=f"hello from {channel}",
        **extra,  # type: ignore[arg-type]
    )


ANA_EMAIL = (("email", "Ana@Example.com"),)
ANA_BOTH = (("email", "ana@example.com"), ("phone", "+55 11 98888-7777"))


def test_inbound_opens_a_conversation_and_is_idempotent(services: Services) -> None:
    first = services.receive_inbound(inbound("email", ANA_EMAIL, "<m1@x>"))
    again = services.receive_inbound(inbound("email", ANA_EMAIL, "<m1@x>"))
    assert first.created_conversation is True
    assert first.duplicate is False
    assert again.duplicate is True
    assert (again.conversation_id, again.message_id) == (first.conversation_id, first.message_id)
    assert table_counts(services, *TABLES)["messages"] == 1
    with services.uow(write=False) as uow:
        conversation = services.conversations(uow).get(first.conversation_id)
        messages = services.conversations(uow).messages_of(first.conversation_id)
        timeline = services.events(uow).timeline([first.customer_id], after=None, limit=10)
    assert conversation is not None
    assert conversation.channels == ("email",)
    assert [m.text for m in messages] == ["hello from email"]
    assert [(t.event, t.channel) for t in timeline] == [("Message Received", "email")]
    assert "hello" not in str(timeline[0].properties)


def test_a_second_channel_joins_the_same_conversation(services: Services) -> None:
    first = services.receive_inbound(inbound("email", ANA_EMAIL, "<m1@x>"))
    second = services.receive_inbound(inbound("sms", ANA_BOTH, "SM1"))
    assert second.customer_id == first.customer_id
    assert second.conversation_id == first.conversation_id
    assert second.created_conversation is False
    with services.uow(write=False) as uow:
        conversation = services.conversations(uow).get(first.conversation_id)
    assert conversation is not None
    assert conversation.channels == ("email", "sms")
    assert conversation.last_inbound_channel == "sms"


def name_of(services: Services, customer_id: str) -> tuple[str | None, dict[str, tuple[Any, str]]]:
    with services.uow(write=False) as uow:
        profiles = services.profiles(uow)
        profile = profiles.get(customer_id)
        traits = {k: (t.value, t.channel) for k, t in profiles.traits_of(customer_id).items()}
    assert profile is not None
    return profile.display_name, traits


def test_the_name_a_sender_shows_names_a_customer_who_has_none(services: Services) -> None:
    first = services.receive_inbound(
        inbound("whatsapp", ANA_BOTH, "wamid.1", sender_name="  Ana   Souza ")
    )
    # A later message under another name, on any channel, does not rename her.
    again = services.receive_inbound(
        inbound("email", ANA_EMAIL, "<m2@x>", sender_name="A. Souza (work)")
    )

    assert again.customer_id == first.customer_id
    assert name_of(services, first.customer_id) == (
        "Ana Souza",
        {"name": ("Ana Souza", "whatsapp")},
    )
    with services.uow(write=False) as uow:
        history = services.profiles(uow).trait_history([first.customer_id])
    assert [(h["key"], h["value"], h["channel"]) for h in history] == [
        ("name", "Ana Souza", "whatsapp")
    ]

    # The shop's own data replaces the shown name, even an import dated a year before it.
    with services.uow() as uow:
        writer = ProfileWriter(
            services.profiles(uow), services.rules, uow.clock.now(), uow.raise_event
        )
        writer.set_traits(
            first.customer_id,
            {"name": "Ana Beatriz Souza"},
            ts=micros(uow.clock.now() - timedelta(days=365)),
            channel="web",
            source_id=None,
            event_id=None,
        )
        writer.flush()
        uow.commit()
    assert name_of(services, first.customer_id) == (
        "Ana Beatriz Souza",
        {"name": ("Ana Beatriz Souza", "web")},
    )


def test_a_name_the_shop_knows_is_kept_and_a_blank_sender_name_is_ignored(
    services: Services,
) -> None:
    unnamed = services.receive_inbound(inbound("sms", (("phone", "+5511977776666"),), "SM1"))
    blank = services.receive_inbound(
        inbound("sms", (("phone", "+5511977776666"),), "SM2", sender_name="   ")
    )
    assert blank.customer_id == unnamed.customer_id
    assert name_of(services, unnamed.customer_id) == (None, {})

    known = services.receive_inbound(inbound("email", ANA_EMAIL, "<m1@x>"))
    with services.uow() as uow:
        writer = ProfileWriter(
            services.profiles(uow), services.rules, uow.clock.now(), uow.raise_event
        )
        writer.set_traits(
            known.customer_id,
            {"first_name": "Ana", "last_name": "Lima"},
            ts=micros(uow.clock.now()),
            channel="web",
            source_id=None,
            event_id=None,
        )
        writer.flush()
        uow.commit()
    services.receive_inbound(inbound("email", ANA_EMAIL, "<m2@x>", sender_name="Someone Else"))

    display, traits = name_of(services, known.customer_id)
    assert display == "Ana Lima"
    assert traits == {"first_name": ("Ana", "web"), "last_name": ("Lima", "web")}


def test_bodies_and_attachments_are_sealed_at_rest(services: Services) -> None:
    receipt = services.receive_inbound(
        inbound(
            "email",
            ANA_EMAIL,
            "<m1@x>",
            attachments=(AttachmentIn("receipt-zq.pdf", "application/pdf", b"%PDF secret-zq"),),
        )
    )
    with services.engines.main.connect() as conn:
        raw = [
            str(tuple(row))
            for table in ("messages", "message_attachments")
            for row in conn.exec_driver_sql(f"SELECT * FROM {table}")
        ]
    assert not any("hello from email" in r or "receipt-zq" in r or "secret-zq" in r for r in raw)
    with services.uow(write=False) as uow:
        (message,) = services.conversations(uow).messages_of(receipt.conversation_id)
    assert [(a.filename, a.size) for a in message.attachments] == [("receipt-zq.pdf", 14)]


def test_resolved_within_reopen_window_reopens_and_closed_starts_new(services: Services) -> None:
    first = services.receive_inbound(inbound("email", ANA_EMAIL, "<m1@x>"))
    with services.uow() as uow:
        change_status(
            services.conversations(uow),
            first.conversation_id,
            "resolved",
            snoozed_until=None,
            now=uow.clock.now(),
            raise_event=uow.raise_event,
        )
        uow.commit()
    again = services.receive_inbound(inbound("email", ANA_EMAIL, "<m2@x>"))
    assert again.conversation_id == first.conversation_id
    with services.uow() as uow:
        repo = services.conversations(uow)
        reopened = repo.get(first.conversation_id)
        assert reopened is not None
        assert reopened.status == "open"
        change_status(
            repo,
            first.conversation_id,
            "closed",
            snoozed_until=None,
            now=uow.clock.now(),
            raise_event=uow.raise_event,
        )
        uow.commit()
    third = services.receive_inbound(inbound("email", ANA_EMAIL, "<m3@x>"))
    assert third.created_conversation is True
    assert third.conversation_id != first.conversation_id


def test_guarded_transitions_refuse_and_write_nothing(services: Services) -> None:
    first = services.receive_inbound(inbound("email", ANA_EMAIL, "<m1@x>"))
    with services.uow() as uow:
        repo = services.conversations(uow)
        now = uow.clock.now()
        with pytest.raises(Exception) as refused:
            change_status(
                repo,
                first.conversation_id,
                "snoozed",
                snoozed_until=None,
                now=now,
                raise_event=uow.raise_event,
            )
        assert getattr(refused.value, "code", None) == "snoozed_until_required"
        change_status(
            repo,
            first.conversation_id,
            "closed",
            snoozed_until=None,
            now=now,
            raise_event=uow.raise_event,
        )
        with pytest.raises(Conflict) as final:
            change_status(
                repo,
                first.conversation_id,
                "open",
                snoozed_until=None,
                now=now,
                raise_event=uow.raise_event,
            )
        assert final.value.code == "conversation_closed"


def test_reply_auto_uses_last_inbound_channel_then_falls_back(services: Services) -> None:
    whatsapp = FakeChannelSender("whatsapp", refuse="outside the 24-hour window: only templates")
    sms = FakeChannelSender("sms")
    services.channel_senders.update(whatsapp=whatsapp, sms=sms)
    receipt = services.receive_inbound(
        inbound("whatsapp", (("phone", "+5511988887777"),), "wamid.1")
    )
    message = services.reply(receipt.conversation_id, Reply(author=AGENT, text="On its way"))
    assert (message.channel, message.to, message.status) == (
        "sms",
        ("phone", "+5511988887777"),
        "queued",
    )
    assert [c.channel for c in whatsapp.checked] == ["whatsapp"]
    services.process_outbox()
    assert [(o.channel, o.to, o.text) for o in sms.sent] == [
        ("sms", ("phone", "+5511988887777"), "On its way")
    ]
    services.record_delivery(
        DeliveryUpdate("sms", "sms-1", "delivered", datetime.now(UTC) + timedelta(seconds=1))
    )
    with services.uow(write=False) as uow:
        repo = services.conversations(uow)
        history = [d.status for d in repo.deliveries(message.id)]
        stored = repo.message(message.id)
    assert history == ["queued", "sent", "delivered"]
    assert stored is not None
    assert stored.status == "delivered"


def test_reply_on_an_unusable_channel_is_refused_and_writes_nothing(services: Services) -> None:
    services.channel_senders["whatsapp"] = FakeChannelSender(
        "whatsapp", refuse="outside the window"
    )
    receipt = services.receive_inbound(inbound("whatsapp", (("phone", "+5511988887777"),), "w1"))
    before = table_counts(services, *TABLES)
    with pytest.raises(Conflict) as refused:
        services.reply(receipt.conversation_id, Reply(author=AGENT, channel="whatsapp", text="hi"))
    assert refused.value.code == "channel_unavailable"
    assert "outside the window" in refused.value.message
    assert table_counts(services, *TABLES) == before


def test_notes_are_stored_and_never_sent(services: Services) -> None:
    sms = FakeChannelSender("sms")
    services.channel_senders["sms"] = sms
    receipt = services.receive_inbound(inbound("sms", (("phone", "+5511988887777"),), "SM1"))
    note = services.reply(receipt.conversation_id, Reply(author=AGENT, text="VIP", note=True))
    assert note.direction == "note"
    services.process_outbox()
    assert sms.sent == []
    assert table_counts(services, "outbox")["outbox"] == 0


def test_merge_and_split_keep_history_complete_and_ordered(services: Services) -> None:
    a = services.receive_inbound(inbound("email", ANA_EMAIL, "<m1@x>"))
    with services.uow() as uow:
        change_status(
            services.conversations(uow),
            a.conversation_id,
            "closed",
            snoozed_until=None,
            now=uow.clock.now(),
            raise_event=uow.raise_event,
        )
        uow.commit()
    b = services.receive_inbound(inbound("email", ANA_EMAIL, "<m2@x>"))
    c = services.receive_inbound(inbound("sms", ANA_BOTH, "SM3"))
    assert b.conversation_id == c.conversation_id != a.conversation_id
    with services.uow() as uow:
        repo = services.conversations(uow)
        with pytest.raises(Conflict):
            merge(
                repo,
                a.conversation_id,
                b.conversation_id,
                now=uow.clock.now(),
                raise_event=uow.raise_event,
            )
        merged = merge(
            repo,
            b.conversation_id,
            a.conversation_id,
            now=uow.clock.now(),
            raise_event=uow.raise_event,
        )
        ids = [m.id for m in repo.messages_of(merged.id)]
        assert ids == [a.message_id, b.message_id, c.message_id]
        old = repo.get(a.conversation_id)
        assert old is not None
        assert old.merged_into == merged.id
        new = split(repo, merged.id, c.message_id, now=uow.clock.now(), raise_event=uow.raise_event)
        uow.commit()
    with services.uow(write=False) as uow:
        repo = services.conversations(uow)
        assert [m.id for m in repo.messages_of(merged.id)] == [a.message_id, b.message_id]
        assert [(m.id, m.seq) for m in repo.messages_of(new.id)] == [(c.message_id, 1)]
        assert new.split_from == merged.id
        assert new.channels == ("sms",)


def test_concurrent_first_messages_make_one_customer_and_one_conversation(
    services: Services,
) -> None:
    receipts = []
    errors: list[BaseException] = []

    def send(n: int) -> None:
        try:
            receipts.append(services.receive_inbound(inbound("sms", ANA_BOTH, f"SM{n}")))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len({r.customer_id for r in receipts}) == 1
    assert len({r.conversation_id for r in receipts}) == 1
    assert table_counts(services, "conversations", "messages") == {
        "conversations": 1,
        "messages": 6,
    }


def test_hinted_thread_of_another_customer_is_ignored(services: Services) -> None:
    bea = services.receive_inbound(inbound("email", (("email", "bea@example.com"),), "<b1@x>"))
    ana = services.receive_inbound(
        inbound("email", ANA_EMAIL, "<a1@x>", thread=ThreadHints(in_reply_to="<b1@x>"))
    )
    assert ana.conversation_id != bea.conversation_id
