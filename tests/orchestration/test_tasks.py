"""Human tasks: a journey gives a team or a store a task; completing it moves the customer on,
letting it run past its due time takes the timeout exit."""

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from omnicx.config import Settings
from omnicx.orchestration.messages import TaskCompleted, TaskCreated
from tests.conftest import table_counts
from tests.orchestration.test_journey_engine import Env, environment

CALLBACK: dict[str, Any] = {
    "name": "Call back",
    "trigger": {"event": "Complaint Filed"},
    "start": "call",
    "nodes": {
        "call": {
            "type": "task",
            "kind": "call_customer",
            "title": "Call the customer about the complaint",
            "team": "team-care",
            "due_in": "4h",
            "outcomes": {"reached": "thanks", "not_reached": "sorry"},
            "next": "thanks",
            "timeout_next": "sorry",
        },
        "thanks": {
            "type": "send",
            "purpose": "service",
            "content": {"text": "Thanks for talking to us"},
            "next": "end",
        },
        "sorry": {
            "type": "send",
            "purpose": "service",
            "content": {"text": "We tried to call you"},
            "next": "end",
        },
        "end": {"type": "exit"},
    },
}
PICKUP: dict[str, Any] = {
    "name": "Pickup",
    "trigger": {"event": "Pickup Ordered"},
    "start": "prepare",
    "nodes": {
        "prepare": {
            "type": "task",
            "kind": "prepare_pickup",
            "title": "Prepare the order for pickup",
            "store": "store-paulista",
            "due_in": "2h",
            "next": "end",
            "timeout_next": "end",
        },
        "end": {"type": "exit"},
    },
}


@pytest.fixture
def env(make_settings: Callable[..., Settings]) -> Iterator[Env]:
    yield from environment(make_settings)


def open_task(env: Env, source: dict[str, Any], user: str, event: str) -> dict[str, Any]:
    journey_id = env.create(source)
    env.publish(journey_id)
    env.track(user, event)
    env.services.run_journeys()
    holder = source["nodes"][source["start"]]
    params = {"team": holder["team"]} if "team" in holder else {"store": holder["store"]}
    response = env.client.get("/api/tasks", params=params, headers=env.admin)
    assert response.status_code == 200
    (task,) = response.json()["items"]
    return dict(task)


def test_a_task_is_listed_for_its_team_and_completing_it_resumes_the_journey(env: Env) -> None:
    created: list[TaskCreated] = []
    completed: list[TaskCompleted] = []
    env.services.bus.subscribe(TaskCreated, lambda event, uow: created.append(event))
    env.services.bus.subscribe(TaskCompleted, lambda event, uow: completed.append(event))
    task = open_task(env, CALLBACK, "ana", "Complaint Filed")
    ana = env.customer("ana")

    assert (
        task["kind"],
        task["team_id"],
        task["store_id"],
        task["status"],
        task["customer_id"],
    ) == (
        "call_customer",
        "team-care",
        None,
        "open",
        ana,
    )
    assert [e.task_id for e in created] == [task["id"]]
    other = env.client.get("/api/tasks", params={"team": "team-sales"}, headers=env.admin)
    assert other.json()["items"] == []

    response = env.client.post(
        f"/api/tasks/{task['id']}/complete",
        headers=env.admin,
        json={"outcome": "not_reached", "note": "voicemail, twice"},
    )

    assert response.status_code == 200, response.text
    done = response.json()
    assert (done["status"], done["outcome"], done["note"]) == (
        "done",
        "not_reached",
        "voicemail, twice",
    )
    assert done["completed_by"].startswith("api_key:")
    assert [(e.task_id, e.outcome) for e in completed] == [(task["id"], "not_reached")]
    env.services.run_journeys()
    assert [a.node for _, a in env.sends.sent] == ["sorry"]
    (instance,) = env.instances(task["journey_id"])
    assert (instance.state, instance.outcome) == ("done", "completed")
    assert env.history(instance.id)[:3] == [
        ("call", "entered"),
        ("call", "task open"),
        ("call", "task done"),
    ]


def test_completing_without_an_outcome_takes_next(env: Env) -> None:
    task = open_task(env, CALLBACK, "ana", "Complaint Filed")

    env.client.post(f"/api/tasks/{task['id']}/complete", headers=env.admin, json={})
    env.services.run_journeys()

    assert [a.node for _, a in env.sends.sent] == ["thanks"]


def test_a_store_task_is_listed_for_its_store(env: Env) -> None:
    task = open_task(env, PICKUP, "bob", "Pickup Ordered")

    assert (task["store_id"], task["team_id"], task["kind"]) == (
        "store-paulista",
        None,
        "prepare_pickup",
    )


def test_an_unknown_outcome_is_refused_and_nothing_changes(env: Env) -> None:
    task = open_task(env, CALLBACK, "ana", "Complaint Filed")
    before = table_counts(env.services, "journey_history", "outbox")

    response = env.client.post(
        f"/api/tasks/{task['id']}/complete", headers=env.admin, json={"outcome": "maybe"}
    )

    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "unknown_outcome",
        "message": "outcome must be one of not_reached, reached",
        "field": "outcome",
    }
    listed = env.client.get("/api/tasks", params={"team": "team-care"}, headers=env.admin)
    assert listed.json()["items"][0]["status"] == "open"
    assert table_counts(env.services, "journey_history", "outbox") == before


def test_a_task_completes_once(env: Env) -> None:
    task = open_task(env, CALLBACK, "ana", "Complaint Filed")
    url = f"/api/tasks/{task['id']}/complete"

    assert env.client.post(url, headers=env.admin, json={}).status_code == 200
    again = env.client.post(url, headers=env.admin, json={})

    assert again.status_code == 409
    assert again.json()["error"]["code"] == "task_closed"
    missing = env.client.post("/api/tasks/nope/complete", headers=env.admin, json={})
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "task_not_found"


def test_an_overdue_task_expires_and_the_journey_takes_the_timeout_exit(env: Env) -> None:
    task = open_task(env, CALLBACK, "ana", "Complaint Filed")

    env.later(hours=3)
    assert env.sends.sent == []
    env.later(hours=1)

    assert [a.node for _, a in env.sends.sent] == ["sorry"]
    expired = env.client.get("/api/tasks", params={"status": "expired"}, headers=env.admin)
    assert [t["id"] for t in expired.json()["items"]] == [task["id"]]
    late = env.client.post(f"/api/tasks/{task['id']}/complete", headers=env.admin, json={})
    assert late.status_code == 409


def test_a_bad_body_is_refused(env: Env) -> None:
    task = open_task(env, CALLBACK, "ana", "Complaint Filed")

    response = env.client.post(
        f"/api/tasks/{task['id']}/complete", headers=env.admin, json={"outcome": "Not Reached!"}
    )

    assert response.status_code == 422
    assert response.json()["error"]["field"] == "outcome"
