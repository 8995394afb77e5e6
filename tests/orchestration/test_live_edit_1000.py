"""A journey edited while 1,000 customers are on it migrates them as the map says.

The customers enter version 1 through real ingestion (`/v1/batch`) and the worker's journey
pass; a branch on the trigger event's plan spreads them over five waiting nodes, 200 each.
Version 2 is published through the API with a map that follows (to the same node and to a
renamed one), drains, exits and moves to a node of another kind. Afterwards every customer is
exactly where the map says, nobody is lost or duplicated, and the pass that follows moves
each group on the version the map gave it. Runs on SQLite and, when reachable, PostgreSQL.
"""

import base64
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from omnicx.access import create_api_key
from omnicx.asgi import app_for
from omnicx.bootstrap import Services, build
from omnicx.config import Settings
from omnicx.db.migrate import upgrade
from omnicx.events import create_source
from omnicx.kernel import FixedClock
from omnicx.orchestration.journeys import Instance
from omnicx.workers import Worker

START = datetime(2026, 3, 2, 11, 0, tzinfo=UTC)
CUSTOMERS = 1_000
PLANS = ("a", "b", "c", "d", "e")
"""The trigger's plan picks the node a customer waits on in version 1."""
WAITS_ON = {"a": "wait_a", "b": "wait_b", "c": "call", "d": "survey", "e": "wait_e"}

V1: dict[str, Any] = {
    "name": "Onboarding",
    "trigger": {"event": "Signed Up"},
    "start": "route",
    "nodes": {
        "route": {
            "type": "branch",
            "cases": [
                {"if": f'event.properties.plan == "{plan}"', "next": WAITS_ON[plan]}
                for plan in PLANS[:-1]
            ],
            "else": "wait_e",
        },
        "wait_a": {"type": "wait", "duration": "1h", "next": "welcome"},
        "wait_b": {"type": "wait", "duration": "2d", "next": "welcome"},
        "call": {
            "type": "task",
            "kind": "call_customer",
            "title": "Say hello",
            "team": "team-1",
            "due_in": "1d",
            "next": "end",
            "timeout_next": "end",
        },
        "survey": {
            "type": "wait_event",
            "event": "Survey Answered",
            "timeout": "3d",
            "next": "end",
            "timeout_next": "end",
        },
        "wait_e": {"type": "wait", "duration": "5h", "next": "welcome"},
        "welcome": {
            "type": "send",
            "purpose": "service",
            "content": {"text": "Welcome"},
            "next": "end",
        },
        "end": {"type": "exit"},
    },
}
V2: dict[str, Any] = {
    "name": "Onboarding",
    "trigger": {"event": "Signed Up"},
    "start": "route",
    "nodes": {
        "route": {
            "type": "branch",
            "cases": [{"if": 'event.properties.plan == "b"', "next": "wait_b2"}],
            "else": "wait_a",
        },
        "wait_a": {"type": "wait", "duration": "30m", "next": "tips"},
        "wait_b2": {"type": "wait", "duration": "1d", "next": "tips"},
        "tips": {
            "type": "send",
            "purpose": "service",
            "content": {"text": "Three tips to start"},
            "next": "end",
        },
        "end": {"type": "exit"},
    },
}
MIGRATION = {
    "wait_a": "follow",
    "wait_b": {"follow": "wait_b2"},
    "call": "drain",
    "survey": "exit",
    "wait_e": {"follow": "tips"},
}
PUBLISHED_AT = START + timedelta(minutes=10)


@dataclass
class Env:
    services: Services
    client: TestClient
    clock: FixedClock
    write: dict[str, str]
    admin: dict[str, str]

    def post(self, path: str, body: Any, headers: dict[str, str] | None = None) -> Any:
        response = self.client.post(path, json=body, headers=headers or self.admin)
        assert response.status_code in (200, 201), response.text
        return response.json()

    def work(self) -> None:
        """The worker's passes, until it has nothing left to do now."""
        worker = Worker(self.services)
        for _ in range(100):
            if not worker.step():
                return
        raise AssertionError("the worker never went idle")

    def instances(self, journey_id: str) -> dict[str, Instance]:
        with self.services.uow(write=False) as uow:
            found = self.services.conductor.repo(uow).instances(journey_id, limit=10 * CUSTOMERS)
        return {i.id: i for i in found}

    def scalar(self, sql: str, **params: Any) -> Any:
        with self.services.engines.main.connect() as conn:
            return conn.execute(sa.text(sql), params).scalar_one()


@pytest.fixture
def env(make_settings: Callable[..., Settings]) -> Iterator[Env]:
    clock = FixedClock(START)
    services = build(make_settings(rate_limit_api="100000/second", channel_rates={}), clock=clock)
    upgrade(services.engines)
    services.channel_senders.clear()
    with services.uow() as uow:
        source = create_source(services.events(uow), "Shop", "web", clock.now())
        _, secret = create_api_key(services.api_keys(uow), "admin", "admin", clock.now())
        uow.commit()
    basic = base64.b64encode(f"{source.write_key}:".encode()).decode()
    try:
        with TestClient(app_for(services, run_worker=False)) as client:
            yield Env(
                services,
                client,
                clock,
                {"Authorization": f"Basic {basic}"},
                {"Authorization": f"Bearer {secret}"},
            )
    finally:
        services.close()


def plan_of(n: int) -> str:
    return PLANS[n % len(PLANS)]


def sign_up_everyone(env: Env) -> str:
    journey = env.post("/api/journeys", V1)
    env.post(f"/api/journeys/{journey['id']}/publish", {})
    for first in range(0, CUSTOMERS, 250):
        batch = [
            {
                "type": "track",
                "messageId": f"signup-{n}",
                "userId": f"user-{n}",
                "event": "Signed Up",
                "properties": {"plan": plan_of(n)},
                "timestamp": START.isoformat(),
            }
            for n in range(first, first + 250)
        ]
        env.post("/v1/batch", {"batch": batch}, env.write)
    env.work()
    return str(journey["id"])


def test_a_live_edit_moves_a_thousand_customers_exactly_as_the_map_says(env: Env) -> None:
    journey_id = sign_up_everyone(env)
    before = env.instances(journey_id)
    assert len(before) == CUSTOMERS
    assert len({i.profile_id for i in before.values()}) == CUSTOMERS
    with env.services.engines.main.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT profile_id, user_id FROM events WHERE event = 'Signed Up'")
        ).all()
    user_of: dict[str, str] = {str(r[0]): str(r[1]) for r in rows}
    plan = {iid: plan_of(int(user_of[i.profile_id].split("-")[1])) for iid, i in before.items()}
    assert {(i.version, i.node, i.state) for i in before.values()} == {
        (1, node, "waiting") for node in WAITS_ON.values()
    }
    assert all(i.node == WAITS_ON[plan[iid]] for iid, i in before.items())
    assert Counter(i.node for i in before.values()) == dict.fromkeys(WAITS_ON.values(), 200)

    env.clock.advance(timedelta(minutes=10))
    put = env.client.put(f"/api/journeys/{journey_id}/draft", headers=env.admin, json=V2)
    assert put.status_code == 200, put.text
    preview = env.post(f"/api/journeys/{journey_id}/preview", {"migration": MIGRATION})
    assert {g["node"]: (g["customers"], g["rule"], g["target"]) for g in preview["groups"]} == {
        "wait_a": (200, "follow", "wait_a"),
        "wait_b": (200, "follow", "wait_b2"),
        "call": (200, "drain", "call"),
        "survey": (200, "exit", None),
        "wait_e": (200, "follow", "tips"),
    }

    published = env.post(
        f"/api/journeys/{journey_id}/publish", {"migration": MIGRATION, "note": "shorter"}
    )

    assert (published["version"], published["customers"], published["moved"]) == (
        2,
        CUSTOMERS,
        {"follow": 600, "drain": 200, "exit": 200},
    )
    after = env.instances(journey_id)
    assert set(after) == set(before)
    assert {i.profile_id for i in after.values()} == {i.profile_id for i in before.values()}
    expected = {
        "a": (2, "wait_a", "waiting", None, START + timedelta(minutes=30)),
        "b": (2, "wait_b2", "waiting", None, START + timedelta(days=1)),
        "c": (1, "call", "waiting", None, START + timedelta(days=1)),
        "d": (1, "survey", "done", "exited", None),
        "e": (2, "tips", "ready", None, PUBLISHED_AT),
    }
    places = {iid: (i.version, i.node, i.state, i.outcome, i.wake_at) for iid, i in after.items()}
    assert all(places[iid] == expected[plan[iid]] for iid in after), Counter(places.values())
    migrated = env.scalar(
        "SELECT count(*) FROM journey_history WHERE journey_id = :j AND outcome = 'migrated'",
        j=journey_id,
    )
    assert migrated == 600
    assert env.scalar("SELECT count(*) FROM journey_tasks WHERE status = 'open'") == 200

    # The pass that follows: those moved to a send node go through it once, on version 2.
    env.work()
    tips = env.scalar(
        "SELECT count(DISTINCT send_id) FROM sends WHERE send_id LIKE :p",
        p=f"j:{journey_id}:2:%:tips:%",
    )
    assert tips == 200
    assert env.scalar("SELECT count(*) FROM sends") == 200
    done = env.instances(journey_id)
    assert Counter((i.version, i.outcome) for i in done.values() if i.state == "done") == {
        (2, "completed"): 200,
        (1, "exited"): 200,
    }
    # A day later the drained calls time out on version 1 and the followers of wait_a and
    # wait_b2 reach their sends on version 2; nobody is left behind or counted twice.
    env.clock.advance(timedelta(days=1))
    env.work()
    final = env.instances(journey_id)
    assert len(final) == CUSTOMERS
    assert Counter((i.version, i.outcome) for i in final.values()) == {
        (2, "completed"): 600,
        (1, "completed"): 200,
        (1, "exited"): 200,
    }
    assert env.scalar("SELECT count(DISTINCT send_id) FROM sends") == 600
    assert env.scalar("SELECT count(*) FROM sends") == 600
