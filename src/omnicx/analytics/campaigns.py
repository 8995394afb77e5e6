"""Campaign and journey results, pure: sends, deliveries, conversions, uplift and ROI.

A campaign is a journey version ("journey:<id>", version) or a broadcast ("broadcast:<id>",
version 0), named by the `origin` the policy gate records with each send.

    sends        first "send" decision of each send id (a fallback to another channel is
                 the same send), on the UTC day it was decided, by channel
    delivered    sends a provider reported delivered (or read), counted on the send's day
    orders       orders placed by the customer within the attribution window after a send
                 (the latest send before the order takes it), counted on the send's day,
                 with their revenue in minor units
    cost         sends x the message cost of their channel (OMNICX_ANALYTICS_MESSAGE_COSTS),
                 in minor units, rounded to a whole one
    ROI          revenue / cost
    journeys     instances that ended in the period: "treated" went down a path (or had no
                 split), "holdout" were held out by a split; conversions are instances that
                 reached the journey's goal; uplift = conversion rate of the treated minus
                 that of the holdout
    broadcasts   conversions are the attributed orders, their rate per send
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

ORIGIN = re.compile(r"^(journey):([^:]{1,64}):v(\d{1,9})(?::.*)?$|^(broadcast):([^:]{1,64})$")


def campaign_of(origin: str) -> tuple[str, int] | None:
    """(campaign, version) a send's origin names; None for agents and the system."""
    found = ORIGIN.match(origin)
    if found is None:
        return None
    if found.group(1):
        return f"journey:{found.group(2)}", int(found.group(3))
    return f"broadcast:{found.group(5)}", 0


def held_out(variables: Mapping[str, Any]) -> bool:
    """Whether a journey instance was put in a split's holdout."""
    groups = variables.get("groups")
    return isinstance(groups, dict) and "holdout" in groups.values()


@dataclass
class CampaignCounts:
    sends: int = 0
    delivered: int = 0
    orders: int = 0
    revenue: int = 0
    entered: int = 0
    treated: int = 0
    treated_converted: int = 0
    holdout: int = 0
    holdout_converted: int = 0

    def add(self, other: "CampaignCounts") -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def values(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


COUNTERS = tuple(f.name for f in fields(CampaignCounts))


@dataclass(frozen=True)
class CampaignRow:
    kind: str
    """journey or broadcast"""
    id: str
    name: str | None
    version: int | None
    sends: int
    delivered: int
    delivery_rate: float | None
    entered: int | None
    treated: int | None
    holdout: int | None
    conversions: int
    conversion_rate: float | None
    holdout_conversions: int | None
    holdout_rate: float | None
    uplift: float | None
    """Conversion rate of the treated minus that of the holdout (journeys with a holdout)."""
    orders: int
    revenue: int
    cost: int
    roi: float | None
    """Revenue per unit of message cost; None when the sends cost nothing."""
    currency: str


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def campaign_rows(
    counts: Mapping[tuple[str, int], CampaignCounts],
    sends_by_channel: Mapping[tuple[str, int, str], int],
    costs: Mapping[str, Decimal],
    names: Mapping[str, str],
    currency: str,
) -> list[CampaignRow]:
    """One row per campaign (journey version or broadcast), journeys first, by name;
    `costs` per message and channel in minor units (fractions allowed)."""
    cost_of: dict[tuple[str, int], Decimal] = {}
    for (campaign, version, channel), sends in sends_by_channel.items():
        key = (campaign, version)
        cost_of[key] = cost_of.get(key, Decimal(0)) + sends * costs.get(channel, Decimal(0))
    rows = []
    for (campaign, version), c in counts.items():
        kind, _, ident = campaign.partition(":")
        exact = cost_of.get((campaign, version), Decimal(0))
        cost = int(exact.to_integral_value(ROUND_HALF_EVEN))
        journey = kind == "journey"
        if journey:
            conversions = c.treated_converted
            rate = _rate(c.treated_converted, c.treated)
            holdout_rate = _rate(c.holdout_converted, c.holdout)
        else:
            conversions = c.orders
            rate = _rate(c.orders, c.sends)
            holdout_rate = None
        rows.append(
            CampaignRow(
                kind=kind,
                id=ident,
                name=names.get(campaign),
                version=version if journey else None,
                sends=c.sends,
                delivered=c.delivered,
                delivery_rate=_rate(c.delivered, c.sends),
                entered=c.entered if journey else None,
                treated=c.treated if journey else None,
                holdout=c.holdout if journey else None,
                conversions=conversions,
                conversion_rate=rate,
                holdout_conversions=c.holdout_converted if journey else None,
                holdout_rate=holdout_rate,
                uplift=(
                    round(rate - holdout_rate, 4)
                    if rate is not None and holdout_rate is not None
                    else None
                ),
                orders=c.orders,
                revenue=c.revenue,
                cost=cost,
                roi=float(round(c.revenue / exact, 4)) if exact else None,
                currency=currency,
            )
        )
    rows.sort(key=lambda r: (r.kind != "journey", r.name or "", r.id, r.version or 0))
    return rows
