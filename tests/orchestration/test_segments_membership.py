"""Segment membership kept through real ingestion and the worker's pass, on both databases:
entries, exits, merges, time windows sliding past, the timeline, bus events and privacy."""

import base64
import io
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from omnicx.asgi import app_for
from omnicx.bootstrap import Services, build
from omnicx.config import Settings
from omnicx.conversations import InboundMessage
from omnicx.db import UnitOfWork
from omnicx.db.migrate import upgrade
from omnicx.events import create_source
from omnicx.kernel import Event, FixedClock
from omnicx.kernel.moments import iso
from omnicx.orchestration.messages import SegmentEntered, SegmentExited
from omnicx.privacy import Actor
from omnicx.webhooks.http import FakeWebhookSender
from omnicx.workers import Worker
from tests.conftest import _api_key, table_counts

START = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
ACTOR = Actor(kind="api_key", id="k-1", name="test", role="admin")


class World:
    """An app on a fixed clock, a source to track with, an admin key and the bus events."""

    def __init__(self, services: Services, client: TestClient, write: dict[str, str]) -> None:
        self.services = services
        self.client = client
        self.write = write
        self.admin = _api_key(services, "admin")
        self.raised: list[Event] = []
        services.bus.subscribe(SegmentEntered, lambda e, _: self.raised.append(e))
        services.bus.subscribe(SegmentExited, lambda e, _: self.raised.append(e))

    @property
    def clock(self) -> FixedClock:
        clock = self.services.uow.clock
        assert isinstance(clock, FixedClock)
        return clock

    def advance(self, delta: timedelta) -> None:
        self.clock.advance(delta)
        self.services.segmenter.forget()

    def track(self, user: str, event: str, at: datetime, **properties: Any) -> None:
        body = {"userId": user, "event": event, "timestamp": iso(at), "properties": properties}
        response = self.client.post("/v1/track", headers=self.write, json=body)
        assert response.status_code == 200, response.text

    def identify(self, user: str, **traits: Any) -> None:
        body = {"userId": user, "traits": traits, "timestamp": iso(self.clock.now())}
        response = self.client.post("/v1/identify", headers=self.write, json=body)
        assert response.status_code == 200, response.text

    def settle(self) -> int:
        """Ingest, then evaluate until the segmenter is idle; how many passes did work."""
        Worker(self.services).drain()
        passes = 0
        while self.services.evaluate_segments():
            passes += 1
            assert passes < 100
        return passes

    def define(self, name: str, condition: dict[str, Any]) -> str:
        response = self.client.post(
            "/api/segments", json={"name": name, "condition": condition}, headers=self.admin
        )
        assert response.status_code == 201, response.text
        segment_id: str = response.json()["id"]
        return segment_id

    def customer(self, user: str) -> str:
        found = self.client.get(
            "/api/customers/lookup", params={"kind": "user_id", "value": user}, headers=self.admin
        )
        assert found.status_code == 200, found.text
        customer_id: str = found.json()["id"]
        return customer_id

    def members(self, segment_id: str) -> set[str]:
        with self.services.engines.main.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT profile_id FROM segment_members WHERE segment_id = :s"),
                {"s": segment_id},
            )
            return {r[0] for r in rows}

    def history(self) -> list[tuple[str, str, str]]:
        with self.services.engines.main.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT segment_id, profile_id, change FROM segment_history ORDER BY id")
            )
            return [(r[0], r[1], r[2]) for r in rows]


@pytest.fixture
def world(make_settings: Callable[..., Settings]) -> Iterator[World]:
    services = build(
        make_settings(segment_batch=2, segment_scan_batch=2, rate_limit_api="100000/second"),
        clock=FixedClock(START),
        sender=FakeWebhookSender(),
    )
    upgrade(services.engines)
    with services.uow() as uow:
        source = create_source(services.events(uow), "Web shop", "web", uow.clock.now())
        uow.commit()
    token = base64.b64encode(f"{source.write_key}:".encode()).decode()
    try:
        with TestClient(app_for(services, run_worker=False)) as client:
            yield World(services, client, {"Authorization": f"Basic {token}"})
    finally:
        services.close()


GOLD = {"trait": "tier", "op": "eq", "value": "gold"}


def test_without_segments_ingestion_notes_nobody(world: World) -> None:
    world.identify("ana", tier="gold")
    world.track("ana", "Order Completed", START)
    assert world.settle() == 0
    assert table_counts(world.services, "segment_dirty", "segment_members") == {
        "segment_dirty": 0,
        "segment_members": 0,
    }


def test_entering_and_exiting_through_ingestion(world: World) -> None:
    vip = world.define("VIP", GOLD)
    world.settle()
    assert world.members(vip) == set()

    world.identify("ana", tier="gold", name="Ana")
    world.identify("bia", tier="silver")
    world.settle()
    ana, bia = world.customer("ana"), world.customer("bia")
    assert world.members(vip) == {ana}
    assert world.raised == [SegmentEntered(vip, ana, START)]
    assert table_counts(world.services, "segment_dirty")["segment_dirty"] == 0

    size = world.client.get(f"/api/segments/{vip}/size", headers=world.admin).json()
    assert size == {"segment_id": vip, "size": 1, "computing": False, "refreshed_at": iso(START)}
    mine = world.client.get(f"/api/customers/{ana}/segments", headers=world.admin).json()
    assert mine == {"items": [{"id": vip, "name": "VIP", "since": iso(START)}]}
    context = world.client.get(f"/api/customers/{ana}/context", headers=world.admin).json()
    assert context["segments"] == [{"id": vip, "name": "VIP", "since": iso(START)}]
    timeline = world.client.get(f"/api/customers/{ana}/timeline", headers=world.admin).json()
    entered = [i for i in timeline["items"] if i["source_id"] == "segments"]
    assert [(i["type"], i["event"], i["channel"], i["timestamp"]) for i in entered] == [
        ("track", "Segment Entered", "system", iso(START))
    ]
    assert entered[0]["properties"] == {"segment_id": vip, "segment_name": "VIP"}

    world.advance(timedelta(minutes=1))
    world.identify("ana", tier="silver")
    world.identify("bia", tier="gold")
    world.settle()
    later = START + timedelta(minutes=1)
    assert world.members(vip) == {bia}
    assert world.raised[1:] == [SegmentEntered(vip, bia, later), SegmentExited(vip, ana, later)]
    assert world.history() == [(vip, ana, "entered"), (vip, bia, "entered"), (vip, ana, "exited")]
    mine = world.client.get(f"/api/customers/{ana}/segments", headers=world.admin).json()
    assert mine == {"items": []}

    # The same facts again change nothing.
    world.identify("bia", tier="gold", city="Recife")
    world.settle()
    assert len(world.raised) == 3


def test_a_new_segment_is_computed_for_everyone_in_batches(world: World) -> None:
    for i in range(5):
        world.identify(f"u{i}", tier="gold" if i % 2 == 0 else "silver")
    world.settle()
    vip = world.define("VIP", GOLD)
    listed = world.client.get(f"/api/segments/{vip}", headers=world.admin).json()
    assert listed["computing"] is True
    passes = world.settle()
    assert passes == 3  # five customers, two per batch
    assert world.members(vip) == {world.customer(f"u{i}") for i in (0, 2, 4)}
    listed = world.client.get(f"/api/segments/{vip}", headers=world.admin).json()
    assert listed["computing"] is False

    # A new definition is evaluated for everyone again.
    changed = world.client.put(
        f"/api/segments/{vip}",
        json={"condition": {"trait": "tier", "op": "eq", "value": "silver"}},
        headers=world.admin,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["version"] == 2
    world.settle()
    assert world.members(vip) == {world.customer(f"u{i}") for i in (1, 3)}


def test_event_count_window_slides_past_and_members_exit(world: World) -> None:
    frequent = world.define(
        "Frequent buyers", {"event": "Order Completed", "count": {"gte": 2}, "within": "30d"}
    )
    world.track("ana", "Order Completed", START - timedelta(days=10), total=10)
    world.track("ana", "Order Completed", START - timedelta(days=5), total=20)
    world.track("bia", "Order Completed", START - timedelta(days=1), total=30)
    world.track("bia", "Viewed Product", START - timedelta(days=1))
    world.settle()
    ana, bia = world.customer("ana"), world.customer("bia")
    assert world.members(frequent) == {ana}

    world.advance(timedelta(days=19))  # ana's first order is 29 days old
    world.settle()
    assert world.members(frequent) == {ana}
    world.advance(timedelta(days=2))  # now 31 days old
    world.settle()
    assert world.members(frequent) == set()
    assert world.raised[-1] == SegmentExited(frequent, ana, START + timedelta(days=21))

    world.track("bia", "Order Completed", START + timedelta(days=21), total=40)
    world.settle()
    assert world.members(frequent) == {bia}


def test_not_within_lets_people_in_as_time_passes(world: World) -> None:
    lapsed = world.define("Lapsed", {"event": "Order Completed", "not_within": "7d"})
    world.track("ana", "Order Completed", START - timedelta(days=5))
    world.identify("bia", tier="gold")
    world.settle()
    ana, bia = world.customer("ana"), world.customer("bia")
    assert world.members(lapsed) == {bia}
    world.advance(timedelta(minutes=4))  # refresh not due yet (every 300 s)
    world.settle()
    assert world.members(lapsed) == {bia}
    world.advance(timedelta(days=3))
    world.settle()
    assert world.members(lapsed) == {ana, bia}


def test_where_filters_on_event_properties(world: World) -> None:
    big = world.define(
        "Big orders",
        {"event": "Order Completed", "where": "double(event.properties.total) >= 100.0"},
    )
    world.track("ana", "Order Completed", START, total=99.5)
    world.track("bia", "Order Completed", START, total=100)
    world.track("cid", "Order Completed", START, coupon="X")
    world.settle()
    assert world.members(big) == {world.customer("bia")}


def test_a_merge_moves_the_membership_to_the_survivor(world: World) -> None:
    vip = world.define("VIP", GOLD)
    body = {"anonymousId": "anon-1", "traits": {"tier": "gold"}, "timestamp": iso(START)}
    assert world.client.post("/v1/identify", headers=world.write, json=body).status_code == 200
    world.identify("ana", email="ana@example.com")
    world.settle()
    (anonymous,) = world.members(vip)
    ana = world.customer("ana")
    assert anonymous != ana

    world.advance(timedelta(minutes=1))
    link = {"userId": "ana", "anonymousId": "anon-1", "event": "Signed In"}
    assert world.client.post("/v1/track", headers=world.write, json=link).status_code == 200
    world.settle()
    survivor = world.customer("ana")
    assert world.members(vip) == {survivor}
    loser = ana if survivor == anonymous else anonymous
    if survivor == anonymous:
        assert world.raised[1:] == []
    else:
        later = START + timedelta(minutes=1)
        assert world.raised[1:] == [
            SegmentEntered(vip, survivor, later),
            SegmentExited(vip, loser, later),
        ]


def test_conversations_and_consent(world: World) -> None:
    granted: set[tuple[str, str, str]] = set()

    def consent(uow: UnitOfWork, customer_id: str, purpose: str, channel: str) -> bool:
        return (customer_id, purpose, channel) in granted

    world.services.segmenter.consent = consent
    complaining = world.define(
        "Open delivery complaints",
        {"conversation": {"status": "active", "contact_reason": "delivery", "within": "30d"}},
    )
    opted_in = world.define(
        "Email opt-in", {"consent": {"purpose": "marketing", "channel": "email"}}
    )
    world.settle()
    receipt = world.services.receive_inbound(
        InboundMessage(
            channel="email",
            account="support@shop.example",
            sender=(("email", "ana@example.com"),),
            sender_name="Ana",
            received_at=START,
            provider_message_id="<m1@example.com>",
            text="Where is my parcel?",
        )
    )
    customer = receipt.customer_id
    world.settle()
    assert world.members(complaining) == set()  # no contact reason yet
    with world.services.uow() as uow:
        conversation = world.services.conversations(uow).get(receipt.conversation_id)
        assert conversation is not None
        uow.conn.execute(
            sa.text("UPDATE conversations SET contact_reason = 'delivery' WHERE id = :id"),
            {"id": receipt.conversation_id},
        )
        uow.commit()
    granted.add((customer, "marketing", "email"))
    world.advance(timedelta(minutes=5))  # the scheduled refresh picks both up
    world.settle()
    assert world.members(complaining) == {customer}
    assert world.members(opted_in) == {customer}


def test_privacy_exports_and_erases_memberships(world: World) -> None:
    vip = world.define("VIP", GOLD)
    world.identify("ana", tier="gold")
    world.identify("bia", tier="gold")
    world.settle()
    ana, bia = world.customer("ana"), world.customer("bia")
    exported = world.services.export_customer(ana, ACTOR, "access request")
    assert exported.counts["segments"] == {"segment_members": 1, "segment_history": 1}
    with zipfile.ZipFile(io.BytesIO(world.services.archive(exported.id))) as archive:
        section = orjson.loads(archive.read("segments.json"))
    assert [(r["segment_id"], r["profile_id"]) for r in section["segment_members"]] == [(vip, ana)]
    assert [r["change"] for r in section["segment_history"]] == ["entered"]

    world.identify("ana", tier="silver")
    world.settle()  # ana entered and exited: two history rows
    world.identify("ana", tier="gold")
    Worker(world.services).drain()  # a mark waits in segment_dirty, not yet evaluated
    erased = world.services.erase_customer(ana, ACTOR, "erasure request")
    assert erased.counts["segments"] == {
        "segment_members": 0,
        "segment_history": 2,
        "segment_dirty": 1,
    }
    assert world.members(vip) == {bia}
    assert {p for _, p, _ in world.history()} == {bia}


def test_numbers_and_expressions_over_traits(world: World) -> None:
    world.identify("ana", tier="gold")
    world.identify("bia", tier="gold")
    world.settle()
    ana, bia = world.customer("ana"), world.customer("bia")
    adults = world.define("Adults", {"trait": "age", "op": "gte", "value": 18})
    spenders = world.define("Spenders", {"expr": "double(traits.spent) > 999.5"})
    world.identify("ana", age=31, spent=1000)
    world.identify("bia", age=17.5, spent=12.25)
    world.settle()
    assert world.members(adults) == {ana}
    assert world.members(spenders) == {ana}
    assert bia not in world.members(adults) | world.members(spenders)


def test_only_changes_a_definition_reads_are_noted(world: World) -> None:
    world.identify("ana", tier="silver")
    world.settle()
    world.define("Buyers", {"event": "Order Completed", "within": "30d"})
    world.define("VIP", GOLD)
    world.settle()

    def noted() -> int:
        Worker(world.services).drain()
        return table_counts(world.services, "segment_dirty")["segment_dirty"]

    world.track("ana", "Viewed Product", START)
    world.identify("ana", city="Recife")
    assert noted() == 0
    world.track("ana", "Order Completed", START)
    world.track("ana", "Order Completed", START + timedelta(seconds=1))
    assert noted() == 1  # both in one chunk: one note for ana, not one per event
    world.identify("ana", tier="gold")
    assert noted() == 2
    world.settle()
    assert noted() == 0
