"""Journey definitions: JSON or YAML in, every problem named by its path."""

from typing import Any

import pytest

from omnicx.kernel import Invalid
from omnicx.orchestration.journeys import (
    Branch,
    DateTrigger,
    DefinitionInvalid,
    EventTrigger,
    ScheduleTrigger,
    SegmentTrigger,
    Send,
    Split,
    Task,
    Wait,
    WaitEvent,
    load_source,
    parse_definition,
    parse_duration,
)

CART_YAML = """
name: Abandoned cart
description: A nudge after an abandoned cart
time_zone: America/Sao_Paulo
trigger:
  event: Cart Abandoned
  filter: event.properties.total > 50
goal: {event: Order Completed}
reentry: {cooldown: 7d}
start: wait_1h
nodes:
  wait_1h: {type: wait, duration: 1h, next: email}
  email:
    type: send
    purpose: marketing
    category: reminder
    priority: 60
    channels: [email]
    content: {template: cart_reminder, subject: You left something}
    fallback_after: 2h
    stale_after: 1d
    next: morning
  morning: {type: wait, until: 09:30, days: [mon, tue, wed, thu, fri], next: bought}
  bought:
    type: wait_event
    event: Order Completed
    timeout: 1d
    next: done
    timeout_next: vip
  vip:
    type: branch
    cases:
      - {if: 'traits.vip == true', next: call}
    else: ab
  call:
    type: task
    kind: call_customer
    title: Call about the cart
    team: team-1
    due_in: 4h
    outcomes: {reached: done}
    next: done
    timeout_next: done
  ab:
    type: split
    paths:
      - {name: A, percent: 45, next: sms}
      - {name: B, percent: 45, next: done}
    holdout: {percent: 10, window: 14d}
  sms:
    type: send
    purpose: marketing
    content: {text: "Still thinking about it?"}
    next: tag
  tag: {type: update_trait, traits: {cart_nudged: true}, next: hook}
  hook: {type: webhook, url: "https://crm.example/hooks/cart", body: {source: journey}, next: done}
  done: {type: exit}
"""


def minimal(**nodes: Any) -> dict[str, Any]:
    return {
        "name": "Test",
        "trigger": {"event": "Signed Up"},
        "start": "first",
        "nodes": nodes or {"first": {"type": "exit"}},
    }


def problems(source: Any) -> list[tuple[str, str]]:
    with pytest.raises(DefinitionInvalid) as caught:
        parse_definition(source)
    return [(p.field, p.message) for p in caught.value.problems]


def test_a_yaml_definition_with_every_node_kind_parses() -> None:
    definition = parse_definition(load_source(CART_YAML, "application/yaml"))

    assert definition.name == "Abandoned cart"
    assert definition.time_zone == "America/Sao_Paulo"
    assert isinstance(definition.trigger, EventTrigger)
    assert definition.trigger.filter is not None
    assert definition.reentry.mode == "cooldown"
    assert definition.reentry.cooldown_seconds == 7 * 86400
    nodes = definition.nodes
    assert nodes["wait_1h"] == Wait("wait_1h", "email", seconds=3600)
    morning = nodes["morning"]
    assert isinstance(morning, Wait)
    assert (morning.until.hour, morning.until.minute) == (9, 30)  # type: ignore[union-attr]
    assert morning.days == (0, 1, 2, 3, 4)
    email = nodes["email"]
    assert isinstance(email, Send)
    assert (email.priority, email.channels, email.fallback_after_seconds) == (60, ("email",), 7200)
    sms = nodes["sms"]
    assert isinstance(sms, Send)
    assert (sms.category, sms.priority, sms.channels) == ("journey", 50, ())
    assert isinstance(nodes["bought"], WaitEvent)
    assert isinstance(nodes["vip"], Branch)
    call = nodes["call"]
    assert isinstance(call, Task)
    assert (call.team, call.store, call.due_seconds, dict(call.outcomes)) == (
        "team-1",
        None,
        4 * 3600,
        {"reached": "done"},
    )
    ab = nodes["ab"]
    assert isinstance(ab, Split)
    assert [(p.name, p.basis_points) for p in ab.paths] == [("A", 4500), ("B", 4500)]
    assert (ab.holdout_basis_points, ab.holdout_seconds) == (1000, 14 * 86400)
    assert definition.listens() == [
        ("goal", "Order Completed"),
        ("trigger", "Cart Abandoned"),
        ("wait", "Order Completed"),
    ]


def test_the_same_definition_as_json_has_the_same_hash() -> None:
    from_yaml = load_source(CART_YAML, "application/yaml")
    import orjson

    from_json = load_source(orjson.dumps(from_yaml), "application/json")

    assert parse_definition(from_json).hash == parse_definition(from_yaml).hash


def test_yaml_times_and_dates_stay_text() -> None:
    loaded = load_source("a: 09:30\nb: 2024-05-17\nc: 10\nd: 1.5\n", "application/yaml")

    assert loaded == {"a": "09:30", "b": "2024-05-17", "c": 10, "d": 1.5}


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("a: [1, 2", "malformed_yaml"),
        ("- just\n- a list\n", "invalid_definition"),
        ("a: !!python/object:os.system ls", "malformed_yaml"),
    ],
)
def test_unreadable_yaml_is_refused(text: str, code: str) -> None:
    with pytest.raises(Invalid) as caught:
        load_source(text, "application/yaml")
    assert caught.value.code == code
    assert caught.value.field == "body"


def test_an_alias_bomb_is_refused_before_it_grows() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    for level in "bcdefgh":
        previous = chr(ord(level) - 1)
        bomb += (
            f"{level}: &{level} [*{previous}, *{previous}, *{previous}, *{previous}, *{previous}]\n"
        )
    with pytest.raises(Invalid) as caught:
        load_source(bomb, "application/yaml")
    assert caught.value.code == "definition_too_large"


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(90, 90), ("90s", 90), ("15m", 900), ("1h30m", 5400), ("2d", 172800), ("1w", 604800)],
)
def test_durations(value: Any, seconds: int) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["", "1x", "h", -1, True, "1.5h", None])
def test_bad_durations(value: Any) -> None:
    assert parse_duration(value) is None


def test_unknown_fields_are_named_by_path() -> None:
    source = minimal(first={"type": "exit", "colour": "red"})
    source["owner"] = "me"

    assert problems(source) == [
        (
            "owner",
            "unknown field; use name, description, time_zone, trigger, goal, reentry, start, nodes",
        ),
        ("nodes.first.colour", "unknown field; use type"),
    ]


def test_bad_node_references_are_named_by_path() -> None:
    found = problems(
        minimal(
            first={"type": "wait", "duration": "1h", "next": "second"},
            second={
                "type": "branch",
                "cases": [{"if": "true", "next": "nowhere"}],
                "else": "first",
            },
        )
    )

    assert found == [("nodes.second.cases.0.next", "unknown node 'nowhere'")]


def test_a_loop_without_a_wait_is_refused_and_a_loop_with_one_is_not() -> None:
    looping = minimal(
        first={"type": "send", "purpose": "service", "content": {"text": "hi"}, "next": "check"},
        check={"type": "branch", "cases": [{"if": "true", "next": "first"}], "else": "out"},
        out={"type": "exit"},
    )

    assert problems(looping) == [
        ("nodes.check.cases.0.next", "a loop without a wait: first → check → first")
    ]

    looping["nodes"]["check"]["cases"][0]["next"] = "pause"
    looping["nodes"]["pause"] = {"type": "wait", "duration": "1d", "next": "first"}
    assert parse_definition(looping).start == "first"


def test_a_node_that_loops_on_itself_is_refused() -> None:
    found = problems(
        minimal(
            first={"type": "branch", "cases": [{"if": "false", "next": "end"}], "else": "first"},
            end={"type": "exit"},
        )
    )

    assert found == [("nodes.first.else", "a loop without a wait: first → first")]


def test_bad_cel_is_named_by_path() -> None:
    source = minimal(
        first={"type": "branch", "cases": [{"if": "traits.(", "next": "end"}], "else": "end"},
        end={"type": "exit"},
    )
    source["trigger"]["filter"] = "os.system('ls')"

    found = problems(source)

    assert [field for field, _ in found] == ["trigger.filter", "nodes.first.cases.0.if"]
    assert "unknown" in found[0][1]
    assert "Syntax error" in found[1][1] or "syntax" in found[1][1].lower()


def test_every_problem_is_reported_at_once() -> None:
    source = {
        "name": "",
        "trigger": {"event": "A", "on": "x"},
        "start": "a",
        "nodes": {
            "a": {"type": "wait", "duration": "soon", "next": "b"},
            "b": {"type": "send", "purpose": "Shout!", "priority": 101, "content": {}, "next": "c"},
            "c": {"type": "teleport"},
            "d": {"type": "split", "paths": [{"name": "A", "percent": 70, "next": "a"}]},
            "e": {
                "type": "task",
                "kind": "call",
                "title": "x",
                "due_in": "1d",
                "next": "a",
                "timeout_next": "a",
            },
        },
    }

    found = dict(problems(source))

    assert found == {
        "name": "must be a non-empty text",
        "trigger.on": "unknown field; use event, filter",
        "nodes.a.duration": "must be a duration such as 90s, 15m, 1h30m, 2d or 1w, or seconds",
        "nodes.b.purpose": "must be one of transactional, service, marketing, feedback, custom "
        "or a lower-case name",
        "nodes.b.priority": "must be a whole number from 0 to 100",
        "nodes.b.content": "needs a template, a text or an html body",
        "nodes.c.type": "must be one of wait, wait_event, branch, split, send, task, webhook, "
        "update_trait, exit",
        "nodes.d.paths": "the percentages add up to 70, not 100",
        "nodes.e": "give either team (an agent team id) or store (a store id)",
    }


def test_the_error_names_the_first_problem_and_counts_the_others() -> None:
    with pytest.raises(DefinitionInvalid) as caught:
        parse_definition(minimal(first={"type": "wait", "next": "x"}))

    error = caught.value
    assert error.code == "invalid_definition"
    assert error.field == "nodes.first"
    assert error.message == (
        "nodes.first: give either duration or until (a local time of day) (and 1 more)"
    )


def test_unreachable_nodes_are_refused() -> None:
    assert problems(minimal(first={"type": "exit"}, orphan={"type": "exit"})) == [
        ("nodes.orphan", "cannot be reached from start")
    ]


@pytest.mark.parametrize(
    ("trigger", "kind"),
    [
        ({"segment": "seg-1"}, SegmentTrigger),
        ({"segment": "seg-1", "on": "exit"}, SegmentTrigger),
        ({"schedule": {"cron": "0 9 * * mon"}, "segment": "seg-1"}, ScheduleTrigger),
        (
            {"schedule": {"every": "1d", "time_zone": "Europe/Lisbon"}, "segment": "s"},
            ScheduleTrigger,
        ),
        ({"date": {"trait": "birthday", "offset_days": -3, "at": "10:00"}}, DateTrigger),
    ],
)
def test_trigger_kinds(trigger: dict[str, Any], kind: type) -> None:
    source = minimal()
    source["trigger"] = trigger

    assert isinstance(parse_definition(source).trigger, kind)


@pytest.mark.parametrize(
    ("trigger", "field"),
    [
        ({"schedule": {"cron": "every monday"}, "segment": "s"}, "trigger.schedule.cron"),
        ({"schedule": {"cron": "0 9 * * *", "every": "1h"}, "segment": "s"}, "trigger.schedule"),
        ({"schedule": {"every": "10s"}, "segment": "s"}, "trigger.schedule.every"),
        (
            {"schedule": {"every": "1h", "time_zone": "Mars/Base"}, "segment": "s"},
            "trigger.schedule.time_zone",
        ),
        ({"segment": "s", "on": "both"}, "trigger.on"),
        ({"date": {"trait": "birthday", "at": "25:00"}}, "trigger.date.at"),
        ({"webhook": "x"}, "trigger"),
    ],
)
def test_bad_triggers(trigger: dict[str, Any], field: str) -> None:
    source = minimal()
    source["trigger"] = trigger

    assert field in [f for f, _ in problems(source)]


def test_a_missing_trigger_and_nodes() -> None:
    assert problems({"name": "x", "start": "a"}) == [
        ("trigger", "is required: an event, a segment, a schedule or a date"),
        ("nodes", "must be a mapping of node ids to nodes, with at least one node"),
    ]
