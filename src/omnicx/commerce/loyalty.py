"""Loyalty: one account per customer with an append-only ledger of points and store credit,
the earn rule and the tiers. Pure rules and the actions on a `LoyaltyRepository`; no SQL here.

    account     one per customer (the canonical profile id); a merge of two profiles moves
                the merged one's balances over (a `transfer` entry on each side) and its
                ledger counts towards the survivor's tier from then on
    entry       kind       points        credit        when
                earn       + n           .             an order reached the customer, an
                                                       exchange's new items, or by hand
                burn       - n           .             spent at any channel
                reverse    - n           .             what a return takes back, pro rata
                adjust     ± n           ± m           a correction, with a reason
                expire     - n           .             points that lapsed
                credit     .             + m           store credit issued (a refund)
                debit      .             - m           store credit spent
                transfer   ± n           ± m           a merge of two customers' accounts
    balance     the sum of the ledger, kept on the account row and changed only by one
                conditional UPDATE per entry: burn, debit, adjust and expire never take a
                balance below zero (Conflict, nothing written); a reversal may, when the
                points were already spent: the debt is paid by the next earnings
    idempotent  every entry has a key unique within its account (`order:<id>`,
                `return:<id>`, or the caller's Idempotency-Key): the same key again answers
                with the entry it made; the same key for something else is a Conflict
    tier        by the points earned (earn + reverse + adjust) over the last
                OMNICX_LOYALTY_TIER_WINDOW_DAYS, against OMNICX_LOYALTY_TIERS thresholds;
                recomputed at each entry, and a change raises TierChanged
    earn rule   floor(amount in currency units x OMNICX_LOYALTY_POINTS_PER_UNIT x the channel's
                multiplier in OMNICX_LOYALTY_CHANNEL_MULTIPLIERS)
"""

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from typing import Protocol

from babel.numbers import get_currency_precision

from omnicx.commerce.messages import (
    LoyaltyChanged,
    PointsAdjusted,
    PointsBurned,
    PointsEarned,
    PointsExpired,
    PointsReversed,
    StoreCreditIssued,
    StoreCreditSpent,
    TierChanged,
)
from omnicx.commerce.model import Money
from omnicx.kernel import Conflict, Event, Invalid, new_id

KINDS: tuple[str, ...] = (
    "earn",
    "burn",
    "reverse",
    "adjust",
    "expire",
    "credit",
    "debit",
    "transfer",
)
TIER_KINDS: tuple[str, ...] = ("earn", "reverse", "adjust")
"""Entries that count towards the tier."""
MAX_POINTS = 100_000_000
MAX_CREDIT = 10**10
REASON_MAX = 500

RaiseEvent = Callable[[Event], None]


@dataclass(frozen=True)
class LoyaltyPolicy:
    points_per_unit: Decimal = Decimal(1)
    multipliers: Mapping[str, Decimal] = field(default_factory=dict)
    tiers: tuple[tuple[str, int], ...] = (("member", 0), ("silver", 1000), ("gold", 5000))
    """(name, points) from the lowest; the lowest is where every account starts."""
    window_days: int = 365
    currency: str = "BRL"

    @property
    def base_tier(self) -> str:
        return self.tiers[0][0]


@dataclass(frozen=True)
class Account:
    id: str
    customer_id: str | None
    points: int
    credit: Money
    tier: str
    created_at: datetime
    updated_at: datetime
    merged_into: str | None = None


@dataclass(frozen=True)
class Entry:
    id: str
    account_id: str
    key: str
    kind: str
    points: int
    credit: int
    currency: str
    channel: str
    actor: str
    created_at: datetime
    location_id: str | None = None
    order_id: str | None = None
    return_id: str | None = None
    exchange_id: str | None = None
    reason: str | None = None

    def same(self, other: "Entry") -> bool:
        """Whether `other` asks for what this entry did (an idempotent replay)."""
        fields = ("kind", "points", "credit", "order_id", "return_id", "exchange_id")
        return all(getattr(self, name) == getattr(other, name) for name in fields)


@dataclass(frozen=True)
class Context:
    actor: str
    now: datetime
    raise_event: RaiseEvent
    policy: LoyaltyPolicy = LoyaltyPolicy()


class LoyaltyRepository(Protocol):
    def account_of(self, customer_id: str) -> Account | None: ...

    def account(self, account_id: str) -> Account | None: ...

    def add_account(self, account: Account) -> bool:
        """False, and nothing written, when the customer has one already."""

    def members(self, account_id: str) -> list[str]:
        """The account and every account merged into it."""

    def entry(self, account_ids: Collection[str], key: str) -> Entry | None: ...

    def add_entry(self, entry: Entry) -> bool:
        """False, and nothing written, when its key is taken in its account."""

    def apply(
        self, account_id: str, points: int, credit: int, now: datetime, *, floor: bool
    ) -> bool:
        """Add to the balances in one conditional UPDATE; with `floor`, False and nothing
        changed when a balance taken down would fall below zero."""

    def tier_points(self, account_ids: Collection[str], since: datetime) -> int: ...

    def order_points(self, account_ids: Collection[str], order_id: str) -> dict[str, int]:
        """Points the accounts' entries for one order add up to, by kind."""

    def set_tier(self, account_id: str, tier: str, now: datetime) -> None: ...

    def merge(self, loser_id: str, survivor_id: str, now: datetime) -> None:
        """The loser (and what was merged into it) now belongs to the survivor."""

    def entries(
        self, account_ids: Collection[str], *, limit: int = 50, before: str | None = None
    ) -> list[Entry]:
        """Newest first."""


# -- pure rules ----------------------------------------------------------------------------------


def points_for(amount: Money, channel: str, policy: LoyaltyPolicy) -> int:
    """What spending `amount` on `channel` earns."""
    if amount.amount <= 0:
        return 0
    units = Decimal(amount.amount).scaleb(-get_currency_precision(amount.currency))
    rate = policy.points_per_unit * policy.multipliers.get(channel, Decimal(1))
    return int((units * rate).to_integral_value(rounding=ROUND_FLOOR))


def tier_for(points: int, tiers: Sequence[tuple[str, int]]) -> str:
    """The highest tier whose threshold `points` reaches (the lowest one at least)."""
    found = tiers[0][0]
    for name, threshold in tiers:
        if points >= threshold:
            found = name
    return found


def check_tiers(tiers: Mapping[str, int]) -> tuple[tuple[str, int], ...]:
    """Thresholds by name, ordered; the lowest must be 0 so every account has a tier."""
    ordered = tuple(sorted(tiers.items(), key=lambda item: (item[1], item[0])))
    if not ordered or ordered[0][1] != 0:
        raise ValueError("the lowest loyalty tier must start at 0 points")
    if len({points for _, points in ordered}) != len(ordered):
        raise ValueError("two loyalty tiers have the same threshold")
    return ordered


def reversal(earned: int, paid: int, refunded_before: int, refunded: int) -> int:
    """Points a refund of `refunded` takes back from an order that earned `earned` on `paid`,
    when `refunded_before` went back already: pro rata, the parts adding up to `earned`."""
    if earned <= 0 or paid <= 0 or refunded <= 0:
        return 0
    before = min(refunded_before, paid)
    after = min(refunded_before + refunded, paid)
    return earned * after // paid - earned * before // paid


def _points(value: int, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_POINTS:
        raise Invalid(
            "invalid_points", f"{field} must be a whole number from 1 to {MAX_POINTS}", field
        )
    return value


def _credit(value: int, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_CREDIT:
        raise Invalid(
            "invalid_amount", f"{field} must be a whole number of minor units from 1", field
        )
    return value


def _signed(value: int, limit: int, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) > limit:
        raise Invalid("invalid_points", f"{field} must be a whole number within ±{limit}", field)
    return value


def check_reason(value: str | None, *, required: bool = False) -> str | None:
    clean = " ".join(value.split()) if value else ""
    if not clean:
        if required:
            raise Invalid("invalid_reason", "reason: say why", "reason")
        return None
    if len(clean) > REASON_MAX:
        raise Invalid("invalid_reason", f"reason must be at most {REASON_MAX} characters", "reason")
    return clean


def check_key(key: str, field: str = "Idempotency-Key") -> str:
    clean = key.strip() if isinstance(key, str) else ""
    if not clean or len(clean) > 200:
        raise Invalid("invalid_idempotency_key", f"{field} must be 1 to 200 characters", field)
    return clean


# -- actions -------------------------------------------------------------------------------------


def open_account(
    repo: LoyaltyRepository, customer_id: str, now: datetime, policy: LoyaltyPolicy
) -> Account:
    """The customer's account, opened on first use."""
    found = repo.account_of(customer_id)
    if found is not None:
        return found
    account = Account(
        new_id(), customer_id, 0, Money(0, policy.currency), policy.base_tier, now, now
    )
    if not repo.add_account(account):
        found = repo.account_of(customer_id)
        if found is None:
            raise RuntimeError(f"the loyalty account of {customer_id} vanished")
        return found
    return account


_EVENTS: dict[str, type[LoyaltyChanged]] = {
    "earn": PointsEarned,
    "burn": PointsBurned,
    "reverse": PointsReversed,
    "adjust": PointsAdjusted,
    "expire": PointsExpired,
    "credit": StoreCreditIssued,
    "debit": StoreCreditSpent,
}


def _post(
    repo: LoyaltyRepository,
    ctx: Context,
    customer_id: str,
    kind: str,
    *,
    key: str,
    channel: str,
    points: int = 0,
    credit: int = 0,
    floor: bool = True,
    location_id: str | None = None,
    order_id: str | None = None,
    return_id: str | None = None,
    exchange_id: str | None = None,
    reason: str | None = None,
) -> Entry:
    """Append one entry and change the balances with it; the same key again answers with the
    entry it made. Conflict insufficient_points/insufficient_credit, when a floored balance
    would fall below zero: the caller rolls its unit of work back."""
    account = open_account(repo, customer_id, ctx.now, ctx.policy)
    members = repo.members(account.id)
    entry = Entry(
        new_id(), account.id, key, kind, points, credit, ctx.policy.currency, channel,
        ctx.actor, ctx.now, location_id, order_id, return_id, exchange_id, reason,
    )  # fmt: skip
    found = repo.entry(members, key)
    if found is None and not repo.add_entry(entry):
        found = repo.entry(members, key)
    if found is not None:
        if not found.same(entry):
            raise Conflict(
                "key_reused",
                f"key {key!r} already recorded a {found.kind} of {found.points} points "
                f"and {found.credit} credit",
                "Idempotency-Key",
            )
        return found
    if not repo.apply(account.id, points, credit, ctx.now, floor=floor):
        current = repo.account(account.id) or account
        if points < 0 and current.points + points < 0:
            raise Conflict(
                "insufficient_points",
                f"the balance is {current.points} points: less than {-points}",
                "points",
            )
        raise Conflict(
            "insufficient_credit",
            f"the store credit is {current.credit.amount}: less than {-credit}",
            "amount",
        )
    after = repo.account(account.id) or account
    event = _EVENTS.get(kind)
    if event is not None:
        ctx.raise_event(
            event(
                customer_id=customer_id,
                account_id=account.id,
                entry_id=entry.id,
                points=points,
                credit=credit,
                currency=entry.currency,
                balance=after.points,
                credit_balance=after.credit.amount,
                channel=channel,
                location_id=location_id,
                order_id=order_id,
                return_id=return_id,
                exchange_id=exchange_id,
                at=ctx.now,
            )
        )
    if kind in TIER_KINDS:
        retier(repo, ctx, after, channel)
    return entry


def retier(repo: LoyaltyRepository, ctx: Context, account: Account, channel: str) -> str:
    """Recompute the account's tier from its rolling points; a change raises TierChanged."""
    since = ctx.now - timedelta(days=ctx.policy.window_days)
    rolling = repo.tier_points(repo.members(account.id), since)
    tier = tier_for(rolling, ctx.policy.tiers)
    if tier != account.tier:
        repo.set_tier(account.id, tier, ctx.now)
        ctx.raise_event(
            TierChanged(
                account.customer_id or "", account.id, account.tier, tier, rolling, channel, ctx.now
            )
        )
    return tier


def earn(
    repo: LoyaltyRepository,
    ctx: Context,
    customer_id: str,
    points: int,
    *,
    key: str,
    channel: str,
    location_id: str | None = None,
    order_id: str | None = None,
    exchange_id: str | None = None,
    reason: str | None = None,
) -> Entry:
    return _post(
        repo, ctx, customer_id, "earn", key=key, channel=channel,
        points=_points(points, "points"), location_id=location_id, order_id=order_id,
        exchange_id=exchange_id, reason=check_reason(reason),
    )  # fmt: skip


def burn(
    repo: LoyaltyRepository,
    ctx: Context,
    customer_id: str,
    points: int,
    *,
    key: str,
    channel: str,
    location_id: str | None = None,
    order_id: str | None = None,
    reason: str | None = None,
) -> Entry:
    """Spend points; never below zero, however many burn at once."""
    return _post(
        repo, ctx, customer_id, "burn", key=key, channel=channel,
        points=-_points(points, "points"), location_id=location_id, order_id=order_id,
        reason=check_reason(reason),
    )  # fmt: skip


def reverse(
    repo: LoyaltyRepository,
    ctx: Context,
    customer_id: str,
    points: int,
    *,
    key: str,
    channel: str,
    order_id: str,
    return_id: str,
    location_id: str | None = None,
) -> Entry:
    """Take back points a return undid; the balance may go below zero (points already spent)."""
    return _post(
        repo, ctx, customer_id, "reverse", key=key, channel=channel,
        points=-_points(points, "points"), floor=False, location_id=location_id,
        order_id=order_id, return_id=return_id,
    )  # fmt: skip


def adjust(
    repo: LoyaltyRepository,
    ctx: Context,
    customer_id: str,
    *,
    points: int = 0,
    credit: int = 0,
    key: str,
    channel: str,
    reason: str,
    location_id: str | None = None,
) -> Entry:
    """A correction by hand: signed points and store credit, with a reason."""
    _signed(points, MAX_POINTS, "points")
    _signed(credit, MAX_CREDIT, "credit")
    if points == 0 and credit == 0:
        raise Invalid("invalid_points", "an adjustment changes points or credit", "points")
    return _post(
        repo, ctx, customer_id, "adjust", key=key, channel=channel, points=points,
        credit=credit, location_id=location_id, reason=check_reason(reason, required=True),
    )  # fmt: skip


def issue_credit(
    repo: LoyaltyRepository,
    ctx: Context,
    customer_id: str,
    amount: Money,
    *,
    key: str,
    channel: str,
    location_id: str | None = None,
    order_id: str | None = None,
    return_id: str | None = None,
    exchange_id: str | None = None,
) -> Entry:
    """Store credit for a refund."""
    _same_currency(amount, ctx.policy)
    return _post(
        repo, ctx, customer_id, "credit", key=key, channel=channel,
        credit=_credit(amount.amount, "amount"), location_id=location_id, order_id=order_id,
        return_id=return_id, exchange_id=exchange_id,
    )  # fmt: skip


def spend_credit(
    repo: LoyaltyRepository,
    ctx: Context,
    customer_id: str,
    amount: Money,
    *,
    key: str,
    channel: str,
    location_id: str | None = None,
    order_id: str | None = None,
    reason: str | None = None,
) -> Entry:
    """Pay with store credit; never below zero."""
    _same_currency(amount, ctx.policy)
    return _post(
        repo, ctx, customer_id, "debit", key=key, channel=channel,
        credit=-_credit(amount.amount, "amount"), location_id=location_id, order_id=order_id,
        reason=check_reason(reason),
    )  # fmt: skip


def _same_currency(amount: Money, policy: LoyaltyPolicy) -> None:
    if amount.currency != policy.currency:
        raise Invalid(
            "invalid_currency",
            f"store credit is kept in {policy.currency}, not {amount.currency}",
            "currency",
        )


def merge_accounts(
    repo: LoyaltyRepository, ctx: Context, loser_id: str, survivor_id: str, merge_id: str
) -> Account | None:
    """Two customers turned out to be one: the loser's balances move to the survivor's account
    (a transfer entry on each side, keyed by the merge), and its history counts for the
    survivor's tier. Nothing happens when the loser had no account."""
    loser = repo.account_of(loser_id)
    if loser is None or loser.merged_into is not None:
        return None
    survivor = open_account(repo, survivor_id, ctx.now, ctx.policy)
    if survivor.id == loser.id:
        return survivor
    key = f"merge:{merge_id}"
    for account, sign in ((loser, -1), (survivor, 1)):
        entry = Entry(
            new_id(), account.id, key, "transfer", sign * loser.points, sign * loser.credit.amount,
            ctx.policy.currency, "system", ctx.actor, ctx.now, reason=f"merge {merge_id}",
        )  # fmt: skip
        if repo.add_entry(entry):
            repo.apply(account.id, entry.points, entry.credit, ctx.now, floor=False)
    repo.merge(loser.id, survivor.id, ctx.now)
    after = repo.account(survivor.id) or survivor
    retier(repo, ctx, after, "system")
    return repo.account(survivor.id)


def with_balance(account: Account, entries: Sequence[Entry]) -> Account:
    """The account as the ledger has it (a check, and what tests compare)."""
    return replace(
        account,
        points=sum(e.points for e in entries),
        credit=Money(sum(e.credit for e in entries), account.credit.currency),
    )
