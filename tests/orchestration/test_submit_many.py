"""`submit_many`: a batch of intents gives exactly what `submit` gives for each in order.

Two databases are built alike (customers, consents, preferences, a suppression, inbound
messages, sends decided before); one takes the intents through `submit` one at a time, the
other through `submit_many`, and the decisions, the rows written and the events raised are
compared with the ids set aside. Then the failure paths: a batch `submit` would refuse
writes nothing. Every test runs on SQLite and, when reachable, PostgreSQL.
"""

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from omnicx.bootstrap import Services, build
from omnicx.config import Settings
from omnicx.consent import ConsentSource, Preferences, Wish
from omnicx.consent.model import State
from omnicx.consent.services import suppress
from omnicx.conversations import FakeChannelSender, InboundMessage, SendContext
from omnicx.db.migrate import upgrade
from omnicx.kernel import Conflict, FixedClock, Invalid, NotFound
from omnicx.orchestration.broadcasts import Broadcast
from omnicx.orchestration.gate import Content, Decision, SendIntent, TemplateVariant
from omnicx.orchestration.messages import MessageDecided
from omnicx.orchestration.store.sends import SqlSendRepository
from omnicx.profiles import ProfileWriter
from omnicx.profiles.identifiers import normalize
from tests.conftest import PG_URL, table_counts

# 15:00 in São Paulo (outside the quiet hours), 03:00 in Tokyo (inside them).
NOON = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)
TABLES = ("sends", "send_messages", "send_decisions", "outbox")
WEB = ConsentSource("web", "customer", "api")


@dataclass
class WindowSender(FakeChannelSender):
    """A WhatsApp-like channel: only within 24 hours of the customer's last message."""

    def can_send(self, ctx: SendContext) -> str | None:
        self.checked.append(ctx)
        if ctx.last_inbound_at is None or ctx.last_inbound_at < ctx.now - timedelta(hours=24):
            return "outside the 24-hour window"
        return None


@dataclass
class World:
    services: Services
    senders: dict[str, FakeChannelSender]
    events: list[MessageDecided] = field(default_factory=list)
    people: dict[str, str] = field(default_factory=dict)
    """name -> customer id."""

    def customer(self, name: str, **identifiers: str) -> str:
        services = self.services
        with services.uow() as uow:
            writer = ProfileWriter(
                services.profiles(uow), services.rules, uow.clock.now(), uow.raise_event
            )
            found = [normalize(kind, value, "BR") for kind, value in identifiers.items()]
            profile_id = writer.resolve(found, event_id=None, channel="web", source_id=None)
            assert profile_id is not None
            writer.flush()
            uow.commit()
        self.people[name] = profile_id
        return profile_id

    def consent(self, name: str, *wishes: tuple[str, str, State]) -> None:
        with self.services.uow() as uow:
            self.services.consent_center.record(
                uow,
                self.people[name],
                [Wish(p, c, s) for p, c, s in wishes],
                WEB,
                proof=None,
                note=None,
                at=None,
                recorded_by="test",
            )
            uow.commit()

    def submit(self, *intents: SendIntent) -> list[Decision]:
        with self.services.uow() as uow:
            found = [self.services.submit_send(uow, i) for i in intents]
            uow.commit()
        return found

    def submit_many(self, *intents: SendIntent) -> list[Decision]:
        with self.services.uow() as uow:
            found = self.services.submit_sends(uow, list(intents))
            uow.commit()
        return found

    def name_of(self, customer_id: str) -> str:
        return {v: k for k, v in self.people.items()}.get(customer_id, customer_id)


def intent(who: str, send_id: str, **changes: Any) -> SendIntent:
    base = SendIntent(
        send_id=send_id,
        customer_id=who,
        purpose="marketing",
        category="newsletter",
        priority=50,
        channels=("sms", "email"),
        content=Content(text="Hi {{ customer.first_name or 'there' }}, {{ offer }}"),
        origin="journey:welcome:v1:send_1",
    )
    base = replace(base, content=replace(base.content, variables={"offer": "20% off"}))
    return replace(base, **changes)


@pytest.fixture
def make_world(
    db_url: str, tmp_path: Path, make_settings: Callable[..., Settings]
) -> Iterator[Callable[[], World]]:
    """Worlds alike, each on a database of its own (a schema of its own on PostgreSQL)."""
    built: list[Services] = []
    schemas: list[str] = []
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT") if PG_URL else None

    def make() -> World:
        n = len(built)
        if db_url.startswith("sqlite"):
            url = f"sqlite:///{tmp_path / f'world{n}.db'}"
        else:
            assert admin is not None
            schema = f"w_{uuid.uuid4().hex[:12]}"
            with admin.connect() as conn:
                conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
            schemas.append(schema)
            url = (
                sa.make_url(db_url)
                .update_query_dict({"options": f"-csearch_path={schema}"})
                .render_as_string(hide_password=False)
            )
        (tmp_path / f"data{n}").mkdir()
        services = build(
            make_settings(
                database_url=url,
                data_dir=tmp_path / f"data{n}",
                default_time_zone="America/Sao_Paulo",
                frequency_caps={"marketing": {"promotion": {"day": 1}}},
                channel_rates={},
            ),
            clock=FixedClock(NOON),
        )
        upgrade(services.engines)
        built.append(services)
        senders: dict[str, FakeChannelSender] = {
            "sms": FakeChannelSender("sms"),
            "email": FakeChannelSender("email"),
            "whatsapp": WindowSender("whatsapp"),
        }
        services.channel_senders.clear()
        services.channel_senders.update(senders)
        world = World(services, senders)
        services.bus.subscribe(MessageDecided, lambda event, uow: world.events.append(event))
        return world

    try:
        yield make
    finally:
        for services in built:
            services.close()
        if admin is not None:
            with admin.connect() as conn:
                for schema in schemas:
                    conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()


def populate(world: World) -> list[SendIntent]:
    """The customers, what they said and what was sent to them before; the batch to decide."""
    services = world.services
    p = world.people
    world.customer("alice", email="alice@example.com", phone="+5511900000001")
    world.consent("alice", ("marketing", "email", "granted"), ("marketing", "sms", "granted"))
    world.customer("bob", email="bob@example.com", phone="+5511900000002")
    world.consent("bob", ("marketing", "*", "revoked"))
    world.customer("carol", email="carol@example.com", phone="+5511900000003")
    world.consent("carol", ("marketing", "email", "granted"), ("marketing", "sms", "revoked"))
    world.customer("dave", email="dave@example.com", phone="+5511900000004")
    world.consent("dave", ("marketing", "*", "granted"))
    world.customer("erin", email="erin@example.com", phone="+5511900000005")
    world.consent("erin", ("marketing", "*", "granted"))
    world.customer("frank", phone="+5511900000006")
    world.consent("frank", ("marketing", "sms", "granted"))
    world.customer("gina", email="gina@example.com")
    world.customer("hank", email="hank@example.com", phone="+5511900000008")
    world.consent("hank", ("marketing", "*", "granted"))
    world.customer("ivy", phone="+5511900000009")
    world.consent("ivy", ("marketing", "sms", "granted"))
    world.customer("jack", phone="+5511900000010")
    world.consent("jack", ("marketing", "sms", "granted"))
    world.customer("kim", email="kim@example.com", phone="+5511900000011")
    world.consent("kim", ("marketing", "*", "granted"))
    world.customer("leo", phone="+5511900000012")
    world.customer("mia", phone="+5511900000013")
    with services.uow() as uow:
        repo = services.consent(uow)
        suppress(
            repo,
            "email",
            "dave@example.com",
            "legal",
            channel=None,
            note="court order",
            region="BR",
            now=NOON - timedelta(days=3),
            by="test",
        )
        for name in ("erin", "kim"):
            repo.set_preferences(p[name], Preferences(time_zone="Asia/Tokyo"), NOON, "test")
        repo.set_preferences(
            p["alice"], Preferences(channel_order=("email", "sms"), language="pt-BR"), NOON, "test"
        )
        services.sends(uow).replace_template(
            "promo",
            [
                TemplateVariant("promo", "*", "pt-br", text="Oi {{ offer }}", updated_at=NOON),
                TemplateVariant("promo", "*", "en", text="Hi {{ offer }}", updated_at=NOON),
            ],
            NOON,
        )
        uow.commit()
    services.receive_inbound(
        InboundMessage(
            channel="whatsapp",
            account="+5511930002000",
            sender=(("phone", "+5511900000012"),),
            received_at=NOON - timedelta(hours=1),
            text="oi, meu pedido chegou?",
        )
    )
    # Decided before the batch: a promotion that fills frank's daily cap, a send the batch
    # repeats, and a newsletter waiting for the morning in Tokyo.
    world.submit(
        intent(p["frank"], "f-0", category="promotion", channels=("sms",)),
        intent(p["jack"], "j-1", channels=("sms",)),
        intent(p["kim"], "k-0", priority=20),
    )
    world.events.clear()
    return [
        intent(p["alice"], "a-1", channels=()),
        intent(p["alice"], "a-2", purpose="service", content=Content(template="promo")),
        intent(p["bob"], "b-1"),
        intent(p["carol"], "c-1"),
        intent(p["dave"], "d-1", channels=()),
        intent(p["erin"], "e-1"),
        intent(p["erin"], "e-2", purpose="transactional", category="order"),
        intent(p["frank"], "f-1", category="promotion", priority=60, channels=("sms",)),
        intent(p["gina"], "g-1", channels=("sms",)),
        intent(p["hank"], "h-1", priority=40),
        intent(p["hank"], "h-2", priority=80),
        intent(p["hank"], "h-3", priority=30),
        intent(p["ivy"], "i-1", channels=("sms",)),
        intent(p["ivy"], "i-1", channels=("sms",)),
        intent(p["jack"], "j-1", channels=("sms",)),
        intent(p["kim"], "k-1", priority=90),
        intent(p["kim"], "k-0", priority=20),
        intent(p["leo"], "l-1", purpose="service", channels=()),
        intent(p["leo"], "l-2", channels=("sms",)),
        intent(p["mia"], "m-1", purpose="service", channels=("whatsapp",)),
        intent(p["mia"], "m-2", purpose="service", not_after=NOON - timedelta(minutes=5)),
    ]


def snapshot(world: World) -> dict[str, Any]:
    """Every row the gate wrote, opened, with ids replaced by what they stand for."""
    services = world.services
    reveal = services.cipher.reveal
    with services.engines.main.connect() as conn:
        sends = [dict(r._mapping) for r in conn.execute(sa.text("SELECT * FROM sends"))]
        messages = [dict(r._mapping) for r in conn.execute(sa.text("SELECT * FROM send_messages"))]
        decisions = [
            dict(r._mapping)
            for r in conn.execute(sa.text("SELECT * FROM send_decisions ORDER BY id"))
        ]
        outbox = [
            dict(r._mapping)
            for r in conn.execute(
                sa.text("SELECT * FROM outbox WHERE topic = 'maestro.send' ORDER BY id")
            )
        ]
        with services.uow(write=False) as uow:
            repo: SqlSendRepository = services.sends(uow)
            records = {s["send_id"]: repo.by_send_id(s["send_id"]) for s in sends}
    send_of = {s["id"]: s["send_id"] for s in sends}
    message_of = {m["id"]: (send_of[m["send_ref"]], m["seq"]) for m in messages}

    def sent(s: dict[str, Any]) -> dict[str, Any]:
        record = records[s["send_id"]]
        assert record is not None
        return {
            **{k: v for k, v in s.items() if k not in ("id", "intent", "customer_id")},
            "customer": world.name_of(s["customer_id"]),
            "intent": replace(record.intent, customer_id=world.name_of(record.intent.customer_id)),
            "tried": record.tried,
            "wake_at": record.wake_at,
            "decided_at": record.decided_at,
            "created_at": record.created_at,
            "updated_at": record.updated_at,
        }

    return {
        "sends": sorted((sent(s) for s in sends), key=lambda s: s["send_id"]),
        "messages": sorted(
            (
                {
                    **{k: v for k, v in m.items() if k not in ("id", "send_ref", "customer_id")},
                    "send": send_of[m["send_ref"]],
                    "customer": world.name_of(m["customer_id"]),
                    "to_value": reveal(m["to_value"]),
                }
                for m in messages
            ),
            key=lambda m: (m["send"], m["seq"]),
        ),
        "decisions": [
            {
                **{k: v for k, v in d.items() if k not in ("id", "send_ref", "customer_id")},
                "send": send_of[d["send_ref"]],
                "customer": world.name_of(d["customer_id"]),
                "reason": reveal(d["reason"]),
            }
            for d in decisions
        ],
        "outbox": [
            {
                **{k: v for k, v in o.items() if k not in ("id", "key", "payload")},
                "message": message_of[o["key"]],
            }
            for o in outbox
        ],
    }


def events_of(world: World) -> list[tuple[Any, ...]]:
    return [
        (
            e.send_id,
            world.name_of(e.customer_id),
            e.outcome,
            e.channel,
            e.code,
            e.reason,
            e.defer_until,
            e.origin,
            e.at,
        )
        for e in world.events
    ]


def checked(world: World) -> list[tuple[Any, ...]]:
    """What each channel was asked before a decision (`can_send`)."""
    return [
        (c.channel, world.name_of(c.customer_id), c.to, c.now, c.last_inbound_at, c.template)
        for sender in world.senders.values()
        for c in sender.checked
    ]


def test_a_batch_gives_what_submits_one_by_one_give(make_world: Callable[[], World]) -> None:
    one_by_one, batched = make_world(), make_world()
    expected = one_by_one.submit(*populate(one_by_one))
    intents = populate(batched)

    got = batched.submit_many(*intents)

    assert [
        (d.send_id, d.outcome, d.channel, d.code, d.reason, d.defer_until, d.at) for d in got
    ] == [
        (d.send_id, d.outcome, d.channel, d.code, d.reason, d.defer_until, d.at) for d in expected
    ]
    assert snapshot(batched) == snapshot(one_by_one)
    assert events_of(batched) == events_of(one_by_one)
    assert checked(batched) == checked(one_by_one)
    # The mix covers every rule the gate has, the batch's own competitions included.
    codes = {(d.send_id, d.outcome, d.code) for d in got}
    assert codes == {
        ("a-1", "send", "sent"),
        ("a-2", "send", "sent"),
        ("b-1", "skip", "no_consent"),
        ("c-1", "send", "sent"),
        ("d-1", "skip", "suppressed"),
        ("e-1", "defer", "quiet_hours"),
        ("e-2", "send", "sent"),
        ("f-1", "skip", "frequency_cap"),
        ("g-1", "skip", "unreachable"),
        ("h-1", "send", "sent"),
        ("h-2", "send", "sent"),
        ("h-3", "skip", "lost_priority"),
        ("i-1", "send", "sent"),
        ("j-1", "send", "sent"),
        ("k-1", "defer", "quiet_hours"),
        ("k-0", "skip", "lost_priority"),
        ("l-1", "send", "sent"),
        ("l-2", "skip", "no_consent"),
        ("m-1", "skip", "channel_rule"),
        ("m-2", "skip", "stale"),
    }
    # h-2 cancelled h-1, decided earlier in the batch; k-1 cancelled k-0, waiting from before.
    rows = snapshot(batched)
    assert {s["send_id"]: s["status"] for s in rows["sends"] if s["status"] == "cancelled"} == {
        "h-1": "cancelled",
        "k-0": "cancelled",
    }
    assert [m["status"] for m in rows["messages"] if m["send"] == "h-1"] == ["cancelled"]


def test_an_unknown_customer_refuses_the_whole_batch_and_nothing_is_written(
    make_world: Callable[[], World],
) -> None:
    world = make_world()
    ana = world.customer("ana", phone="+5511900000001")
    world.consent("ana", ("marketing", "sms", "granted"))
    before = table_counts(world.services, *TABLES)

    with world.services.uow() as uow, pytest.raises(NotFound) as refused:
        world.services.submit_sends(
            uow, [intent(ana, "ok-1"), intent("no-such-customer", "gone-1"), intent(ana, "ok-2")]
        )

    assert (refused.value.code, refused.value.message) == (
        "customer_not_found",
        "no customer no-such-customer",
    )
    assert table_counts(world.services, *TABLES) == before
    assert world.events == []
    with world.services.uow() as uow:
        # The transaction goes on: the batch left nothing behind in it.
        assert world.services.submit_sends(uow, [intent(ana, "ok-1")])[0].outcome == "send"
        uow.commit()
    assert table_counts(world.services, *TABLES) == {t: n + 1 for t, n in before.items()}


def test_a_send_id_decided_before_answers_even_when_its_customer_is_gone(
    make_world: Callable[[], World],
) -> None:
    world = make_world()
    ana = world.customer("ana", phone="+5511900000001")
    (first,) = world.submit(intent(ana, "s-1"))

    (again,) = world.submit_many(replace(intent(ana, "s-1"), customer_id="no-such-customer"))

    assert again == first


def test_a_bad_intent_or_template_refuses_the_batch_and_nothing_is_written(
    make_world: Callable[[], World],
) -> None:
    world = make_world()
    ana = world.customer("ana", phone="+5511900000001")
    before = table_counts(world.services, *TABLES)

    with world.services.uow() as uow, pytest.raises(Invalid) as unknown:
        world.services.submit_sends(
            uow, [intent(ana, "ok-1"), intent(ana, "t-1", content=Content(template="nope"))]
        )
    with world.services.uow() as uow, pytest.raises(Invalid) as bad:
        world.services.submit_sends(uow, [intent(ana, "ok-1"), intent(ana, "p-1", priority=101)])

    assert (unknown.value.code, unknown.value.field) == ("unknown_template", "content.template")
    assert (bad.value.code, bad.value.field) == ("invalid_priority", "priority")
    assert table_counts(world.services, *TABLES) == before
    assert world.events == []


def test_an_empty_batch_decides_nothing(make_world: Callable[[], World]) -> None:
    world = make_world()

    assert world.submit_many() == []
    assert table_counts(world.services, *TABLES) == dict.fromkeys(TABLES, 0)


def test_a_message_keeps_its_identifier_s_sealed_value_and_alike_intents_share_a_column(
    make_world: Callable[[], World],
) -> None:
    world = make_world()
    assert world.services.cipher.enabled
    ana = world.customer("ana", phone="+5511900000001")
    bia = world.customer("bia", phone="+5511900000002")
    service = {"purpose": "service", "channels": ("sms",)}

    got = world.submit_many(intent(ana, "a-1", **service), intent(bia, "b-1", **service))

    assert [(d.outcome, d.channel) for d in got] == [("send", "sms"), ("send", "sms")]
    with world.services.engines.main.connect() as conn:
        sealed = {
            r.profile_id: r.value
            for r in conn.execute(
                sa.text("SELECT profile_id, value FROM identifiers WHERE kind = 'phone'")
            )
        }
        stored = {
            r.customer_id: (r.to_kind, r.to_value)
            for r in conn.execute(
                sa.text("SELECT customer_id, to_kind, to_value FROM send_messages")
            )
        }
        intents = conn.execute(sa.text("SELECT intent FROM sends ORDER BY send_id")).scalars().all()
    assert all(value.startswith("enc:v1:") for value in sealed.values())
    assert stored == {ana: ("phone", sealed[ana]), bia: ("phone", sealed[bia])}
    opened = {c: world.services.cipher.open(value) for c, (_, value) in stored.items()}
    assert opened == {ana: "+5511900000001", bia: "+5511900000002"}
    assert len(intents) == 2
    assert intents[0] == intents[1]


def test_a_suppression_bars_an_identifier_whose_look_up_hash_is_not_stored_yet(
    make_world: Callable[[], World],
) -> None:
    world = make_world()
    services = world.services
    nina = world.customer("nina", email="nina@example.com")
    world.consent("nina", ("marketing", "*", "granted"))
    with services.uow() as uow:
        suppress(
            services.consent(uow),
            "email",
            "nina@example.com",
            "legal",
            channel=None,
            note="court order",
            region="BR",
            now=NOON - timedelta(days=1),
            by="test",
        )
        # A row written before look-up hashes were stored, not yet seen by the sealing pass.
        uow.conn.execute(sa.text("UPDATE identifiers SET value_hash = NULL"))
        uow.commit()

    (got,) = world.submit_many(intent(nina, "n-1", channels=("email",)))

    assert (got.outcome, got.code) == ("skip", "suppressed")
    assert got.reason.startswith("suppressed: email suppressed (legal) on every channel")


def test_a_send_id_taken_meanwhile_sends_the_batch_through_submit_one_by_one(
    make_world: Callable[[], World], monkeypatch: pytest.MonkeyPatch
) -> None:
    one_by_one, batched = make_world(), make_world()
    expected = one_by_one.submit(*populate(one_by_one))
    intents = populate(batched)
    # As if a concurrent transaction had committed "j-1" after the batch looked for it.
    monkeypatch.setattr(SqlSendRepository, "by_send_ids", lambda self, send_ids: {})

    got = batched.submit_many(*intents)

    assert got == expected
    assert snapshot(batched) == snapshot(one_by_one)
    assert events_of(batched) == events_of(one_by_one)


def test_the_statements_of_a_batch_do_not_grow_with_it(make_world: Callable[[], World]) -> None:
    world = make_world()
    people = [world.customer(f"c{n}", phone=f"+55119000{n:05d}") for n in range(60)]
    statements: list[str] = []
    sa.event.listen(
        world.services.engines.main,
        "before_cursor_execute",
        lambda conn, cursor, sql, params, context, many: statements.append(sql),
    )

    def count(batch: list[str], prefix: str) -> int:
        """The gate's statements for `batch` (not the event subscribers' at the commit)."""
        with world.services.uow() as uow:
            statements.clear()
            world.services.submit_sends(
                uow, [intent(c, f"{prefix}-{c}", purpose="service") for c in batch]
            )
            found = len(statements)
            uow.commit()
        return found

    assert count(people[:5], "small") == count(people[5:], "large")


def test_a_broadcast_page_goes_through_the_batch_and_skips_a_gone_member(
    make_world: Callable[[], World], caplog: pytest.LogCaptureFixture
) -> None:
    world = make_world()
    services = world.services
    members = [world.customer(f"m{n}", phone=f"+551190000100{n}") for n in range(3)]
    with services.uow() as uow:
        segment = services.segmenter.create(
            uow, "Audience", "", {"trait": "vip", "op": "eq", "value": True}
        )
        repo = services.segmenter.repo(uow)
        for member in [*members, "00000000-0000-7000-8000-000000000000"]:
            repo.enter(segment.id, member, NOON)
        created = services.sending.create_broadcast(
            uow,
            Broadcast(
                id="b-1",
                name="Service notice",
                segment_id=segment.id,
                purpose="service",
                category="notice",
                priority=50,
                channels=("sms",),
                content=Content(text="We are open on Sunday"),
                schedule_at=NOON,
                status="scheduled",
                created_by="user:test",
                created_at=NOON,
                updated_at=NOON,
            ),
        )
        uow.commit()

    with caplog.at_level("INFO", logger="omnicx.maestro"):
        while services.sending.expand_broadcast():
            pass

    with services.uow(write=False) as uow:
        found = services.sends(uow).broadcast(created.id)
        tally = services.sends(uow).broadcast_counts(created.id)
    assert found is not None
    assert (found.status, found.expanded) == ("done", 4)
    assert (tally.decided, tally.queued) == (3, 3)
    assert "customer 00000000-0000-7000-8000-000000000000 is gone" in caplog.text


def test_a_send_still_being_decided_elsewhere_refuses_the_batch(
    make_world: Callable[[], World],
) -> None:
    world = make_world()
    ana = world.customer("ana", phone="+5511900000001")
    with world.services.uow() as uow:
        # Claimed and not decided yet: what a concurrent transaction leaves in view.
        assert world.services.sends(uow).claim_send("ref-1", intent(ana, "s-1"), ana, NOON)
        counts = {
            t: int(uow.conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one())
            for t in TABLES
        }
        with pytest.raises(Conflict) as refused:
            world.services.submit_sends(uow, [intent(ana, "s-0"), intent(ana, "s-1")])
        assert {
            t: int(uow.conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one())
            for t in TABLES
        } == counts

    assert (refused.value.code, refused.value.message) == (
        "send_in_progress",
        "send s-1 is being decided",
    )
    assert world.events == []
