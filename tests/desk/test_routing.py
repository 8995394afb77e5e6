"""Routing rules as data: validation names the path; the first matching rule wins."""

from datetime import UTC, date, datetime
from typing import Any

import pytest

from omnicx.desk.model import RoutingFacts, RoutingRule
from omnicx.desk.routing import age_on, route, validate_actions, validate_conditions
from omnicx.kernel import Invalid

AT = datetime(2026, 1, 1, tzinfo=UTC)


def rule(id: str, position: int, conditions: dict[str, Any], **actions: Any) -> RoutingRule:
    return RoutingRule(id, id, position, conditions, actions, True, AT, AT)


SENIOR = rule("senior", 10, {"field": "customer.age", "op": "gte", "value": 55}, team_id="t-senior")
VIP_WHATSAPP = rule(
    "vip",
    5,
    {
        "all": [
            {"field": "channel", "op": "in", "value": ["whatsapp", "sms"]},
            {"field": "customer.tier", "op": "eq", "value": "gold"},
        ]
    },
    team_id="t-vip",
    priority="high",
    labels=["vip"],
)
CATCH_ALL = rule("all", 100, {}, team_id="t-general")


def facts(**values: Any) -> RoutingFacts:
    return RoutingFacts(**{"channel": "email", "today": date(2026, 6, 1), **values})


def test_age_55_and_over_goes_to_senior_care() -> None:
    rules = [CATCH_ALL, SENIOR]
    assert route(rules, facts(traits={"birthday": "1971-05-31"})).team_id == "t-senior"
    assert route(rules, facts(traits={"birthday": "1971-06-02"})).team_id == "t-general"
    assert route(rules, facts(traits={})).team_id == "t-general"


def test_first_match_by_position_sets_team_priority_and_labels() -> None:
    decision = route(
        [CATCH_ALL, SENIOR, VIP_WHATSAPP],
        facts(channel="whatsapp", traits={"tier": "GOLD", "birthday": "1950-01-01"}),
    )
    assert (decision.rule_id, decision.team_id, decision.priority, decision.labels) == (
        "vip",
        "t-vip",
        "high",
        ("vip",),
    )


def test_no_rule_no_decision() -> None:
    decision = route([SENIOR], facts())
    assert (decision.rule_id, decision.team_id, decision.labels) == (None, None, ())


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"field": "language", "op": "eq", "value": "pt-BR"}, True),
        ({"field": "language", "op": "ne", "value": "pt-BR"}, False),
        ({"field": "labels", "op": "contains", "value": "refund"}, True),
        ({"field": "contact_reason", "op": "exists"}, False),
        ({"field": "contact_reason", "op": "exists", "value": False}, True),
        ({"field": "customer.city", "op": "contains", "value": "paulo"}, True),
        ({"field": "customer.orders", "op": "lte", "value": 3}, True),
        ({"field": "customer.orders", "op": "gte", "value": 4}, False),
        ({"not": {"field": "channel", "op": "eq", "value": "email"}}, False),
        (
            {
                "any": [
                    {"field": "channel", "op": "eq", "value": "sms"},
                    {"field": "labels", "op": "in", "value": ["x", "refund"]},
                ]
            },
            True,
        ),
    ],
)
def test_operators(condition: dict[str, Any], expected: bool) -> None:
    validate_conditions(condition)
    decision = route(
        [rule("r", 1, condition, team_id="t")],
        facts(
            language="pt-BR",
            labels=("refund",),
            traits={"city": "São Paulo", "orders": 3},
        ),
    )
    assert (decision.team_id == "t") is expected


@pytest.mark.parametrize(
    ("conditions", "path"),
    [
        ([], "conditions"),
        ({"all": []}, "conditions.all"),
        ({"all": [{"field": "channel", "op": "like", "value": "x"}]}, "conditions.all[0].op"),
        ({"any": [{"field": "eval", "op": "eq", "value": 1}]}, "conditions.any[0].field"),
        ({"field": "channel", "op": "eq"}, "conditions.value"),
        ({"field": "channel", "op": "in", "value": "sms"}, "conditions.value"),
        ({"field": "customer.age", "op": "gte", "value": "old"}, "conditions.value"),
        ({"field": "channel", "op": "eq", "value": 1, "extra": 2}, "conditions.extra"),
        (
            {"not": {"all": [{"field": "channel", "op": "exists", "value": 1}]}},
            "conditions.not.all[0].value",
        ),
    ],
)
def test_invalid_conditions_name_their_path(conditions: Any, path: str) -> None:
    with pytest.raises(Invalid) as caught:
        validate_conditions(conditions)
    assert (caught.value.code, caught.value.field) == ("invalid_rule", path)
    assert caught.value.message.startswith(f"{path}: ")


@pytest.mark.parametrize(
    ("actions", "path"),
    [
        ({}, "actions"),
        ({"team": "x"}, "actions.team"),
        ({"priority": "asap"}, "actions.priority"),
        ({"labels": "vip"}, "actions.labels"),
    ],
)
def test_invalid_actions_name_their_path(actions: Any, path: str) -> None:
    with pytest.raises(Invalid) as caught:
        validate_actions(actions)
    assert caught.value.field == path


def test_age_on() -> None:
    assert age_on("1970-06-01", date(2026, 6, 1)) == 56
    assert age_on("1970-06-02T00:00:00Z", date(2026, 6, 1)) == 55
    assert age_on("not a date", date(2026, 6, 1)) is None
    assert age_on(12, date(2026, 6, 1)) is None
