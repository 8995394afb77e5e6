"""Assignment: round robin fairness, capacity by channel weights, sticky owner, back-fill."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from omnicx.desk.assignment import DEFAULT_WEIGHTS, backfill, choose, weight_of
from omnicx.desk.model import Agent, QueueItem

AT = datetime(2026, 3, 2, 12, tzinfo=UTC)


def agent(user_id: str, capacity: int = 6, load: int = 0, **extra: Any) -> Agent:
    values: dict[str, Any] = {
        "availability": "online",
        "teams": ("t1",),
        "languages": ("pt-BR",),
        **extra,
    }
    return Agent(
        user_id,
        user_id,
        capacity=capacity,
        skills=(),
        created_at=AT,
        updated_at=AT,
        load=load,
        **values,
    )


def test_channel_weights() -> None:
    assert [weight_of(c, DEFAULT_WEIGHTS) for c in ("call_center", "web_chat", "email")] == [
        3,
        2,
        1,
    ]
    assert weight_of("telegram", {}) == 2
    assert weight_of("fax", {}) == 1


def test_round_robin_is_fair() -> None:
    agents = {a.user_id: a for a in (agent("a"), agent("b"), agent("c"))}
    picks = []
    for minute in range(9):
        picked = choose("round_robin", list(agents.values()), team_id="t1", weight=1)
        assert picked is not None
        chosen, reason = picked
        picks.append(chosen.user_id)
        agents[chosen.user_id] = replace(
            chosen, load=chosen.load + 1, last_assigned_at=AT + timedelta(minutes=minute)
        )
    assert picks == ["a", "b", "c"] * 3
    assert reason == "round_robin"


def test_capacity_counts_channel_weights() -> None:
    busy = agent("a", capacity=6, load=4)  # e.g. two chats
    free = agent("b", capacity=6, load=3)  # one call
    picked = choose("capacity", [busy, free], team_id="t1", weight=3)
    assert picked is not None
    assert picked[0].user_id == "b"
    # Nobody has room for a second call: the conversation waits.
    assert choose("capacity", [busy, replace(free, load=4)], team_id="t1", weight=3) is None
    # An email (1) still fits.
    assert choose("capacity", [busy, replace(free, load=5)], team_id="t1", weight=1) is not None


def test_only_online_team_members() -> None:
    away = agent("a", availability="away")
    other_team = agent("b", teams=("t2",))
    assert choose("round_robin", [away, other_team], team_id="t1", weight=1) is None


def test_sticky_owner_when_available() -> None:
    agents = [agent("a"), agent("b", last_assigned_at=AT)]
    picked = choose("round_robin", agents, team_id="t1", weight=1, sticky="b")
    assert picked is not None
    assert (picked[0].user_id, picked[1]) == ("b", "sticky")
    offline = [agent("a"), agent("b", availability="offline")]
    picked = choose("round_robin", offline, team_id="t1", weight=1, sticky="b")
    assert picked is not None
    assert (picked[0].user_id, picked[1]) == ("a", "round_robin")


def test_manual_teams_wait_unless_sticky() -> None:
    assert choose("manual", [agent("a")], team_id="t1", weight=1) is None
    picked = choose("manual", [agent("a")], team_id="t1", weight=1, sticky="a")
    assert picked is not None
    assert picked[1] == "sticky"


def test_language_is_preferred() -> None:
    agents = [agent("a", languages=("en",)), agent("b", languages=("es", "pt"))]
    picked = choose("round_robin", agents, team_id="t1", weight=1, language="pt-BR")
    assert picked is not None
    assert picked[0].user_id == "b"


def item(cid: str, minutes: int, priority: str = "normal", channel: str = "email") -> QueueItem:
    return QueueItem(
        cid, f"cust-{cid}", "t1", channel, priority, None, AT + timedelta(minutes=minutes)
    )


def test_backfill_hands_out_highest_priority_then_oldest() -> None:
    queue = [item("old", 0), item("new", 5), item("urgent", 9, "urgent"), item("late", 7)]
    handouts = backfill(queue, [agent("a", capacity=2)], {"t1": "round_robin"}, {}, AT)
    assert [(h.conversation_id, h.agent_id, h.reason) for h in handouts] == [
        ("urgent", "a", "backfill_round_robin"),
        ("old", "a", "backfill_round_robin"),
    ]


def test_backfill_respects_weights_and_manual_teams() -> None:
    queue = [item("call", 0, channel="call_center"), item("mail", 1)]
    handouts = backfill(queue, [agent("a", capacity=2)], {"t1": "capacity"}, DEFAULT_WEIGHTS, AT)
    assert [h.conversation_id for h in handouts] == ["mail"]
    assert backfill(queue, [agent("a")], {"t1": "manual"}, DEFAULT_WEIGHTS, AT) == []
