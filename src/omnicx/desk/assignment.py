"""Who takes a conversation: pure choices over agents' availability, capacity and load.

Each open assignment weighs on its agent by its channel (a call more than a chat, a chat more
than an email; weights are settings). An agent is eligible when online, a member of the team,
and the new weight still fits in their capacity. Then, in order:

1. the returning customer's last agent (the sticky owner), when eligible;
2. `round_robin`: the eligible agent who was given work longest ago (never first);
3. `capacity`: the eligible agent with the most free capacity, relative to their capacity;
4. `manual`: nobody; the conversation waits in the team's queue for a person to assign it.

Agents who speak the conversation's language are preferred when there are any.
Back-fill hands waiting conversations out highest priority first, then oldest first.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from omnicx.desk.model import Agent, QueueItem, priority_rank

CHAT_LIKE = ("web_chat", "whatsapp", "sms", "telegram", "messenger", "instagram", "chat")
DEFAULT_WEIGHTS: dict[str, int] = {
    "call_center": 3,
    "call": 3,
    "store": 3,
    **dict.fromkeys(CHAT_LIKE, 2),
    "email": 1,
}


def weight_of(channel: str, weights: Mapping[str, int]) -> int:
    """A channel's weight: the setting, else chat-like 2, else 1."""
    if channel in weights:
        return weights[channel]
    return 2 if channel in CHAT_LIKE else 1


def eligible(agent: Agent, team_id: str, weight: int) -> bool:
    return (
        agent.availability == "online"
        and team_id in agent.teams
        and agent.load + weight <= agent.capacity
    )


def _speaking(agents: Sequence[Agent], language: str | None) -> Sequence[Agent]:
    if not language:
        return agents
    base = language.split("-")[0].casefold()
    speaking = [
        a for a in agents if any(lang.split("-")[0].casefold() == base for lang in a.languages)
    ]
    return speaking or agents


_NEVER = datetime.min


def choose(
    strategy: str,
    agents: Sequence[Agent],
    *,
    team_id: str,
    weight: int,
    language: str | None = None,
    sticky: str | None = None,
) -> tuple[Agent, str] | None:
    """The agent to take a conversation and why (`sticky`, `round_robin`, `capacity`), or
    None when it must wait."""
    candidates = [a for a in agents if eligible(a, team_id, weight)]
    if not candidates:
        return None
    if sticky is not None:
        for agent in candidates:
            if agent.user_id == sticky:
                return agent, "sticky"
    if strategy == "manual":
        return None
    candidates = list(_speaking(candidates, language))

    def waited(a: Agent) -> tuple[bool, datetime, str]:
        stamp = a.last_assigned_at
        return (stamp is not None, stamp.replace(tzinfo=None) if stamp else _NEVER, a.user_id)

    if strategy == "capacity":
        best = min(candidates, key=lambda a: ((a.load + weight) / a.capacity, *waited(a)))
        return best, "capacity"
    return min(candidates, key=waited), "round_robin"


@dataclass(frozen=True)
class Handout:
    conversation_id: str
    agent_id: str
    reason: str


def backfill(
    queue: Sequence[QueueItem],
    agents: Sequence[Agent],
    strategies: Mapping[str, str],
    weights: Mapping[str, int],
    now: datetime,
    sticky: Mapping[str, str] | None = None,
) -> list[Handout]:
    """Hand waiting conversations to agents with room, highest priority then oldest first;
    each handout loads its agent before the next choice."""
    pool = {a.user_id: a for a in agents}
    owners = sticky or {}
    handouts: list[Handout] = []
    ordered = sorted(
        queue, key=lambda q: (-priority_rank(q.priority), q.enqueued_at, q.conversation_id)
    )
    for item in ordered:
        strategy = strategies.get(item.team_id, "manual")
        weight = weight_of(item.channel, weights)
        picked = choose(
            strategy,
            list(pool.values()),
            team_id=item.team_id,
            weight=weight,
            language=item.language,
            sticky=owners.get(item.customer_id),
        )
        if picked is None:
            continue
        agent, reason = picked
        pool[agent.user_id] = replace(agent, load=agent.load + weight, last_assigned_at=now)
        handouts.append(Handout(item.conversation_id, agent.user_id, f"backfill_{reason}"))
    return handouts
