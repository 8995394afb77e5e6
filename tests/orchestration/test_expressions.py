"""The safe expression language: CEL, checked on compile, never raising on `test`."""

from datetime import UTC, datetime, timedelta

import pytest

from omnicx.kernel import Invalid
from omnicx.orchestration.expressions import MAX_CHARS, compile_expression

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
VARS = {
    "traits": {"tier": "gold", "age": 31, "spent": 1250.5, "tags": ["vip", "outlet"]},
    "customer": {"id": "c-1", "created_at": NOW - timedelta(days=400)},
    "event": {"name": "Order Completed", "channel": "web", "properties": {"total": 99.9}},
    "now": NOW,
}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("traits.tier == 'gold'", True),
        ("traits.age >= 18 && traits.spent > 1000.0", True),
        ("traits.age > 30.5", True),
        ("'vip' in traits.tags", True),
        ("traits.tags.exists(t, t.startsWith('out'))", True),
        ("size(traits.tags) == 3", False),
        ("has(traits.birthday)", False),
        ("customer.created_at < now - duration('8760h')", True),
        ("now.getFullYear() == 2026", True),
        ("event.properties.total > 50.0 && event.channel == 'web'", True),
        ("traits.tier.matches('^g[a-z]+$')", True),
        ("type(traits.age) == int", True),
    ],
)
def test_expressions_evaluate_over_the_variables(source: str, expected: bool) -> None:
    expression = compile_expression(source, "condition.expr")
    assert expression.test(VARS) is expected
    assert expression.evaluate(VARS) is expected


def test_evaluate_returns_any_value_and_names_the_path_when_it_fails() -> None:
    assert compile_expression("traits.age + 1", "x").evaluate(VARS) == 32
    with pytest.raises(Invalid) as caught:
        compile_expression("traits.missing == 1", "journey.nodes[3].when").evaluate(VARS)
    assert caught.value.code == "expression_failed"
    assert caught.value.field == "journey.nodes[3].when"
    assert caught.value.message == "journey.nodes[3].when: no key 'missing' in the data"


@pytest.mark.parametrize(
    "source",
    [
        "traits.missing == 'x'",  # missing key
        "traits.tier + 1 == 2",  # type mismatch
        "1 / 0 == 1",  # division by zero
        "traits.age",  # not a boolean
        "traits.tier.__class__ == 'str'",  # no Python attributes: just a failed look-up
        "timestamp(traits.tier) < now",  # bad conversion
    ],
)
def test_test_is_false_on_any_failure_and_never_raises(source: str) -> None:
    assert compile_expression(source, "p").test(VARS) is False
    assert compile_expression(source, "p").test({}) is False


def test_syntax_errors_name_the_path_and_the_place() -> None:
    with pytest.raises(Invalid) as caught:
        compile_expression("traits.tier == ", "condition.all[2].expr")
    error = caught.value
    assert error.code == "invalid_expression"
    assert error.field == "condition.all[2].expr"
    assert error.message.startswith("condition.all[2].expr: Syntax error")
    assert "line 1, column 16" in error.message


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("system('ls')", "p: unknown function system; allowed: "),
        ("traits.tier.lowerAscii() == 'gold'", "p: unknown function lowerAscii; allowed: "),
        ("optional.of(1) == 1", "p: unknown function of; allowed: "),
        ("os == 1", "p: unknown variable os; use customer, event, now, traits"),
        ("__import__ == 1", "p: unknown variable __import__; use customer, event, now, traits"),
    ],
)
def test_unknown_functions_and_variables_are_refused(source: str, message: str) -> None:
    with pytest.raises(Invalid) as caught:
        compile_expression(source, "p")
    assert caught.value.message.startswith(message)


def test_comprehension_variables_are_not_unknown() -> None:
    found = compile_expression("traits.tags.all(tag, size(tag) > 2)", "p")
    assert found.test(VARS) is True
    assert found.variables == {"traits"}


def test_a_caller_chooses_its_variables() -> None:
    with pytest.raises(Invalid) as caught:
        compile_expression("event.name == 'x'", "p", variables={"traits", "now"})
    assert caught.value.message == "p: unknown variable event; use now, traits"
    assert compile_expression("order.total > 1", "p", variables={"order"}).test(
        {"order": {"total": 2}}
    )


@pytest.mark.parametrize("source", ["", "   ", None, 42])
def test_empty_or_non_text_sources_are_refused(source: object) -> None:
    with pytest.raises(Invalid) as caught:
        compile_expression(source, "p")  # type: ignore[arg-type]
    assert caught.value.message == "p: an expression is needed"


def test_huge_expressions_are_refused_by_length() -> None:
    source = " || ".join(["traits.age == 1"] * 200)
    assert len(source) > MAX_CHARS
    with pytest.raises(Invalid) as caught:
        compile_expression(source, "p")
    assert caught.value.message == f"p: the expression has {len(source)} characters; at most 2000"


def test_deep_nesting_is_a_syntax_error_not_a_crash() -> None:
    with pytest.raises(Invalid) as caught:
        compile_expression("(" * 400 + "1" + ")" * 400, "p")
    assert caught.value.code == "invalid_expression"


def test_compiled_once_per_source() -> None:
    first = compile_expression("traits.age > 1", "a")
    second = compile_expression("traits.age > 1", "b")
    assert first.program is second.program
    assert (first.path, second.path) == ("a", "b")
