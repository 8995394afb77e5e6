"""Segments: who is in an audience, as a condition tree over what omnicx knows of a person.

A definition is JSON (or YAML) data, checked once on upload (`parse_condition`, every problem
named by its JSON path) and evaluated many times against a customer's facts (`matches`),
with no I/O: the segmenter loads the facts the definitions need, in batches.

    condition  := {"all": [condition, ...]} | {"any": [condition, ...]} | {"not": condition}
                | trait | event | conversation | consent | expr
    trait        {"trait": "tier", "op": "eq|ne|in|gt|gte|lt|lte|exists|contains", "value": ...}
    event        {"event": "Order Completed", "where": "<CEL>", "channel": "web" | [...],
                  "count": {"gte": 2}, "within": "30d"}           (default count: gte 1)
                 {"event": "...", "last_within": "7d"}             (at least one in the window)
                 {"event": "...", "not_within": "90d"}             (none in the window)
    conversation {"conversation": {"status": "open" | [...], "contact_reason": "delivery",
                  "channel": "email", "within": "30d"}}            (active within the window)
    consent      {"consent": {"purpose": "marketing", "channel": "email"}}   (may be contacted)
    expr         {"expr": "<CEL over traits, customer and now>"}

Windows are a whole number of seconds, minutes, hours, days or weeks: "45m", "12h", "30d".
Events are tracked events, matched by their name; `where` is CEL over `event` (`name`,
`channel`, `timestamp`, `properties`) and `now`.
"""

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from omnicx.kernel import Invalid
from omnicx.kernel.moments import from_micros, micros
from omnicx.orchestration.expressions import Expression, compile_expression

TRAIT_OPS = ("eq", "ne", "in", "gt", "gte", "lt", "lte", "exists", "contains")
COUNT_OPS = ("eq", "ne", "gt", "gte", "lt", "lte")
CONVERSATION_STATUSES = ("open", "pending", "snoozed", "resolved", "closed")
MAX_DEPTH = 8
MAX_CONDITIONS = 100
MAX_CHILDREN = 50
MAX_WINDOW = timedelta(days=3660)
MAX_COUNT = 1_000_000
MAX_VALUES = 500
NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
WINDOW = re.compile(r"^([1-9][0-9]{0,6})([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
LEAVES = ("trait", "event", "conversation", "consent", "expr")
KINDS = ("all", "any", "not", *LEAVES)

Effect = Literal["enter", "exit"]


# -- the condition tree ------------------------------------------------------------------


@dataclass(frozen=True)
class All:
    conditions: tuple["Condition", ...]


@dataclass(frozen=True)
class AnyOf:
    conditions: tuple["Condition", ...]


@dataclass(frozen=True)
class Not:
    condition: "Condition"


@dataclass(frozen=True)
class TraitCondition:
    key: str
    op: str
    value: Any = None


@dataclass(frozen=True)
class EventCondition:
    """Matching events counted over a window (`within` None: over all time)."""

    event: str
    op: str
    count: int
    within: timedelta | None
    channels: tuple[str, ...] = ()
    where: Expression | None = None


@dataclass(frozen=True)
class ConversationCondition:
    """The customer has a conversation in one of these states (any, when empty), active
    (last message, else opened) within the window."""

    statuses: tuple[str, ...] = ()
    contact_reasons: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    within: timedelta | None = None


@dataclass(frozen=True)
class ConsentCondition:
    purpose: str
    channel: str


@dataclass(frozen=True)
class ExprCondition:
    expression: Expression


Condition = (
    (All | AnyOf | Not | TraitCondition | EventCondition | ConversationCondition)
    | ConsentCondition
    | ExprCondition
)


# -- what a definition needs and how time moves it --------------------------------------


@dataclass(frozen=True)
class Needs:
    """The facts a set of definitions reads, so evaluation loads nothing more."""

    event_names: frozenset[str] = frozenset()
    event_lookback: timedelta | None = None
    """The widest window over the events named; None with `all_time` means every event."""
    all_time: bool = False
    properties: bool = False
    conversations: bool = False
    consents: frozenset[tuple[str, str]] = frozenset()
    any_trait: bool = False
    """An expression reads traits, so any trait change matters."""
    trait_keys: frozenset[str] = frozenset()

    def __or__(self, other: "Needs") -> "Needs":
        lookback = [w for w in (self.event_lookback, other.event_lookback) if w is not None]
        return Needs(
            event_names=self.event_names | other.event_names,
            event_lookback=max(lookback) if lookback else None,
            all_time=self.all_time or other.all_time,
            properties=self.properties or other.properties,
            conversations=self.conversations or other.conversations,
            consents=self.consents | other.consents,
            any_trait=self.any_trait or other.any_trait,
            trait_keys=self.trait_keys | other.trait_keys,
        )


def needs(condition: Condition) -> Needs:
    match condition:
        case All(children) | AnyOf(children):
            found = Needs()
            for child in children:
                found = found | needs(child)
            return found
        case Not(child):
            return needs(child)
        case TraitCondition(key=key):
            return Needs(trait_keys=frozenset({key.split(".")[0], key}))
        case EventCondition(event=name, within=within, where=where):
            return Needs(
                event_names=frozenset({name}),
                event_lookback=within,
                all_time=within is None,
                properties=where is not None,
            )
        case ConversationCondition():
            return Needs(conversations=True)
        case ConsentCondition(purpose=purpose, channel=channel):
            return Needs(consents=frozenset({(purpose, channel)}))
        case ExprCondition(expression=expression):
            return Needs(any_trait="traits" in expression.variables)
    raise AssertionError(condition)


def effects(condition: Condition) -> frozenset[Effect]:
    """How the mere passing of time can change the answer: "enter" when a person may start
    to match with no new data, "exit" when a member may stop matching. Drives the scheduled
    refresh: nothing, the members only, or everyone."""
    both: frozenset[Effect] = frozenset({"enter", "exit"})
    match condition:
        case All(children) | AnyOf(children):
            found: frozenset[Effect] = frozenset()
            for child in children:
                found |= effects(child)
            return found
        case Not(child):
            flipped = {"enter": "exit", "exit": "enter"}
            return frozenset(flipped[e] for e in effects(child))  # type: ignore[misc]
        case TraitCondition():
            return frozenset()
        case EventCondition(op=op, count=count, within=within):
            if within is None or (op == "gte" and count == 0):
                return frozenset()
            if op in ("gt", "gte"):
                return frozenset({"exit"})
            return both
        case ConversationCondition() | ConsentCondition():
            # Classification and consent changes are not all signalled: refresh both ways.
            return both
        case ExprCondition(expression=expression):
            return both if "now" in expression.variables else frozenset()
    raise AssertionError(condition)


# -- parsing ----------------------------------------------------------------------------


class SegmentInvalid(Invalid):
    """A definition with problems; `problems` names each one by its JSON path."""

    def __init__(self, problems: Sequence[tuple[str, str]]) -> None:
        first_path, first = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__("invalid_segment", f"{first_path}: {first}{more}", first_path)
        self.problems = tuple(problems)


def parse_window(value: Any, path: str, problems: list[tuple[str, str]]) -> timedelta | None:
    if not isinstance(value, str) or not (match := WINDOW.match(value)):
        problems.append((path, 'a window is a whole number and a unit s, m, h, d or w: "30d"'))
        return None
    window = timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])
    if window > MAX_WINDOW:
        problems.append((path, "a window is at most 3660 days"))
        return None
    return window


def parse_condition(data: Any, path: str = "condition") -> Condition:
    """The condition tree of `data`, or `SegmentInvalid` naming every problem by its path."""
    problems: list[tuple[str, str]] = []
    counter = [0]
    condition = _parse(data, path, 1, problems, counter)
    if counter[0] > MAX_CONDITIONS and not problems:
        problems.append((path, f"a definition has at most {MAX_CONDITIONS} conditions"))
    if problems or condition is None:
        raise SegmentInvalid(problems or [(path, "a condition is needed")])
    return condition


def _parse(
    data: Any, path: str, depth: int, problems: list[tuple[str, str]], counter: list[int]
) -> Condition | None:
    counter[0] += 1
    if not isinstance(data, dict):
        problems.append((path, f"a condition is an object with one of {', '.join(KINDS)}"))
        return None
    kinds = [k for k in KINDS if k in data]
    if len(kinds) != 1:
        found = f"found {', '.join(kinds)}" if kinds else f"found {', '.join(map(str, data))}"
        problems.append((path, f"a condition has exactly one of {', '.join(KINDS)}; {found}"))
        return None
    kind = kinds[0]
    if kind in ("all", "any", "not"):
        extra = sorted(str(k) for k in data if k != kind)
        if extra:
            problems.append((f"{path}.{extra[0]}", f"unknown key beside {kind!r}"))
        if depth >= MAX_DEPTH:
            problems.append((path, f"conditions nest at most {MAX_DEPTH} levels deep"))
            return None
        if kind == "not":
            child = _parse(data["not"], f"{path}.not", depth + 1, problems, counter)
            return Not(child) if child is not None else None
        items = data[kind]
        if not isinstance(items, list) or not items:
            problems.append((f"{path}.{kind}", "a non-empty list of conditions is needed"))
            return None
        if len(items) > MAX_CHILDREN:
            problems.append((f"{path}.{kind}", f"at most {MAX_CHILDREN} conditions"))
            return None
        children = [
            _parse(item, f"{path}.{kind}[{i}]", depth + 1, problems, counter)
            for i, item in enumerate(items)
        ]
        if any(c is None for c in children):
            return None
        kept = tuple(c for c in children if c is not None)
        return All(kept) if kind == "all" else AnyOf(kept)
    parser = _LEAF_PARSERS[kind]
    return parser(data, path, problems)


def _unknown_keys(
    data: Mapping[str, Any], allowed: Iterable[str], path: str, problems: list[tuple[str, str]]
) -> None:
    for key in sorted(str(k) for k in data if k not in allowed):
        problems.append((f"{path}.{key}", f"unknown key; allowed: {', '.join(allowed)}"))


def _text(value: Any, path: str, problems: list[tuple[str, str]], limit: int = 200) -> str | None:
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        problems.append((path, f"a text of 1 to {limit} characters is needed"))
        return None
    return value


def _names(value: Any, path: str, problems: list[tuple[str, str]]) -> tuple[str, ...]:
    """One lower-case name or a list of them (channels, purposes)."""
    items = value if isinstance(value, list) else [value]
    if not items or len(items) > MAX_VALUES:
        problems.append((path, f"one name or a list of 1 to {MAX_VALUES} names is needed"))
        return ()
    found: list[str] = []
    for i, item in enumerate(items):
        where = f"{path}[{i}]" if isinstance(value, list) else path
        if not isinstance(item, str) or not NAME.match(item):
            problems.append((where, "a lower-case name such as web, email or store is needed"))
        else:
            found.append(item)
    return tuple(found)


def _texts(value: Any, path: str, problems: list[tuple[str, str]]) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    if not items or len(items) > MAX_VALUES:
        problems.append((path, f"one text or a list of 1 to {MAX_VALUES} texts is needed"))
        return ()
    found = []
    for i, item in enumerate(items):
        where = f"{path}[{i}]" if isinstance(value, list) else path
        text = _text(item, where, problems)
        if text is not None:
            found.append(text)
    return tuple(found)


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _parse_trait(data: dict[str, Any], path: str, problems: list[tuple[str, str]]) -> Condition:
    _unknown_keys(data, ("trait", "op", "value"), path, problems)
    key = _text(data["trait"], f"{path}.trait", problems) or ""
    op = data.get("op")
    if op not in TRAIT_OPS:
        problems.append((f"{path}.op", f"op is one of {', '.join(TRAIT_OPS)}"))
        return TraitCondition(key, "eq", None)
    value = data.get("value")
    vpath = f"{path}.value"
    if op == "exists":
        if "value" in data and not isinstance(value, bool):
            problems.append((vpath, "exists takes true (the default) or false"))
        return TraitCondition(key, op, True if value is None else value)
    if "value" not in data:
        problems.append((vpath, f"{op} needs a value"))
    elif op == "in":
        if not isinstance(value, list) or not value or len(value) > MAX_VALUES:
            problems.append((vpath, f"in needs a list of 1 to {MAX_VALUES} values"))
        elif not all(_scalar(v) for v in value):
            problems.append((vpath, "in compares with texts, numbers, booleans or null"))
        else:
            return TraitCondition(key, op, tuple(value))
    elif op in ("gt", "gte", "lt", "lte"):
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            problems.append((vpath, f"{op} compares with a number or a text (ISO dates sort)"))
    elif not _scalar(value):
        problems.append((vpath, f"{op} compares with a text, a number, a boolean or null"))
    return TraitCondition(key, op, value)


def _parse_event(data: dict[str, Any], path: str, problems: list[tuple[str, str]]) -> Condition:
    allowed = ("event", "where", "channel", "count", "within", "last_within", "not_within")
    _unknown_keys(data, allowed, path, problems)
    name = _text(data["event"], f"{path}.event", problems) or ""
    modes = [k for k in ("count", "last_within", "not_within") if k in data]
    if len(modes) > 1:
        problems.append(
            (
                f"{path}.{modes[1]}",
                f"use one of count, last_within, not_within; found {', '.join(modes)}",
            )
        )
    op, count, within = "gte", 1, None
    mode = modes[0] if modes else "count"
    if mode == "count":
        if "count" in data:
            op, count = _parse_count(data["count"], f"{path}.count", problems)
        if "within" in data:
            within = parse_window(data["within"], f"{path}.within", problems)
    else:
        if "within" in data:
            problems.append((f"{path}.within", f"{mode} is the window already"))
        within = parse_window(data[mode], f"{path}.{mode}", problems)
        op, count = ("gte", 1) if mode == "last_within" else ("eq", 0)
    channels: tuple[str, ...] = ()
    if "channel" in data:
        channels = _names(data["channel"], f"{path}.channel", problems)
    where = None
    if "where" in data:
        where = _expression(data["where"], f"{path}.where", {"event", "now"}, problems)
    return EventCondition(name, op, count, within, channels, where)


def _parse_count(value: Any, path: str, problems: list[tuple[str, str]]) -> tuple[str, int]:
    if not isinstance(value, dict) or len(value) != 1:
        problems.append(
            (path, f'count is one comparison, e.g. {{"gte": 2}}: {", ".join(COUNT_OPS)}')
        )
        return "gte", 1
    ((op, count),) = value.items()
    if op not in COUNT_OPS:
        problems.append((f"{path}.{op}", f"a count compares with one of {', '.join(COUNT_OPS)}"))
        return "gte", 1
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= MAX_COUNT:
        problems.append((f"{path}.{op}", f"a whole number from 0 to {MAX_COUNT} is needed"))
        return "gte", 1
    return op, count


def _parse_conversation(
    data: dict[str, Any], path: str, problems: list[tuple[str, str]]
) -> Condition:
    _unknown_keys(data, ("conversation",), path, problems)
    spec = data["conversation"]
    path = f"{path}.conversation"
    if not isinstance(spec, dict):
        problems.append((path, "an object with status, contact_reason, channel or within"))
        return ConversationCondition()
    _unknown_keys(spec, ("status", "contact_reason", "channel", "within"), path, problems)
    statuses: tuple[str, ...] = ()
    if "status" in spec:
        statuses = _names(spec["status"], f"{path}.status", problems)
        for i, status in enumerate(statuses):
            if status not in (*CONVERSATION_STATUSES, "active"):
                where = (
                    f"{path}.status[{i}]" if isinstance(spec["status"], list) else f"{path}.status"
                )
                problems.append(
                    (where, f"a status is active or one of {', '.join(CONVERSATION_STATUSES)}")
                )
        if "active" in statuses:
            statuses = tuple(
                dict.fromkeys(s for s in (*statuses, "open", "pending", "snoozed") if s != "active")
            )
    reasons = (
        _texts(spec["contact_reason"], f"{path}.contact_reason", problems)
        if ("contact_reason" in spec)
        else ()
    )
    channels = _names(spec["channel"], f"{path}.channel", problems) if "channel" in spec else ()
    within = parse_window(spec["within"], f"{path}.within", problems) if "within" in spec else None
    return ConversationCondition(statuses, reasons, channels, within)


def _parse_consent(data: dict[str, Any], path: str, problems: list[tuple[str, str]]) -> Condition:
    _unknown_keys(data, ("consent",), path, problems)
    spec = data["consent"]
    path = f"{path}.consent"
    if not isinstance(spec, dict):
        problems.append((path, "an object with a purpose and a channel is needed"))
        return ConsentCondition("", "")
    _unknown_keys(spec, ("purpose", "channel"), path, problems)
    found = []
    for key in ("purpose", "channel"):
        value = spec.get(key)
        if not isinstance(value, str) or not NAME.match(value):
            problems.append((f"{path}.{key}", f"a lower-case {key} name is needed"))
            found.append("")
        else:
            found.append(value)
    return ConsentCondition(found[0], found[1])


def _parse_expr(data: dict[str, Any], path: str, problems: list[tuple[str, str]]) -> Condition:
    _unknown_keys(data, ("expr",), path, problems)
    expression = _expression(data["expr"], f"{path}.expr", {"traits", "customer", "now"}, problems)
    return ExprCondition(expression) if expression is not None else ExprCondition(_TRUE)


def _expression(
    source: Any, path: str, variables: set[str], problems: list[tuple[str, str]]
) -> Expression | None:
    if not isinstance(source, str):
        problems.append((path, "a CEL expression (a text) is needed"))
        return None
    try:
        return compile_expression(source, path, variables=variables)
    except Invalid as error:
        problems.append((path, error.message.removeprefix(f"{path}: ")))
        return None


_TRUE = compile_expression("true", "true")

_LEAF_PARSERS: dict[str, Callable[[dict[str, Any], str, list[tuple[str, str]]], Condition]] = {
    "trait": _parse_trait,
    "event": _parse_event,
    "conversation": _parse_conversation,
    "consent": _parse_consent,
    "expr": _parse_expr,
}


# -- facts and evaluation ----------------------------------------------------------------


@dataclass(frozen=True)
class EventFact:
    name: str
    channel: str
    ts: int
    """Event time, integer microseconds since the epoch."""
    properties: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ConversationFact:
    status: str
    contact_reason: str | None
    channels: tuple[str, ...]
    active_at: datetime
    """The last message's time, else when it was opened."""


@dataclass(frozen=True)
class Facts:
    """What is known of one live customer, as far as the definitions need."""

    customer_id: str
    created_at: datetime
    traits: Mapping[str, Any] = field(default_factory=dict)
    events: Mapping[str, Sequence[EventFact]] = field(default_factory=dict)
    """By event name: the events of the names the definitions count, in their lookback."""
    conversations: Sequence[ConversationFact] = ()
    consents: frozenset[tuple[str, str]] = frozenset()
    """(purpose, channel) pairs the customer may be contacted for."""


def matches(condition: Condition, facts: Facts, now: datetime) -> bool:
    """Whether the customer matches `condition` at `now` (pure; no I/O)."""
    return _Evaluation(facts, now).test(condition)


class _Evaluation:
    def __init__(self, facts: Facts, now: datetime) -> None:
        self.facts = facts
        self.now = now
        self._variables: dict[str, Any] | None = None

    def variables(self) -> dict[str, Any]:
        if self._variables is None:
            self._variables = {
                "traits": dict(self.facts.traits),
                "customer": {"id": self.facts.customer_id, "created_at": self.facts.created_at},
                "now": self.now,
            }
        return self._variables

    def test(self, condition: Condition) -> bool:
        match condition:
            case All(children):
                return all(self.test(c) for c in children)
            case AnyOf(children):
                return any(self.test(c) for c in children)
            case Not(child):
                return not self.test(child)
            case TraitCondition():
                return trait_matches(condition, self.facts.traits)
            case EventCondition():
                return compare(condition.op, self.count(condition), condition.count)
            case ConversationCondition():
                return any(self.conversation(condition, c) for c in self.facts.conversations)
            case ConsentCondition(purpose=purpose, channel=channel):
                return (purpose, channel) in self.facts.consents
            case ExprCondition(expression=expression):
                return expression.test(self.variables())
        raise AssertionError(condition)

    def count(self, condition: EventCondition) -> int:
        since = micros(self.now - condition.within) if condition.within is not None else None
        count = 0
        for fact in self.facts.events.get(condition.event, ()):
            if since is not None and fact.ts < since:
                continue
            if condition.channels and fact.channel not in condition.channels:
                continue
            if condition.where is not None and not condition.where.test(
                {
                    "event": {
                        "name": fact.name,
                        "channel": fact.channel,
                        "timestamp": from_micros(fact.ts),
                        "properties": dict(fact.properties),
                    },
                    "now": self.now,
                }
            ):
                continue
            count += 1
        return count

    def conversation(self, condition: ConversationCondition, fact: ConversationFact) -> bool:
        if condition.statuses and fact.status not in condition.statuses:
            return False
        if condition.contact_reasons and fact.contact_reason not in condition.contact_reasons:
            return False
        if condition.channels and not set(condition.channels) & set(fact.channels):
            return False
        return condition.within is None or fact.active_at >= self.now - condition.within


def compare(op: str, left: int, right: int) -> bool:
    match op:
        case "eq":
            return left == right
        case "ne":
            return left != right
        case "gt":
            return left > right
        case "gte":
            return left >= right
        case "lt":
            return left < right
        case "lte":
            return left <= right
    raise AssertionError(op)


_MISSING = object()


def trait_value(traits: Mapping[str, Any], key: str) -> Any:
    """A trait by key; a dotted key reads into nested objects when no trait has that name."""
    if key in traits:
        return traits[key]
    value: Any = traits
    for part in key.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    return bool(a == b) and (
        type(a) is type(b) or (isinstance(a, int | float) and isinstance(b, int | float))
    )


def _ordered(a: Any, b: Any) -> tuple[Any, Any] | None:
    if isinstance(a, bool) or isinstance(b, bool):
        return None
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a, b
    if isinstance(a, str) and isinstance(b, str):
        return a, b
    return None


def trait_matches(condition: TraitCondition, traits: Mapping[str, Any]) -> bool:
    """`ne` holds when the trait is missing; every other operator needs it present (`exists`
    false asks for it missing or null)."""
    value = trait_value(traits, condition.key)
    present = value is not _MISSING and value is not None
    op = condition.op
    if op == "exists":
        return present is bool(condition.value)
    if value is _MISSING:
        return op == "ne"
    match op:
        case "eq":
            return _same(value, condition.value)
        case "ne":
            return not _same(value, condition.value)
        case "in":
            return any(_same(value, v) for v in condition.value)
        case "contains":
            if isinstance(value, str) and isinstance(condition.value, str):
                return condition.value in value
            if isinstance(value, list):
                return any(_same(item, condition.value) for item in value)
            return False
    pair = _ordered(value, condition.value)
    if pair is None:
        return False
    left, right = pair
    match op:
        case "gt":
            return bool(left > right)
        case "gte":
            return bool(left >= right)
        case "lt":
            return bool(left < right)
        case "lte":
            return bool(left <= right)
    raise AssertionError(op)


# -- the stored segment ------------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    id: str
    name: str
    description: str
    definition: dict[str, Any]
    """The condition tree as uploaded (JSON)."""
    version: int
    created_at: datetime
    updated_at: datetime
    scan: str | None = None
    """A pass over customers under way: "all" (everyone) or "members"; None when idle."""
    scan_after: str = ""
    """The last profile id the pass evaluated."""
    refreshed_at: datetime | None = None
    """When the last pass started."""

    @property
    def condition(self) -> Condition:
        return compiled(self.id, self.version, self.definition)

    def refresh_scope(self) -> Literal["all", "members"] | None:
        """What a scheduled refresh re-evaluates: everyone when time can let people in, the
        members when it can only let them out, nothing when time changes nothing."""
        found = effects(self.condition)
        if "enter" in found:
            return "all"
        return "members" if "exit" in found else None


_compiled: dict[tuple[str, int], Condition] = {}


def compiled(segment_id: str, version: int, definition: Any) -> Condition:
    """A stored definition's tree, parsed once per (segment, version)."""
    key = (segment_id, version)
    found = _compiled.get(key)
    if found is None:
        if len(_compiled) > 10_000:
            _compiled.clear()
        found = _compiled[key] = parse_condition(definition)
    return found


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > 200:
        raise Invalid(
            "invalid_segment_name", "a segment needs a name of 1 to 200 characters", "name"
        )
    return name.strip()
