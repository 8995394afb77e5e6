"""The price book: one base price per SKU and currency, channel overrides that carry a reason,
promotions scoped by channel, the quote, and the consistency report.

`price_for` is pure: base → the override in force for the channel → the best promotion that
applies. Nothing in the book is rewritten: a new base price adds a version, an override or a
promotion is withdrawn by stamping when, so the price on any channel at any past moment is
answered from the same rows (`price_for(..., at=then)`).

Rounding: a percentage off is rounded half up to the minor unit; no price goes below zero.
"""

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Protocol

from babel.numbers import get_currency_precision, is_currency

from omnicx.commerce.messages import PriceChanged
from omnicx.commerce.model import (
    PROMOTION_KINDS,
    BasePrice,
    Money,
    PriceOverride,
    Promotion,
    Quote,
)
from omnicx.kernel import Conflict, Event, Invalid, NotFound, new_id

MAX_AMOUNT = 10**12
"""The largest amount in minor units a price may hold (ten billion in a two-decimal currency)."""

REASON_MAX = 500
CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,39}$")


class PriceRepository(Protocol):
    def add_base_price(self, price: BasePrice) -> None: ...

    def base_prices(
        self, skus: Collection[str] | None, currency: str, at: datetime
    ) -> dict[str, BasePrice]:
        """The version of each SKU's base price in force at `at` (all SKUs when None)."""

    def base_history(self, sku: str) -> list[BasePrice]:
        """Every version of a SKU's base prices, newest first."""

    def add_override(self, override: PriceOverride) -> None: ...

    def override(self, override_id: str) -> PriceOverride | None: ...

    def overrides(self, skus: Collection[str] | None = None) -> list[PriceOverride]:
        """Every override of the SKUs (all when None), withdrawn ones included."""

    def withdraw_override(self, override_id: str, at: datetime, actor: str) -> None: ...

    def add_promotion(self, promotion: Promotion) -> None: ...

    def promotion(self, promotion_id: str) -> Promotion | None: ...

    def promotions(self) -> list[Promotion]:
        """Every promotion, ended ones included, oldest first."""

    def end_promotion(self, promotion_id: str, at: datetime, actor: str) -> None: ...


# -- validation --------------------------------------------------------------------------------


def currency_code(value: str | None, default: str, field: str = "currency") -> str:
    code = (value or default).strip().upper()
    if not is_currency(code):
        raise Invalid("invalid_currency", f"{code!r} is not an ISO 4217 currency code", field)
    return code


def money(amount: int, currency: str, field: str = "amount") -> Money:
    """A price: a whole number of minor units, zero or more."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise Invalid("invalid_amount", f"{field} must be a whole number of minor units", field)
    if not 0 <= amount <= MAX_AMOUNT:
        raise Invalid(
            "invalid_amount", f"{field} must be 0 to {MAX_AMOUNT} minor units of {currency}", field
        )
    return Money(amount, currency)


def parse_amount(text: str, currency: str, field: str = "price") -> Money:
    """A price written for people ("199.90", "199,90", "1999") in minor units of `currency`."""
    clean = text.strip().replace(" ", "")
    if "," in clean and "." not in clean:
        clean = clean.replace(",", ".")
    try:
        value = Decimal(clean)
    except InvalidOperation:
        raise Invalid("invalid_amount", f"{field} {text!r} is not a number", field) from None
    if not value.is_finite() or value < 0:
        raise Invalid("invalid_amount", f"{field} must be zero or more", field)
    places = get_currency_precision(currency)
    minor = value.scaleb(places)
    if minor != minor.to_integral_value():
        raise Invalid(
            "invalid_amount",
            f"{field} {text!r} has more than {places} decimals for {currency}",
            field,
        )
    return money(int(minor), currency, field)


def format_amount(price: Money) -> str:
    """Minor units back to a plain decimal ("199.90")."""
    places = get_currency_precision(price.currency)
    return f"{Decimal(price.amount).scaleb(-places):.{places}f}"


def _reason(value: str) -> str:
    clean = " ".join(value.split())
    if not clean:
        raise Invalid(
            "reason_required", "a channel price needs a reason: say why it differs", "reason"
        )
    if len(clean) > REASON_MAX:
        raise Invalid("invalid_reason", f"reason must be at most {REASON_MAX} characters", "reason")
    return clean


def _window(valid_from: datetime | None, valid_to: datetime | None) -> None:
    for name, value in (("valid_from", valid_from), ("valid_to", valid_to)):
        if value is not None and value.tzinfo is None:
            raise Invalid("invalid_time", f"{name} needs a time zone (e.g. Z or -03:00)", name)
    if valid_from is not None and valid_to is not None and valid_to <= valid_from:
        raise Invalid("invalid_window", "valid_to must be after valid_from", "valid_to")


def _overlap(
    a_from: datetime | None, a_to: datetime | None, b_from: datetime | None, b_to: datetime | None
) -> bool:
    starts_before_b_ends = b_to is None or a_from is None or a_from < b_to
    ends_after_b_starts = a_to is None or b_from is None or b_from < a_to
    return starts_before_b_ends and ends_after_b_starts


def channel_name(channel: str, channels: Sequence[str], field: str = "channel") -> str:
    if channel not in channels:
        raise Invalid(
            "unknown_channel",
            f"{channel!r} is not a sales channel; use one of {', '.join(channels)}",
            field,
        )
    return channel


# -- the quote ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PriceBook:
    """Base prices in force (sku → Money) and each SKU's product, for product promotions."""

    prices: Mapping[str, Money]
    products: Mapping[str, str] = field(default_factory=dict)


def discounted(price: Money, promotion: Promotion) -> Money:
    if promotion.kind == "percent":
        off = (price.amount * promotion.value * 2 + 100) // 200
    else:
        off = promotion.value
    return Money(max(0, price.amount - off), price.currency)


def override_in_force(
    overrides: Iterable[PriceOverride], sku: str, channel: str, currency: str, at: datetime
) -> list[PriceOverride]:
    """The overrides that apply at `at`, the one to use first (latest start, then latest made)."""
    found = [
        o
        for o in overrides
        if o.sku == sku
        and o.channel == channel
        and o.price.currency == currency
        and o.live_at(at)
        and o.in_window(at)
    ]
    return sorted(
        found,
        key=lambda o: (o.valid_from or datetime.min.replace(tzinfo=at.tzinfo), o.created_at, o.id),
        reverse=True,
    )


def promotions_applying(
    promotions: Iterable[Promotion],
    sku: str,
    product_id: str | None,
    channel: str,
    price: Money,
    at: datetime,
    code: str | None = None,
) -> list[Promotion]:
    """Promotions that apply, best first (lowest price, then the oldest)."""
    given = code.strip().upper() if code else None
    found = [
        p
        for p in promotions
        if p.live_at(at)
        and p.in_window(at)
        and channel in p.channels
        and p.covers(sku, product_id)
        and (p.code is None or p.code == given)
        and (p.kind == "percent" or p.currency == price.currency)
    ]
    return sorted(found, key=lambda p: (discounted(price, p).amount, p.created_at, p.id))


def price_for(
    book: PriceBook,
    overrides: Iterable[PriceOverride],
    promotions: Iterable[Promotion],
    sku: str,
    channel: str,
    at: datetime,
    *,
    code: str | None = None,
) -> Quote:
    """The price of `sku` on `channel` at `at`: base → override → best promotion."""
    base = book.prices.get(sku)
    if base is None:
        raise NotFound("price_not_found", f"{sku} has no base price", "sku")
    price, reasons = base, []
    override_id = promotion_id = promotion_name = None
    applying = override_in_force(overrides, sku, channel, base.currency, at)
    if applying:
        chosen = applying[0]
        price, override_id = chosen.price, chosen.id
        reasons.append(chosen.reason)
    best = promotions_applying(
        promotions, sku, book.products.get(sku), channel, price, at, code=code
    )
    if best:
        price = discounted(price, best[0])
        promotion_id, promotion_name = best[0].id, best[0].name
        reasons.append(f"promotion {best[0].name}")
    return Quote(
        sku=sku,
        channel=channel,
        base=base,
        price=price,
        reason="; ".join(reasons) or None,
        promotion=promotion_id,
        override=override_id,
        promotion_name=promotion_name,
        at=at,
    )


# -- the consistency report --------------------------------------------------------------------

FLAGS = {
    "no_reason": "the price differs from the base without a reason",
    "override_expired": "an override whose window has ended was never withdrawn",
    "overrides_overlap": "more than one override applies at once; the latest start wins",
    "promotions_overlap": "more than one promotion applies at once; the lowest price wins",
}


@dataclass(frozen=True)
class PriceRow:
    """One line of the consistency report: a channel whose price is not the base, or a
    flagged state of the book (`flag`)."""

    sku: str
    channel: str
    base: Money
    price: Money
    source: str
    """override, promotion, override+promotion, or base (a flag on a channel at base)."""
    reason: str | None
    override: str | None = None
    promotion: str | None = None
    flag: str | None = None
    detail: str | None = None

    @property
    def difference(self) -> int:
        return self.price.amount - self.base.amount


@dataclass(frozen=True)
class PriceSummary:
    sku: str
    base: Money
    prices: dict[str, Money]

    @property
    def consistent(self) -> bool:
        return all(p == self.base for p in self.prices.values())


@dataclass(frozen=True)
class PriceReport:
    at: datetime
    currency: str
    items: list[PriceSummary]
    rows: list[PriceRow]

    @property
    def flagged(self) -> int:
        return sum(1 for row in self.rows if row.flag)


def _source(quote: Quote) -> str:
    if quote.override and quote.promotion:
        return "override+promotion"
    return "override" if quote.override else "promotion" if quote.promotion else "base"


def price_report(
    book: PriceBook,
    overrides: Sequence[PriceOverride],
    promotions: Sequence[Promotion],
    sold_on: Mapping[str, Sequence[str]],
    currency: str,
    at: datetime,
) -> PriceReport:
    """Every channel price that differs from the base, with its reason; flags a difference
    without one, expired overrides left in place, and overlapping overrides or promotions.

    `sold_on` gives the channels each SKU is listed on; only those are compared.
    """
    items: list[PriceSummary] = []
    rows: list[PriceRow] = []
    for sku in sorted(sold_on):
        base = book.prices.get(sku)
        if base is None or base.currency != currency:
            continue
        prices: dict[str, Money] = {}
        for channel in sold_on[sku]:
            quote = price_for(book, overrides, promotions, sku, channel, at)
            prices[channel] = quote.price
            rows.extend(_rows_for(book, overrides, promotions, quote, at))
        items.append(PriceSummary(sku, base, prices))
    return PriceReport(at, currency, items, rows)


def _rows_for(
    book: PriceBook,
    overrides: Sequence[PriceOverride],
    promotions: Sequence[Promotion],
    quote: Quote,
    at: datetime,
) -> list[PriceRow]:
    sku, channel, base = quote.sku, quote.channel, quote.base
    at_base = PriceRow(sku, channel, base, quote.price, "base", None)
    rows: list[PriceRow] = []
    if quote.price != base or quote.override or quote.promotion:
        reason = (quote.reason or "").strip() or None
        row = PriceRow(
            sku,
            channel,
            base,
            quote.price,
            _source(quote),
            reason,
            override=quote.override,
            promotion=quote.promotion,
        )
        if quote.override and not _override_reason(overrides, quote.override):
            row = replace(row, flag="no_reason", detail=FLAGS["no_reason"])
        rows.append(row)
    applying = override_in_force(overrides, sku, channel, base.currency, at)
    if len(applying) > 1:
        names = ", ".join(o.id for o in applying)
        rows.append(
            replace(
                at_base,
                source="override",
                reason=applying[0].reason,
                override=applying[0].id,
                flag="overrides_overlap",
                detail=f"{FLAGS['overrides_overlap']}: {names}",
            )
        )
    for old in overrides:
        if (
            old.sku == sku
            and old.channel == channel
            and old.price.currency == base.currency
            and old.live_at(at)
            and old.valid_to is not None
            and old.valid_to <= at
        ):
            rows.append(
                replace(
                    at_base,
                    source="override",
                    reason=old.reason,
                    override=old.id,
                    flag="override_expired",
                    detail=f"override of {old.price.amount} ended at {old.valid_to.isoformat()}",
                )
            )
    start = applying[0].price if applying else base
    stacked = promotions_applying(promotions, sku, book.products.get(sku), channel, start, at)
    if len(stacked) > 1:
        names = ", ".join(p.name for p in stacked)
        rows.append(
            replace(
                at_base,
                source="promotion",
                reason=f"promotion {stacked[0].name}",
                promotion=stacked[0].id,
                flag="promotions_overlap",
                detail=f"{FLAGS['promotions_overlap']}: {names}",
            )
        )
    return rows


def _override_reason(overrides: Sequence[PriceOverride], override_id: str) -> str:
    for override in overrides:
        if override.id == override_id:
            return override.reason.strip()
    return ""


# -- changing the book -------------------------------------------------------------------------


def set_base_price(
    repo: PriceRepository, sku: str, price: Money, actor: str, now: datetime
) -> tuple[BasePrice, list[Event]]:
    """The SKU's base price in `price.currency` from now on; the same price again adds nothing."""
    current = repo.base_prices([sku], price.currency, now).get(sku)
    if current is not None and current.price == price:
        return current, []
    version = BasePrice(new_id(), sku, price, now, actor)
    repo.add_base_price(version)
    return version, [PriceChanged("base", sku, None, version.id)]


def add_override(
    repo: PriceRepository,
    *,
    sku: str,
    channel: str,
    price: Money,
    reason: str,
    valid_from: datetime | None,
    valid_to: datetime | None,
    actor: str,
    now: datetime,
) -> tuple[PriceOverride, list[Event]]:
    """A deliberate price on one channel. It needs a reason, a base price in its currency to
    differ from, a window not already ended, and no other override of the same SKU and
    channel in an overlapping window (withdraw that one first)."""
    reason = _reason(reason)
    _window(valid_from, valid_to)
    if valid_to is not None and valid_to <= now:
        raise Invalid(
            "window_ended", "valid_to is in the past: the override would never apply", "valid_to"
        )
    if not repo.base_prices([sku], price.currency, now):
        raise Conflict(
            "no_base_price",
            f"{sku} has no base price in {price.currency}: set one before overriding it",
            "sku",
        )
    for other in repo.overrides([sku]):
        if (
            other.channel == channel
            and other.price.currency == price.currency
            and other.withdrawn_at is None
            and (other.valid_to is None or other.valid_to > now)
            and _overlap(valid_from, valid_to, other.valid_from, other.valid_to)
        ):
            raise Conflict(
                "override_overlaps",
                f"override {other.id} already prices {sku} on {channel} in that window; "
                "withdraw it first",
                "valid_from",
            )
    override = PriceOverride(
        new_id(), sku, channel, price, reason, valid_from, valid_to, now, actor
    )
    repo.add_override(override)
    return override, [PriceChanged("override", sku, channel, override.id)]


def withdraw_override(
    repo: PriceRepository, override_id: str, actor: str, now: datetime
) -> tuple[PriceOverride, list[Event]]:
    override = repo.override(override_id)
    if override is None:
        raise NotFound("override_not_found", f"no price override {override_id}", "override_id")
    if override.withdrawn_at is not None:
        return override, []
    repo.withdraw_override(override_id, now, actor)
    withdrawn = replace(override, withdrawn_at=now, withdrawn_by=actor)
    return withdrawn, [
        PriceChanged("override_withdrawn", override.sku, override.channel, override.id)
    ]


@dataclass(frozen=True)
class PromotionDraft:
    name: str
    kind: str
    value: int
    channels: tuple[str, ...]
    skus: tuple[str, ...] = ()
    product_ids: tuple[str, ...] = ()
    currency: str | None = None
    code: str | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None


def create_promotion(
    repo: PriceRepository,
    draft: PromotionDraft,
    *,
    channels: Sequence[str],
    default_currency: str,
    actor: str,
    now: datetime,
) -> tuple[Promotion, list[Event]]:
    """A promotion; the SKUs and products it names must exist (the caller checks them)."""
    name = " ".join(draft.name.split())
    if not name or len(name) > 200:
        raise Invalid("invalid_name", "name must be 1 to 200 characters", "name")
    if draft.kind not in PROMOTION_KINDS:
        raise Invalid("invalid_kind", f"kind must be one of {', '.join(PROMOTION_KINDS)}", "kind")
    currency: str | None = None
    if draft.kind == "percent":
        if isinstance(draft.value, bool) or not 1 <= draft.value <= 100:
            raise Invalid("invalid_value", "a percentage off must be 1 to 100", "value")
    else:
        currency = currency_code(draft.currency, default_currency)
        money(draft.value, currency, "value")
        if draft.value == 0:
            raise Invalid("invalid_value", "an amount off must be more than zero", "value")
    if not draft.channels:
        raise Invalid("channels_required", "name the channels the promotion runs on", "channels")
    for channel in draft.channels:
        channel_name(channel, channels, "channels")
    _window(draft.valid_from, draft.valid_to)
    if draft.valid_to is not None and draft.valid_to <= now:
        raise Invalid("window_ended", "valid_to is in the past", "valid_to")
    code = draft.code.strip().upper() if draft.code else None
    if code is not None:
        if not CODE.match(code):
            raise Invalid(
                "invalid_code",
                "code is 1 to 40 of A-Z, 0-9, _ and -, starting alphanumeric",
                "code",
            )
        for other in repo.promotions():
            if (
                other.code == code
                and other.ended_at is None
                and (other.valid_to is None or other.valid_to > now)
            ):
                raise Conflict("code_in_use", f"promotion {other.id} uses code {code}", "code")
    promotion = Promotion(
        id=new_id(),
        name=name,
        kind=draft.kind,
        value=draft.value,
        currency=currency,
        channels=tuple(dict.fromkeys(draft.channels)),
        skus=tuple(dict.fromkeys(draft.skus)),
        product_ids=tuple(dict.fromkeys(draft.product_ids)),
        code=code,
        valid_from=draft.valid_from,
        valid_to=draft.valid_to,
        created_at=now,
        created_by=actor,
    )
    repo.add_promotion(promotion)
    sku = promotion.skus[0] if len(promotion.skus) == 1 and not promotion.product_ids else None
    return promotion, [PriceChanged("promotion", sku, None, promotion.id)]


def end_promotion(
    repo: PriceRepository, promotion_id: str, actor: str, now: datetime
) -> tuple[Promotion, list[Event]]:
    promotion = repo.promotion(promotion_id)
    if promotion is None:
        raise NotFound("promotion_not_found", f"no promotion {promotion_id}", "promotion_id")
    if promotion.ended_at is not None:
        return promotion, []
    repo.end_promotion(promotion_id, now, actor)
    ended = replace(promotion, ended_at=now, ended_by=actor)
    return ended, [PriceChanged("promotion_ended", None, None, promotion.id)]
