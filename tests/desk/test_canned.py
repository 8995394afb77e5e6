"""Canned responses: sandboxed rendering with a closed list of variables."""

import pytest

from omnicx.desk.canned import check_template, render
from omnicx.kernel import Invalid


def test_renders_known_variables() -> None:
    body = (
        "Olá {{ customer.first_name }}, aqui é {{agent.name}}{% if conversation.id %}.{% endif %}"
    )
    text = render(
        body,
        {
            "customer": {"first_name": "Ana"},
            "agent": {"name": "Bruno"},
            "conversation": {"id": "c1"},
        },
    )
    assert text == "Olá Ana, aqui é Bruno."


def test_missing_value_renders_empty() -> None:
    assert render("Hi {{customer.first_name}}!", {}) == "Hi !"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("Hi {{customer.password}}", "unknown variable {{customer.password}}"),
        ("Hi {{ user.name }}", "unknown variable {{user}}"),
        ("Hi {{customer['ssn']}}", "unknown variable {{customer.ssn}}"),
        ("{{ ''.__class__ }}", "unknown variable"),
    ],
)
def test_unknown_variables_are_refused(body: str, message: str) -> None:
    with pytest.raises(Invalid) as caught:
        check_template(body)
    assert caught.value.field == "body"
    assert message in caught.value.message


def test_unknown_variable_code() -> None:
    with pytest.raises(Invalid) as caught:
        render("{{customer.password}}", {})
    assert caught.value.code == "unknown_variable"


def test_syntax_errors_name_the_line() -> None:
    with pytest.raises(Invalid) as caught:
        check_template("line one\n{% if %}")
    assert (caught.value.code, caught.value.field) == ("invalid_template", "body")
    assert caught.value.message.startswith("line 2: ")


def test_private_attributes_are_refused() -> None:
    with pytest.raises(Invalid) as caught:
        render("{{ customer.first_name.__class__ }}", {"customer": {"first_name": "x"}})
    assert caught.value.code == "unknown_variable"


def test_loops_and_locals() -> None:
    body = "{% set n = customer.name %}{% for c in n %}{{ loop.index }}{% endfor %}"
    assert render(body, {"customer": {"name": "abc"}}) == "123"
