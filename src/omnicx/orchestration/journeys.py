"""Journeys as data: the definition, its validation, and stepping an instance through it.

A definition is a JSON or YAML document. Every problem found in one is reported with the
path of the value at fault (`nodes.wait_2.duration: ...`), all of them at once.

    name, description, time_zone (local times for customers without one of their own)
    trigger     event {event, filter} · segment {segment, on: entry|exit}
                · schedule {schedule: {cron | every, time_zone}, segment}
                · date {trait, offset_days, at}
    goal        {event, filter}: on seeing it the customer leaves as "converted"
    reentry     never · always · {cooldown: <duration>}
    start, nodes: {<id>: {type, ...}}

    node          waits?  exits
    wait          yes     next                      (duration, or until a local time of day)
    wait_event    yes     next, timeout_next        (event, filter, timeout)
    task          yes     next, timeout_next, outcomes.<outcome>
    branch        no      cases[i].next, else       (CEL conditions, first true wins)
    split         no      paths[i].next             (percentages; the holdout leaves)
    send          no      next                      (a send intent for the policy gate)
    webhook       no      next
    update_trait  no      next
    exit          -       -

Every loop must pass through a node that waits, so one step always ends.

Stepping is pure: an instance, the facts about its customer and a signal in; the instance's
new place, the transitions it went through and the actions to take out.

    ready   --arrive at a node that does not wait-->  the next node, at once
    ready   --arrive at wait, wait_event, task---->  waiting (wake_at: timer, timeout, due)
    waiting --timer, event, task closed----------->  ready at the exit taken
    any     --exit node, goal, holdout, migration->  done
"""

import hashlib
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson
import yaml
from cronsim import CronSim, CronSimError

from omnicx.kernel import Invalid
from omnicx.orchestration.expressions import Expression, compile_expression

MAX_NODES = 200
MAX_STEPS = 1000
"""A guard: a step that visits this many nodes without waiting is stopped as failed."""
HOLDOUT_WINDOW = 30 * 86400
"""How long a split's holdout is watched for the goal, unless the split says."""
MAX_VALUES = 20_000
"""Values (keys, items, scalars) a definition may hold, aliases expanded."""

NODE_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
DURATION = re.compile(r"^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
PURPOSES = ("transactional", "service", "marketing", "feedback", "custom")
REENTRY_MODES = ("never", "cooldown", "always")
WAITING_TYPES = frozenset({"wait", "wait_event", "task"})
CONDITION_VARIABLES = frozenset({"traits", "customer", "event", "journey", "now"})

State = Literal["ready", "waiting", "done"]


# -- problems -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    field: str
    message: str


class DefinitionInvalid(Invalid):
    """Every problem of a definition; the error names the first, `problems` holds them all."""

    def __init__(self, problems: list[Problem]) -> None:
        first = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__("invalid_definition", f"{first.field}: {first.message}{more}", first.field)
        self.problems = tuple(problems)


# -- reading a source ------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """YAML's safe loader with the core schema's numbers: `09:30` stays the text it reads as
    (YAML 1.1 makes it 570, in base 60) and dates stay text."""


_Loader.yaml_implicit_resolvers = {
    first: [
        (tag, rx)
        for tag, rx in resolvers
        if tag
        not in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:timestamp")
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$"), list("-+0123456789")
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$"),
    list("-+0123456789."),
)


def load_source(data: bytes | str, media_type: str | None) -> dict[str, Any]:
    """A definition document from JSON or YAML (`application/yaml`, `text/yaml`), as plain
    JSON values; the error names the line of a syntax error."""
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    try:
        if media_type is not None and "yaml" in media_type:
            loaded = yaml.load(text, Loader=_Loader)  # noqa: S506 (a SafeLoader subclass)
        else:
            loaded = orjson.loads(text)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise Invalid("malformed_yaml", f"the body is not valid YAML{where}", "body") from None
    except RecursionError:
        raise Invalid("too_deeply_nested", "the definition nests too deeply", "body") from None
    except (yaml.YAMLError, orjson.JSONDecodeError, UnicodeDecodeError) as error:
        raise Invalid("malformed_body", f"the body cannot be read: {error}", "body") from None
    if not isinstance(loaded, dict):
        raise Invalid("invalid_definition", "a definition is a mapping of keys", "body")
    found: dict[str, Any] = plain(loaded)
    return found


def plain(value: Any) -> Any:
    """`value` as JSON values (string keys, lists), refusing documents over `MAX_VALUES`
    values or 64 levels deep, NUL characters and numbers JSON storage cannot hold."""
    budget = [MAX_VALUES]

    def walk(item: Any, depth: int) -> Any:
        budget[0] -= 1
        if budget[0] < 0:
            raise Invalid(
                "definition_too_large", f"a definition holds at most {MAX_VALUES} values", "body"
            )
        if depth > 64:
            raise Invalid("too_deeply_nested", "the definition nests over 64 levels", "body")
        if isinstance(item, dict):
            return {walk(str(k), depth): walk(v, depth + 1) for k, v in item.items()}
        if isinstance(item, list | tuple):
            return [walk(v, depth + 1) for v in item]
        if isinstance(item, datetime | date | time):
            return item.isoformat()
        if isinstance(item, str):
            if "\x00" in item:
                raise Invalid("nul_character", "a text holds a NUL character", "body")
            return item
        if isinstance(item, bool) or item is None:
            return item
        if isinstance(item, int):
            if not -(2**63) <= item < 2**63:
                raise Invalid("number_too_large", f"{item} is out of range", "body")
            return item
        if isinstance(item, float):
            if item != item or item in (float("inf"), float("-inf")):
                raise Invalid("invalid_number", "numbers must be finite", "body")
            return item
        return str(item)

    return walk(value, 0)


def definition_hash(source: Mapping[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(source, option=orjson.OPT_SORT_KEYS)).hexdigest()


def parse_duration(value: Any) -> int | None:
    """Seconds from a number of seconds or text such as `90s`, `15m`, `1h30m`, `2d`, `1w`."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if not isinstance(value, str) or not value:
        return None
    match = DURATION.match(value.strip())
    if not match or not any(match.groups()):
        return None
    w, d, h, m, s = (int(g) if g else 0 for g in match.groups())
    return (((w * 7 + d) * 24 + h) * 60 + m) * 60 + s


def zone_of(name: str | None) -> ZoneInfo | None:
    if not name or not isinstance(name, str):
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


# -- the definition --------------------------------------------------------------------------


@dataclass(frozen=True)
class Condition:
    source: str
    expression: Expression

    def test(self, variables: Mapping[str, Any]) -> bool:
        return self.expression.test(variables)


@dataclass(frozen=True)
class EventTrigger:
    event: str
    filter: Condition | None = None


@dataclass(frozen=True)
class SegmentTrigger:
    segment: str
    on: Literal["entry", "exit"] = "entry"


@dataclass(frozen=True)
class ScheduleTrigger:
    """Everyone in `segment` enters at each time of the schedule; with `time_zone` None the
    schedule is read in each customer's own time zone."""

    segment: str
    cron: str | None
    every_seconds: int | None
    time_zone: str | None


@dataclass(frozen=True)
class DateTrigger:
    """A trait holding a date (a birthday): customers enter `offset_days` from its yearly
    anniversary (negative: before), at the local time `at`."""

    trait: str
    offset_days: int
    at: time


Trigger = EventTrigger | SegmentTrigger | ScheduleTrigger | DateTrigger


@dataclass(frozen=True)
class Goal:
    event: str
    filter: Condition | None = None


@dataclass(frozen=True)
class Reentry:
    mode: Literal["never", "cooldown", "always"] = "never"
    cooldown_seconds: int = 0


@dataclass(frozen=True)
class Wait:
    id: str
    next: str
    seconds: int | None = None
    until: time | None = None
    days: tuple[int, ...] = ()
    type: str = "wait"


@dataclass(frozen=True)
class WaitEvent:
    id: str
    event: str
    filter: Condition | None
    timeout_seconds: int
    next: str
    timeout_next: str
    type: str = "wait_event"


@dataclass(frozen=True)
class Case:
    condition: Condition
    next: str


@dataclass(frozen=True)
class Branch:
    id: str
    cases: tuple[Case, ...]
    otherwise: str
    type: str = "branch"


@dataclass(frozen=True)
class Path:
    name: str
    basis_points: int
    """Hundredths of a percent: 10000 is everyone."""
    next: str


@dataclass(frozen=True)
class Split:
    """A/B/n paths by percentage, by a hash of the instance id so a re-run agrees. The holdout
    gets nothing: it stays on the split for `holdout_seconds`, so its goal conversions are
    counted beside the paths' (uplift), then leaves as "holdout"."""

    id: str
    paths: tuple[Path, ...]
    holdout_basis_points: int
    holdout_seconds: int = 30 * 86400
    type: str = "split"


@dataclass(frozen=True)
class Send:
    id: str
    purpose: str
    category: str
    priority: int
    channels: tuple[str, ...]
    content: Mapping[str, Any]
    next: str
    fallback_after_seconds: int | None = None
    stale_after_seconds: int | None = None
    type: str = "send"


@dataclass(frozen=True)
class Task:
    id: str
    kind: str
    title: str
    team: str | None
    store: str | None
    due_seconds: int
    next: str
    timeout_next: str
    outcomes: Mapping[str, str] = field(default_factory=dict)
    type: str = "task"


@dataclass(frozen=True)
class Webhook:
    id: str
    url: str
    body: Mapping[str, Any]
    next: str
    type: str = "webhook"


@dataclass(frozen=True)
class UpdateTrait:
    id: str
    traits: Mapping[str, Any]
    next: str
    type: str = "update_trait"


@dataclass(frozen=True)
class Exit:
    id: str
    type: str = "exit"


Node = Wait | WaitEvent | Branch | Split | Send | Task | Webhook | UpdateTrait | Exit


def exits(node: Node) -> list[tuple[str, str]]:
    """(label, target) of every way out of `node`."""
    match node:
        case Wait() | Send() | Webhook() | UpdateTrait():
            return [("next", node.next)]
        case WaitEvent():
            return [("next", node.next), ("timeout_next", node.timeout_next)]
        case Task():
            outs = [("next", node.next), ("timeout_next", node.timeout_next)]
            return outs + [(f"outcomes.{k}", v) for k, v in node.outcomes.items()]
        case Branch():
            return [(f"cases.{i}.next", c.next) for i, c in enumerate(node.cases)] + [
                ("else", node.otherwise)
            ]
        case Split():
            return [(f"paths.{i}.next", p.next) for i, p in enumerate(node.paths)]
        case Exit():
            return []
    raise AssertionError(node)


@dataclass(frozen=True)
class Definition:
    name: str
    description: str
    trigger: Trigger
    start: str
    nodes: Mapping[str, Node]
    goal: Goal | None
    reentry: Reentry
    time_zone: str | None
    source: Mapping[str, Any]
    hash: str

    def listens(self) -> list[tuple[str, str]]:
        """(kind, name) of what this version reacts to: "trigger", "goal" and "wait" events,
        and "segment" entries or exits (`<segment id>:entry`)."""
        found: list[tuple[str, str]] = []
        match self.trigger:
            case EventTrigger(event=name):
                found.append(("trigger", name))
            case SegmentTrigger(segment=segment, on=on):
                found.append(("segment", f"{segment}:{on}"))
        if self.goal is not None:
            found.append(("goal", self.goal.event))
        found.extend(("wait", n.event) for n in self.nodes.values() if isinstance(n, WaitEvent))
        return sorted(set(found))


TOP_KEYS = ("name", "description", "time_zone", "trigger", "goal", "reentry", "start", "nodes")


class _Reader:
    """Reads a mapping with a path, collecting every problem instead of stopping at one."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems

    def add(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def mapping(self, value: Any, path: str, allowed: tuple[str, ...]) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.add(path, "must be a mapping")
            return None
        for key in value:
            if key not in allowed:
                self.add(
                    f"{path}.{key}" if path else key, f"unknown field; use {', '.join(allowed)}"
                )
        return value

    def text(
        self,
        data: Mapping[str, Any],
        key: str,
        path: str,
        *,
        required: bool = True,
        limit: int = 200,
    ) -> str | None:
        at = f"{path}.{key}" if path else key
        value = data.get(key)
        if value is None:
            if required:
                self.add(at, "is required")
            return None
        if not isinstance(value, str) or not value.strip():
            self.add(at, "must be a non-empty text")
            return None
        if len(value) > limit:
            self.add(at, f"is over {limit} characters")
            return None
        return value.strip()

    def duration(
        self, data: Mapping[str, Any], key: str, path: str, *, required: bool = True
    ) -> int | None:
        at = f"{path}.{key}"
        if data.get(key) is None:
            if required:
                self.add(at, "is required")
            return None
        seconds = parse_duration(data[key])
        if seconds is None:
            self.add(at, "must be a duration such as 90s, 15m, 1h30m, 2d or 1w, or seconds")
        return seconds

    def clock(self, data: Mapping[str, Any], key: str, path: str) -> time | None:
        value = data.get(key)
        match = CLOCK.match(value) if isinstance(value, str) else None
        if match is None:
            self.add(f"{path}.{key}", "must be a local time of day as HH:MM, e.g. 09:30")
            return None
        return time(int(match.group(1)), int(match.group(2)))

    def condition(
        self, data: Mapping[str, Any], key: str, path: str, *, required: bool = False
    ) -> Condition | None:
        at = f"{path}.{key}"
        source = data.get(key)
        if source is None:
            if required:
                self.add(at, "is required")
            return None
        try:
            return Condition(source, compile_expression(source, at, variables=CONDITION_VARIABLES))
        except Invalid as error:
            self.add(at, error.message.removeprefix(f"{at}: "))
            return None

    def ref(self, data: Mapping[str, Any], key: str, path: str) -> str:
        value = data.get(key)
        if not isinstance(value, str) or not value:
            self.add(f"{path}.{key}", "must name a node")
            return ""
        return value

    def zone(self, data: Mapping[str, Any], key: str, path: str) -> str | None:
        value = data.get(key)
        if value is None:
            return None
        if zone_of(value) is None:
            self.add(
                f"{path}.{key}" if path else key,
                "must be an IANA time zone, e.g. America/Sao_Paulo",
            )
            return None
        return str(value)


def parse_definition(source: Any) -> Definition:
    """The definition in `source` (plain JSON values), or `DefinitionInvalid` with every
    problem found."""
    problems: list[Problem] = []
    r = _Reader(problems)
    data = r.mapping(source, "", TOP_KEYS)
    if data is None:
        raise DefinitionInvalid(problems)
    name = r.text(data, "name", "")
    description = data.get("description") or ""
    if not isinstance(description, str) or len(description) > 2000:
        r.add("description", "must be a text of at most 2000 characters")
        description = ""
    time_zone = r.zone(data, "time_zone", "")
    trigger = _trigger(r, data.get("trigger"))
    goal = _goal(r, data.get("goal"))
    reentry = _reentry(r, data.get("reentry", "never"))
    nodes = _nodes(r, data.get("nodes"))
    start = data.get("start")
    declared = set(data["nodes"]) if isinstance(data.get("nodes"), dict) else set()
    if not isinstance(start, str) or start not in declared:
        if declared:
            r.add("start", "must name a node")
    else:
        _check_graph(r, start, nodes, declared)
    if problems:
        raise DefinitionInvalid(problems)
    assert name is not None
    assert trigger is not None
    assert isinstance(start, str)
    return Definition(
        name=name,
        description=description,
        trigger=trigger,
        start=start,
        nodes=nodes,
        goal=goal,
        reentry=reentry,
        time_zone=time_zone,
        source=source,
        hash=definition_hash(source),
    )


def _trigger(r: _Reader, value: Any) -> Trigger | None:
    if value is None:
        r.add("trigger", "is required: an event, a segment, a schedule or a date")
        return None
    if not isinstance(value, dict):
        r.add("trigger", "must be a mapping")
        return None
    if "event" in value:
        data = r.mapping(value, "trigger", ("event", "filter"))
        if data is None:
            return None
        event = r.text(data, "event", "trigger")
        condition = r.condition(data, "filter", "trigger")
        return EventTrigger(event, condition) if event else None
    if "schedule" in value:
        data = r.mapping(value, "trigger", ("schedule", "segment"))
        spec = r.mapping(value["schedule"], "trigger.schedule", ("cron", "every", "time_zone"))
        segment = r.text(value, "segment", "trigger")
        if spec is None:
            return None
        cron = spec.get("cron")
        every = None
        if ("cron" in spec) == ("every" in spec):
            r.add("trigger.schedule", "give either cron or every")
        elif cron is not None:
            if not isinstance(cron, str) or not _valid_cron(cron):
                r.add("trigger.schedule.cron", "must be a cron expression such as 0 9 * * mon")
        else:
            every = r.duration(spec, "every", "trigger.schedule")
            if every is not None and every < 60:
                r.add("trigger.schedule.every", "must be at least a minute")
        zone = spec.get("time_zone", "customer")
        if zone != "customer":
            zone = r.zone(spec, "time_zone", "trigger.schedule")
        if data is None or segment is None:
            return None
        return ScheduleTrigger(
            segment,
            cron if isinstance(cron, str) else None,
            every,
            None if zone == "customer" else zone,
        )
    if "segment" in value:
        data = r.mapping(value, "trigger", ("segment", "on"))
        if data is None:
            return None
        segment = r.text(data, "segment", "trigger")
        on = data.get("on", "entry")
        if on not in ("entry", "exit"):
            r.add("trigger.on", "must be entry or exit")
            return None
        return SegmentTrigger(segment, on) if segment else None
    if "date" in value:
        r.mapping(value, "trigger", ("date",))
        spec = r.mapping(value["date"], "trigger.date", ("trait", "offset_days", "at"))
        if spec is None:
            return None
        trait = r.text(spec, "trait", "trigger.date")
        offset = spec.get("offset_days", 0)
        if isinstance(offset, bool) or not isinstance(offset, int) or abs(offset) > 366:
            r.add("trigger.date.offset_days", "must be a whole number of days, -366 to 366")
            offset = 0
        at = r.clock(spec, "at", "trigger.date") if "at" in spec else time(9, 0)
        return DateTrigger(trait, offset, at) if trait and at else None
    r.add("trigger", "must hold event, segment, schedule or date")
    return None


def _valid_cron(expression: str) -> bool:
    try:
        CronSim(expression, datetime(2000, 1, 1, tzinfo=UTC))
    except CronSimError:
        return False
    return len(expression.split()) == 5


def _goal(r: _Reader, value: Any) -> Goal | None:
    if value is None:
        return None
    data = r.mapping(value, "goal", ("event", "filter"))
    if data is None:
        return None
    event = r.text(data, "event", "goal")
    condition = r.condition(data, "filter", "goal")
    return Goal(event, condition) if event else None


def _reentry(r: _Reader, value: Any) -> Reentry:
    if value in ("never", "always"):
        return Reentry(value)
    if isinstance(value, dict):
        data = r.mapping(value, "reentry", ("cooldown",))
        seconds = r.duration(data or {}, "cooldown", "reentry")
        return Reentry("cooldown", seconds or 0)
    r.add("reentry", "must be never, always, or {cooldown: <duration>}")
    return Reentry()


_NODE_KEYS: dict[str, tuple[str, ...]] = {
    "wait": ("duration", "until", "days", "next"),
    "wait_event": ("event", "filter", "timeout", "next", "timeout_next"),
    "branch": ("cases", "else"),
    "split": ("paths", "holdout"),
    "send": (
        "purpose",
        "category",
        "priority",
        "channels",
        "content",
        "fallback_after",
        "stale_after",
        "next",
    ),
    "task": ("kind", "title", "team", "store", "due_in", "next", "timeout_next", "outcomes"),
    "webhook": ("url", "body", "next"),
    "update_trait": ("traits", "next"),
    "exit": (),
}


def _nodes(r: _Reader, value: Any) -> dict[str, Node]:
    if not isinstance(value, dict) or not value:
        r.add("nodes", "must be a mapping of node ids to nodes, with at least one node")
        return {}
    if len(value) > MAX_NODES:
        r.add("nodes", f"at most {MAX_NODES} nodes")
        return {}
    nodes: dict[str, Node] = {}
    for node_id, spec in value.items():
        path = f"nodes.{node_id}"
        if not NODE_ID.match(node_id):
            r.add(path, "a node id is a letter, then letters, digits, _ or -, up to 64")
            continue
        if not isinstance(spec, dict):
            r.add(path, "must be a mapping")
            continue
        kind = spec.get("type")
        if kind not in _NODE_KEYS:
            r.add(f"{path}.type", f"must be one of {', '.join(_NODE_KEYS)}")
            continue
        r.mapping(spec, path, ("type", *_NODE_KEYS[kind]))
        node = _node(r, node_id, kind, spec, path)
        if node is not None:
            nodes[node_id] = node
    return nodes


def _node(r: _Reader, node_id: str, kind: str, s: dict[str, Any], path: str) -> Node | None:
    match kind:
        case "wait":
            return _wait(r, node_id, s, path)
        case "wait_event":
            event = r.text(s, "event", path)
            condition = r.condition(s, "filter", path)
            timeout = r.duration(s, "timeout", path)
            return WaitEvent(
                node_id,
                event or "",
                condition,
                timeout or 0,
                r.ref(s, "next", path),
                r.ref(s, "timeout_next", path),
            )
        case "branch":
            return _branch(r, node_id, s, path)
        case "split":
            return _split(r, node_id, s, path)
        case "send":
            return _send(r, node_id, s, path)
        case "task":
            return _task(r, node_id, s, path)
        case "webhook":
            url = r.text(s, "url", path, limit=2000)
            if url is not None and not _http_url(url):
                r.add(f"{path}.url", "must be an absolute http(s) URL")
            body = s.get("body", {})
            if not isinstance(body, dict):
                r.add(f"{path}.body", "must be a mapping (sent as JSON)")
                body = {}
            return Webhook(node_id, url or "", body, r.ref(s, "next", path))
        case "update_trait":
            traits = s.get("traits")
            if not isinstance(traits, dict) or not traits:
                r.add(f"{path}.traits", "must map trait names to values")
                traits = {}
            for key in traits:
                if not key or len(key) > 200:
                    r.add(f"{path}.traits", "trait names are 1 to 200 characters")
            return UpdateTrait(node_id, traits, r.ref(s, "next", path))
    return Exit(node_id)


def _wait(r: _Reader, node_id: str, s: dict[str, Any], path: str) -> Wait:
    seconds = until = None
    days: tuple[int, ...] = ()
    if ("duration" in s) == ("until" in s):
        r.add(path, "give either duration or until (a local time of day)")
    elif "duration" in s:
        seconds = r.duration(s, "duration", path)
    else:
        until = r.clock(s, "until", path)
        wanted = s.get("days", [])
        if not isinstance(wanted, list) or any(d not in WEEKDAYS for d in wanted):
            r.add(f"{path}.days", f"must list weekdays among {', '.join(WEEKDAYS)}")
        else:
            days = tuple(sorted({WEEKDAYS.index(d) for d in wanted}))
    if "days" in s and "duration" in s:
        r.add(f"{path}.days", "goes with until, not duration")
    return Wait(node_id, r.ref(s, "next", path), seconds, until, days)


def _branch(r: _Reader, node_id: str, s: dict[str, Any], path: str) -> Branch:
    cases = s.get("cases")
    parsed: list[Case] = []
    if not isinstance(cases, list) or not cases:
        r.add(f"{path}.cases", "must list at least one {if, next}")
    else:
        for i, case in enumerate(cases):
            at = f"{path}.cases.{i}"
            data = r.mapping(case, at, ("if", "next"))
            if data is None:
                continue
            condition = r.condition(data, "if", at, required=True)
            target = r.ref(data, "next", at)
            if condition is not None:
                parsed.append(Case(condition, target))
    return Branch(node_id, tuple(parsed), r.ref(s, "else", path))


def _percent(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
        return None
    points = round(value * 100)
    return points if abs(points - value * 100) < 1e-6 else None


def _split(r: _Reader, node_id: str, s: dict[str, Any], path: str) -> Split:
    paths = s.get("paths")
    parsed: list[Path] = []
    names: set[str] = set()
    if not isinstance(paths, list) or not paths:
        r.add(f"{path}.paths", "must list at least one {name, percent, next}")
        paths = []
    for i, item in enumerate(paths):
        at = f"{path}.paths.{i}"
        data = r.mapping(item, at, ("name", "percent", "next"))
        if data is None:
            continue
        name = r.text(data, "name", at, limit=40)
        points = _percent(data.get("percent"))
        if points is None:
            r.add(f"{at}.percent", "must be a percentage from 0 to 100, at most 2 decimals")
        if name in names or name == "holdout":
            r.add(f"{at}.name", "names must differ from each other and from holdout")
        if name:
            names.add(name)
        parsed.append(Path(name or "", points or 0, r.ref(data, "next", at)))
    holdout = 0
    window = HOLDOUT_WINDOW
    if "holdout" in s:
        spec = r.mapping(s["holdout"], f"{path}.holdout", ("percent", "window")) or {}
        found = _percent(spec.get("percent"))
        if found is None:
            r.add(f"{path}.holdout.percent", "must be a percentage from 0 to 100")
        holdout = found or 0
        window = r.duration(spec, "window", f"{path}.holdout", required=False) or window
    total = sum(p.basis_points for p in parsed) + holdout
    if parsed and total != 10000:
        r.add(f"{path}.paths", f"the percentages add up to {total / 100:g}, not 100")
    return Split(node_id, tuple(parsed), holdout, window)


def _send(r: _Reader, node_id: str, s: dict[str, Any], path: str) -> Send:
    purpose = r.text(s, "purpose", path, limit=40)
    if purpose is not None and purpose not in PURPOSES and not NAME.match(purpose):
        r.add(f"{path}.purpose", f"must be one of {', '.join(PURPOSES)} or a lower-case name")
    category = r.text(s, "category", path, required=False, limit=40) or "journey"
    priority = s.get("priority", 50)
    if isinstance(priority, bool) or not isinstance(priority, int) or not 0 <= priority <= 100:
        r.add(f"{path}.priority", "must be a whole number from 0 to 100")
        priority = 50
    channels = s.get("channels", "auto")
    found: tuple[str, ...] = ()
    if channels != "auto":
        if not isinstance(channels, list) or not all(
            isinstance(c, str) and NAME.match(c) for c in channels
        ):
            r.add(f"{path}.channels", "must be auto or a list of channel names, e.g. [email, sms]")
        else:
            found = tuple(dict.fromkeys(channels))
    content = r.mapping(
        s.get("content"), f"{path}.content", ("template", "text", "subject", "html", "variables")
    )
    if content is not None:
        for key in ("template", "text", "subject", "html"):
            if key in content and (not isinstance(content[key], str) or not content[key]):
                r.add(f"{path}.content.{key}", "must be a non-empty text")
        if not any(k in content for k in ("template", "text", "html")):
            r.add(f"{path}.content", "needs a template, a text or an html body")
        if not isinstance(content.get("variables", {}), dict):
            r.add(f"{path}.content.variables", "must be a mapping")
    fallback = r.duration(s, "fallback_after", path, required=False)
    stale = r.duration(s, "stale_after", path, required=False)
    return Send(
        node_id,
        purpose or "",
        category,
        priority,
        found,
        content or {},
        r.ref(s, "next", path),
        fallback,
        stale,
    )


def _task(r: _Reader, node_id: str, s: dict[str, Any], path: str) -> Task:
    kind = r.text(s, "kind", path, limit=40)
    if kind is not None and not NAME.match(kind):
        r.add(f"{path}.kind", "must be a lower-case name such as call_customer")
    title = r.text(s, "title", path, limit=200)
    team = r.text(s, "team", path, required=False, limit=64)
    store = r.text(s, "store", path, required=False, limit=64)
    if (team is None) == (store is None):
        r.add(path, "give either team (an agent team id) or store (a store id)")
    due = r.duration(s, "due_in", path)
    outcomes = s.get("outcomes", {})
    if not isinstance(outcomes, dict) or not all(
        isinstance(k, str) and NAME.match(k) and isinstance(v, str) for k, v in outcomes.items()
    ):
        r.add(f"{path}.outcomes", "must map outcome names (lower case) to nodes")
        outcomes = {}
    return Task(
        node_id,
        kind or "",
        title or "",
        team,
        store,
        due or 0,
        r.ref(s, "next", path),
        r.ref(s, "timeout_next", path),
        outcomes,
    )


def _http_url(url: str) -> bool:
    if any(ch.isspace() for ch in url):
        return False
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _check_graph(r: _Reader, start: str, nodes: Mapping[str, Node], declared: set[str]) -> None:
    for node in nodes.values():
        for label, target in exits(node):
            if target and target not in declared:
                r.add(f"nodes.{node.id}.{label}", f"unknown node {target!r}")
    if r.problems:
        return
    seen = {start}
    pending = [start]
    while pending:
        for _, target in exits(nodes[pending.pop()]):
            if target not in seen:
                seen.add(target)
                pending.append(target)
    for node_id in nodes:
        if node_id not in seen:
            r.add(f"nodes.{node_id}", "cannot be reached from start")
    # A loop through nodes that never wait would spin forever within one step.
    colour: dict[str, int] = {}

    def visit(node_id: str, trail: list[str]) -> None:
        colour[node_id] = 1
        for label, target in exits(nodes[node_id]):
            if nodes[target].type in WAITING_TYPES:
                continue
            if colour.get(target) == 1:
                loop = [*trail[trail.index(target) :], target]
                r.add(f"nodes.{node_id}.{label}", f"a loop without a wait: {' → '.join(loop)}")
            elif target not in colour:
                visit(target, [*trail, target])
        colour[node_id] = 2

    for node_id, node in nodes.items():
        if node_id not in colour and node.type not in WAITING_TYPES:
            visit(node_id, [node_id])


# -- time ------------------------------------------------------------------------------------


def next_local_time(after: datetime, at: time, days: tuple[int, ...], zone: ZoneInfo) -> datetime:
    """The first moment at or after `after` when the local clock in `zone` reads `at`, on one
    of `days` (weekday numbers, Monday 0; empty: any day), in UTC."""
    local = after.astimezone(zone)
    for offset in range(0, 9):
        day = local.date() + timedelta(days=offset)
        if days and day.weekday() not in days:
            continue
        moment = datetime.combine(day, at, tzinfo=zone).astimezone(UTC)
        if moment >= after:
            return moment
    raise AssertionError("a weekday repeats within 8 days")


def next_fire(trigger: ScheduleTrigger, after: datetime, zone: ZoneInfo) -> datetime:
    """The first time of a schedule strictly after `after`, read in `zone`, in UTC."""
    if trigger.every_seconds is not None:
        return after + timedelta(seconds=trigger.every_seconds)
    assert trigger.cron is not None
    return next(CronSim(trigger.cron, after.astimezone(zone))).astimezone(UTC)


def anniversary_due(value: Any, today: date, offset_days: int) -> date | None:
    """`today` when the yearly anniversary of the date in `value`, moved by `offset_days`,
    falls on it; else None (a 29 February counts on the 28th in other years)."""
    if not isinstance(value, str):
        return None
    try:
        when = date.fromisoformat(value[:10])
    except ValueError:
        return None
    target = today - timedelta(days=offset_days)
    month, day = when.month, when.day
    if (month, day) == (2, 29) and not _leap(target.year):
        day = 28
    return today if (target.month, target.day) == (month, day) else None


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


# -- instances and stepping ------------------------------------------------------------------


@dataclass(frozen=True)
class Instance:
    id: str
    journey_id: str
    version: int
    profile_id: str
    node: str
    state: State
    wake_at: datetime | None
    """When it is due: to arrive at `node` (ready), or its timer, timeout or task's due time."""
    arrived_at: datetime
    waiting: str | None
    """What a waiting instance waits for: "timer", "event:<name>", "task:<task id>", or
    "holdout" (a split's holdout, watched for the goal)."""
    visits: Mapping[str, int]
    variables: Mapping[str, Any]
    """The trigger event (`event`), the split groups (`groups`), events waited for (`events`)."""
    entered_at: datetime
    updated_at: datetime
    ended_at: datetime | None = None
    outcome: str | None = None
    entry_key: str | None = None


@dataclass(frozen=True)
class Facts:
    traits: Mapping[str, Any]
    zone: ZoneInfo
    """The customer's time zone (their preference, else the journey's, else the default)."""
    customer: Mapping[str, Any] = field(default_factory=dict)
    """`id` and `created_at`, as conditions see them."""


@dataclass(frozen=True)
class Timer:
    """Time passed: a wait ends, a timeout or a task's due time comes."""


@dataclass(frozen=True)
class EventSeen:
    event: Mapping[str, Any]
    """name, channel, timestamp, properties (the shape conditions read)."""


@dataclass(frozen=True)
class TaskClosed:
    task_id: str
    outcome: str | None


Signal = Timer | EventSeen | TaskClosed
TIMER = Timer()


@dataclass(frozen=True)
class SendAction:
    send_id: str
    node: str
    purpose: str
    category: str
    priority: int
    channels: tuple[str, ...]
    content: Mapping[str, Any]
    origin: str
    fallback_after_seconds: int | None
    not_after: datetime | None


@dataclass(frozen=True)
class TaskAction:
    task_id: str
    node: str
    kind: str
    title: str
    team_id: str | None
    store_id: str | None
    due_at: datetime


@dataclass(frozen=True)
class CloseTask:
    """An open task is closed without being done: expired, or its instance moved on."""

    task_id: str
    status: Literal["expired", "cancelled"]


@dataclass(frozen=True)
class WebhookAction:
    call_id: str
    node: str
    url: str
    body: Mapping[str, Any]


@dataclass(frozen=True)
class TraitAction:
    node: str
    traits: Mapping[str, Any]


Action = SendAction | TaskAction | CloseTask | WebhookAction | TraitAction


@dataclass(frozen=True)
class Transition:
    """One line of an instance's history."""

    node: str
    at: datetime
    outcome: str
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Advance:
    instance: Instance
    transitions: tuple[Transition, ...] = ()
    actions: tuple[Action, ...] = ()

    @property
    def moved(self) -> bool:
        return bool(self.transitions)


def send_id(instance: Instance, node: str, visit: int) -> str:
    return f"j:{instance.journey_id}:{instance.version}:{instance.id}:{node}:{visit}"


def task_id(instance: Instance, node: str, visit: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"omnicx:task:{instance.id}:{node}:{visit}"))


def split_bucket(instance_id: str, node: str) -> int:
    """0 to 9999, the same for the same instance and node on every run."""
    digest = hashlib.sha256(f"{instance_id}:{node}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 10000


def split_group(split: Split, instance_id: str) -> Path | None:
    """The path an instance takes at a split; None for the holdout."""
    bucket = split_bucket(instance_id, split.id)
    edge = 0
    for path in split.paths:
        edge += path.basis_points
        if bucket < edge:
            return path
    return None


def event_variables(
    event: Mapping[str, Any] | None,
    facts: Facts,
    now: datetime,
    journey: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The variables a condition sees: `event`, `traits`, `customer`, `journey`, `now`."""
    found = dict(event or {})
    if isinstance(found.get("timestamp"), str):
        found["timestamp"] = datetime.fromisoformat(found["timestamp"])
    return {
        "event": found,
        "traits": dict(facts.traits),
        "customer": dict(facts.customer),
        "journey": dict(journey or {}),
        "now": now,
    }


def begin(
    definition: Definition,
    *,
    instance_id: str,
    journey_id: str,
    version: int,
    profile_id: str,
    now: datetime,
    event: Mapping[str, Any] | None = None,
    entry_key: str | None = None,
    start_at: datetime | None = None,
) -> Instance:
    """A new instance, ready to arrive at the start node at `start_at` (now by default)."""
    return Instance(
        id=instance_id,
        journey_id=journey_id,
        version=version,
        profile_id=profile_id,
        node=definition.start,
        state="ready",
        wake_at=start_at or now,
        arrived_at=now,
        waiting=None,
        visits={},
        variables={"event": dict(event)} if event else {},
        entered_at=now,
        updated_at=now,
        entry_key=entry_key,
    )


def may_enter(
    reentry: Reentry,
    running: bool,
    last_ended_at: datetime | None,
    entered_before: bool,
    now: datetime,
) -> bool:
    """At most one running instance per customer; then the journey's re-entry rule."""
    if running:
        return False
    if not entered_before or reentry.mode == "always":
        return True
    if reentry.mode == "never":
        return False
    return last_ended_at is not None and now >= last_ended_at + timedelta(
        seconds=reentry.cooldown_seconds
    )


def trigger_matches(
    definition: Definition, event: Mapping[str, Any], facts: Facts, now: datetime
) -> bool:
    trigger = definition.trigger
    if not isinstance(trigger, EventTrigger) or event.get("name") != trigger.event:
        return False
    return trigger.filter is None or trigger.filter.test(event_variables(event, facts, now))


def goal_reached(
    definition: Definition, event: Mapping[str, Any], facts: Facts, now: datetime
) -> bool:
    goal = definition.goal
    if goal is None or event.get("name") != goal.event:
        return False
    return goal.filter is None or goal.filter.test(event_variables(event, facts, now))


def finish(
    instance: Instance, now: datetime, outcome: str, detail: Mapping[str, Any] | None = None
) -> Advance:
    """End an instance from outside its graph (goal, migration, erasure of the journey)."""
    if instance.state == "done":
        return Advance(instance)
    actions: tuple[Action, ...] = ()
    if instance.waiting and instance.waiting.startswith("task:"):
        actions = (CloseTask(instance.waiting[5:], "cancelled"),)
    ended = replace(
        instance,
        state="done",
        wake_at=None,
        waiting=None,
        ended_at=now,
        updated_at=now,
        outcome=outcome,
    )
    return Advance(ended, (Transition(instance.node, now, outcome, detail or {}),), actions)


def advance(
    definition: Definition,
    instance: Instance,
    facts: Facts,
    now: datetime,
    signal: Signal = TIMER,
) -> Advance:
    """Move an instance as far as it goes at `now` given `signal`, until it waits or ends."""
    if instance.state == "done":
        return Advance(instance)
    if instance.waiting == "holdout":
        due = instance.wake_at is not None and instance.wake_at <= now
        return (
            finish(instance, now, "holdout")
            if isinstance(signal, Timer) and due
            else Advance(instance)
        )
    run = _Run(definition, instance, facts, now)
    if instance.state == "waiting":
        target = run.resume(signal)
        if target is None:
            return Advance(instance)
        run.arrive(target)
    elif instance.wake_at is not None and instance.wake_at > now:
        return Advance(instance)
    run.go()
    return run.result()


class _Run:
    def __init__(
        self, definition: Definition, instance: Instance, facts: Facts, now: datetime
    ) -> None:
        self.definition = definition
        self.instance = instance
        self.facts = facts
        self.zone = facts.zone
        self.now = now
        self.visits = dict(instance.visits)
        self.variables: dict[str, Any] = dict(instance.variables)
        self.transitions: list[Transition] = []
        self.actions: list[Action] = []
        self.node = instance.node
        self.state: State = "ready"
        self.wake_at: datetime | None = None
        self.waiting: str | None = None
        self.arrived_at = instance.arrived_at
        self.outcome: str | None = None

    def note(self, what: str, **detail: Any) -> None:
        self.transitions.append(Transition(self.node, self.now, what, detail))

    def arrive(self, node: str) -> None:
        self.node = node
        self.arrived_at = self.now
        self.state = "ready"
        self.waiting = None
        self.wake_at = self.now

    def resume(self, signal: Signal) -> str | None:
        """The node a waiting instance goes to on `signal`; None while it keeps waiting."""
        node = self.definition.nodes.get(self.instance.node)
        due = self.instance.wake_at is not None and self.instance.wake_at <= self.now
        match node:
            case Wait() if isinstance(signal, Timer) and due:
                self.note("waited")
                return node.next
            case WaitEvent():
                if isinstance(signal, EventSeen) and signal.event.get("name") == node.event:
                    variables = event_variables(
                        signal.event, self.facts, self.now, journey=self.variables
                    )
                    if node.filter is None or node.filter.test(variables):
                        events = dict(self.variables.get("events") or {})
                        events[node.id] = dict(signal.event)
                        self.variables["events"] = events
                        self.note("event", event=node.event)
                        return node.next
                    return None
                if isinstance(signal, Timer) and due:
                    self.note("timeout")
                    return node.timeout_next
            case Task():
                waited = (self.instance.waiting or "").removeprefix("task:")
                if isinstance(signal, TaskClosed) and signal.task_id == waited:
                    self.note("task done", task_id=waited, outcome=signal.outcome)
                    return node.outcomes.get(signal.outcome or "", node.next)
                if isinstance(signal, Timer) and due:
                    self.actions.append(CloseTask(waited, "expired"))
                    self.note("task expired", task_id=waited)
                    return node.timeout_next
        return None

    def wait(self, until: datetime, waiting: str, outcome: str, **detail: Any) -> None:
        self.state = "waiting"
        self.wake_at = until
        self.waiting = waiting
        self.note(outcome, until=until.isoformat(), **detail)

    def end(self, outcome: str, **detail: Any) -> None:
        self.state = "done"
        self.wake_at = None
        self.waiting = None
        self.outcome = outcome
        self.note(outcome, **detail)

    def go(self) -> None:
        nodes = self.definition.nodes
        for _ in range(MAX_STEPS):
            node = nodes.get(self.node)
            if node is None:
                self.end(
                    "failed", reason=f"node {self.node} is not in version {self.instance.version}"
                )
                return
            visit = self.visits.get(node.id, 0) + 1
            self.visits[node.id] = visit
            target = self.process(node, visit)
            if target is None:
                return
            self.arrive(target)
        self.end("failed", reason=f"over {MAX_STEPS} nodes without waiting")

    def process(self, node: Node, visit: int) -> str | None:
        """Do what `node` does; the node to go to at once, or None when it waits or ends."""
        now = self.now
        match node:
            case Wait():
                if node.seconds is not None:
                    until = now + timedelta(seconds=node.seconds)
                else:
                    assert node.until is not None
                    until = next_local_time(now, node.until, node.days, self.zone)
                if until <= now:
                    self.note("no wait")
                    return node.next
                self.wait(until, "timer", "waiting")
                return None
            case WaitEvent():
                until = now + timedelta(seconds=node.timeout_seconds)
                self.wait(until, f"event:{node.event}", "waiting for event", event=node.event)
                return None
            case Task():
                found = task_id(self.instance, node.id, visit)
                due = now + timedelta(seconds=node.due_seconds)
                self.actions.append(
                    TaskAction(found, node.id, node.kind, node.title, node.team, node.store, due)
                )
                self.wait(due, f"task:{found}", "task open", task_id=found)
                return None
            case Branch():
                variables = event_variables(
                    self.variables.get("event"), self.facts, now, journey=self.variables
                )
                for i, case in enumerate(node.cases):
                    if case.condition.test(variables):
                        self.note(f"case {i}")
                        return case.next
                self.note("else")
                return node.otherwise
            case Split():
                path = split_group(node, self.instance.id)
                groups = dict(self.variables.get("groups") or {})
                groups[node.id] = path.name if path else "holdout"
                self.variables["groups"] = groups
                if path is None:
                    until = now + timedelta(seconds=node.holdout_seconds)
                    self.wait(until, "holdout", "group holdout", group="holdout")
                    return None
                self.note(f"group {path.name}", group=path.name)
                return path.next
            case Send():
                self.actions.append(self.send(node, visit))
                self.note("send", send_id=send_id(self.instance, node.id, visit))
                return node.next
            case Webhook():
                call = f"w:{self.instance.id}:{node.id}:{visit}"
                self.actions.append(WebhookAction(call, node.id, node.url, node.body))
                self.note("webhook", call_id=call)
                return node.next
            case UpdateTrait():
                self.actions.append(TraitAction(node.id, dict(node.traits)))
                self.facts = replace(self.facts, traits={**self.facts.traits, **node.traits})
                self.note("traits", keys=sorted(node.traits))
                return node.next
            case Exit():
                self.end("completed")
                return None
        raise AssertionError(node)

    def send(self, node: Send, visit: int) -> SendAction:
        content = dict(node.content)
        variables = dict(content.get("variables") or {})
        trigger = self.variables.get("event")
        if trigger:
            variables.setdefault("event", trigger.get("properties", {}))
        content["variables"] = variables
        instance = self.instance
        return SendAction(
            send_id=send_id(instance, node.id, visit),
            node=node.id,
            purpose=node.purpose,
            category=node.category,
            priority=node.priority,
            channels=node.channels,
            content=content,
            origin=f"journey:{instance.journey_id}:v{instance.version}:{node.id}",
            fallback_after_seconds=node.fallback_after_seconds,
            not_after=(
                self.now + timedelta(seconds=node.stale_after_seconds)
                if node.stale_after_seconds is not None
                else None
            ),
        )

    def result(self) -> Advance:
        instance = replace(
            self.instance,
            node=self.node,
            state=self.state,
            wake_at=self.wake_at,
            waiting=self.waiting,
            arrived_at=self.arrived_at,
            visits=self.visits,
            variables=self.variables,
            updated_at=self.now,
            ended_at=self.now if self.state == "done" else None,
            outcome=self.outcome,
        )
        return Advance(instance, tuple(self.transitions), tuple(self.actions))


def describe(definition: Definition, node_id: str) -> dict[str, Any]:
    """What a node does, for people: its type, a summary and, for a send, the message."""
    node = definition.nodes.get(node_id)
    if node is None:
        return {"node": node_id, "type": None, "summary": "no such node"}
    found: dict[str, Any] = {"node": node_id, "type": node.type}
    match node:
        case Wait():
            found["summary"] = (
                f"waits {_human(node.seconds)}, then goes to {node.next}"
                if node.seconds is not None
                else f"waits until {node.until:%H:%M} local time, then goes to {node.next}"
            )
        case WaitEvent():
            found["summary"] = (
                f"waits up to {_human(node.timeout_seconds)} for {node.event!r}: "
                f"then {node.next}, else {node.timeout_next}"
            )
        case Task():
            holder = f"team {node.team}" if node.team else f"store {node.store}"
            found["summary"] = f"a {node.kind} task for {holder}, due in {_human(node.due_seconds)}"
        case Branch():
            found["summary"] = f"branches on {len(node.cases)} condition(s), else {node.otherwise}"
        case Split():
            found["summary"] = "splits into " + ", ".join(
                f"{p.name} {p.basis_points / 100:g}%" for p in node.paths
            )
        case Send():
            found["summary"] = f"sends a {node.purpose} message, then goes to {node.next}"
            found["message"] = {
                "purpose": node.purpose,
                "category": node.category,
                "priority": node.priority,
                "channels": list(node.channels) or "auto",
                "content": {
                    k: v for k, v in node.content.items() if k in ("template", "text", "subject")
                },
            }
        case Webhook():
            found["summary"] = f"posts to {node.url}, then goes to {node.next}"
        case UpdateTrait():
            found["summary"] = f"sets {', '.join(sorted(node.traits))}, then goes to {node.next}"
        case Exit():
            found["summary"] = "leaves the journey (completed)"
    return found


def _human(seconds: int | None) -> str:
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


# -- records ---------------------------------------------------------------------------------

JourneyStatus = Literal["draft", "live", "paused"]
TaskStatus = Literal["open", "done", "expired", "cancelled"]


@dataclass(frozen=True)
class Journey:
    """A journey: its editable draft, and the version customers enter now (`live_version`)."""

    id: str
    name: str
    description: str
    status: JourneyStatus
    live_version: int | None
    draft: Mapping[str, Any] | None
    draft_hash: str | None
    next_fire_at: datetime | None
    """When a schedule or date trigger is next due."""
    created_at: datetime
    updated_at: datetime
    created_by: str
    updated_by: str


@dataclass(frozen=True)
class Version:
    """A published definition; never changed once written."""

    journey_id: str
    version: int
    definition: Mapping[str, Any]
    hash: str
    published_at: datetime
    published_by: str
    migration: Mapping[str, Any] | None
    note: str | None


@dataclass(frozen=True)
class HumanTask:
    id: str
    instance_id: str
    journey_id: str
    version: int
    node: str
    profile_id: str
    kind: str
    title: str
    team_id: str | None
    store_id: str | None
    status: TaskStatus
    due_at: datetime
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None = None
    completed_by: str | None = None
    outcome: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class Inbound:
    """Something a journey listens for, seen for one customer and waiting to be handled: an
    event (its trigger, goal or a wait for it) or a segment entry or exit."""

    id: int
    journey_id: str
    profile_id: str
    kind: Literal["event", "segment"]
    name: str
    entry: bool
    """The journey was live when it was seen, so it may let the customer in."""
    payload: Mapping[str, Any]
    at: datetime
