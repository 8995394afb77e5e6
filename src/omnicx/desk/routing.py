"""Routing rules as data: JSON conditions, never evaluated as code.

    rule       := {} (always) | condition
    condition  := {"all": [condition, ...]} | {"any": [condition, ...]} | {"not": condition}
                | {"field": FIELD, "op": OP, "value": VALUE}
    FIELD      := channel | contact_reason | language | labels | priority
                | customer.age | customer.<trait>
    OP         := eq | ne | in | gte | lte | contains | exists

`customer.age` is computed in whole years from the `birthday` (or `date_of_birth`) trait.
Rules are tried by position, lowest first; the first whose conditions hold decides the team,
priority and labels. `validate_rule` names the path of every mistake
(`conditions.all[1].op`).
"""

import re
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from omnicx.desk.model import PRIORITIES, RoutingDecision, RoutingFacts, RoutingRule
from omnicx.kernel import Invalid

OPS = ("eq", "ne", "in", "gte", "lte", "contains", "exists")
PLAIN_FIELDS = ("channel", "contact_reason", "language", "labels", "priority")
BIRTHDAY_TRAITS = ("birthday", "date_of_birth", "birthdate")
MAX_DEPTH = 8
MAX_LEAVES = 100
_TRAIT = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,99}$")
ACTION_KEYS = ("team_id", "priority", "labels")


def _invalid(path: str, message: str) -> Invalid:
    return Invalid("invalid_rule", f"{path}: {message}", path)


def validate_conditions(node: Any, path: str = "conditions", depth: int = 0) -> int:
    """Check a condition tree; returns its number of leaves."""
    if depth > MAX_DEPTH:
        raise _invalid(path, f"nests deeper than {MAX_DEPTH} levels")
    if not isinstance(node, dict):
        raise _invalid(path, "must be an object")
    if not node and depth == 0:
        return 0
    if "all" in node or "any" in node:
        key = "all" if "all" in node else "any"
        if len(node) != 1:
            raise _invalid(path, f"`{key}` must be the only key")
        items = node[key]
        if not isinstance(items, list) or not items:
            raise _invalid(f"{path}.{key}", "must be a non-empty list")
        leaves = sum(
            validate_conditions(item, f"{path}.{key}[{i}]", depth + 1)
            for i, item in enumerate(items)
        )
    elif "not" in node:
        if len(node) != 1:
            raise _invalid(path, "`not` must be the only key")
        leaves = validate_conditions(node["not"], f"{path}.not", depth + 1)
    else:
        _validate_leaf(node, path)
        leaves = 1
    if leaves > MAX_LEAVES:
        raise _invalid(path, f"more than {MAX_LEAVES} conditions")
    return leaves


def _validate_leaf(node: dict[str, Any], path: str) -> None:
    extra = sorted(set(node) - {"field", "op", "value"})
    if extra:
        raise _invalid(f"{path}.{extra[0]}", "unknown key (use all, any, not or field/op/value)")
    field = node.get("field")
    if not isinstance(field, str):
        raise _invalid(f"{path}.field", "must be a string")
    if field not in PLAIN_FIELDS and not (
        field.startswith("customer.") and _TRAIT.match(field[len("customer.") :])
    ):
        raise _invalid(
            f"{path}.field",
            f"unknown field {field!r} (use {', '.join(PLAIN_FIELDS)}, customer.age or "
            "customer.<trait>)",
        )
    op = node.get("op")
    if op not in OPS:
        raise _invalid(f"{path}.op", f"unknown operator {op!r} (use {', '.join(OPS)})")
    value = node.get("value")
    if op == "exists":
        if "value" in node and not isinstance(value, bool):
            raise _invalid(f"{path}.value", "`exists` takes true or false")
        return
    if "value" not in node:
        raise _invalid(f"{path}.value", f"`{op}` needs a value")
    if op == "in":
        if not isinstance(value, list) or not value:
            raise _invalid(f"{path}.value", "`in` takes a non-empty list")
        if any(isinstance(v, dict | list) for v in value):
            raise _invalid(f"{path}.value", "`in` takes a list of plain values")
    elif op in ("gte", "lte"):
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise _invalid(f"{path}.value", f"`{op}` takes a number or a string")
    elif isinstance(value, dict | list):
        raise _invalid(f"{path}.value", f"`{op}` takes a plain value")
    if field == "customer.age" and op in ("gte", "lte") and not isinstance(value, int | float):
        raise _invalid(f"{path}.value", "customer.age compares with a number")


def validate_actions(actions: Any) -> dict[str, Any]:
    if not isinstance(actions, dict) or not actions:
        raise _invalid("actions", "must be an object with team_id, priority and/or labels")
    extra = sorted(set(actions) - set(ACTION_KEYS))
    if extra:
        raise _invalid(f"actions.{extra[0]}", f"unknown action (use {', '.join(ACTION_KEYS)})")
    team = actions.get("team_id")
    if team is not None and (not isinstance(team, str) or not team):
        raise _invalid("actions.team_id", "must be a team id")
    priority = actions.get("priority")
    if priority is not None and priority not in PRIORITIES:
        raise _invalid("actions.priority", f"must be one of {', '.join(PRIORITIES)}")
    labels = actions.get("labels")
    if labels is not None and (
        not isinstance(labels, list)
        or len(labels) > 20
        or not all(isinstance(x, str) and 0 < len(x) <= 50 for x in labels)
    ):
        raise _invalid("actions.labels", "must be a list of up to 20 labels of 1 to 50 characters")
    return {k: v for k, v in actions.items() if v is not None}


def age_on(birthday: Any, today: date) -> int | None:
    if isinstance(birthday, datetime):
        born = birthday.date()
    elif isinstance(birthday, date):
        born = birthday
    elif isinstance(birthday, str):
        try:
            born = date.fromisoformat(birthday[:10])
        except ValueError:
            return None
    else:
        return None
    years = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    return years if years >= 0 else None


def _value(field: str, facts: RoutingFacts) -> Any:
    if field == "labels":
        return list(facts.labels)
    if field in PLAIN_FIELDS:
        return getattr(facts, field)
    key = field[len("customer.") :]
    if key == "age" and "age" not in facts.traits:
        today = facts.today or date.today()
        for name in BIRTHDAY_TRAITS:
            if facts.traits.get(name) is not None:
                return age_on(facts.traits[name], today)
        return None
    return facts.traits.get(key)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a.casefold() == b.casefold()
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return bool(a == b)


def _order(a: Any, b: Any) -> int | None:
    """-1, 0 or 1 comparing a with b; None when they cannot be compared."""
    if isinstance(a, bool) or isinstance(b, bool):
        return None
    if isinstance(a, int | float) and isinstance(b, int | float):
        return (a > b) - (a < b)
    if isinstance(a, str) and isinstance(b, int | float):
        try:
            number = float(a)
        except ValueError:
            return None
        return (number > b) - (number < b)
    if isinstance(a, str) and isinstance(b, str):
        return (a > b) - (a < b)
    return None


def _leaf(node: dict[str, Any], facts: RoutingFacts) -> bool:
    actual = _value(node["field"], facts)
    op, wanted = node["op"], node.get("value", True)
    if op == "exists":
        present = actual is not None and actual != [] and actual != ""
        return present is bool(wanted)
    if actual is None:
        return bool(op == "ne")
    if isinstance(actual, list):
        if op == "eq" or op == "contains":
            return any(_same(item, wanted) for item in actual)
        if op == "ne":
            return not any(_same(item, wanted) for item in actual)
        if op == "in":
            return any(_same(item, w) for item in actual for w in wanted)
        return False
    if op == "eq":
        return _same(actual, wanted)
    if op == "ne":
        return not _same(actual, wanted)
    if op == "in":
        return any(_same(actual, w) for w in wanted)
    if op == "contains":
        return (
            isinstance(actual, str)
            and isinstance(wanted, str)
            and wanted.casefold() in actual.casefold()
        )
    compared = _order(actual, wanted)
    if compared is None:
        return False
    return compared >= 0 if op == "gte" else compared <= 0


def matches(node: dict[str, Any], facts: RoutingFacts) -> bool:
    if not node:
        return True
    if "all" in node:
        return all(matches(child, facts) for child in node["all"])
    if "any" in node:
        return any(matches(child, facts) for child in node["any"])
    if "not" in node:
        return not matches(node["not"], facts)
    return _leaf(node, facts)


def route(rules: Sequence[RoutingRule], facts: RoutingFacts) -> RoutingDecision:
    """The first enabled rule, by position, whose conditions hold; no rule → no decision."""
    for rule in sorted(rules, key=lambda r: (r.position, r.created_at, r.id)):
        if rule.enabled and matches(rule.conditions, facts):
            return RoutingDecision(
                rule.id,
                rule.actions.get("team_id"),
                rule.actions.get("priority"),
                tuple(rule.actions.get("labels", ())),
            )
    return RoutingDecision(None, None, None, ())
