"""Segment definitions without a database: parsing with paths, evaluation, time effects."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from omnicx.kernel.moments import micros
from omnicx.orchestration.segments import (
    ConversationFact,
    EventFact,
    Facts,
    SegmentInvalid,
    effects,
    matches,
    needs,
    parse_condition,
)

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def days_ago(days: float) -> int:
    return micros(NOW - timedelta(days=days))


def facts(**values: Any) -> Facts:
    return Facts(customer_id="c-1", created_at=NOW - timedelta(days=100), **values)


def check(definition: Any, known: Facts) -> bool:
    return matches(parse_condition(definition), known, NOW)


TRAITS = {
    "tier": "gold",
    "age": 31,
    "spent": 1250.5,
    "vip": True,
    "tags": ["outlet", "newsletter"],
    "city": "Curitiba",
    "joined": "2024-05-01",
    "address": {"city": "Recife"},
    "nothing": None,
}


@pytest.mark.parametrize(
    ("op", "key", "value", "expected"),
    [
        ("eq", "tier", "gold", True),
        ("eq", "tier", "Gold", False),
        ("eq", "age", 31.0, True),
        ("eq", "vip", 1, False),  # booleans are not numbers
        ("eq", "missing", "x", False),
        ("ne", "tier", "silver", True),
        ("ne", "tier", "gold", False),
        ("ne", "missing", "x", True),  # a missing trait differs from any value
        ("in", "tier", ["silver", "gold"], True),
        ("in", "tier", ["silver"], False),
        ("gt", "age", 30, True),
        ("gt", "age", 31, False),
        ("gte", "age", 31, True),
        ("lt", "spent", 1250.6, True),
        ("lte", "spent", 1250.5, True),
        ("gt", "tier", 3, False),  # a text is not ordered against a number
        ("gt", "joined", "2024-01-01", True),  # ISO dates sort as texts
        ("lt", "missing", 3, False),
        ("contains", "city", "tib", True),
        ("contains", "tags", "outlet", True),
        ("contains", "tags", "sale", False),
        ("contains", "age", 3, False),
        ("eq", "address.city", "Recife", True),  # dotted keys read nested objects
        ("eq", "address.zip", "x", False),
    ],
)
def test_trait_operators(op: str, key: str, value: Any, expected: bool) -> None:
    assert check({"trait": key, "op": op, "value": value}, facts(traits=TRAITS)) is expected


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("tier", True, True),
        ("missing", True, False),
        ("nothing", True, False),
        ("tier", False, False),
        ("missing", False, True),
        ("nothing", False, True),
    ],
)
def test_exists(key: str, value: bool, expected: bool) -> None:
    condition = {"trait": key, "op": "exists", "value": value}
    assert check(condition, facts(traits=TRAITS)) is expected


def test_exists_defaults_to_true() -> None:
    assert check({"trait": "tier", "op": "exists"}, facts(traits=TRAITS)) is True


ORDERS = {
    "Order Completed": [
        EventFact("Order Completed", "web", days_ago(40), {"total": 120.0}),
        EventFact("Order Completed", "store", days_ago(20), {"total": 35.5}),
        EventFact("Order Completed", "web", days_ago(2), {"total": 310.0}),
    ]
}


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"event": "Order Completed"}, True),
        ({"event": "Order Refunded"}, False),
        ({"event": "Order Completed", "count": {"gte": 3}}, True),
        ({"event": "Order Completed", "count": {"gte": 3}, "within": "30d"}, False),
        ({"event": "Order Completed", "count": {"eq": 2}, "within": "30d"}, True),
        ({"event": "Order Completed", "count": {"lt": 2}, "within": "30d"}, False),
        ({"event": "Order Completed", "count": {"ne": 0}, "within": "1d"}, False),
        ({"event": "Order Completed", "count": {"gt": 0}, "within": "72h"}, True),
        ({"event": "Order Completed", "last_within": "7d"}, True),
        ({"event": "Order Completed", "last_within": "1d"}, False),
        ({"event": "Order Completed", "not_within": "1d"}, True),
        ({"event": "Order Completed", "not_within": "3w"}, False),
        ({"event": "Order Completed", "channel": "store"}, True),
        ({"event": "Order Completed", "channel": ["store", "app"], "within": "7d"}, False),
        (
            {
                "event": "Order Completed",
                "where": "event.properties.total > 100.0",
                "count": {"eq": 2},
            },
            True,
        ),
        (
            {"event": "Order Completed", "where": "event.properties.coupon == 'X'"},
            False,  # a missing property is no match
        ),
        (
            {
                "event": "Order Completed",
                "where": "event.channel == 'store' && event.timestamp < now",
            },
            True,
        ),
    ],
)
def test_event_counts_and_windows(condition: dict[str, Any], expected: bool) -> None:
    assert check(condition, facts(events=ORDERS)) is expected


def test_all_any_not() -> None:
    known = facts(traits=TRAITS, events=ORDERS)
    gold = {"trait": "tier", "op": "eq", "value": "gold"}
    young = {"trait": "age", "op": "lt", "value": 25}
    recent = {"event": "Order Completed", "last_within": "7d"}
    assert check({"all": [gold, recent]}, known) is True
    assert check({"all": [gold, young]}, known) is False
    assert check({"any": [young, recent]}, known) is True
    assert check({"any": [young, {"not": recent}]}, known) is False
    assert check({"not": {"all": [gold, young]}}, known) is True


def test_conversations() -> None:
    known = facts(
        conversations=[
            ConversationFact("open", "delivery", ("email", "whatsapp"), NOW - timedelta(days=3)),
            ConversationFact("closed", "billing", ("web_chat",), NOW - timedelta(days=60)),
        ]
    )
    assert check({"conversation": {}}, known) is True
    assert check({"conversation": {"status": "open", "contact_reason": "delivery"}}, known)
    assert check({"conversation": {"status": "active", "within": "7d"}}, known)
    assert not check({"conversation": {"status": "open", "within": "2d"}}, known)
    assert check({"conversation": {"contact_reason": ["billing", "x"], "within": "90d"}}, known)
    assert not check({"conversation": {"contact_reason": "billing", "within": "30d"}}, known)
    assert check({"conversation": {"channel": "web_chat"}}, known)
    assert not check({"conversation": {"channel": "sms"}}, known)
    assert not check({"conversation": {}}, facts())


def test_consent_and_expressions() -> None:
    known = facts(traits=TRAITS, consents=frozenset({("marketing", "email")}))
    assert check({"consent": {"purpose": "marketing", "channel": "email"}}, known)
    assert not check({"consent": {"purpose": "marketing", "channel": "sms"}}, known)
    assert check({"expr": "traits.age > 30 && 'newsletter' in traits.tags"}, known)
    assert check({"expr": "customer.created_at < now - duration('720h')"}, known)
    assert check({"expr": "customer.id == 'c-1'"}, known)
    assert not check({"expr": "traits.missing > 3"}, known)


@pytest.mark.parametrize(
    ("definition", "path", "message"),
    [
        ([], "condition", "a condition is an object with one of all, any, not, trait, event"),
        ({}, "condition", "a condition has exactly one of all, any, not, trait, event,"),
        ({"trait": "a", "event": "b"}, "condition", "a condition has exactly one of"),
        ({"all": []}, "condition.all", "a non-empty list of conditions is needed"),
        ({"any": {"trait": "a"}}, "condition.any", "a non-empty list of conditions is needed"),
        ({"all": [{"trait": "a", "op": "eq", "value": 1}], "x": 1}, "condition.x", "unknown key"),
        ({"trait": "tier", "op": "like", "value": "g"}, "condition.op", "op is one of eq, ne,"),
        ({"trait": "tier", "op": "eq"}, "condition.value", "eq needs a value"),
        ({"trait": "", "op": "eq", "value": 1}, "condition.trait", "a text of 1 to 200"),
        ({"trait": "t", "op": "in", "value": "gold"}, "condition.value", "in needs a list of 1"),
        ({"trait": "t", "op": "gt", "value": True}, "condition.value", "gt compares with a number"),
        ({"trait": "t", "op": "eq", "value": [1]}, "condition.value", "eq compares with a text"),
        ({"trait": "t", "op": "exists", "value": "yes"}, "condition.value", "exists takes true"),
        ({"trait": "t", "op": "eq", "value": 1, "when": 2}, "condition.when", "unknown key"),
        ({"event": "E", "within": "30 days"}, "condition.within", "a window is a whole number"),
        ({"event": "E", "within": "0d"}, "condition.within", "a window is a whole number"),
        ({"event": "E", "within": "9999w"}, "condition.within", "a window is at most 3660 days"),
        ({"event": "E", "count": 2}, "condition.count", "count is one comparison"),
        ({"event": "E", "count": {"most": 2}}, "condition.count.most", "a count compares with"),
        ({"event": "E", "count": {"gte": -1}}, "condition.count.gte", "a whole number from 0"),
        ({"event": "E", "count": {"gte": 1.5}}, "condition.count.gte", "a whole number from 0"),
        (
            {"event": "E", "last_within": "7d", "within": "30d"},
            "condition.within",
            "last_within is the window already",
        ),
        (
            {"event": "E", "last_within": "7d", "not_within": "30d"},
            "condition.not_within",
            "use one of count, last_within, not_within",
        ),
        ({"event": "E", "channel": "Web!"}, "condition.channel", "a lower-case name"),
        ({"event": "E", "channel": ["web", 3]}, "condition.channel[1]", "a lower-case name"),
        ({"event": "E", "where": "event.x =="}, "condition.where", "Syntax error"),
        ({"event": "E", "where": "traits.x == 1"}, "condition.where", "unknown variable traits"),
        ({"event": "E", "where": 3}, "condition.where", "a CEL expression (a text) is needed"),
        ({"conversation": "open"}, "condition.conversation", "an object with status"),
        (
            {"conversation": {"status": "lost"}},
            "condition.conversation.status",
            "a status is active or one of open",
        ),
        (
            {"conversation": {"status": ["open", "gone"]}},
            "condition.conversation.status[1]",
            "a status is active or one of open",
        ),
        ({"conversation": {"topic": "x"}}, "condition.conversation.topic", "unknown key"),
        ({"conversation": {"within": "1y"}}, "condition.conversation.within", "a window is"),
        ({"consent": {"purpose": "marketing"}}, "condition.consent.channel", "a lower-case"),
        ({"consent": ["marketing"]}, "condition.consent", "an object with a purpose"),
        ({"expr": "foo(traits)"}, "condition.expr", "unknown function foo"),
        ({"expr": "event.name == 'x'"}, "condition.expr", "unknown variable event"),
    ],
)
def test_problems_name_their_path(definition: Any, path: str, message: str) -> None:
    with pytest.raises(SegmentInvalid) as caught:
        parse_condition(definition)
    error = caught.value
    assert error.code == "invalid_segment"
    assert error.field == path
    assert error.problems[0][0] == path
    assert error.problems[0][1].startswith(message), error.problems


def test_every_problem_is_listed_with_its_path() -> None:
    definition = {
        "all": [
            {"trait": "tier", "op": "eq", "value": "gold"},
            {"any": [{"event": "E", "within": "soon"}, {"expr": "1 +"}]},
            {"event": "Order Completed", "count": {"gte": 2}, "within": "30x"},
        ]
    }
    with pytest.raises(SegmentInvalid) as caught:
        parse_condition(definition)
    assert [path for path, _ in caught.value.problems] == [
        "condition.all[1].any[0].within",
        "condition.all[1].any[1].expr",
        "condition.all[2].within",
    ]
    assert caught.value.message.endswith("(and 2 more)")


def test_depth_and_size_limits() -> None:
    deep: dict[str, Any] = {"trait": "a", "op": "exists"}
    for _ in range(8):
        deep = {"not": deep}
    with pytest.raises(SegmentInvalid) as caught:
        parse_condition(deep)
    assert caught.value.problems[0][1] == "conditions nest at most 8 levels deep"
    leaf = {"trait": "a", "op": "exists"}
    wide = {"any": [{"all": [leaf] * 50}, {"all": [leaf] * 50}, leaf]}
    with pytest.raises(SegmentInvalid) as caught:
        parse_condition(wide)
    assert caught.value.problems == (("condition", "a definition has at most 100 conditions"),)
    with pytest.raises(SegmentInvalid) as caught:
        parse_condition({"any": [leaf] * 51})
    assert caught.value.problems == (("condition.any", "at most 50 conditions"),)


def test_needs_name_only_what_is_read() -> None:
    found = needs(
        parse_condition(
            {
                "all": [
                    {"trait": "address.city", "op": "eq", "value": "Recife"},
                    {"event": "Viewed", "within": "7d"},
                    {"event": "Bought", "where": "event.properties.total > 1.0", "within": "30d"},
                    {"consent": {"purpose": "marketing", "channel": "sms"}},
                ]
            }
        )
    )
    assert found.event_names == {"Viewed", "Bought"}
    assert found.event_lookback == timedelta(days=30)
    assert not found.all_time
    assert found.properties
    assert not found.conversations
    assert found.consents == {("marketing", "sms")}
    assert found.trait_keys == {"address", "address.city"}
    assert not found.any_trait
    assert needs(parse_condition({"event": "Viewed"})).all_time
    assert needs(parse_condition({"expr": "traits.a == 1"})).any_trait
    assert not needs(parse_condition({"expr": "now.getHours() == 1"})).any_trait


@pytest.mark.parametrize(
    ("definition", "expected"),
    [
        ({"trait": "tier", "op": "eq", "value": "gold"}, set()),
        ({"event": "E"}, set()),
        ({"event": "E", "count": {"gte": 2}, "within": "30d"}, {"exit"}),
        ({"event": "E", "last_within": "7d"}, {"exit"}),
        ({"event": "E", "not_within": "7d"}, {"enter", "exit"}),
        ({"not": {"event": "E", "last_within": "7d"}}, {"enter"}),
        ({"event": "E", "count": {"gte": 0}, "within": "7d"}, set()),
        ({"expr": "traits.a == 1"}, set()),
        ({"expr": "now.getHours() > 8"}, {"enter", "exit"}),
        ({"consent": {"purpose": "marketing", "channel": "sms"}}, {"enter", "exit"}),
        (
            {"all": [{"trait": "a", "op": "exists"}, {"not": {"event": "E", "within": "1d"}}]},
            {"enter"},
        ),
    ],
)
def test_how_time_moves_a_definition(definition: Any, expected: set[str]) -> None:
    assert effects(parse_condition(definition)) == expected


def test_the_demo_segments_are_valid() -> None:
    from omnicx.cli.demo import DEMO_SEGMENTS

    assert len(DEMO_SEGMENTS) == 3
    for definition in DEMO_SEGMENTS.values():
        parse_condition(definition)
