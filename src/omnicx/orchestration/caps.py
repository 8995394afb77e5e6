"""Frequency caps over rolling windows: how many messages of a purpose (a category, a channel)
a customer received in the last hour, day or week, against the limits the business set.

`OMNICX_FREQUENCY_CAPS` (JSON) maps `purpose` or `purpose:channel`, then a category or `*`
(every category), then a window to its limit:

    {"marketing": {"*": {"day": 1, "week": 3}, "promotion": {"week": 2}},
     "marketing:sms": {"*": {"week": 1}}}

reads "at most one marketing message a day and three a week on all channels together, two
promotions a week, and one marketing SMS a week". Windows roll: "day" is the 24 hours before
the decision, not the calendar day, so a cap frees exactly when its oldest counted message
leaves the window. A customer's own limits (`max_per_day`, `max_per_week` in their
preferences) are caps over every promotional purpose together.
"""

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

WINDOWS: dict[str, timedelta] = {
    "hour": timedelta(hours=1),
    "day": timedelta(days=1),
    "week": timedelta(days=7),
}
LONGEST = max(WINDOWS.values())
"""How far back a decision needs to look at a customer's sends."""

ANY = "*"
NOT_PROMOTIONAL: frozenset[str] = frozenset({"transactional", "service"})
"""Purposes a customer's own limits (rules of purpose `*`) neither cap nor count."""

NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


@dataclass(frozen=True)
class CapRule:
    purpose: str
    """A purpose, or `*` for every promotional purpose (a customer's own limits)."""
    category: str
    """A category, or `*` for every category."""
    channel: str | None
    """Only messages on this channel count (and only decisions for it are capped); None: all."""
    window: str
    limit: int

    @property
    def span(self) -> timedelta:
        return WINDOWS[self.window]

    def label(self) -> str:
        scope = "every promotional message" if self.purpose == ANY else self.purpose
        if self.category != ANY:
            scope += f"/{self.category}"
        if self.channel:
            scope += f" on {self.channel}"
        return f"{scope}: {self.limit} per {self.window}"

    def counts(self, sent: "Counted") -> bool:
        purpose = (
            sent.purpose not in NOT_PROMOTIONAL
            if self.purpose == ANY
            else (sent.purpose == self.purpose)
        )
        return (
            purpose
            and (self.category == ANY or sent.category == self.category)
            and (self.channel is None or sent.channel == self.channel)
        )


@dataclass(slots=True)
class Counted:
    """One of the customer's messages that counts toward caps (decided to go, not failed)."""

    send_id: str
    purpose: str
    category: str
    channel: str | None
    at: datetime


@dataclass(frozen=True)
class CapHit:
    rule: CapRule
    count: int
    frees_at: datetime | None
    """When enough of the counted messages have left the window for one more to go; None
    for a limit of 0, which never frees."""


def parse_caps(raw: Mapping[str, Any]) -> tuple[CapRule, ...]:
    """The rules of the setting; ValueError names the first bad key."""
    rules: list[CapRule] = []
    for scope, categories in raw.items():
        purpose, _, channel = scope.partition(":")
        if not NAME.match(purpose) or (channel and not NAME.match(channel)):
            raise ValueError(f"frequency cap {scope!r}: write purpose or purpose:channel")
        if not isinstance(categories, Mapping):
            raise ValueError(f"frequency cap {scope!r}: map categories to windows")
        for category, windows in categories.items():
            if category != ANY and not NAME.match(category):
                raise ValueError(f"frequency cap {scope}.{category}: not a category name or *")
            if not isinstance(windows, Mapping):
                raise ValueError(f"frequency cap {scope}.{category}: map windows to limits")
            for window, limit in windows.items():
                if window not in WINDOWS:
                    raise ValueError(
                        f"frequency cap {scope}.{category}.{window}: the window is one of "
                        f"{', '.join(WINDOWS)}"
                    )
                if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
                    raise ValueError(
                        f"frequency cap {scope}.{category}.{window}: the limit is a whole "
                        "number, 0 or more"
                    )
                rules.append(CapRule(purpose, category, channel or None, window, limit))
    return tuple(rules)


def customer_rules(
    max_per_day: int | None,
    max_per_week: int | None,
    channel_limits: Iterable[tuple[str, int | None, int | None]] = (),
) -> tuple[CapRule, ...]:
    """A customer's own limits as caps over every promotional message: overall, and per
    channel as (channel, per day, per week)."""
    rules = []
    for channel, day, week in ((None, max_per_day, max_per_week), *channel_limits):
        if day is not None:
            rules.append(CapRule(ANY, ANY, channel, "day", day))
        if week is not None:
            rules.append(CapRule(ANY, ANY, channel, "week", week))
    return tuple(rules)


def applicable(
    rules: Iterable[CapRule], *, purpose: str, category: str, channel: str | None
) -> list[CapRule]:
    """The rules that cap a message of `purpose` and `category` on `channel` (None: the rules
    of every channel together)."""
    return [
        r
        for r in rules
        if (r.purpose == purpose or (r.purpose == ANY and purpose not in NOT_PROMOTIONAL))
        and (r.category == ANY or r.category == category)
        and (r.channel is None or r.channel == channel)
    ]


def check_caps(rules: Iterable[CapRule], sent: Sequence[Counted], now: datetime) -> CapHit | None:
    """The cap reached, if any; when several are, the one that frees last (the binding one)."""
    worst: CapHit | None = None
    for rule in rules:
        since = now - rule.span
        inside = sorted(s.at for s in sent if s.at > since and rule.counts(s))
        if len(inside) < rule.limit:
            continue
        # One more may go once all but limit - 1 of them have left the window.
        frees_at = inside[len(inside) - rule.limit] + rule.span if rule.limit else None
        hit = CapHit(rule, len(inside), frees_at)
        if worst is None or _later(hit.frees_at, worst.frees_at):
            worst = hit
    return worst


def _later(a: datetime | None, b: datetime | None) -> bool:
    if a is None:
        return b is not None
    return b is not None and a > b
