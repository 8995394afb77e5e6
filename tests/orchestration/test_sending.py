"""The gate wired to storage: submit (idempotent, one transaction), dispatch exactly once,
deferrals, fallback after a time, receipts, retries and failover, competing sends, and the
reconciliation of an attempt a killed worker left behind. Every test runs on SQLite and, when
reachable, PostgreSQL."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from omnicx.bootstrap import Services, build
from omnicx.config import Settings
from omnicx.consent import ConsentSource, Wish
from omnicx.conversations import (
    DeliveryUpdate,
    FakeChannelSender,
    OutboundMessage,
    SendContext,
    SendResult,
)
from omnicx.db import UnitOfWork
from omnicx.db.migrate import upgrade
from omnicx.kernel import FixedClock, Invalid, NotFound
from omnicx.orchestration.gate import Content, Decision, SendIntent, TemplateVariant
from omnicx.orchestration.messages import MessageDecided, SendDelivered, SendFailedFinally
from omnicx.orchestration.sending import CustomerPreferences, DefaultContactRules
from omnicx.privacy import EraseSubject, ExportSubject, Subject
from omnicx.profiles import ProfileWriter
from omnicx.profiles.identifiers import normalize
from omnicx.workers import Worker
from tests.conftest import table_counts

# 15:00 in São Paulo: outside the default quiet hours.
NOON = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)
TABLES = ("sends", "send_messages", "send_decisions", "outbox")


@dataclass
class FakeRules(DefaultContactRules):
    """Consent as a test says it: everything allowed unless refused per channel."""

    refused: dict[str, str] = field(default_factory=dict)
    prefs: CustomerPreferences = field(default_factory=CustomerPreferences)
    blocked: str | None = None

    def permission(
        self, uow: UnitOfWork, customer_id: str, purpose: str, channel: str
    ) -> tuple[bool, str]:
        if channel in self.refused:
            return False, self.refused[channel]
        return True, "granted"

    def preferences(self, uow: UnitOfWork, customer_id: str) -> CustomerPreferences:
        return self.prefs

    def suppressed(self, uow: UnitOfWork, customer_id: str, purpose: str) -> str | None:
        return self.blocked


@dataclass
class LookupSender(FakeChannelSender):
    """A provider that can be asked whether it accepted a message (like Twilio)."""

    accepted: dict[str, str] = field(default_factory=dict)
    asked: list[tuple[str, datetime]] = field(default_factory=list)

    def find_sent(self, out: OutboundMessage, since: datetime) -> SendResult | None:
        self.asked.append((out.message_id, since))
        found = self.accepted.get(out.to[1])
        return SendResult(found, "sent") if found else None


class Killed(BaseException):
    """The worker dies in the middle of a provider call."""


@dataclass
class DyingSender(FakeChannelSender):
    """Accepts the message at the provider, then the worker dies before hearing back."""

    accepted: dict[str, str] = field(default_factory=dict)

    def send(self, out: OutboundMessage) -> SendResult:
        self.sent.append(out)
        self.accepted[out.to[1]] = f"SM-{len(self.sent)}"
        raise Killed


@dataclass
class World:
    services: Services
    clock: FixedClock
    sms: FakeChannelSender
    email: FakeChannelSender
    rules: FakeRules
    events: list[object]

    def customer(self, **identifiers: str) -> str:
        return add_customer(self.services, **identifiers)

    def submit(self, intent: SendIntent) -> Decision:
        with self.services.uow() as uow:
            decision = self.services.submit_send(uow, intent)
            uow.commit()
        return decision

    def run(self) -> None:
        """What the worker does, until nothing is left to do now."""
        for _ in range(20):
            if not (self.services.process_outbox() + self.services.process_sends()):
                return

    def advance(self, **delta: float) -> None:
        self.clock.advance(timedelta(**delta))

    def rows(self, sql: str, **params: Any) -> list[Any]:
        with self.services.engines.main.connect() as conn:
            return list(conn.execute(sa.text(sql), params))

    def send_row(self, send_id: str) -> Any:
        (row,) = self.rows("SELECT * FROM sends WHERE send_id = :s", s=send_id)
        return row

    def messages(self, send_id: str) -> list[Any]:
        return self.rows(
            "SELECT m.* FROM send_messages m JOIN sends s ON s.id = m.send_ref "
            "WHERE s.send_id = :s ORDER BY m.seq",
            s=send_id,
        )

    def decisions(self, send_id: str) -> list[tuple[str, str | None, str]]:
        with self.services.uow(write=False) as uow:
            repo = self.services.sends(uow)
            send = repo.by_send_id(send_id)
            assert send is not None
            found = repo.decisions((), limit=100, send_ref=send.id)
        return [(d.outcome, d.channel, d.reason) for d in reversed(found)]


def add_customer(services: Services, **identifiers: str) -> str:
    with services.uow() as uow:
        writer = ProfileWriter(
            services.profiles(uow), services.rules, uow.clock.now(), uow.raise_event
        )
        found = [normalize(kind, value, "BR") for kind, value in identifiers.items()]
        profile_id = writer.resolve(found, event_id=None, channel="web", source_id=None)
        assert profile_id is not None
        writer.flush()
        uow.commit()
    return profile_id


def intent(customer_id: str, send_id: str = "s-1", **changes: Any) -> SendIntent:
    base = SendIntent(
        send_id=send_id,
        customer_id=customer_id,
        purpose="marketing",
        category="promotion",
        priority=40,
        channels=("sms", "email"),
        content=Content(text="Hi {{ customer.first_name or 'there' }}, {{ offer }}"),
        origin="journey:welcome:v1:send_1",
    )
    base = replace(base, content=replace(base.content, variables={"offer": "20% off"}))
    return replace(base, **changes)


@pytest.fixture
def world(make_settings: Callable[..., Settings]) -> Iterator[World]:
    clock = FixedClock(NOON)
    services = build(
        make_settings(
            default_time_zone="America/Sao_Paulo",
            send_retry_seconds=1.0,
            channel_rates={},
            email_domain="shop.example",
            email_addresses="hello@shop.example",
        ),
        clock=clock,
    )
    upgrade(services.engines)
    sms, email = FakeChannelSender("sms"), FakeChannelSender("email")
    rules = FakeRules()
    services.sending.senders = {"sms": sms, "email": email}
    services.sending.rules = rules
    events: list[object] = []
    for kind in (MessageDecided, SendDelivered, SendFailedFinally):
        services.bus.subscribe(kind, lambda event, uow: events.append(event))
    try:
        yield World(services, clock, sms, email, rules, events)
    finally:
        services.close()


# -- submit --------------------------------------------------------------------------------


def test_a_send_decision_is_recorded_with_its_message_and_outbox_row(world: World) -> None:
    ana = world.customer(phone="+5511988887777", email="ana@example.com")

    decision = world.submit(intent(ana))

    assert (decision.outcome, decision.channel, decision.code) == ("send", "sms", "sent")
    assert decision.reason == "send on sms: the first of the requested channels (sms, email)"
    row = world.send_row("s-1")
    assert (row.status, row.channel, row.customer_id, row.origin) == (
        "queued",
        "sms",
        ana,
        "journey:welcome:v1:send_1",
    )
    (message,) = world.messages("s-1")
    assert (message.status, message.channel, message.to_kind) == ("queued", "sms", "phone")
    assert "+5511988887777" not in message.to_value  # sealed at rest
    (job,) = world.rows("SELECT topic, key FROM outbox")
    assert tuple(job) == ("maestro.send", message.id)
    assert [type(e).__name__ for e in world.events] == ["MessageDecided"]


def test_the_same_send_id_twice_is_one_send(world: World) -> None:
    ana = world.customer(phone="+5511988887777")
    first = world.submit(intent(ana))
    counts = table_counts(world.services, *TABLES)

    again = world.submit(intent(ana, content=Content(text="something else")))

    assert again == first
    assert table_counts(world.services, *TABLES) == counts


def test_bad_intents_write_nothing(world: World) -> None:
    ana = world.customer(phone="+5511988887777")
    cases: list[tuple[SendIntent, type[Exception], str]] = [
        (intent("no-such-customer"), NotFound, "customer_not_found"),
        (intent(ana, priority=101), Invalid, "invalid_priority"),
        (intent(ana, content=Content(template="nope")), Invalid, "unknown_template"),
        (intent(ana, content=Content(text="{{ unclosed")), Invalid, "invalid_template"),
    ]
    for bad, error, code in cases:
        with world.services.uow() as uow, pytest.raises(error) as caught:
            world.services.submit_send(uow, bad)
        assert caught.value.code == code  # type: ignore[attr-defined]

    assert table_counts(world.services, *TABLES) == dict.fromkeys(TABLES, 0)


def test_skips_are_recorded_and_never_queued(world: World) -> None:
    ana = world.customer(phone="+5511988887777", email="ana@example.com")
    world.rules.refused = {
        "sms": "marketing not granted on sms",
        "email": "marketing revoked on every channel by keyword PARAR on sms",
    }

    decision = world.submit(intent(ana))

    assert (decision.outcome, decision.code) == ("skip", "no_consent")
    assert world.send_row("s-1").status == "skipped"
    assert world.messages("s-1") == []
    assert world.rows("SELECT * FROM outbox") == []


# -- dispatch --------------------------------------------------------------------------------


def test_dispatch_sends_once_and_writes_the_timeline(world: World) -> None:
    ana = world.customer(phone="+5511988887777")
    world.submit(intent(ana))

    world.run()
    world.run()

    (out,) = world.sms.sent
    assert out.text == "Hi there, 20% off"
    assert (out.to, out.conversation_id) == (("phone", "+5511988887777"), "")
    (message,) = world.messages("s-1")
    assert (message.status, message.provider_message_id, message.attempts) == ("sent", "sms-1", 1)
    assert world.send_row("s-1").status == "sent"
    (event,) = world.rows(
        "SELECT event, channel, source_id, profile_id FROM events WHERE source_id = 'maestro'"
    )
    assert tuple(event) == ("Message Sent", "sms", "maestro", ana)
    assert world.rows("SELECT count(*) FROM conversations")[0][0] == 0

    world.services.sending.dispatch(message.id)
    assert len(world.sms.sent) == 1


def test_email_carries_a_message_id_made_from_the_message(world: World) -> None:
    ana = world.customer(email="ana@example.com")
    world.submit(
        intent(
            ana,
            channels=("email",),
            content=Content(
                subject="For you",
                text="Hello",
                html="<p>{{ note }}</p>",
                variables={"note": "<b>bold</b>"},
            ),
        )
    )

    world.run()

    (out,) = world.email.sent
    (message,) = world.messages("s-1")
    assert out.thread.message_id == f"<maestro.{message.id}@shop.example>"
    assert out.thread.reply_to == "hello@shop.example"
    assert out.thread.subject == "For you"
    assert out.html == "<p>&lt;b&gt;bold&lt;/b&gt;</p>"


def test_a_stale_message_still_queued_is_not_sent(world: World) -> None:
    ana = world.customer(phone="+5511988887777")
    world.submit(intent(ana, not_after=NOON + timedelta(minutes=5)))
    world.advance(minutes=10)

    world.run()

    assert world.sms.sent == []
    assert world.send_row("s-1").status == "skipped"
    assert world.decisions("s-1")[-1][2].startswith("stale: not to be sent after")


# -- deferrals ------------------------------------------------------------------------------


def test_quiet_hours_defer_and_the_worker_sends_at_their_local_end(world: World) -> None:
    ana = world.customer(phone="+5511988887777")
    world.clock._now = datetime(2026, 11, 24, 2, 30, tzinfo=UTC)  # 23:30 in São Paulo

    decision = world.submit(intent(ana))
    world.run()

    assert decision.outcome == "defer"
    assert decision.defer_until == datetime(2026, 11, 24, 11, 0, tzinfo=UTC)
    assert world.sms.sent == []
    assert world.send_row("s-1").status == "deferred"

    world.clock._now = datetime(2026, 11, 24, 11, 0, tzinfo=UTC)
    world.run()

    assert len(world.sms.sent) == 1
    assert [d[0] for d in world.decisions("s-1")] == ["defer", "send"]
    assert world.send_row("s-1").status == "sent"


def test_a_higher_priority_send_cancels_a_waiting_lower_one(world: World) -> None:
    ana = world.customer(phone="+5511988887777")
    world.clock._now = datetime(2026, 11, 24, 2, 30, tzinfo=UTC)
    world.submit(intent(ana, "low", priority=20))

    world.submit(intent(ana, "high", priority=80))
    world.clock._now = datetime(2026, 11, 24, 11, 0, tzinfo=UTC)
    world.run()

    assert world.send_row("low").status == "cancelled"
    assert world.decisions("low")[-1] == ("skip", "sms", "lost to high (priority 80 > 20)")
    assert world.send_row("high").status == "sent"
    assert len(world.sms.sent) == 1


def test_a_cap_counts_the_sends_already_made(world: World) -> None:
    ana = world.customer(phone="+5511988887777")
    world.submit(intent(ana, "first"))
    world.run()
    world.advance(hours=3)

    second = world.submit(intent(ana, "second", category="newsletter"))

    assert (
        second.reason == "frequency cap marketing: 1 per day reached (1 in the last day): skipped"
    )


# -- fallback -------------------------------------------------------------------------------


def test_not_delivered_in_time_falls_back_to_the_next_channel(world: World) -> None:
    ana = world.customer(phone="+5511988887777", email="ana@example.com")
    world.submit(intent(ana, fallback_after_seconds=600))
    world.run()
    world.advance(seconds=599)
    world.run()
    assert world.email.sent == []

    world.advance(seconds=2)
    world.run()

    assert len(world.email.sent) == 1
    assert world.decisions("s-1")[-1] == (
        "send",
        "email",
        "not delivered on sms within 600 s: send on email: fallback after sms; the next of the "
        "requested channels (sms, email)",
    )
    assert [(m.seq, m.channel, m.status) for m in world.messages("s-1")] == [
        (1, "sms", "sent"),
        (2, "email", "sent"),
    ]


def test_a_delivery_receipt_stops_the_fallback(world: World) -> None:
    ana = world.customer(phone="+5511988887777", email="ana@example.com")
    world.submit(intent(ana, fallback_after_seconds=600))
    world.run()

    assert world.services.record_send_receipt(
        DeliveryUpdate("sms", "sms-1", "delivered", NOON + timedelta(seconds=30))
    )
    world.advance(hours=1)
    world.run()

    assert world.email.sent == []
    assert world.send_row("s-1").status == "delivered"
    (message,) = world.messages("s-1")
    assert message.status == "delivered"
    assert [type(e).__name__ for e in world.events] == ["MessageDecided", "SendDelivered"]
    assert not world.services.record_send_receipt(
        DeliveryUpdate("sms", "SM-not-ours", "delivered", NOON)
    )


def test_a_failed_receipt_falls_back_at_once_and_the_last_failure_is_final(world: World) -> None:
    ana = world.customer(phone="+5511988887777", email="ana@example.com")
    world.submit(intent(ana))
    world.run()

    world.services.record_send_receipt(
        DeliveryUpdate("sms", "sms-1", "undelivered", NOON, "Twilio error 30003")
    )
    world.run()
    assert len(world.email.sent) == 1
    assert world.decisions("s-1")[-1][2].startswith(
        "sms reported undelivered (Twilio error 30003): send on email"
    )

    world.email.fail, world.email.retry = "mailbox unavailable", False
    world.services.record_send_receipt(DeliveryUpdate("email", "email-1", "failed", NOON))

    assert world.send_row("s-1").status == "failed"
    assert world.decisions("s-1")[-1] == (
        "skip",
        None,
        "email reported failed: no channel left after sms, email",
    )
    assert isinstance(world.events[-1], SendFailedFinally)


def test_retryable_failures_retry_with_backoff_then_fail_over_to_the_next_channel(
    world: World,
) -> None:
    ana = world.customer(phone="+5511988887777", email="ana@example.com")
    world.sms.fail = "Twilio answered 503: busy"
    world.submit(intent(ana))

    for _ in range(5):
        world.run()
        world.advance(seconds=60)
    world.run()

    (sms, email) = world.messages("s-1")
    assert (sms.status, sms.attempts) == ("failed", 5)
    assert email.status == "sent"
    assert world.decisions("s-1")[-1][2].startswith(
        "sms gave up after 5 attempts: Twilio answered 503: busy: send on email"
    )


def test_a_permanent_refusal_goes_to_the_next_channel_at_once(world: World) -> None:
    ana = world.customer(phone="+5511988887777", email="ana@example.com")
    world.sms.fail, world.sms.retry = "Twilio answered 400: invalid number", False
    world.submit(intent(ana))

    world.run()

    assert [m.status for m in world.messages("s-1")] == ["failed", "sent"]
    assert world.decisions("s-1")[-1][2].startswith(
        "sms refused on attempt: Twilio answered 400: invalid number: send on email"
    )


# -- an attempt the worker did not finish -----------------------------------------------------


def _crash_mid_send(world: World, sender: FakeChannelSender, channel: str) -> Any:
    world.services.sending.senders = {channel: sender}
    world.services.process_sends()
    (job,) = world.rows("SELECT key FROM outbox WHERE status = 'pending'")
    with pytest.raises(Killed):
        world.services.sending.dispatch(job.key)
    (message,) = world.rows("SELECT * FROM send_messages")
    assert message.status == "sending"
    return message


def test_an_interrupted_sms_found_at_the_provider_is_not_sent_again(world: World) -> None:
    ana = world.customer(phone="+5511988887777")
    dying = DyingSender("sms")
    world.submit(intent(ana, channels=("sms",)))
    _crash_mid_send(world, dying, "sms")

    # The restarted worker: the attempt is only taken for interrupted after a while.
    lookup = LookupSender("sms", accepted=dying.accepted)
    world.services.sending.senders = {"sms": lookup}
    world.run()
    assert lookup.asked == []
    world.advance(seconds=61)
    world.run()

    assert lookup.sent == []
    assert len(lookup.asked) == 1
    (message,) = world.messages("s-1")
    assert (message.status, message.provider_message_id) == ("sent", "SM-1")
    assert world.send_row("s-1").status == "sent"


def test_an_interrupted_sms_the_provider_never_got_is_sent_again(world: World) -> None:
    ana = world.customer(phone="+5511988887777")
    world.submit(intent(ana, channels=("sms",)))
    _crash_mid_send(world, DyingSender("sms"), "sms")

    lookup = LookupSender("sms")
    world.services.sending.senders = {"sms": lookup}
    world.advance(seconds=61)
    world.run()

    assert len(lookup.sent) == 1
    (message,) = world.messages("s-1")
    assert (message.status, message.attempts) == ("sent", 2)


def test_an_interrupted_email_is_sent_again_with_the_same_message_id(world: World) -> None:
    ana = world.customer(email="ana@example.com")
    world.submit(intent(ana, channels=("email",)))
    dying = DyingSender("email")
    _crash_mid_send(world, dying, "email")

    world.services.sending.senders = {"email": world.email}
    world.advance(seconds=61)
    world.run()

    (first,) = dying.sent
    (again,) = world.email.sent
    assert again.thread.message_id == first.thread.message_id is not None
    assert world.send_row("s-1").status == "sent"


def test_an_interrupted_send_that_cannot_be_looked_up_is_unknown_not_resent(
    world: World,
) -> None:
    ana = world.customer(whatsapp_id="5511988887777", phone="+5511988887777")
    dying = DyingSender("whatsapp")
    world.services.sending.senders = {"whatsapp": dying}
    world.submit(intent(ana, channels=("whatsapp",)))
    _crash_mid_send(world, dying, "whatsapp")

    after = FakeChannelSender("whatsapp")
    world.services.sending.senders = {"whatsapp": after}
    world.advance(seconds=61)
    world.run()

    assert after.sent == []
    (message,) = world.messages("s-1")
    assert message.status == "unknown"
    assert world.send_row("s-1").status == "unknown"
    # The status callback still tells: the provider's id is learnt by our reference.
    assert world.services.record_send_receipt(
        DeliveryUpdate("whatsapp", "wamid.1", "delivered", NOON), ref=message.id
    )
    assert world.send_row("s-1").status == "delivered"


# -- templates and consent -------------------------------------------------------------------


def test_a_named_template_renders_in_the_customers_language_per_channel(world: World) -> None:
    ana = world.customer(phone="+5511988887777", whatsapp_id="5511988887777")
    world.rules.prefs = CustomerPreferences(language="pt-BR")
    wa = FakeChannelSender("whatsapp")
    world.services.sending.senders = {"sms": world.sms, "whatsapp": wa}
    with world.services.uow() as uow:
        world.services.sending.put_template(
            uow,
            "order_ready",
            [
                TemplateVariant("", "*", "*", text="Order {{ order }} is ready"),
                TemplateVariant("", "*", "pt", text="Pedido {{ order }} pronto"),
                TemplateVariant(
                    "",
                    "whatsapp",
                    "*",
                    text="unused",
                    provider_template={
                        "name": "order_ready",
                        "language": "pt_BR",
                        "params": ["{{ order }}"],
                    },
                ),
            ],
        )
        uow.commit()
    content = Content(template="order_ready", variables={"order": "A-17"})

    world.submit(intent(ana, "sms-1", purpose="transactional", channels=("sms",), content=content))
    world.submit(
        intent(ana, "wa-1", purpose="transactional", channels=("whatsapp",), content=content)
    )
    world.run()

    assert world.sms.sent[0].text == "Pedido A-17 pronto"
    (checked,) = wa.checked
    assert checked.template is not None
    assert checked.template.name == "order_ready"
    assert wa.sent[0].template is not None
    assert (wa.sent[0].template.name, wa.sent[0].template.params) == ("order_ready", ("A-17",))


def test_the_consent_domain_decides_by_default(make_settings: Callable[..., Settings]) -> None:
    services = build(make_settings(), clock=FixedClock(NOON))
    upgrade(services.engines)
    try:
        services.sending.senders = {"sms": FakeChannelSender("sms")}
        ana = add_customer(services, phone="+5511988887777")
        with services.uow() as uow:
            refused = services.submit_send(uow, intent(ana, "m-1", channels=("sms",)))
            services.consent_center.record(
                uow,
                ana,
                [Wish("marketing", "sms", "granted")],
                ConsentSource("web", "customer", "api"),
                proof=None,
                note=None,
                at=None,
                recorded_by="test",
            )
            granted = services.submit_send(uow, intent(ana, "m-2", channels=("sms",)))
            uow.commit()
    finally:
        services.close()

    assert (refused.outcome, refused.code) == ("skip", "no_consent")
    assert refused.reason == "no channel: sms: marketing not granted on sms"
    assert granted.outcome == "send"


def test_can_send_sees_the_customers_last_inbound_message(world: World) -> None:
    ana = world.customer(phone="+5511988887777")

    world.submit(intent(ana, channels=("sms",)))

    (ctx,) = world.sms.checked
    assert isinstance(ctx, SendContext)
    assert (ctx.customer_id, ctx.to, ctx.last_inbound_at) == (
        ana,
        ("phone", "+5511988887777"),
        None,
    )


def test_the_worker_step_runs_the_gate(world: World) -> None:
    ana = world.customer(phone="+5511988887777")
    world.clock._now = datetime(2026, 11, 24, 2, 30, tzinfo=UTC)
    world.submit(intent(ana))
    world.clock._now = datetime(2026, 11, 24, 11, 0, tzinfo=UTC)

    worker = Worker(world.services)
    while worker.step():
        pass

    assert len(world.sms.sent) == 1


def test_a_customers_sends_are_exported_opened_and_erased_with_them(world: World) -> None:
    ana = world.customer(phone="+5511988887777")
    bob = world.customer(phone="+5511977776666")
    world.submit(intent(ana, "for-ana"))
    world.submit(intent(bob, "for-bob"))
    subject = Subject(ana, ana, (ana,), (("phone", "+5511988887777"),))

    with world.services.uow() as uow:
        (section,) = [
            s
            for s in world.services.bus.ask(ExportSubject(subject), uow)
            if s.domain == "maestro_sends"
        ]
        (report,) = [
            r
            for r in world.services.bus.ask(EraseSubject(subject, "req-1", NOON), uow)
            if r.domain == "maestro_sends"
        ]
        uow.commit()

    assert [r["send_id"] for r in section.tables["sends"]] == ["for-ana"]
    (message,) = section.tables["send_messages"]
    assert message["to_value"] == "+5511988887777"
    assert section.tables["send_decisions"][0]["reason"].startswith("send on sms")
    assert report.counts == {"sends": 1, "send_messages": 1, "send_decisions": 1}
    assert [r.send_id for r in world.rows("SELECT send_id FROM sends")] == ["for-bob"]
