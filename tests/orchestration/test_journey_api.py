"""The journeys API over HTTP: YAML or JSON drafts, validation with paths, publishing,
pausing, the customers in flight."""

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from omnicx.config import Settings
from tests.conftest import table_counts
from tests.orchestration.test_journey_engine import CART, Env, environment

CART_YAML = b"""
name: Abandoned cart
trigger:
  event: Cart Abandoned
  filter: event.properties.total > 50
goal: {event: Order Completed}
start: wait_1h
nodes:
  wait_1h: {type: wait, duration: 1h, next: email}
  email:
    type: send
    purpose: marketing
    channels: [email]
    content: {template: cart_reminder}
    next: done
  done: {type: exit}
"""
YAML = {"Content-Type": "application/yaml"}


@pytest.fixture
def env(make_settings: Callable[..., Settings]) -> Iterator[Env]:
    yield from environment(make_settings)


def create(env: Env, body: bytes = CART_YAML, headers: dict[str, str] = YAML) -> Any:
    return env.client.post("/api/journeys", headers={**env.admin, **headers}, content=body)


def test_a_yaml_draft_is_created_and_read_back_as_json(env: Env) -> None:
    response = create(env)

    assert response.status_code == 201, response.text
    journey = response.json()
    assert (journey["name"], journey["status"], journey["live_version"]) == (
        "Abandoned cart",
        "draft",
        None,
    )
    assert journey["draft"]["nodes"]["wait_1h"] == {
        "type": "wait",
        "duration": "1h",
        "next": "email",
    }
    assert journey["draft_is_live"] is False
    listed = env.client.get("/api/journeys", headers=env.admin).json()["items"]
    assert [j["id"] for j in listed] == [journey["id"]]


def test_an_invalid_definition_is_refused_whole_with_every_path(env: Env) -> None:
    body = CART_YAML.replace(b"duration: 1h", b"duration: soon").replace(
        b"next: done\n  done", b"next: nowhere\n  done"
    )

    response = create(env, body)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_definition"
    assert error["field"] == "nodes.wait_1h.duration"
    assert [i["field"] for i in error["items"]] == [
        "nodes.wait_1h.duration",
        "nodes.email.next",
    ]
    assert table_counts(env.services, "journeys") == {"journeys": 0}


def test_bodies_that_are_not_json_or_yaml(env: Env) -> None:
    plain = create(env, b"name: x", {"Content-Type": "text/plain"})
    broken = create(env, b"name: [x", YAML)
    empty = create(env, b"", YAML)

    assert plain.status_code == 415
    assert plain.json()["error"]["code"] == "unsupported_media_type"
    assert broken.status_code == 400
    assert broken.json()["error"]["code"] == "malformed_yaml"
    assert empty.status_code == 400
    assert table_counts(env.services, "journeys") == {"journeys": 0}


def test_names_are_unique(env: Env) -> None:
    assert create(env).status_code == 201
    again = create(env)

    assert again.status_code == 409
    assert again.json()["error"]["code"] == "journey_name_taken"


def test_validate_the_draft_or_a_body_without_saving(env: Env) -> None:
    journey_id = create(env).json()["id"]
    url = f"/api/journeys/{journey_id}/validate"

    draft = env.client.post(url, headers=env.admin)
    body = env.client.post(
        url,
        headers={**env.admin, **YAML},
        content=CART_YAML.replace(b"duration: 1h", b"duration: 1y"),
    )

    assert draft.status_code == 200
    assert draft.json()["valid"] is True
    assert body.json()["valid"] is False
    assert body.json()["problems"] == [
        {
            "field": "nodes.wait_1h.duration",
            "message": "must be a duration such as 90s, 15m, 1h30m, 2d or 1w, or seconds",
        }
    ]
    stored = env.client.get(f"/api/journeys/{journey_id}", headers=env.admin).json()
    assert stored["draft"]["nodes"]["wait_1h"]["duration"] == "1h"


def test_an_invalid_draft_replacement_leaves_the_draft_as_it_was(env: Env) -> None:
    journey_id = create(env).json()["id"]

    response = env.client.put(
        f"/api/journeys/{journey_id}/draft",
        headers=env.admin,
        json={**CART, "start": "ghost"},
    )

    assert response.status_code == 400
    assert response.json()["error"]["field"] == "start"
    stored = env.client.get(f"/api/journeys/{journey_id}", headers=env.admin).json()
    assert stored["draft"]["start"] == "wait_1h"


def test_publish_pause_resume_and_their_conflicts(env: Env) -> None:
    journey_id = create(env).json()["id"]
    base = f"/api/journeys/{journey_id}"

    assert env.client.post(f"{base}/pause", headers=env.admin).status_code == 409
    published = env.client.post(f"{base}/publish", headers=env.admin, json={})
    assert published.status_code == 200, published.text
    assert published.json()["version"] == 1
    assert published.json()["journey"]["status"] == "live"
    assert published.json()["journey"]["draft_is_live"] is True
    again = env.client.post(f"{base}/publish", headers=env.admin, json={})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "nothing_to_publish"

    paused = env.client.post(f"{base}/pause", headers=env.admin)
    assert paused.json()["status"] == "paused"
    assert env.client.post(f"{base}/pause", headers=env.admin).status_code == 409
    resumed = env.client.post(f"{base}/resume", headers=env.admin)
    assert resumed.json()["status"] == "live"
    assert env.client.post(f"{base}/resume", headers=env.admin).status_code == 409
    rollback = env.client.post(f"{base}/rollback", headers=env.admin, json={})
    assert rollback.status_code == 400
    assert rollback.json()["error"]["code"] == "unknown_version"


def test_customers_in_flight_are_listed_with_their_path(env: Env) -> None:
    journey_id = create(env).json()["id"]
    env.client.post(f"/api/journeys/{journey_id}/publish", headers=env.admin, json={})
    env.track("ana", "Cart Abandoned", total=99)
    env.services.run_journeys()
    ana = env.customer("ana")

    detail = env.client.get(f"/api/journeys/{journey_id}", headers=env.admin).json()
    listed = env.client.get(
        f"/api/journeys/{journey_id}/instances", params={"node": "wait_1h"}, headers=env.admin
    ).json()
    elsewhere = env.client.get(
        f"/api/journeys/{journey_id}/instances", params={"node": "email"}, headers=env.admin
    ).json()
    mine = env.client.get(f"/api/customers/{ana}/journeys", headers=env.admin).json()

    assert detail["stats"]["running"] == 1
    assert detail["stats"]["places"] == [
        {"version": 1, "node": "wait_1h", "state": "waiting", "customers": 1}
    ]
    (instance,) = listed["items"]
    assert (instance["customer_id"], instance["state"]) == (ana, "waiting")
    assert elsewhere["items"] == []
    one = env.client.get(
        f"/api/journeys/{journey_id}/instances/{instance['id']}", headers=env.admin
    ).json()
    assert [(h["node"], h["outcome"]) for h in one["history"]] == [
        ("wait_1h", "entered"),
        ("wait_1h", "waiting"),
    ]
    assert [i["id"] for i in mine["items"]] == [instance["id"]]
    assert mine["items"][0]["history"] == one["history"]


def test_unknown_things_are_404(env: Env) -> None:
    for url in (
        "/api/journeys/nope",
        "/api/journeys/nope/versions",
        "/api/journeys/nope/instances",
        "/api/customers/nope/journeys",
    ):
        response = env.client.get(url, headers=env.admin)
        assert response.status_code == 404, url
    publish = env.client.post("/api/journeys/nope/publish", headers=env.admin, json={})
    assert publish.status_code == 404
    assert publish.json()["error"]["code"] == "journey_not_found"


def test_split_groups_and_their_conversions_are_counted(env: Env) -> None:
    source = {
        "name": "AB",
        "trigger": {"event": "Signed Up"},
        "goal": {"event": "Order Completed"},
        "start": "ab",
        "nodes": {
            "ab": {
                "type": "split",
                "paths": [{"name": "A", "percent": 50, "next": "w"}],
                "holdout": {"percent": 50},
            },
            "w": {"type": "wait", "duration": "1d", "next": "end"},
            "end": {"type": "exit"},
        },
    }
    journey_id = env.create(source)
    env.publish(journey_id)
    for n in range(12):
        env.track(f"u{n}", "Signed Up")
    env.services.run_journeys()
    for n in range(12):
        env.track(f"u{n}", "Order Completed")
    env.services.run_journeys()

    stats = env.client.get(f"/api/journeys/{journey_id}", headers=env.admin).json()["stats"]
    groups = stats["splits"]["ab"]
    assert set(groups) == {"A", "holdout"}
    assert groups["A"]["entered"] + groups["holdout"]["entered"] == 12
    assert all(g["converted"] == g["entered"] for g in groups.values())
    assert stats["ended"] == {"converted": 12}
