"""Loyalty rules and actions without a database: the earn rule, tiers, pro rata reversal,
idempotent entries, balances that never go below zero, merges."""

from collections.abc import Collection
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from omnicx.commerce import loyalty
from omnicx.commerce.loyalty import Account, Entry, LoyaltyPolicy
from omnicx.commerce.messages import (
    PointsBurned,
    PointsEarned,
    PointsReversed,
    StoreCreditIssued,
    TierChanged,
)
from omnicx.commerce.model import Money
from omnicx.kernel import Conflict, Event, Invalid

AT = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
POLICY = LoyaltyPolicy(
    points_per_unit=Decimal(1),
    multipliers={"app": Decimal(2), "marketplace": Decimal("0.5")},
    tiers=(("member", 0), ("silver", 1000), ("gold", 5000)),
)


class FakeLoyalty:
    """`LoyaltyRepository` in memory."""

    def __init__(self) -> None:
        self.accounts: dict[str, Account] = {}
        self.ledger: list[Entry] = []

    def account_of(self, customer_id: str) -> Account | None:
        return next((a for a in self.accounts.values() if a.customer_id == customer_id), None)

    def account(self, account_id: str) -> Account | None:
        return self.accounts.get(account_id)

    def add_account(self, account: Account) -> bool:
        if self.account_of(account.customer_id or "") is not None:
            return False
        self.accounts[account.id] = account
        return True

    def members(self, account_id: str) -> list[str]:
        merged = sorted(a.id for a in self.accounts.values() if a.merged_into == account_id)
        return [account_id, *merged]

    def entry(self, account_ids: Collection[str], key: str) -> Entry | None:
        return next((e for e in self.ledger if e.account_id in account_ids and e.key == key), None)

    def add_entry(self, entry: Entry) -> bool:
        if any(e.account_id == entry.account_id and e.key == entry.key for e in self.ledger):
            return False
        self.ledger.append(entry)
        return True

    def apply(
        self, account_id: str, points: int, credit: int, now: datetime, *, floor: bool
    ) -> bool:
        account = self.accounts[account_id]
        if (floor and points < 0 and account.points + points < 0) or (
            credit < 0 and account.credit.amount + credit < 0
        ):
            return False
        self.accounts[account_id] = replace(
            account,
            points=account.points + points,
            credit=Money(account.credit.amount + credit, account.credit.currency),
            updated_at=now,
        )
        return True

    def tier_points(self, account_ids: Collection[str], since: datetime) -> int:
        return sum(
            e.points
            for e in self.ledger
            if e.account_id in account_ids
            and e.kind in loyalty.TIER_KINDS
            and e.created_at >= since
        )

    def order_points(self, account_ids: Collection[str], order_id: str) -> dict[str, int]:
        found: dict[str, int] = {}
        for e in self.ledger:
            if e.account_id in account_ids and e.order_id == order_id:
                found[e.kind] = found.get(e.kind, 0) + e.points
        return found

    def set_tier(self, account_id: str, tier: str, now: datetime) -> None:
        self.accounts[account_id] = replace(self.accounts[account_id], tier=tier)

    def merge(self, loser_id: str, survivor_id: str, now: datetime) -> None:
        for account in list(self.accounts.values()):
            if account.id == loser_id or account.merged_into == loser_id:
                self.accounts[account.id] = replace(account, merged_into=survivor_id)

    def entries(
        self, account_ids: Collection[str], *, limit: int = 50, before: str | None = None
    ) -> list[Entry]:
        return [e for e in reversed(self.ledger) if e.account_id in account_ids][:limit]


@pytest.fixture
def repo() -> FakeLoyalty:
    return FakeLoyalty()


@pytest.fixture
def raised() -> list[Event]:
    return []


def ctx(raised: list[Event], now: datetime = AT) -> loyalty.Context:
    return loyalty.Context("user:clerk", now, raised.append, POLICY)


def test_points_per_currency_unit_with_channel_multipliers() -> None:
    assert loyalty.points_for(Money(24990, "BRL"), "web", POLICY) == 249
    assert loyalty.points_for(Money(24990, "BRL"), "app", POLICY) == 499
    assert loyalty.points_for(Money(24990, "BRL"), "marketplace", POLICY) == 124
    assert loyalty.points_for(Money(2499, "JPY"), "web", POLICY) == 2499
    assert loyalty.points_for(Money(0, "BRL"), "web", POLICY) == 0


def test_tiers_by_rolling_points() -> None:
    tiers = loyalty.check_tiers({"gold": 5000, "member": 0, "silver": 1000})
    assert tiers == (("member", 0), ("silver", 1000), ("gold", 5000))
    assert [loyalty.tier_for(p, tiers) for p in (-5, 0, 999, 1000, 4999, 5000, 10**6)] == [
        "member",
        "member",
        "member",
        "silver",
        "silver",
        "gold",
        "gold",
    ]
    with pytest.raises(ValueError):
        loyalty.check_tiers({"silver": 1000})


def test_reversal_is_pro_rata_and_adds_up_to_what_was_earned() -> None:
    assert loyalty.reversal(249, 24990, 0, 24990) == 249
    parts = [loyalty.reversal(100, 3000, before, 1000) for before in (0, 1000, 2000)]
    assert parts == [33, 33, 34]
    assert loyalty.reversal(100, 3000, 2500, 1000) == 100 - 100 * 2500 // 3000
    assert loyalty.reversal(0, 3000, 0, 3000) == 0


def test_an_earn_is_idempotent_on_its_key(repo: FakeLoyalty, raised: list[Event]) -> None:
    first = loyalty.earn(repo, ctx(raised), "c-1", 120, key="order:o-1:0", channel="web")
    again = loyalty.earn(repo, ctx(raised), "c-1", 120, key="order:o-1:0", channel="web")
    assert again == first
    assert repo.account_of("c-1") is not None
    assert repo.account_of("c-1").points == 120  # type: ignore[union-attr]
    assert len(repo.ledger) == 1
    assert [type(e) for e in raised] == [PointsEarned]
    with pytest.raises(Conflict) as clash:
        loyalty.earn(repo, ctx(raised), "c-1", 999, key="order:o-1:0", channel="web")
    assert (clash.value.code, clash.value.field) == ("key_reused", "Idempotency-Key")
    assert len(repo.ledger) == 1


def test_a_burn_never_takes_the_balance_below_zero(repo: FakeLoyalty, raised: list[Event]) -> None:
    loyalty.earn(repo, ctx(raised), "c-1", 100, key="e1", channel="web")
    loyalty.burn(repo, ctx(raised), "c-1", 60, key="b1", channel="store")
    with pytest.raises(Conflict) as short:
        loyalty.burn(repo, ctx(raised), "c-1", 41, key="b2", channel="app")
    assert (short.value.code, short.value.field) == ("insufficient_points", "points")
    assert short.value.message == "the balance is 40 points: less than 41"
    with pytest.raises(Invalid):
        loyalty.burn(repo, ctx(raised), "c-1", 0, key="b3", channel="app")
    assert [type(e) for e in raised] == [PointsEarned, PointsBurned]


def test_a_reversal_may_take_spent_points_below_zero(
    repo: FakeLoyalty, raised: list[Event]
) -> None:
    loyalty.earn(repo, ctx(raised), "c-1", 100, key="order:o-1:0", channel="web", order_id="o-1")
    loyalty.burn(repo, ctx(raised), "c-1", 100, key="b1", channel="store")
    loyalty.reverse(
        repo, ctx(raised), "c-1", 100, key="return:r-1", channel="store", order_id="o-1",
        return_id="r-1",
    )  # fmt: skip
    account = repo.account_of("c-1")
    assert account is not None
    assert account.points == -100
    assert isinstance(raised[-1], PointsReversed)
    assert raised[-1].balance == -100
    assert repo.order_points(["c-1", account.id], "o-1") == {"earn": 100, "reverse": -100}


def test_tiers_move_up_and_down_with_events(repo: FakeLoyalty, raised: list[Event]) -> None:
    loyalty.earn(repo, ctx(raised), "c-1", 1200, key="e1", channel="web")
    account = repo.account_of("c-1")
    assert account is not None
    assert account.tier == "silver"
    tier = [e for e in raised if isinstance(e, TierChanged)]
    assert [(t.old, t.new, t.points, t.channel) for t in tier] == [
        ("member", "silver", 1200, "web")
    ]
    loyalty.reverse(
        repo, ctx(raised), "c-1", 300, key="r1", channel="store", order_id="o", return_id="r"
    )
    assert repo.account_of("c-1").tier == "member"  # type: ignore[union-attr]
    a_year_on = AT + timedelta(days=366)
    loyalty.earn(repo, ctx(raised, a_year_on), "c-1", 999, key="e2", channel="web")
    assert repo.account_of("c-1").tier == "member"  # type: ignore[union-attr]
    assert len([e for e in raised if isinstance(e, TierChanged)]) == 2


def test_store_credit_is_issued_and_spent_in_the_book_currency(
    repo: FakeLoyalty, raised: list[Event]
) -> None:
    loyalty.issue_credit(
        repo, ctx(raised), "c-1", Money(5000, "BRL"), key="refund:1", channel="store"
    )
    loyalty.spend_credit(repo, ctx(raised), "c-1", Money(2000, "BRL"), key="s1", channel="web")
    with pytest.raises(Conflict) as short:
        loyalty.spend_credit(repo, ctx(raised), "c-1", Money(3001, "BRL"), key="s2", channel="web")
    assert short.value.code == "insufficient_credit"
    with pytest.raises(Invalid) as other:
        loyalty.issue_credit(repo, ctx(raised), "c-1", Money(10, "USD"), key="x", channel="web")
    assert other.value.field == "currency"
    account = repo.account_of("c-1")
    assert account is not None
    assert account.credit == Money(3000, "BRL")
    assert isinstance(raised[0], StoreCreditIssued)
    assert raised[0].credit_balance == 5000


def test_an_adjustment_needs_a_reason_and_a_change(repo: FakeLoyalty, raised: list[Event]) -> None:
    with pytest.raises(Invalid) as nothing:
        loyalty.adjust(repo, ctx(raised), "c-1", key="a", channel="store", reason="goodwill")
    assert nothing.value.field == "points"
    with pytest.raises(Invalid) as why:
        loyalty.adjust(repo, ctx(raised), "c-1", points=5, key="a", channel="store", reason=" ")
    assert why.value.field == "reason"
    loyalty.adjust(repo, ctx(raised), "c-1", points=50, key="a", channel="store", reason="late")
    with pytest.raises(Conflict):
        loyalty.adjust(repo, ctx(raised), "c-1", points=-51, key="b", channel="store", reason="x")


def test_a_merge_moves_the_balance_and_the_history(repo: FakeLoyalty, raised: list[Event]) -> None:
    loyalty.earn(repo, ctx(raised), "loser", 700, key="e1", channel="app")
    loyalty.issue_credit(repo, ctx(raised), "loser", Money(900, "BRL"), key="c1", channel="store")
    loyalty.earn(repo, ctx(raised), "survivor", 400, key="e1", channel="web")
    merged = loyalty.merge_accounts(repo, ctx(raised), "loser", "survivor", "m-1")
    assert merged is not None
    assert (merged.points, merged.credit.amount, merged.tier) == (1100, 900, "silver")
    loser = repo.account_of("loser")
    assert loser is not None
    assert (loser.points, loser.credit.amount) == (0, 0)
    assert loser.merged_into == merged.id
    assert loyalty.merge_accounts(repo, ctx(raised), "loser", "survivor", "m-1") is None
    # The loser's keys are the survivor's now: a replay of its earn changes nothing.
    loyalty.earn(repo, ctx(raised), "survivor", 700, key="e1", channel="app")
    assert repo.account_of("survivor").points == 1100  # type: ignore[union-attr]
    for account in repo.accounts.values():
        own = [e for e in repo.ledger if e.account_id == account.id]
        assert loyalty.with_balance(account, own) == account
