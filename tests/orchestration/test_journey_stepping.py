"""Stepping is pure: an instance, facts and a signal in; where it went and what to do out."""

from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from omnicx.orchestration.journeys import (
    TIMER,
    CloseTask,
    EventSeen,
    Facts,
    Instance,
    Reentry,
    SendAction,
    TaskAction,
    TaskClosed,
    TraitAction,
    WebhookAction,
    advance,
    anniversary_due,
    begin,
    finish,
    goal_reached,
    may_enter,
    next_local_time,
    parse_definition,
    split_bucket,
    trigger_matches,
)

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # a Monday
UTC_FACTS = Facts({}, ZoneInfo("UTC"), {"id": "p1"})


def journey(start: str, **nodes: Any) -> Any:
    return parse_definition(
        {
            "name": "Test",
            "trigger": {"event": "Cart Abandoned", "filter": "event.properties.total > 50"},
            "goal": {"event": "Order Completed", "filter": "event.properties.total >= 10"},
            "start": start,
            "nodes": nodes,
        }
    )


def entered(
    definition: Any, event: dict[str, Any] | None = None, instance_id: str = "i-1"
) -> Instance:
    return begin(
        definition,
        instance_id=instance_id,
        journey_id="j-1",
        version=3,
        profile_id="p1",
        now=NOW,
        event=event,
    )


EXIT = {"type": "exit"}


def test_wait_for_a_duration_then_move_on() -> None:
    definition = journey("w", w={"type": "wait", "duration": "1h", "next": "end"}, end=EXIT)
    first = advance(definition, entered(definition), UTC_FACTS, NOW)

    assert first.instance.state == "waiting"
    assert first.instance.wake_at == NOW + timedelta(hours=1)
    assert first.instance.waiting == "timer"
    assert [(t.node, t.outcome) for t in first.transitions] == [("w", "waiting")]

    early = advance(definition, first.instance, UTC_FACTS, NOW + timedelta(minutes=59))
    assert early.instance == first.instance
    assert early.transitions == ()

    later = NOW + timedelta(hours=1)
    done = advance(definition, first.instance, UTC_FACTS, later)
    assert done.instance.state == "done"
    assert done.instance.outcome == "completed"
    assert done.instance.ended_at == later
    assert [(t.node, t.outcome) for t in done.transitions] == [
        ("w", "waited"),
        ("end", "completed"),
    ]


@pytest.mark.parametrize(
    ("zone", "now", "expected"),
    [
        # 12:00 UTC is 09:00 in São Paulo: 09:30 local is 30 minutes away.
        ("America/Sao_Paulo", NOW, datetime(2026, 3, 2, 12, 30, tzinfo=UTC)),
        # 12:00 UTC is 21:00 in Tokyo: 09:30 local is tomorrow morning, 00:30 UTC.
        ("Asia/Tokyo", NOW, datetime(2026, 3, 3, 0, 30, tzinfo=UTC)),
        # 12:00 UTC is 12:00 in London: 09:30 tomorrow.
        ("Europe/London", NOW, datetime(2026, 3, 3, 9, 30, tzinfo=UTC)),
        # New York springs forward on 8 March 2026: 09:30 EDT is 13:30 UTC, no longer 14:30.
        (
            "America/New_York",
            datetime(2026, 3, 7, 15, 0, tzinfo=UTC),
            datetime(2026, 3, 8, 13, 30, tzinfo=UTC),
        ),
    ],
)
def test_wait_until_a_local_time_in_the_customers_time_zone(
    zone: str, now: datetime, expected: datetime
) -> None:
    definition = journey("w", w={"type": "wait", "until": "09:30", "next": "end"}, end=EXIT)
    instance = replace(entered(definition), wake_at=now)

    result = advance(definition, instance, Facts({}, ZoneInfo(zone)), now)

    assert result.instance.wake_at == expected
    assert result.instance.wake_at.astimezone(ZoneInfo(zone)).strftime("%H:%M") == "09:30"


def test_wait_until_a_local_time_on_weekdays_only() -> None:
    saturday = datetime(2026, 3, 7, 10, 0, tzinfo=UTC)
    found = next_local_time(
        saturday, datetime(2000, 1, 1, 9).time(), (0, 1, 2, 3, 4), ZoneInfo("UTC")
    )

    assert found == datetime(2026, 3, 9, 9, 0, tzinfo=UTC)


def test_wait_until_now_does_not_wait() -> None:
    definition = journey("w", w={"type": "wait", "until": "12:00", "next": "end"}, end=EXIT)

    result = advance(definition, entered(definition), UTC_FACTS, NOW)

    assert [(t.node, t.outcome) for t in result.transitions] == [
        ("w", "no wait"),
        ("end", "completed"),
    ]


def wait_for_order() -> Any:
    return journey(
        "w",
        w={
            "type": "wait_event",
            "event": "Order Completed",
            "filter": "event.properties.total > 100",
            "timeout": "2d",
            "next": "thanks",
            "timeout_next": "nudge",
        },
        thanks=EXIT,
        nudge=EXIT,
    )


def test_wait_for_an_event_takes_the_event_exit_when_it_matches() -> None:
    definition = wait_for_order()
    waiting = advance(definition, entered(definition), UTC_FACTS, NOW).instance
    assert (waiting.waiting, waiting.wake_at) == ("event:Order Completed", NOW + timedelta(days=2))

    small = EventSeen({"name": "Order Completed", "properties": {"total": 20}})
    assert advance(definition, waiting, UTC_FACTS, NOW, small).instance == waiting
    other = EventSeen({"name": "Page Viewed", "properties": {"total": 500}})
    assert advance(definition, waiting, UTC_FACTS, NOW, other).instance == waiting

    order = {"name": "Order Completed", "properties": {"total": 150}}
    result = advance(definition, waiting, UTC_FACTS, NOW + timedelta(hours=3), EventSeen(order))

    assert [(t.node, t.outcome) for t in result.transitions] == [
        ("w", "event"),
        ("thanks", "completed"),
    ]
    assert result.instance.variables["events"] == {"w": order}


def test_wait_for_an_event_takes_the_timeout_exit_when_time_runs_out() -> None:
    definition = wait_for_order()
    waiting = advance(definition, entered(definition), UTC_FACTS, NOW).instance

    assert advance(definition, waiting, UTC_FACTS, NOW + timedelta(days=1)).instance == waiting
    result = advance(definition, waiting, UTC_FACTS, NOW + timedelta(days=2))

    assert [(t.node, t.outcome) for t in result.transitions] == [
        ("w", "timeout"),
        ("nudge", "completed"),
    ]


def test_branch_on_traits_the_trigger_event_and_journey_variables() -> None:
    definition = journey(
        "b",
        b={
            "type": "branch",
            "cases": [
                {"if": "traits.vip == true", "next": "vip"},
                {"if": "event.properties.total > 500", "next": "big"},
                {"if": "customer.id == 'p1' && journey.event.channel == 'web'", "next": "web"},
            ],
            "else": "other",
        },
        vip=EXIT,
        big=EXIT,
        web=EXIT,
        other=EXIT,
    )
    cart = {"name": "Cart Abandoned", "channel": "web", "properties": {"total": 900}}

    def path(traits: dict[str, Any], event: dict[str, Any]) -> list[str]:
        result = advance(
            definition, entered(definition, event), replace(UTC_FACTS, traits=traits), NOW
        )
        return [t.outcome for t in result.transitions]

    assert path({"vip": True}, cart) == ["case 0", "completed"]
    assert path({}, cart) == ["case 1", "completed"]
    assert path({}, {**cart, "properties": {"total": 10}}) == ["case 2", "completed"]
    assert path({"vip": "yes"}, {"name": "x", "channel": "app", "properties": {}}) == [
        "else",
        "completed",
    ]


def split_journey() -> Any:
    return journey(
        "ab",
        ab={
            "type": "split",
            "paths": [
                {"name": "A", "percent": 40, "next": "a"},
                {"name": "B", "percent": 40, "next": "b"},
            ],
            "holdout": {"percent": 20, "window": "7d"},
        },
        a=EXIT,
        b=EXIT,
    )


def test_random_split_is_deterministic_by_instance_and_close_to_its_percentages() -> None:
    definition = split_journey()
    groups: Counter[str] = Counter()
    for n in range(2000):
        instance = entered(definition, instance_id=f"instance-{n}")
        first = advance(definition, instance, UTC_FACTS, NOW)
        again = advance(definition, instance, UTC_FACTS, NOW)
        assert first == again
        groups[first.instance.variables["groups"]["ab"]] += 1

    assert set(groups) == {"A", "B", "holdout"}
    assert abs(groups["A"] - 800) < 100
    assert abs(groups["B"] - 800) < 100
    assert abs(groups["holdout"] - 400) < 80
    assert split_bucket("instance-1", "ab") == split_bucket("instance-1", "ab")


def test_the_holdout_gets_nothing_is_watched_for_the_goal_then_leaves() -> None:
    definition = split_journey()
    holdout = next(
        result
        for n in range(100)
        if (
            result := advance(definition, entered(definition, instance_id=f"h-{n}"), UTC_FACTS, NOW)
        ).instance.waiting
        == "holdout"
    )

    assert holdout.actions == ()
    assert holdout.instance.state == "waiting"
    assert holdout.instance.wake_at == NOW + timedelta(days=7)
    assert [t.outcome for t in holdout.transitions] == ["group holdout"]

    waited = advance(definition, holdout.instance, UTC_FACTS, NOW + timedelta(days=6))
    assert waited.instance == holdout.instance
    ended = advance(definition, holdout.instance, UTC_FACTS, NOW + timedelta(days=7))
    assert (ended.instance.state, ended.instance.outcome) == ("done", "holdout")


def test_send_builds_an_intent_with_a_deterministic_send_id() -> None:
    definition = journey(
        "s",
        s={
            "type": "send",
            "purpose": "marketing",
            "category": "reminder",
            "priority": 70,
            "channels": ["email", "sms"],
            "content": {"template": "cart", "variables": {"coupon": "X1"}},
            "fallback_after": "2h",
            "stale_after": "1d",
            "next": "w",
        },
        w={"type": "wait", "duration": "1d", "next": "s"},
    )
    cart = {"name": "Cart Abandoned", "properties": {"total": 80}}
    first = advance(definition, entered(definition, cart), UTC_FACTS, NOW)

    (send,) = first.actions
    assert send == SendAction(
        send_id="j:j-1:3:i-1:s:1",
        node="s",
        purpose="marketing",
        category="reminder",
        priority=70,
        channels=("email", "sms"),
        content={"template": "cart", "variables": {"coupon": "X1", "event": {"total": 80}}},
        origin="journey:j-1:v3:s",
        fallback_after_seconds=7200,
        not_after=NOW + timedelta(days=1),
    )
    replayed = advance(definition, entered(definition, cart), UTC_FACTS, NOW)
    assert replayed.actions == first.actions

    second = advance(definition, first.instance, UTC_FACTS, NOW + timedelta(days=1))
    (again,) = second.actions
    assert isinstance(again, SendAction)
    assert again.send_id == "j:j-1:3:i-1:s:2"


def task_journey() -> Any:
    return journey(
        "t",
        t={
            "type": "task",
            "kind": "call_customer",
            "title": "Call about the cart",
            "store": "store-7",
            "due_in": "1d",
            "outcomes": {"not_reached": "retry"},
            "next": "done",
            "timeout_next": "late",
        },
        done=EXIT,
        late=EXIT,
        retry=EXIT,
    )


def test_a_task_is_opened_and_the_instance_waits_for_it() -> None:
    definition = task_journey()
    result = advance(definition, entered(definition), UTC_FACTS, NOW)

    (task,) = result.actions
    assert isinstance(task, TaskAction)
    assert (task.kind, task.title, task.team_id, task.store_id, task.due_at) == (
        "call_customer",
        "Call about the cart",
        None,
        "store-7",
        NOW + timedelta(days=1),
    )
    assert result.instance.waiting == f"task:{task.task_id}"
    assert advance(definition, entered(definition), UTC_FACTS, NOW).actions == result.actions

    done = advance(definition, result.instance, UTC_FACTS, NOW, TaskClosed(task.task_id, None))
    assert [t.node for t in done.transitions] == ["t", "done"]
    retry = advance(
        definition, result.instance, UTC_FACTS, NOW, TaskClosed(task.task_id, "not_reached")
    )
    assert [t.node for t in retry.transitions] == ["t", "retry"]
    assert (
        advance(definition, result.instance, UTC_FACTS, NOW, TaskClosed("other", None)).transitions
        == ()
    )


def test_an_overdue_task_expires_and_takes_the_timeout_exit() -> None:
    definition = task_journey()
    waiting = advance(definition, entered(definition), UTC_FACTS, NOW)
    task_id = waiting.instance.waiting.removeprefix("task:")  # type: ignore[union-attr]

    late = advance(definition, waiting.instance, UTC_FACTS, NOW + timedelta(days=1), TIMER)

    assert late.actions == (CloseTask(task_id, "expired"),)
    assert [(t.node, t.outcome) for t in late.transitions] == [
        ("t", "task expired"),
        ("late", "completed"),
    ]


def test_webhook_and_update_trait_act_and_the_new_trait_is_seen_at_once() -> None:
    definition = journey(
        "tag",
        tag={"type": "update_trait", "traits": {"tier": "gold"}, "next": "hook"},
        hook={"type": "webhook", "url": "https://crm.example/h", "body": {"a": 1}, "next": "check"},
        check={
            "type": "branch",
            "cases": [{"if": "traits.tier == 'gold'", "next": "gold"}],
            "else": "end",
        },
        gold=EXIT,
        end=EXIT,
    )

    result = advance(definition, entered(definition), UTC_FACTS, NOW)

    assert result.actions == (
        TraitAction("tag", {"tier": "gold"}),
        WebhookAction("w:i-1:hook:1", "hook", "https://crm.example/h", {"a": 1}),
    )
    assert [t.node for t in result.transitions] == ["tag", "hook", "check", "gold"]


def test_an_instance_that_is_not_due_does_not_move() -> None:
    definition = journey("end", end=EXIT)
    later = replace(entered(definition), wake_at=NOW + timedelta(hours=2))

    assert advance(definition, later, UTC_FACTS, NOW).transitions == ()
    assert advance(definition, later, UTC_FACTS, NOW + timedelta(hours=2)).instance.state == "done"


def test_triggers_and_goals_match_on_name_and_filter() -> None:
    definition = journey("end", end=EXIT)
    big = {"name": "Cart Abandoned", "properties": {"total": 80}}

    assert trigger_matches(definition, big, UTC_FACTS, NOW)
    assert not trigger_matches(definition, {**big, "properties": {"total": 20}}, UTC_FACTS, NOW)
    assert not trigger_matches(definition, {**big, "name": "Other"}, UTC_FACTS, NOW)
    order = {"name": "Order Completed", "properties": {"total": 10}}
    assert goal_reached(definition, order, UTC_FACTS, NOW)
    assert not goal_reached(definition, {**order, "properties": {}}, UTC_FACTS, NOW)


def test_finish_ends_an_instance_from_outside_and_cancels_its_open_task() -> None:
    definition = task_journey()
    waiting = advance(definition, entered(definition), UTC_FACTS, NOW).instance

    converted = finish(waiting, NOW, "converted", {"event": "Order Completed"})

    assert (converted.instance.state, converted.instance.outcome) == ("done", "converted")
    assert converted.instance.wake_at is None
    assert converted.actions == (CloseTask(waiting.waiting[5:], "cancelled"),)  # type: ignore[index]
    assert finish(converted.instance, NOW, "exited").transitions == ()


@pytest.mark.parametrize(
    ("reentry", "running", "ended", "before", "allowed"),
    [
        (Reentry("never"), False, None, False, True),
        (Reentry("never"), False, NOW - timedelta(days=400), True, False),
        (Reentry("always"), False, NOW, True, True),
        (Reentry("always"), True, None, True, False),
        (Reentry("cooldown", 86400), False, NOW - timedelta(hours=23), True, False),
        (Reentry("cooldown", 86400), False, NOW - timedelta(hours=24), True, True),
        (Reentry("cooldown", 86400), False, None, True, False),
    ],
)
def test_reentry_rules(
    reentry: Reentry, running: bool, ended: datetime | None, before: bool, allowed: bool
) -> None:
    assert may_enter(reentry, running, ended, before, NOW) is allowed


def test_anniversaries() -> None:
    today = datetime(2026, 5, 14).date()

    assert anniversary_due("1990-05-17", today, -3) == today
    assert anniversary_due("1990-05-14", today, 0) == today
    assert anniversary_due("1990-05-13", today, 1) == today
    assert anniversary_due("1990-05-15", today, 0) is None
    assert anniversary_due("2000-02-29", datetime(2026, 2, 28).date(), 0) is not None
    assert anniversary_due("not a date", today, 0) is None
    assert anniversary_due(19900517, today, 0) is None
