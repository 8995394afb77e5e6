"""The journey engine on a real database (SQLite, and PostgreSQL when configured): triggers
from real ingestion, stepping, goals, re-entry, publishing with a migration map, drain,
rollback, pause and resume, privacy."""

import base64
import io
import threading
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from omnicx.asgi import app_for
from omnicx.bootstrap import Services, build
from omnicx.config import Settings
from omnicx.conversations import FakeChannelSender
from omnicx.db import UnitOfWork
from omnicx.db.migrate import upgrade
from omnicx.events import create_source
from omnicx.kernel import FixedClock
from omnicx.orchestration.conductor import GateSender
from omnicx.orchestration.journeys import Instance, SendAction
from omnicx.orchestration.messages import JourneyEntered, JourneyExited, MessageDecided
from omnicx.privacy import Actor
from omnicx.webhooks.http import FakeWebhookSender
from omnicx.workers import Worker
from tests.conftest import table_counts

START = datetime(2026, 3, 2, 11, 0, tzinfo=UTC)


class FakeSends:
    """The gate port, answering "send" to everything and remembering what it was asked."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, SendAction]] = []
        self._lock = threading.Lock()

    def submit(self, uow: UnitOfWork, action: SendAction, customer_id: str) -> dict[str, Any]:
        with self._lock:
            self.sent.append((customer_id, action))
        channel = action.channels[0] if action.channels else "email"
        return {"outcome": "send", "channel": channel, "reason": "test", "defer_until": None}

    def ids(self) -> list[str]:
        return [a.send_id for _, a in self.sent]


@dataclass
class Env:
    services: Services
    client: TestClient
    clock: FixedClock
    sends: FakeSends
    auth: dict[str, str]
    hooks: FakeWebhookSender
    admin: dict[str, str]

    def track(self, user: str, event: str, **properties: Any) -> None:
        response = self.client.post(
            "/v1/track",
            headers=self.auth,
            json={
                "userId": user,
                "event": event,
                "properties": properties,
                "timestamp": self.clock.now().isoformat(),
            },
        )
        assert response.status_code == 200, response.text
        Worker(self.services).drain()

    def identify(self, user: str, **traits: Any) -> str:
        response = self.client.post(
            "/v1/identify",
            headers=self.auth,
            json={"userId": user, "traits": traits, "timestamp": self.clock.now().isoformat()},
        )
        assert response.status_code == 200, response.text
        Worker(self.services).drain()
        return self.customer(user)

    def customer(self, user: str) -> str:
        with self.services.uow(write=False) as uow:
            row = uow.conn.execute(
                sa.text("SELECT profile_id FROM events WHERE user_id = :u ORDER BY id LIMIT 1"),
                {"u": user},
            ).first()
        assert row is not None
        return str(row[0])

    def later(self, **delta: float) -> int:
        self.clock.advance(timedelta(**delta))
        return self.services.run_journeys()

    def create(self, source: dict[str, Any]) -> str:
        with self.services.uow() as uow:
            journey = self.services.conductor.create(uow, source, "test")
            uow.commit()
        return journey.id

    def publish(self, journey_id: str, migration: Any = None, source: Any = None) -> dict[str, Any]:
        with self.services.uow() as uow:
            if source is not None:
                self.services.conductor.replace_draft(uow, journey_id, source, "test")
            found = self.services.conductor.publish(uow, journey_id, migration, "test")
            uow.commit()
        return found

    def instances(self, journey_id: str) -> list[Instance]:
        with self.services.uow(write=False) as uow:
            return self.services.conductor.repo(uow).instances(journey_id, limit=500)

    def running(self, journey_id: str) -> list[Instance]:
        return [i for i in self.instances(journey_id) if i.state != "done"]

    def history(self, instance_id: str) -> list[tuple[str, str]]:
        with self.services.uow(write=False) as uow:
            found = self.services.conductor.repo(uow).history([instance_id])
        return [(t.node, t.outcome) for t in found.get(instance_id, [])]

    def timeline(self, customer_id: str) -> list[str]:
        with self.services.uow(write=False) as uow:
            rows = uow.conn.execute(
                sa.text(
                    "SELECT event FROM events WHERE profile_id = :p AND channel = 'system' "
                    "ORDER BY id"
                ),
                {"p": customer_id},
            )
            return [r[0] for r in rows]


@pytest.fixture
def env(make_settings: Callable[..., Settings]) -> Iterator[Env]:
    yield from environment(make_settings)


def environment(make_settings: Callable[..., Settings]) -> Iterator[Env]:
    """Services on a fixed clock with a fake gate, a source, an admin key and a client."""
    clock = FixedClock(START)
    hooks = FakeWebhookSender()
    services = build(make_settings(rate_limit_api="100000/second"), clock=clock, sender=hooks)
    upgrade(services.engines)
    sends = FakeSends()
    services.conductor.sender = sends
    with services.uow() as uow:
        source = create_source(services.events(uow), "Shop", "web", uow.clock.now())
        from omnicx.access import create_api_key

        _, secret = create_api_key(services.api_keys(uow), "admin", "admin", uow.clock.now())
        uow.commit()
    token = base64.b64encode(f"{source.write_key}:".encode()).decode()
    try:
        with TestClient(app_for(services, run_worker=False)) as client:
            yield Env(
                services,
                client,
                clock,
                sends,
                {"Authorization": f"Basic {token}"},
                hooks,
                {"Authorization": f"Bearer {secret}"},
            )
    finally:
        services.close()


CART: dict[str, Any] = {
    "name": "Abandoned cart",
    "trigger": {"event": "Cart Abandoned", "filter": "event.properties.total > 50"},
    "goal": {"event": "Order Completed"},
    "start": "wait_1h",
    "nodes": {
        "wait_1h": {"type": "wait", "duration": "1h", "next": "email"},
        "email": {
            "type": "send",
            "purpose": "marketing",
            "category": "reminder",
            "channels": ["email"],
            "content": {"template": "cart_reminder"},
            "next": "wait_1d",
        },
        "wait_1d": {"type": "wait", "duration": "1d", "next": "sms"},
        "sms": {
            "type": "send",
            "purpose": "marketing",
            "channels": ["sms"],
            "content": {"text": "Still there?"},
            "next": "done",
        },
        "done": {"type": "exit"},
    },
}


def test_a_tracked_event_starts_the_journey_and_the_goal_ends_it(env: Env) -> None:
    journey_id = env.create(CART)
    env.publish(journey_id)

    env.track("ana", "Cart Abandoned", total=80)
    env.track("bob", "Cart Abandoned", total=20)
    assert env.services.run_journeys() >= 1

    (instance,) = env.running(journey_id)
    ana = env.customer("ana")
    assert (instance.profile_id, instance.node, instance.state, instance.version) == (
        ana,
        "wait_1h",
        "waiting",
        1,
    )
    assert instance.wake_at == START + timedelta(hours=1)
    assert instance.variables["event"]["properties"] == {"total": 80}
    assert env.timeline(ana) == ["Journey Entered"]

    env.later(minutes=59)
    assert env.sends.sent == []
    env.later(minutes=1)
    (sent,) = env.sends.sent
    assert sent[0] == ana
    assert sent[1].send_id == f"j:{journey_id}:1:{instance.id}:email:1"
    assert sent[1].origin == f"journey:{journey_id}:v1:email"

    env.later(hours=2)
    env.track("ana", "Order Completed", total=80)
    env.services.run_journeys()

    (done,) = env.instances(journey_id)
    assert (done.state, done.outcome) == ("done", "converted")
    assert env.history(instance.id) == [
        ("wait_1h", "entered"),
        ("wait_1h", "waiting"),
        ("wait_1h", "waited"),
        ("email", "send"),
        ("wait_1d", "waiting"),
        ("wait_1d", "converted"),
    ]
    assert env.timeline(ana) == ["Journey Entered", "Journey Converted"]
    assert [a.node for _, a in env.sends.sent] == ["email"]


def test_one_worker_pass_takes_a_tracked_event_into_the_journey(env: Env) -> None:
    journey_id = env.create(CART)
    env.publish(journey_id)
    response = env.client.post(
        "/v1/track",
        headers=env.auth,
        json={"userId": "zoe", "event": "Cart Abandoned", "properties": {"total": 120}},
    )
    assert response.status_code == 200

    assert Worker(env.services).step() is True

    (instance,) = env.running(journey_id)
    assert (instance.node, instance.state) == ("wait_1h", "waiting")
    assert instance.profile_id == env.customer("zoe")
    assert table_counts(env.services, "journey_inbox") == {"journey_inbox": 0}


def test_a_step_replayed_after_a_rollback_sends_the_same_send_id(env: Env) -> None:
    journey_id = env.create(CART)
    env.publish(journey_id)
    env.track("ana", "Cart Abandoned", total=80)
    env.services.run_journeys()
    env.clock.advance(timedelta(hours=1))

    class Boom(Exception):
        pass

    original = env.services.conductor.sender

    class FailingAfterSubmit(FakeSends):
        def submit(self, uow: UnitOfWork, action: SendAction, customer_id: str) -> dict[str, Any]:
            original.submit(uow, action, customer_id)
            raise Boom("the gate's database went away")

    env.services.conductor.sender = FailingAfterSubmit()
    env.services.run_journeys()
    (instance,) = env.running(journey_id)
    assert instance.node == "wait_1h"  # rolled back to before the step
    env.services.conductor.sender = original
    env.later(minutes=5)

    ids = env.sends.ids()
    assert ids == [ids[0], ids[0]]
    assert env.running(journey_id)[0].node == "wait_1d"


def test_a_failing_step_publishes_none_of_the_events_its_send_raised(env: Env) -> None:
    env.services.channel_senders["email"] = FakeChannelSender("email")
    gate = GateSender(env.services.submit_send)
    journey_id = env.create(
        {
            "name": "Receipt",
            "trigger": {"event": "Order Completed"},
            "start": "w",
            "nodes": {
                "w": {"type": "wait", "duration": "1h", "next": "s"},
                "s": {
                    "type": "send",
                    "purpose": "transactional",
                    "channels": ["email"],
                    "content": {"subject": "Receipt", "text": "Your receipt"},
                    "next": "end",
                },
                "end": {"type": "exit"},
            },
        }
    )
    env.publish(journey_id)
    env.identify("ana", email="ana@example.com")
    env.track("ana", "Order Completed")
    env.services.run_journeys()
    decided: list[MessageDecided] = []
    env.services.bus.subscribe(MessageDecided, lambda event, uow: decided.append(event))

    class FailingAfterTheGate(FakeSends):
        def submit(self, uow: UnitOfWork, action: SendAction, customer_id: str) -> dict[str, Any]:
            gate.submit(uow, action, customer_id)
            raise RuntimeError("the step failed after the gate decided")

    env.services.conductor.sender = FailingAfterTheGate()
    assert env.later(hours=1) >= 1

    assert decided == []
    assert table_counts(env.services, "sends", "send_decisions", "send_messages") == {
        "sends": 0,
        "send_decisions": 0,
        "send_messages": 0,
    }
    (instance,) = env.running(journey_id)
    assert instance.node == "w"  # rolled back to before the step

    env.services.conductor.sender = gate
    env.later(minutes=5)
    assert [(d.customer_id, d.outcome, d.code) for d in decided] == [
        (env.customer("ana"), "send", "sent")
    ]
    assert table_counts(env.services, "sends", "send_decisions") == {
        "sends": 1,
        "send_decisions": 1,
    }


def test_waiting_for_an_event_with_a_timeout(env: Env) -> None:
    journey_id = env.create(
        {
            "name": "Review",
            "trigger": {"event": "Order Delivered"},
            "start": "review",
            "nodes": {
                "review": {
                    "type": "wait_event",
                    "event": "Review Written",
                    "timeout": "3d",
                    "next": "thanks",
                    "timeout_next": "ask",
                },
                "thanks": {
                    "type": "send",
                    "purpose": "service",
                    "content": {"text": "Thanks!"},
                    "next": "end",
                },
                "ask": {
                    "type": "send",
                    "purpose": "feedback",
                    "content": {"text": "How was it?"},
                    "next": "end",
                },
                "end": {"type": "exit"},
            },
        }
    )
    env.publish(journey_id)
    env.track("ana", "Order Delivered")
    env.track("bob", "Order Delivered")
    env.services.run_journeys()

    env.later(days=1)
    env.track("ana", "Review Written", stars=5)
    env.services.run_journeys()
    env.later(days=2)

    sent = {customer: action.node for customer, action in env.sends.sent}
    assert sent == {env.customer("ana"): "thanks", env.customer("bob"): "ask"}
    assert env.running(journey_id) == []


@pytest.mark.parametrize(
    ("reentry", "entries"),
    [("never", 1), ({"cooldown": "1d"}, 2), ("always", 3)],
)
def test_reentry_rules_and_one_running_instance_per_customer(
    env: Env, reentry: Any, entries: int
) -> None:
    source = {
        "name": "Welcome",
        "trigger": {"event": "Signed Up"},
        "reentry": reentry,
        "start": "w",
        "nodes": {
            "w": {"type": "wait", "duration": "1d", "next": "end"},
            "end": {"type": "exit"},
        },
    }
    journey_id = env.create(source)
    env.publish(journey_id)

    env.track("ana", "Signed Up")
    env.track("ana", "Signed Up")  # still running: no second instance
    env.services.run_journeys()
    assert len(env.instances(journey_id)) == 1

    env.later(days=1)  # the first ends
    env.track("ana", "Signed Up")  # a day after it ended
    env.services.run_journeys()
    env.later(days=1)
    env.track("ana", "Signed Up")  # two days after the first ended
    env.services.run_journeys()

    assert len(env.instances(journey_id)) == entries


def test_segment_entry_starts_a_journey(env: Env) -> None:
    with env.services.uow() as uow:
        segment = env.services.segmenter.create(
            uow, "Gold", "", {"trait": "tier", "op": "eq", "value": "gold"}
        )
        uow.commit()
    journey_id = env.create(
        {
            "name": "Gold welcome",
            "trigger": {"segment": segment.id},
            "start": "hello",
            "nodes": {
                "hello": {
                    "type": "send",
                    "purpose": "service",
                    "content": {"text": "Welcome to gold"},
                    "next": "end",
                },
                "end": {"type": "exit"},
            },
        }
    )
    env.publish(journey_id)

    ana = env.identify("ana", tier="gold")
    env.identify("bob", tier="silver")
    while env.services.evaluate_segments():
        pass
    env.services.run_journeys()

    assert [customer for customer, _ in env.sends.sent] == [ana]
    (done,) = env.instances(journey_id)
    assert (done.profile_id, done.outcome) == (ana, "completed")


def test_a_schedule_over_a_segment_lets_its_members_in_once_per_time(env: Env) -> None:
    with env.services.uow() as uow:
        segment = env.services.segmenter.create(
            uow, "Everyone gold", "", {"trait": "tier", "op": "eq", "value": "gold"}
        )
        uow.commit()
    ana = env.identify("ana", tier="gold")
    bob = env.identify("bob", tier="gold")
    while env.services.evaluate_segments():
        pass
    journey_id = env.create(
        {
            "name": "Monday digest",
            "trigger": {
                "schedule": {"cron": "0 9 * * mon", "time_zone": "UTC"},
                "segment": segment.id,
            },
            "reentry": "always",
            "start": "digest",
            "nodes": {
                "digest": {
                    "type": "send",
                    "purpose": "marketing",
                    "content": {"template": "digest"},
                    "next": "end",
                },
                "end": {"type": "exit"},
            },
        }
    )
    env.publish(journey_id)
    with env.services.uow(write=False) as uow:
        journey = env.services.conductor.repo(uow).journey(journey_id)
    assert journey is not None
    assert journey.next_fire_at == datetime(2026, 3, 9, 9, 0, tzinfo=UTC)

    env.later(days=6)  # Sunday 11:00: not yet
    assert env.sends.sent == []
    env.later(hours=22)  # Monday 09:00
    assert sorted(c for c, _ in env.sends.sent) == sorted([ana, bob])
    env.later(hours=1)
    assert len(env.sends.sent) == 2
    env.later(days=7)
    assert len(env.sends.sent) == 4


def test_a_birthday_trigger_starts_at_the_local_time_in_the_customers_zone(env: Env) -> None:
    ana = env.identify("ana", birthday="1990-03-05")
    journey_id = env.create(
        {
            "name": "Birthday",
            "trigger": {"date": {"trait": "birthday", "offset_days": -1, "at": "10:00"}},
            "time_zone": "America/Sao_Paulo",
            "start": "wish",
            "nodes": {
                "wish": {
                    "type": "send",
                    "purpose": "marketing",
                    "content": {"text": "Happy birthday tomorrow!"},
                    "next": "end",
                },
                "end": {"type": "exit"},
            },
        }
    )
    env.publish(journey_id)

    env.later(days=1)  # 3 March: due on the 4th (a day before the 5th)
    assert env.sends.sent == []
    env.later(hours=23)  # 4 March 10:00 UTC = 07:00 in São Paulo
    (instance,) = env.running(journey_id)
    assert instance.wake_at == datetime(2026, 3, 4, 13, 0, tzinfo=UTC)
    assert env.sends.sent == []
    env.later(hours=3)
    assert [c for c, _ in env.sends.sent] == [ana]


# -- publishing with a migration map ---------------------------------------------------------

V1: dict[str, Any] = {
    "name": "Onboarding",
    "trigger": {"event": "Signed Up"},
    "start": "w1",
    "nodes": {
        "w1": {"type": "wait", "duration": "1h", "next": "s1"},
        "s1": {"type": "send", "purpose": "service", "content": {"text": "one"}, "next": "w2"},
        "w2": {"type": "wait", "duration": "1d", "next": "t1"},
        "t1": {
            "type": "task",
            "kind": "call_customer",
            "title": "Say hello",
            "team": "team-1",
            "due_in": "1d",
            "next": "e1",
            "timeout_next": "e1",
        },
        "e1": {
            "type": "wait_event",
            "event": "Profile Completed",
            "timeout": "2d",
            "next": "end",
            "timeout_next": "end",
        },
        "end": {"type": "exit"},
    },
}
V2: dict[str, Any] = {
    **V1,
    "nodes": {
        "w1": {"type": "wait", "duration": "30m", "next": "s2"},
        "s2": {"type": "send", "purpose": "service", "content": {"text": "two"}, "next": "end"},
        "w9": {"type": "wait", "duration": "5m", "next": "s2"},
        "end": {"type": "exit"},
    },
    "start": "w1",
}
V2["nodes"]["w1"]["next"] = "w9"


def four_customers_on_four_nodes(env: Env) -> str:
    """Customers waiting on w1, w2, t1 and e1 of version 1."""
    journey_id = env.create(V1)
    env.publish(journey_id)
    for user, hours in (("a", 24), ("b", 24), ("c", 2), ("d", 0)):
        env.track(user, "Signed Up")
        env.services.run_journeys()
        for _ in range(hours):  # every hour, as the worker would
            env.later(hours=1)
    env.services.run_journeys()
    places = sorted((i.node, i.profile_id) for i in env.running(journey_id))
    assert [node for node, _ in places] == ["e1", "t1", "w1", "w2"]
    return journey_id


def test_publishing_requires_a_map_for_every_node_with_customers(env: Env) -> None:
    journey_id = four_customers_on_four_nodes(env)
    put = env.client.put(f"/api/journeys/{journey_id}/draft", headers=env.admin, json=V2)
    assert put.status_code == 200, put.text
    before = table_counts(env.services, "journey_instances", "journey_history", "journey_versions")

    response = env.client.post(
        f"/api/journeys/{journey_id}/publish",
        headers=env.admin,
        json={"migration": {"w1": "drain"}},
    )

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_migration"
    assert [i["field"] for i in error["items"]] == ["migration.e1", "migration.t1", "migration.w2"]
    assert (
        table_counts(env.services, "journey_instances", "journey_history", "journey_versions")
        == before
    )


def test_publish_moves_everyone_to_exactly_the_mapped_place(env: Env) -> None:
    journey_id = four_customers_on_four_nodes(env)
    before = {i.id: i for i in env.running(journey_id)}
    by_node = {i.node: i.id for i in before.values()}
    with env.services.uow(write=False) as uow:
        (open_task,) = env.services.conductor.repo(uow).tasks(status="open")

    with env.services.uow() as uow:
        env.services.conductor.replace_draft(uow, journey_id, V2, "test")
        result = env.services.conductor.publish(
            uow,
            journey_id,
            {"w1": "follow", "w2": "drain", "t1": "exit", "e1": {"follow": "w9"}},
            "test",
        )
        uow.commit()

    assert result == {
        "version": 2,
        "customers": 4,
        "moved": {"follow": 2, "drain": 1, "exit": 1},
    }
    after = {i.id: i for i in env.instances(journey_id)}
    assert set(after) == set(before)
    places = {
        node: (after[iid].version, after[iid].node, after[iid].state)
        for node, iid in by_node.items()
    }
    assert places == {
        "w1": (2, "w1", "waiting"),
        "w2": (1, "w2", "waiting"),
        "t1": (1, "t1", "done"),
        "e1": (2, "w9", "ready"),
    }
    assert after[by_node["t1"]].outcome == "exited"
    with env.services.uow(write=False) as uow:
        task = env.services.conductor.repo(uow).task(open_task.id)
    assert task is not None
    assert task.status == "cancelled"
    # The follower of w1 arrived just now under v1: its new 30 minute wait counts from then.
    assert after[by_node["w1"]].wake_at == START + timedelta(days=2, hours=2, minutes=30)
    assert ("w1", "migrated") in env.history(by_node["w1"])

    env.services.run_journeys()  # the one sent to w9 arrives there: 5 minutes
    env.later(minutes=5)
    assert [a.node for c, a in env.sends.sent if a.node == "s2"] == ["s2"]

    for _ in range(24):  # the drained one leaves w2 on version 1: it opens v1's task
        env.later(hours=1)
    drained = {i.id: i for i in env.instances(journey_id)}[by_node["w2"]]
    assert (drained.version, drained.node, drained.state) == (1, "t1", "waiting")
    with env.services.uow(write=False) as uow:
        running = env.services.conductor.repo(uow).running_versions(journey_id)
    assert running == {1}


def test_the_preview_matches_what_publish_then_does(env: Env) -> None:
    journey_id = four_customers_on_four_nodes(env)
    with env.services.uow() as uow:
        env.services.conductor.replace_draft(uow, journey_id, V2, "test")
        uow.commit()
    migration = {"w1": {"follow": "w1"}, "*": "exit"}

    response = env.client.post(
        f"/api/journeys/{journey_id}/preview", headers=env.admin, json={"migration": migration}
    )

    assert response.status_code == 200
    preview = response.json()
    assert (preview["from_version"], preview["to_version"], preview["customers"]) == (1, 2, 4)
    assert {g["node"]: (g["customers"], g["rule"], g["target"]) for g in preview["groups"]} == {
        "w1": (1, "follow", "w1"),
        "w2": (1, "exit", None),
        "t1": (1, "exit", None),
        "e1": (1, "exit", None),
    }
    assert table_counts(env.services, "journey_versions") == {"journey_versions": 1}
    env.publish(journey_id, migration)
    assert len(env.running(journey_id)) == 1


def test_rollback_publishes_the_earlier_definition_as_a_new_version(env: Env) -> None:
    journey_id = env.create(V1)
    env.publish(journey_id)
    env.track("a", "Signed Up")
    env.services.run_journeys()
    env.publish(journey_id, {"w1": "follow"}, source=V2)

    response = env.client.post(
        f"/api/journeys/{journey_id}/rollback",
        headers=env.admin,
        json={"migration": {"w1": "follow"}},
    )

    assert response.status_code == 200, response.text
    assert response.json()["version"] == 3
    versions = env.client.get(f"/api/journeys/{journey_id}/versions", headers=env.admin).json()
    assert [(v["version"], v["note"]) for v in versions["items"]] == [
        (1, None),
        (2, None),
        (3, "rollback to version 1"),
    ]
    assert versions["items"][2]["hash"] == versions["items"][0]["hash"]
    (instance,) = env.running(journey_id)
    assert (instance.version, instance.node) == (3, "w1")
    env.later(hours=1)
    assert [a.content.get("text") for _, a in env.sends.sent] == ["one"]


def test_pause_freezes_and_resume_applies_what_waited(env: Env) -> None:
    journey_id = env.create(CART)
    env.publish(journey_id)
    env.track("ana", "Cart Abandoned", total=80)
    env.services.run_journeys()

    with env.services.uow() as uow:
        env.services.conductor.pause(uow, journey_id, "test")
        uow.commit()
    assert env.later(hours=2) == 0  # due, but paused
    env.track("bob", "Cart Abandoned", total=90)  # entry while paused: dropped on resume
    env.track("ana", "Order Completed")  # ana's goal: kept for the resume
    env.services.run_journeys()
    assert env.sends.sent == []
    assert [i.node for i in env.running(journey_id)] == ["wait_1h"]

    with env.services.uow() as uow:
        env.services.conductor.resume(uow, journey_id, "test")
        uow.commit()
    env.services.run_journeys()

    (ana,) = env.instances(journey_id)
    assert ana.outcome == "converted"
    assert env.sends.sent == []


def test_a_failing_step_is_retried_then_ends_as_failed(env: Env) -> None:
    journey_id = env.create(CART)
    env.publish(journey_id)
    env.track("ana", "Cart Abandoned", total=80)
    env.services.run_journeys()

    class Broken(FakeSends):
        def submit(self, uow: UnitOfWork, action: SendAction, customer_id: str) -> dict[str, Any]:
            raise RuntimeError("no gate")

    env.services.conductor.sender = Broken()
    exited: list[JourneyExited] = []
    env.services.bus.subscribe(JourneyExited, lambda event, uow: exited.append(event))
    env.later(hours=1)
    for _ in range(6):
        env.later(hours=2)

    (instance,) = env.instances(journey_id)
    assert (instance.state, instance.outcome) == ("done", "failed")
    assert [e.reason for e in exited] == ["failed"]


def test_webhook_and_trait_nodes_act_through_the_outbox_and_the_profile(env: Env) -> None:
    journey_id = env.create(
        {
            "name": "Tagging",
            "trigger": {"event": "Signed Up"},
            "start": "tag",
            "nodes": {
                "tag": {"type": "update_trait", "traits": {"onboarded": True}, "next": "hook"},
                "hook": {
                    "type": "webhook",
                    "url": "https://crm.example/hooks",
                    "body": {"list": "new"},
                    "next": "end",
                },
                "end": {"type": "exit"},
            },
        }
    )
    env.publish(journey_id)
    entered: list[JourneyEntered] = []
    env.services.bus.subscribe(JourneyEntered, lambda event, uow: entered.append(event))
    env.track("ana", "Signed Up")
    env.services.run_journeys()
    env.services.process_outbox()

    ana = env.customer("ana")
    with env.services.uow(write=False) as uow:
        traits = env.services.profiles(uow).traits_of(ana)
    assert traits["onboarded"].value is True
    assert traits["onboarded"].source_id == journey_id
    assert traits["onboarded"].channel == "journey"
    ((url, body, headers),) = env.hooks.sent
    assert url == "https://crm.example/hooks"
    sent = orjson.loads(body)
    assert (sent["customer_id"], sent["data"], sent["node"]) == (ana, {"list": "new"}, "hook")
    assert headers["Idempotency-Key"].startswith("w:")
    assert [e.profile_id for e in entered] == [ana]


def test_the_real_gate_records_its_decision_in_the_history(env: Env) -> None:
    env.services.conductor.sender = GateSender(env.services.submit_send)
    journey_id = env.create(
        {
            "name": "Receipt",
            "trigger": {"event": "Order Completed"},
            "start": "s",
            "nodes": {
                "s": {
                    "type": "send",
                    "purpose": "transactional",
                    "channels": ["email"],
                    "content": {"subject": "Receipt", "text": "Your receipt"},
                    "next": "end",
                },
                "end": {"type": "exit"},
            },
        }
    )
    env.publish(journey_id)
    env.identify("ana", email="ana@example.com")
    env.track("ana", "Order Completed")
    env.services.run_journeys()

    (instance,) = env.instances(journey_id)
    with env.services.uow(write=False) as uow:
        history = env.services.conductor.repo(uow).history([instance.id])[instance.id]
    (send,) = [t for t in history if t.outcome == "send"]
    decision = send.detail["decision"]
    assert decision["outcome"] in ("send", "skip", "defer")
    assert decision["reason"]
    decisions = env.client.get(f"/api/customers/{instance.profile_id}/decisions", headers=env.admin)
    assert send.detail["send_id"] in decisions.text


def test_privacy_exports_and_erases_instances_history_and_tasks(env: Env) -> None:
    journey_id = env.create(V1)
    env.publish(journey_id)
    env.track("ana", "Signed Up")
    env.services.run_journeys()
    env.later(hours=1)
    env.later(days=1)  # ana is on t1 with a task
    ana = env.customer("ana")
    actor = Actor("api_key", "k1", "test", "admin")

    request = env.services.export_customer(ana, actor, "subject access")
    with zipfile.ZipFile(io.BytesIO(env.services.archive(request.id))) as archive:
        section = orjson.loads(archive.read("journeys.json"))
    (instance,) = section["journey_instances"]
    assert (instance["profile_id"], instance["node"]) == (ana, "t1")
    assert instance["variables"]["event"]["name"] == "Signed Up"
    assert [row["outcome"] for row in section["journey_history"]][:2] == ["entered", "waiting"]
    (task,) = section["journey_tasks"]
    assert (task["kind"], task["status"]) == ("call_customer", "open")

    env.services.erase_customer(ana, actor, "erasure")

    counts = table_counts(
        env.services, "journey_instances", "journey_history", "journey_tasks", "journey_inbox"
    )
    assert counts == {
        "journey_instances": 0,
        "journey_history": 0,
        "journey_tasks": 0,
        "journey_inbox": 0,
    }
    assert table_counts(env.services, "journeys", "journey_versions") == {
        "journeys": 1,
        "journey_versions": 1,
    }


@pytest.mark.parametrize(
    "db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
def test_publish_and_a_concurrent_stepper_never_move_an_instance_twice(
    env: Env, db_url: str
) -> None:
    """PostgreSQL only: there the publish and the stepper really run at once, kept apart by
    row locks (SQLite lets one writer in at a time)."""
    v1: dict[str, Any] = {
        "name": "Race",
        "trigger": {"event": "Signed Up"},
        "reentry": "always",
        "start": "w1",
        "nodes": {
            "w1": {"type": "wait", "duration": "1h", "next": "s"},
            "s": {"type": "send", "purpose": "service", "content": {"text": "hi"}, "next": "w2"},
            "w2": {"type": "wait", "duration": "1d", "next": "end"},
            "end": {"type": "exit"},
        },
    }
    journey_id = env.create(v1)
    env.publish(journey_id)
    for n in range(60):
        env.track(f"user-{n}", "Signed Up")
    env.services.run_journeys()
    env.clock.advance(timedelta(hours=1))  # every one of them is due on w1
    ids = {i.id for i in env.running(journey_id)}
    assert len(ids) == 60

    nodes = {**v1["nodes"], "s": {**v1["nodes"]["s"], "content": {"text": "ho"}}}
    v2 = {**v1, "nodes": nodes}
    stop = threading.Event()

    def stepper() -> None:
        while not stop.is_set():
            env.services.conductor.step_due(env.services.uow, 5)

    thread = threading.Thread(target=stepper)
    thread.start()
    try:
        env.publish(journey_id, {"*": "follow"}, source=v2)
    finally:
        stop.set()
        thread.join()
    env.services.run_journeys()

    after = env.instances(journey_id)
    assert {i.id for i in after} == ids
    assert {(i.version, i.node) for i in after} == {(2, "w2")}
    sent: dict[str, list[str]] = {}
    for _, action in env.sends.sent:
        sent.setdefault(action.send_id.split(":")[3], []).append(action.send_id)
    assert set(sent) == ids
    assert all(len(found) == 1 for found in sent.values())


def test_the_demo_journeys_are_published_once(env: Env) -> None:
    from omnicx.cli.demo import DEMO_JOURNEYS, publish_demo_journeys

    publish_demo_journeys(env.services)
    publish_demo_journeys(env.services)

    with env.services.uow(write=False) as uow:
        found = env.services.conductor.repo(uow).journeys()
    assert sorted((j.name, j.status, j.live_version) for j in found) == sorted(
        (name, "live", 1) for name in DEMO_JOURNEYS
    )
    env.track("ana", "Checkout Started", value=250.0)
    env.services.run_journeys()
    env.later(hours=1)
    assert [(a.node, a.channels) for _, a in env.sends.sent] == [("email", ("email",))]
