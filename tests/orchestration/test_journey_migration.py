"""Migration maps, their impact preview, and moving one instance (pure)."""

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from omnicx.orchestration.journeys import (
    CloseTask,
    Facts,
    Instance,
    advance,
    begin,
    parse_definition,
)
from omnicx.orchestration.migration import (
    Follow,
    MigrationInvalid,
    plan,
    preview,
    relocate,
)

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
UTC_ZONE = ZoneInfo("UTC")


def definition(**nodes: Any) -> Any:
    return parse_definition(
        {"name": "Cart", "trigger": {"event": "Cart Abandoned"}, "start": "wait", "nodes": nodes}
    )


OLD = definition(
    wait={"type": "wait", "duration": "1d", "next": "email"},
    email={
        "type": "send",
        "purpose": "marketing",
        "channels": ["email"],
        "content": {"template": "cart_v1"},
        "next": "call",
    },
    call={
        "type": "task",
        "kind": "call_customer",
        "title": "Call",
        "team": "t1",
        "due_in": "1d",
        "next": "end",
        "timeout_next": "end",
    },
    end={"type": "exit"},
)
NEW = definition(
    wait={"type": "wait", "duration": "2h", "next": "sms"},
    sms={
        "type": "send",
        "purpose": "marketing",
        "channels": ["sms"],
        "content": {"text": "Your cart misses you"},
        "next": "end",
    },
    end={"type": "exit"},
)


def waiting_at(node: str, arrived: datetime = NOW) -> Instance:
    instance = begin(
        OLD, instance_id=f"i-{node}", journey_id="j", version=1, profile_id="p", now=arrived
    )
    waiting = advance(OLD, instance, Facts({}, UTC_ZONE), arrived).instance
    if node == "wait":
        return waiting
    moved = advance(OLD, waiting, Facts({}, UTC_ZONE), arrived + timedelta(days=1)).instance
    assert moved.node == "call"
    return moved


def test_a_map_must_place_every_node_with_customers() -> None:
    with pytest.raises(MigrationInvalid) as caught:
        plan(OLD, NEW, {"wait": 3, "call": 1, "email": 0}, {"wait": "follow", "ghost": "exit"})

    assert [(p.field, p.message) for p in caught.value.problems] == [
        ("migration.ghost", "no such node in the live version"),
        ("migration.call", "1 customer waits here; map it to follow, drain or exit"),
    ]
    assert caught.value.code == "invalid_migration"
    assert caught.value.field == "migration.ghost"


def test_follow_must_name_a_node_of_the_new_version() -> None:
    with pytest.raises(MigrationInvalid) as caught:
        plan(OLD, NEW, {"call": 2}, {"call": {"follow": "call"}})

    assert [(p.field, p.message) for p in caught.value.problems] == [
        ("migration.call", "node 'call' is not in the new version")
    ]


def test_bad_rules_are_refused() -> None:
    with pytest.raises(MigrationInvalid) as caught:
        plan(OLD, NEW, {"wait": 1}, {"wait": {"go": "sms"}})

    assert caught.value.problems[0].message == (
        'must be {"follow": "<node>"}, "follow", "drain" or "exit"'
    )


def test_a_star_rule_covers_the_nodes_not_named() -> None:
    found = plan(OLD, NEW, {"wait": 2, "call": 1, "email": 0}, {"call": "exit", "*": "follow"})

    assert found.rules == {"wait": Follow("wait"), "call": "exit"}


def test_the_preview_says_who_sits_where_and_what_they_get_next() -> None:
    groups, problems = preview(
        OLD,
        NEW,
        {"wait": 5, "call": 2},
        {"wait": 5, "call": 2},
        {"wait": {"follow": "sms"}, "call": "drain"},
    )

    assert problems == []
    assert groups == [
        {
            "node": "wait",
            "type": "wait",
            "customers": 5,
            "waiting": 5,
            "rule": "follow",
            "target": "sms",
            "next": {
                "node": "sms",
                "type": "send",
                "summary": "sends a marketing message, then goes to end",
                "message": {
                    "purpose": "marketing",
                    "category": "journey",
                    "priority": 50,
                    "channels": ["sms"],
                    "content": {"text": "Your cart misses you"},
                },
            },
        },
        {
            "node": "call",
            "type": "task",
            "customers": 2,
            "waiting": 2,
            "rule": "drain",
            "target": "call",
            "next": {
                "node": "call",
                "type": "task",
                "summary": "a call_customer task for team t1, due in 1d",
            },
        },
    ]


def test_a_preview_with_an_incomplete_map_lists_its_problems_without_refusing() -> None:
    groups, problems = preview(OLD, NEW, {"wait": 1}, {"wait": 1}, {})

    assert groups[0]["rule"] is None
    assert [p.field for p in problems] == ["migration.wait"]


def test_following_a_wait_keeps_the_place_and_counts_the_new_duration_from_arrival() -> None:
    instance = waiting_at("wait", NOW - timedelta(hours=1))

    moved = relocate(instance, OLD, NEW, Follow("wait"), 2, NOW, UTC_ZONE)

    assert moved.instance.version == 2
    assert moved.instance.node == "wait"
    assert moved.instance.state == "waiting"
    assert moved.instance.wake_at == NOW + timedelta(hours=1)
    assert [(t.outcome, dict(t.detail)) for t in moved.transitions] == [
        (
            "migrated",
            {"from_version": 1, "from_node": "wait", "to_version": 2, "to_node": "wait"},
        )
    ]


def test_following_to_another_kind_of_node_arrives_there_on_the_next_step() -> None:
    instance = waiting_at("wait")

    moved = relocate(instance, OLD, NEW, Follow("sms"), 2, NOW, UTC_ZONE)

    assert (moved.instance.node, moved.instance.state, moved.instance.wake_at) == (
        "sms",
        "ready",
        NOW,
    )
    stepped = advance(NEW, moved.instance, Facts({}, UTC_ZONE), NOW)
    assert [t.node for t in stepped.transitions] == ["sms", "end"]


def test_leaving_a_task_node_cancels_its_task() -> None:
    instance = waiting_at("call")
    task_id = instance.waiting[5:]  # type: ignore[index]

    moved = relocate(instance, OLD, NEW, Follow("end"), 2, NOW, UTC_ZONE)

    assert moved.actions == (CloseTask(task_id, "cancelled"),)


def test_exit_ends_the_instance_and_drain_leaves_it_alone() -> None:
    instance = waiting_at("wait")

    exited = relocate(instance, OLD, NEW, "exit", 2, NOW, UTC_ZONE)
    drained = relocate(instance, OLD, NEW, "drain", 2, NOW, UTC_ZONE)

    assert (exited.instance.state, exited.instance.outcome, exited.instance.version) == (
        "done",
        "exited",
        1,
    )
    assert drained.instance == instance
    assert drained.transitions == ()
