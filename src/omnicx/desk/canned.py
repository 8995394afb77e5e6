"""Canned responses: Jinja2 templates in a sandbox, with a closed list of variables.

A template may use `{{customer.first_name}}`, `{{agent.name}}`, `{{conversation.id}}` and the
other names in `VARIABLES`, with Jinja2's filters and conditions. Anything else is refused when
the response is saved, naming the variable, so an agent never sends a half-rendered reply.
Rendering runs in Jinja2's `SandboxedEnvironment`: templates cannot reach Python objects.
"""

from collections.abc import Mapping
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, nodes
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment

from omnicx.kernel import Invalid

VARIABLES: dict[str, tuple[str, ...]] = {
    "customer": ("id", "name", "first_name", "last_name", "email", "phone"),
    "agent": ("id", "name", "first_name", "email"),
    "conversation": ("id", "channel", "contact_reason", "priority", "subject"),
}
"""Every variable a template may use, by object."""

MAX_BODY = 10_000

_env = SandboxedEnvironment(autoescape=False, undefined=StrictUndefined, keep_trailing_newline=True)


def _known() -> str:
    return ", ".join(f"{obj}.{attr}" for obj, attrs in VARIABLES.items() for attr in attrs)


def _unknown(name: str) -> Invalid:
    return Invalid(
        "unknown_variable",
        f"unknown variable {{{{{name}}}}} in the template; use one of {_known()}",
        "body",
    )


def check_template(body: str) -> None:
    """Refuse a template that does not parse or uses a variable outside `VARIABLES`."""
    if len(body) > MAX_BODY:
        raise Invalid(
            "template_too_long", f"a template holds at most {MAX_BODY} characters", "body"
        )
    try:
        tree = _env.parse(body)
    except TemplateSyntaxError as error:
        raise Invalid("invalid_template", f"line {error.lineno}: {error.message}", "body") from None
    local: set[str] = {"loop"} if any(True for _ in tree.find_all(nodes.For)) else set()
    for node in tree.find_all((nodes.Assign, nodes.For, nodes.Macro)):
        for target in node.find_all(nodes.Name):
            if target.ctx in ("store", "param"):
                local.add(target.name)
    for getattr_node in tree.find_all(nodes.Getattr):
        base = getattr_node.node
        if getattr_node.attr.startswith("_"):
            raise _unknown(f"….{getattr_node.attr}")
        if (
            isinstance(base, nodes.Name)
            and base.name in VARIABLES
            and getattr_node.attr not in VARIABLES[base.name]
        ):
            raise _unknown(f"{base.name}.{getattr_node.attr}")
    for getitem in tree.find_all(nodes.Getitem):
        base = getitem.node
        if isinstance(base, nodes.Name) and base.name in VARIABLES:
            key = getitem.arg
            if not isinstance(key, nodes.Const) or key.value not in VARIABLES[base.name]:
                shown = key.value if isinstance(key, nodes.Const) else "…"
                raise _unknown(f"{base.name}.{shown}")
    for name in tree.find_all(nodes.Name):
        if name.ctx == "load" and name.name not in VARIABLES and name.name not in local:
            raise _unknown(name.name)


def render(body: str, values: Mapping[str, Mapping[str, Any]]) -> str:
    """Render a checked template; a known variable without a value renders empty."""
    check_template(body)
    context = {
        obj: {
            attr: ("" if values.get(obj, {}).get(attr) is None else values[obj][attr])
            for attr in attrs
        }
        for obj, attrs in VARIABLES.items()
    }
    try:
        return _env.from_string(body).render(context)
    except (UndefinedError, SecurityError) as error:
        raise Invalid(
            "invalid_template", f"the template cannot be rendered: {error}", "body"
        ) from None
    except (TypeError, ValueError, ArithmeticError) as error:
        raise Invalid(
            "invalid_template", f"the template cannot be rendered: {error}", "body"
        ) from None
