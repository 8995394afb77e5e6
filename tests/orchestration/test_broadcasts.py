"""Broadcasts: a segment expanded page by page through the gate, counted by outcome and
reason, and the dispatcher's token bucket that paces providers."""

from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from omnicx.bootstrap import Services, build
from omnicx.config import Settings
from omnicx.conversations import DeliveryUpdate, FakeChannelSender
from omnicx.db.migrate import upgrade
from omnicx.kernel import FixedClock, NotFound, new_id
from omnicx.orchestration.broadcasts import Broadcast, BroadcastCounts, Throttle, TokenBucket
from omnicx.orchestration.gate import Content
from omnicx.orchestration.store.segments import SqlSegmentRepository
from tests.conftest import table_counts
from tests.orchestration.test_sending import FakeRules, add_customer, intent

NOON = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_a_token_bucket_lets_a_burst_through_then_paces() -> None:
    time = FakeTime()
    bucket = TokenBucket(5.0, clock=time.clock, sleep=time.sleep)

    waits = [bucket.acquire() for _ in range(8)]

    assert waits[:5] == [0.0] * 5
    assert waits[5:] == pytest.approx([0.2, 0.2, 0.2])
    time.now += 10  # idle: the bucket refills to its burst, no more
    assert [bucket.acquire() for _ in range(6)][-1] == pytest.approx(0.2)


def test_the_throttle_keeps_a_bucket_per_channel_and_provider() -> None:
    time = FakeTime()
    throttle = Throttle({"sms": 1.0, "sms:failover": 2.0}, clock=time.clock, sleep=time.sleep)

    assert [throttle.wait("sms", "primary") for _ in range(3)] == [0.0, 1.0, 1.0]
    assert [throttle.wait("sms", "failover") for _ in range(3)] == [0.0, 0.0, 0.5]
    assert [throttle.wait("email", "primary") for _ in range(50)] == [0.0] * 50
    with pytest.raises(ValueError, match="positive rate"):
        TokenBucket(0)


@pytest.fixture
def services(make_settings: Callable[..., Settings]) -> Iterator[Services]:
    built = build(
        make_settings(broadcast_page_size=3, channel_rates={}, default_time_zone="UTC"),
        clock=FixedClock(NOON),
    )
    upgrade(built.engines)
    built.sending.senders = {"sms": FakeChannelSender("sms")}
    built.sending.rules = FakeRules()
    yield built
    built.close()


def segment_of(services: Services, members: list[str]) -> str:
    with services.uow() as uow:
        segment = services.segmenter.create(
            uow, f"Audience {new_id()}", "", {"trait": "vip", "op": "eq", "value": True}
        )
        repo = SqlSegmentRepository(uow.conn, services.cipher)
        for member in members:
            repo.enter(segment.id, member, uow.clock.now())
        uow.commit()
    return segment.id


def broadcast(segment_id: str, **changes: Any) -> Broadcast:
    base = Broadcast(
        id=new_id(),
        name="Black Friday",
        segment_id=segment_id,
        purpose="marketing",
        category="promotion",
        priority=60,
        channels=("sms",),
        content=Content(text="Black Friday: {{ discount }} off"),
        schedule_at=NOON,
        status="scheduled",
        created_by="user:test",
        created_at=NOON,
        updated_at=NOON,
    )
    base = replace(base, content=replace(base.content, variables={"discount": "30%"}))
    return replace(base, **changes)


def schedule(services: Services, b: Broadcast) -> Broadcast:
    with services.uow() as uow:
        created = services.sending.create_broadcast(uow, b)
        uow.commit()
    return created


def run(services: Services) -> int:
    passes = 0
    while services.process_outbox() + services.process_sends():
        passes += 1
    return passes


def counts(services: Services, broadcast_id: str) -> tuple[Broadcast, BroadcastCounts]:
    with services.uow(write=False) as uow:
        found = services.sends(uow).broadcast(broadcast_id)
        assert found is not None
        return found, services.sends(uow).broadcast_counts(broadcast_id)


def test_a_broadcast_goes_to_every_member_through_the_gate_and_counts_each_outcome(
    services: Services,
) -> None:
    reachable = [add_customer(services, phone=f"+55119888800{i:02d}") for i in range(4)]
    emailed = [add_customer(services, email=f"only{i}@example.com") for i in range(2)]
    capped = add_customer(services, phone="+5511988880099")
    with services.uow() as uow:
        services.submit_send(uow, intent(capped, "earlier", channels=("sms",)))
        uow.commit()
    b = schedule(services, broadcast(segment_of(services, [*reachable, *emailed, capped])))

    run(services)
    run(services)

    found, tally = counts(services, b.id)
    assert (found.status, found.expanded, found.finished_at) == ("done", 7, NOON)
    assert tally == BroadcastCounts(
        decided=7, sent=4, skipped={"frequency_cap": 1, "unreachable": 2}
    )
    sms = services.sending.senders["sms"]
    assert isinstance(sms, FakeChannelSender)
    assert sorted(o.to[1] for o in sms.sent) == sorted(
        ["+5511988880099", *(f"+55119888800{i:02d}" for i in range(4))]
    )
    assert {o.text for o in sms.sent} == {"Black Friday: 30% off", "Hi there, 20% off"}

    services.record_send_receipt(DeliveryUpdate("sms", "sms-2", "delivered", NOON))
    services.record_send_receipt(DeliveryUpdate("sms", "sms-3", "failed", NOON))
    assert counts(services, b.id)[1] == BroadcastCounts(
        decided=7, sent=3, delivered=1, failed=1, skipped={"frequency_cap": 1, "unreachable": 2}
    )


def test_members_are_asked_once_even_when_a_broadcast_is_expanded_again(
    services: Services,
) -> None:
    members = [add_customer(services, phone=f"+55119777700{i:02d}") for i in range(5)]
    b = schedule(services, broadcast(segment_of(services, members)))
    run(services)
    before = table_counts(services, "sends", "send_messages", "send_decisions")

    with services.uow() as uow:
        services.sends(uow).update_broadcast(b.id, status="sending", cursor=None)
        uow.commit()
    run(services)

    assert table_counts(services, "sends", "send_messages", "send_decisions") == before
    assert counts(services, b.id)[1].sent == 5


def test_a_scheduled_broadcast_waits_and_a_cancelled_one_never_goes(services: Services) -> None:
    members = [add_customer(services, phone=f"+55119666600{i:02d}") for i in range(2)]
    segment = segment_of(services, members)
    later = schedule(services, broadcast(segment, schedule_at=NOON + timedelta(hours=1)))
    stopped = schedule(services, broadcast(segment, schedule_at=NOON + timedelta(hours=1)))
    with services.uow() as uow:
        services.sending.cancel_broadcast(uow, stopped.id)
        uow.commit()

    run(services)
    assert counts(services, later.id)[1].decided == 0
    clock = services.clock
    assert isinstance(clock, FixedClock)
    clock.advance(timedelta(hours=1))
    run(services)

    assert counts(services, later.id)[1].sent == 2
    assert counts(services, stopped.id) == (
        replace(stopped, status="cancelled", finished_at=NOON, updated_at=NOON),
        BroadcastCounts(),
    )


def test_a_broadcast_to_an_unknown_segment_is_refused(services: Services) -> None:
    with services.uow() as uow, pytest.raises(NotFound) as caught:
        services.sending.create_broadcast(uow, broadcast("no-such-segment"))

    assert (caught.value.code, caught.value.field) == ("segment_not_found", "segment_id")


def test_the_dispatcher_paces_a_broadcast_per_provider(services: Services) -> None:
    time = FakeTime()
    services.sending.throttle = Throttle({"sms": 2.0}, clock=time.clock, sleep=time.sleep)
    members = [add_customer(services, phone=f"+55119555500{i:02d}") for i in range(6)]
    schedule(services, broadcast(segment_of(services, members)))

    run(services)

    sms = services.sending.senders["sms"]
    assert isinstance(sms, FakeChannelSender)
    assert len(sms.sent) == 6
    # A burst of 2, then one every half second.
    assert time.slept == pytest.approx([0.5, 0.5, 0.5, 0.5])
