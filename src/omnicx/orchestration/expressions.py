"""The safe expression language of segments and journeys: CEL (Common Expression Language).

Conditions are data written by people, so they are never run as Python: CEL has no loops,
no side effects and no access to the host's objects. A field on a map is a key look-up
(`traits.__class__` is just a missing key), and only the functions listed in `FUNCTIONS`
may be called. The Rust implementation behind the `cel` package parses and runs them.

    compile_expression(source, path) -> Expression     raises Invalid("invalid_expression")
    Expression.evaluate(variables)   -> Any            raises Invalid("expression_failed")
    Expression.test(variables)       -> bool           False on any failure, never raises

Variables are the maps `traits`, `customer` (`id`, `created_at`), `event` (`name`,
`channel`, `timestamp`, `properties`) and the timestamp `now`; a caller may name others.
"""

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import cel

from omnicx.kernel import Invalid

MAX_CHARS = 2000
"""Longer sources are refused before they are parsed."""

VARIABLES = frozenset({"traits", "customer", "event", "now"})

FUNCTIONS = frozenset(
    {
        "size",
        "contains",
        "startsWith",
        "endsWith",
        "matches",
        "int",
        "uint",
        "double",
        "string",
        "bytes",
        "timestamp",
        "duration",
        "dyn",
        "type",
        "getFullYear",
        "getMonth",
        "getDate",
        "getDayOfMonth",
        "getDayOfWeek",
        "getDayOfYear",
        "getHours",
        "getMinutes",
        "getSeconds",
        "getMilliseconds",
    }
)
"""Named functions an expression may call (CEL's standard ones the engine implements);
operators and the macros `has`, `all`, `exists`, `exists_one`, `map` and `filter` are
always allowed."""

TYPE_NAMES = frozenset({"int", "uint", "double", "string", "bool", "bytes", "list", "map", "type"})
"""Identifiers that name CEL types (`type(x) == int`)."""

_BOUND = re.compile(
    r"\.\s*(?:all|exists_one|exists|map|filter)\s*\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*,"
)


def _operator(name: str) -> bool:
    return not name[:1].isalpha()


@dataclass(frozen=True, eq=False)
class Expression:
    """A compiled expression: compile once, evaluate many times."""

    source: str
    path: str
    program: cel.Program
    variables: frozenset[str]
    """The variables the source refers to (`now` among them makes it time-dependent)."""

    def evaluate(self, variables: Mapping[str, Any]) -> Any:
        try:
            return self.program.execute(dict(variables))
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as error:  # the engine reports bad data with several types
            raise Invalid(
                "expression_failed", f"{self.path}: {_reason(error)}", self.path
            ) from None

    def test(self, variables: Mapping[str, Any]) -> bool:
        """True only when the expression evaluates to true; a missing key, a type mismatch
        or any other failure is False."""
        try:
            return self.program.execute(dict(variables)) is True
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException:
            return False


def compile_expression(
    source: str, path: str, *, variables: Collection[str] = VARIABLES
) -> Expression:
    """Parse and check `source`; errors name `path` (the JSON path of the expression)."""
    if not isinstance(source, str) or not source.strip():
        raise Invalid("invalid_expression", f"{path}: an expression is needed", path)
    if len(source) > MAX_CHARS:
        raise Invalid(
            "invalid_expression",
            f"{path}: the expression has {len(source)} characters; at most {MAX_CHARS}",
            path,
        )
    program, referenced, functions = _compiled(source)
    if program is None:
        raise Invalid("invalid_expression", f"{path}: {referenced[0]}", path)
    unknown = sorted(f for f in functions if not _operator(f) and f not in FUNCTIONS)
    if unknown:
        raise Invalid(
            "invalid_expression",
            f"{path}: unknown function {', '.join(unknown)}; "
            f"allowed: {', '.join(sorted(FUNCTIONS))}",
            path,
        )
    bound = set(_BOUND.findall(source))
    allowed = set(variables) | bound | TYPE_NAMES
    strays = sorted(v for v in referenced if v not in allowed)
    if strays:
        raise Invalid(
            "invalid_expression",
            f"{path}: unknown variable {', '.join(strays)}; use {', '.join(sorted(variables))}",
            path,
        )
    return Expression(source, path, program, frozenset(referenced) & frozenset(variables))


@lru_cache(maxsize=4096)
def _compiled(source: str) -> tuple[cel.Program | None, tuple[str, ...], tuple[str, ...]]:
    """The program with its variables and functions, or (None, (error,), ()): cached, since
    the same conditions are compiled again on every evaluation pass."""
    try:
        program = cel.compile(source)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as error:
        return None, (_syntax(error),), ()
    return program, tuple(program.variables()), tuple(program.functions())


def _syntax(error: BaseException) -> str:
    text = str(error)
    match = re.search(r"<input>:(\d+):(\d+): (.*?)(?:\n|$)", text)
    if match:
        return f"{match.group(3).strip()} at line {match.group(1)}, column {match.group(2)}"
    return _reason(error)


def _reason(error: BaseException) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    if isinstance(error, KeyError):
        return f"no key {text} in the data"
    return text[:300]
