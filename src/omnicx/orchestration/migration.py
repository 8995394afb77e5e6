"""Moving customers in flight when a journey's next version is published.

A migration map says, for every node of the live version where customers are now, what
becomes of them when version N+1 goes live:

    {"follow": "<node of N+1>"}   move to that node of N+1 ("follow" alone: the same id)
    "drain"                       stay on version N until they leave it
    "exit"                        leave the journey now (outcome "exited")
    "*": <rule>                   the rule for every node not named

Nothing is deleted under a waiting customer: a node of N with customers on it and no rule
refuses the publish. `plan` checks a map, `preview` says what each group would do or receive
next, `relocate` moves one instance. All pure.

Following keeps a wait's place: a customer waiting on a wait, wait_event or task node who
follows to a node of the same type keeps waiting there, with the new node's duration counted
from when they arrived (a fixed 1d → 1h ends their wait sooner) and an open task kept.
Following to any other node makes the customer arrive there on the next step.
"""

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from omnicx.kernel import Invalid
from omnicx.orchestration.journeys import (
    WAITING_TYPES,
    Advance,
    CloseTask,
    Definition,
    Instance,
    Problem,
    Task,
    Transition,
    Wait,
    WaitEvent,
    describe,
    finish,
    next_local_time,
)


@dataclass(frozen=True)
class Follow:
    target: str


Rule = Follow | Literal["drain", "exit"]


class MigrationInvalid(Invalid):
    def __init__(self, problems: list[Problem]) -> None:
        first = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__("invalid_migration", f"{first.field}: {first.message}{more}", first.field)
        self.problems = tuple(problems)


@dataclass(frozen=True)
class Plan:
    rules: Mapping[str, Rule]
    """The rule of each node of the live version that has customers."""


def _rule(value: Any, node: str, path: str, problems: list[Problem]) -> Rule | None:
    if value in ("drain", "exit"):
        return "drain" if value == "drain" else "exit"
    if value == "follow":
        return Follow(node)
    if isinstance(value, dict) and set(value) == {"follow"} and isinstance(value["follow"], str):
        return Follow(value["follow"])
    problems.append(Problem(path, 'must be {"follow": "<node>"}, "follow", "drain" or "exit"'))
    return None


def rules_of(
    old: Definition, new: Definition, counts: Mapping[str, int], raw: Any
) -> tuple[dict[str, Rule], list[Problem]]:
    """The rule for each node with customers, and every problem of the map."""
    problems: list[Problem] = []
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        return {}, [Problem("migration", "must map node ids to follow, drain or exit")]
    for key in raw:
        if key != "*" and key not in old.nodes:
            problems.append(Problem(f"migration.{key}", "no such node in the live version"))
    rules: dict[str, Rule] = {}
    for node, count in sorted(counts.items()):
        if count <= 0:
            continue
        path = f"migration.{node}"
        if node in raw:
            found = _rule(raw[node], node, path, problems)
        elif "*" in raw:
            found = _rule(raw["*"], node, "migration.*", problems)
            path = "migration.*"
        else:
            people = "customer waits" if count == 1 else "customers wait"
            problems.append(
                Problem(path, f"{count} {people} here; map it to follow, drain or exit")
            )
            continue
        if isinstance(found, Follow) and found.target not in new.nodes:
            problems.append(Problem(path, f"node {found.target!r} is not in the new version"))
            continue
        if found is not None:
            rules[node] = found
    return rules, problems


def plan(old: Definition, new: Definition, counts: Mapping[str, int], raw: Any) -> Plan:
    """The checked map, or `MigrationInvalid` naming every node left unmapped or mapped wrong."""
    rules, problems = rules_of(old, new, counts, raw)
    if problems:
        raise MigrationInvalid(problems)
    return Plan(rules)


def keeps_waiting(old: Definition, new: Definition, node: str, rule: Rule) -> bool:
    if not isinstance(rule, Follow):
        return False
    before, after = old.nodes.get(node), new.nodes.get(rule.target)
    return (
        before is not None
        and after is not None
        and before.type == after.type
        and after.type in WAITING_TYPES
    )


def preview(
    old: Definition,
    new: Definition,
    counts: Mapping[str, int],
    waiting: Mapping[str, int],
    raw: Any,
) -> tuple[list[dict[str, Any]], list[Problem]]:
    """Per node of the live version with customers: how many, the rule, and what they would
    do or receive next; with the map's problems (a preview never refuses)."""
    rules, problems = rules_of(old, new, counts, raw)
    groups: list[dict[str, Any]] = []
    for node, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        if count <= 0:
            continue
        rule = rules.get(node)
        group: dict[str, Any] = {
            "node": node,
            "type": old.nodes[node].type if node in old.nodes else None,
            "customers": count,
            "waiting": waiting.get(node, 0),
            "rule": None,
            "target": None,
            "next": None,
        }
        if isinstance(rule, Follow):
            group["rule"] = "follow"
            group["target"] = rule.target
            group["next"] = describe(new, rule.target)
            if keeps_waiting(old, new, node, rule):
                group["next"]["summary"] = "keeps waiting: " + group["next"]["summary"]
        elif rule == "drain":
            group["rule"] = "drain"
            group["target"] = node
            group["next"] = describe(old, node)
        elif rule == "exit":
            group["rule"] = "exit"
            group["next"] = {"node": None, "type": None, "summary": "leaves the journey now"}
        groups.append(group)
    return groups, problems


def relocate(
    instance: Instance,
    old: Definition,
    new: Definition,
    rule: Rule,
    new_version: int,
    now: datetime,
    zone: ZoneInfo,
) -> Advance:
    """One instance of the live version moved by its node's rule (drain leaves it as it is)."""
    if rule == "drain" or instance.state == "done":
        return Advance(instance)
    origin = {"from_version": instance.version, "from_node": instance.node}
    if rule == "exit":
        return finish(instance, now, "exited", {"reason": "migration", **origin})
    target = new.nodes[rule.target]
    detail = {**origin, "to_version": new_version, "to_node": rule.target}
    moved = replace(instance, version=new_version, node=rule.target, updated_at=now)
    actions: tuple[CloseTask, ...] = ()
    if instance.state == "waiting" and keeps_waiting(old, new, instance.node, rule):
        match target:
            case Wait(seconds=seconds) if seconds is not None:
                moved = replace(moved, wake_at=instance.arrived_at + timedelta(seconds=seconds))
            case Wait(until=until, days=days) if until is not None:
                moved = replace(
                    moved, wake_at=next_local_time(instance.arrived_at, until, days, zone)
                )
            case WaitEvent():
                moved = replace(
                    moved,
                    wake_at=instance.arrived_at + timedelta(seconds=target.timeout_seconds),
                    waiting=f"event:{target.event}",
                )
            case Task():
                pass
    else:
        if instance.waiting and instance.waiting.startswith("task:"):
            actions = (CloseTask(instance.waiting[5:], "cancelled"),)
        moved = replace(
            moved,
            state="ready",
            waiting=None,
            arrived_at=now,
            wake_at=max(instance.wake_at or now, now) if instance.state == "ready" else now,
        )
    return Advance(moved, (Transition(instance.node, now, "migrated", detail),), actions)
