"""The price book's pure rules: the quote (base → override → best promotion), windows,
channel scopes, codes, rounding, and the consistency report's exact rows."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from omnicx.commerce.model import Money, PriceOverride, Promotion
from omnicx.commerce.pricing import (
    PriceBook,
    PriceRow,
    discounted,
    format_amount,
    parse_amount,
    price_for,
    price_report,
)
from omnicx.kernel import Invalid, NotFound

T0 = datetime(2026, 5, 1, 12, tzinfo=UTC)
BOOK = PriceBook(
    {"TEE-M": Money(7990, "BRL"), "TV-55": Money(299900, "BRL")},
    {"TEE-M": "p-tee", "TV-55": "p-tv"},
)


def override(
    channel: str,
    amount: int,
    reason: str = "Marketplace commission passed on",
    *,
    sku: str = "TEE-M",
    valid_from: datetime | None = None,
    valid_to: datetime | None = None,
    made: datetime = T0 - timedelta(days=30),
    ident: str = "o1",
    withdrawn_at: datetime | None = None,
) -> PriceOverride:
    return PriceOverride(
        ident,
        sku,
        channel,
        Money(amount, "BRL"),
        reason,
        valid_from,
        valid_to,
        made,
        "user:ana",
        withdrawn_at=withdrawn_at,
    )


def promotion(
    name: str,
    value: int,
    channels: tuple[str, ...],
    *,
    kind: str = "percent",
    skus: tuple[str, ...] = (),
    product_ids: tuple[str, ...] = (),
    code: str | None = None,
    valid_from: datetime | None = None,
    valid_to: datetime | None = None,
    made: datetime = T0 - timedelta(days=30),
    ident: str | None = None,
    ended_at: datetime | None = None,
) -> Promotion:
    return Promotion(
        id=ident or name.lower().replace(" ", "-"),
        name=name,
        kind=kind,
        value=value,
        currency="BRL" if kind == "amount" else None,
        channels=channels,
        skus=skus,
        product_ids=product_ids,
        code=code,
        valid_from=valid_from,
        valid_to=valid_to,
        created_at=made,
        created_by="user:ana",
        ended_at=ended_at,
    )


def test_the_base_price_applies_where_nothing_else_does() -> None:
    quote = price_for(BOOK, [], [], "TEE-M", "store", T0)

    assert (quote.base, quote.price, quote.reason, quote.promotion, quote.override) == (
        Money(7990, "BRL"),
        Money(7990, "BRL"),
        None,
        None,
        None,
    )


def test_an_unknown_sku_has_no_price() -> None:
    with pytest.raises(NotFound) as caught:
        price_for(BOOK, [], [], "NOPE", "web", T0)
    assert (caught.value.code, caught.value.field) == ("price_not_found", "sku")


def test_an_override_applies_on_its_channel_only_and_carries_its_reason() -> None:
    overrides = [override("marketplace", 8490)]

    on_marketplace = price_for(BOOK, overrides, [], "TEE-M", "marketplace", T0)
    on_web = price_for(BOOK, overrides, [], "TEE-M", "web", T0)

    assert on_marketplace.price == Money(8490, "BRL")
    assert on_marketplace.reason == "Marketplace commission passed on"
    assert on_marketplace.override == "o1"
    assert on_web.price == Money(7990, "BRL")
    assert on_web.override is None


def test_an_override_window_starts_inclusive_and_ends_exclusive() -> None:
    window = [override("app", 6990, "App launch", valid_from=T0, valid_to=T0 + timedelta(days=7))]

    def price(at: datetime) -> int:
        return price_for(BOOK, window, [], "TEE-M", "app", at).price.amount

    assert price(T0 - timedelta(microseconds=1)) == 7990
    assert price(T0) == 6990
    assert price(T0 + timedelta(days=7) - timedelta(microseconds=1)) == 6990
    assert price(T0 + timedelta(days=7)) == 7990


def test_a_withdrawn_override_stops_applying_when_withdrawn_but_answers_for_before() -> None:
    gone = [override("app", 6990, "App launch", withdrawn_at=T0)]

    assert price_for(BOOK, gone, [], "TEE-M", "app", T0 - timedelta(hours=1)).price.amount == 6990
    assert price_for(BOOK, gone, [], "TEE-M", "app", T0).price.amount == 7990


def test_an_override_made_later_does_not_rewrite_the_past() -> None:
    later = [override("app", 6990, "App launch", made=T0)]

    assert price_for(BOOK, later, [], "TEE-M", "app", T0 - timedelta(days=1)).price.amount == 7990


def test_the_latest_starting_override_wins_when_two_apply() -> None:
    both = [
        override("app", 6990, "Always", ident="old"),
        override("app", 5990, "Flash weekend", valid_from=T0 - timedelta(days=1), ident="new"),
    ]

    quote = price_for(BOOK, both, [], "TEE-M", "app", T0)

    assert (quote.price.amount, quote.override, quote.reason) == (5990, "new", "Flash weekend")


def test_promotions_apply_only_on_their_channels() -> None:
    sale = [promotion("Winter", 15, ("web", "app"))]

    assert price_for(BOOK, [], sale, "TEE-M", "web", T0).price.amount == 6791
    assert price_for(BOOK, [], sale, "TEE-M", "store", T0).price.amount == 7990


def test_a_percentage_off_rounds_half_up_to_the_centavo() -> None:
    assert discounted(Money(7990, "BRL"), promotion("x", 15, ("web",))) == Money(6791, "BRL")
    assert discounted(Money(10, "BRL"), promotion("x", 25, ("web",))) == Money(7, "BRL")
    assert discounted(Money(10, "BRL"), promotion("x", 35, ("web",))) == Money(6, "BRL")
    assert discounted(Money(500, "BRL"), promotion("x", 10, ("web",), kind="amount")) == Money(
        490, "BRL"
    )
    assert discounted(Money(500, "BRL"), promotion("x", 900, ("web",), kind="amount")) == Money(
        0, "BRL"
    )


def test_the_best_promotion_wins_and_the_quote_says_which() -> None:
    offers = [
        promotion("Ten off", 10, ("web",)),
        promotion("Twenty off", 2000, ("web",), kind="amount"),
        promotion("Five percent", 5, ("web",)),
    ]

    quote = price_for(BOOK, [], offers, "TEE-M", "web", T0)

    assert quote.price == Money(5990, "BRL")
    assert (quote.promotion, quote.promotion_name) == ("twenty-off", "Twenty off")
    assert quote.reason == "promotion Twenty off"


def test_a_promotion_stacks_on_the_channel_override() -> None:
    quote = price_for(
        BOOK,
        [override("app", 7000, "App price")],
        [promotion("App week", 10, ("app",))],
        "TEE-M",
        "app",
        T0,
    )

    assert quote.price == Money(6300, "BRL")
    assert quote.reason == "App price; promotion App week"
    assert (quote.override, quote.promotion) == ("o1", "app-week")


def test_promotions_are_scoped_by_sku_and_product() -> None:
    offers = [
        promotion("TV week", 10, ("web",), skus=("TV-55",)),
        promotion("Tees", 20, ("web",), product_ids=("p-tee",)),
    ]

    assert price_for(BOOK, [], offers, "TV-55", "web", T0).promotion == "tv-week"
    assert price_for(BOOK, [], offers, "TEE-M", "web", T0).promotion == "tees"


def test_a_coded_promotion_needs_its_code() -> None:
    coded = [promotion("Friends", 30, ("web",), code="AMIGOS")]

    assert price_for(BOOK, [], coded, "TEE-M", "web", T0).price.amount == 7990
    assert price_for(BOOK, [], coded, "TEE-M", "web", T0, code="amigos").price.amount == 5593
    assert price_for(BOOK, [], coded, "TEE-M", "web", T0, code="OTHER").price.amount == 7990


def test_promotion_windows_and_ends_are_kept() -> None:
    offers = [
        promotion("Later", 50, ("web",), valid_from=T0 + timedelta(days=1)),
        promotion("Over", 50, ("web",), valid_to=T0),
        promotion("Ended", 40, ("web",), ended_at=T0 - timedelta(hours=1)),
    ]

    assert price_for(BOOK, [], offers, "TEE-M", "web", T0).price.amount == 7990
    assert price_for(BOOK, [], offers, "TEE-M", "web", T0 - timedelta(days=1)).promotion == "over"


def test_amounts_are_read_and_written_in_the_currency_minor_units() -> None:
    assert parse_amount("199.90", "BRL") == Money(19990, "BRL")
    assert parse_amount("199,9", "BRL") == Money(19990, "BRL")
    assert parse_amount("1500", "JPY") == Money(1500, "JPY")
    assert format_amount(Money(19990, "BRL")) == "199.90"
    assert format_amount(Money(5, "BRL")) == "0.05"
    with pytest.raises(Invalid) as caught:
        parse_amount("19.999", "BRL")
    assert caught.value.message == "price '19.999' has more than 2 decimals for BRL"
    with pytest.raises(Invalid) as caught:
        parse_amount("-1", "BRL")
    assert (caught.value.code, caught.value.field) == ("invalid_amount", "price")
    with pytest.raises(Invalid):
        parse_amount("abc", "BRL")


# -- the consistency report --------------------------------------------------------------------


def test_the_report_lists_every_difference_with_its_reason() -> None:
    report = price_report(
        BOOK,
        [override("marketplace", 8490)],
        [promotion("Winter", 15, ("web",), product_ids=("p-tee",))],
        {"TEE-M": ["web", "store", "marketplace"], "TV-55": ["web", "store"]},
        "BRL",
        T0,
    )

    base = Money(7990, "BRL")
    assert report.rows == [
        PriceRow(
            "TEE-M",
            "web",
            base,
            Money(6791, "BRL"),
            "promotion",
            "promotion Winter",
            promotion="winter",
        ),
        PriceRow(
            "TEE-M",
            "marketplace",
            base,
            Money(8490, "BRL"),
            "override",
            "Marketplace commission passed on",
            override="o1",
        ),
    ]
    assert [r.difference for r in report.rows] == [-1199, 500]
    assert [(i.sku, i.consistent) for i in report.items] == [("TEE-M", False), ("TV-55", True)]
    assert report.items[0].prices == {
        "web": Money(6791, "BRL"),
        "store": base,
        "marketplace": Money(8490, "BRL"),
    }
    assert report.flagged == 0


def test_the_report_flags_what_has_no_reason_expired_overrides_and_overlaps() -> None:
    overrides = [
        override("marketplace", 8490, "   ", ident="blank"),
        override("app", 6990, "Launch", valid_to=T0 - timedelta(days=1), ident="expired"),
    ]
    offers = [
        promotion("Store days", 10, ("store",), made=T0 - timedelta(days=2)),
        promotion("Store club", 5, ("store",), made=T0 - timedelta(days=1)),
    ]

    report = price_report(
        BOOK, overrides, offers, {"TEE-M": ["app", "store", "marketplace"]}, "BRL", T0
    )

    flags = [(r.channel, r.flag, r.source, r.price.amount, r.reason) for r in report.rows]
    assert flags == [
        ("app", "override_expired", "override", 7990, "Launch"),
        ("store", None, "promotion", 7191, "promotion Store days"),
        ("store", "promotions_overlap", "promotion", 7191, "promotion Store days"),
        ("marketplace", "no_reason", "override", 8490, None),
    ]
    assert report.rows[0].detail == (
        "override of 6990 ended at " + (T0 - timedelta(days=1)).isoformat()
    )
    assert report.rows[2].detail == (
        "more than one promotion applies at once; the lowest price wins: Store days, Store club"
    )
    assert report.flagged == 3


def test_withdrawing_an_expired_override_clears_its_flag() -> None:
    expired = override("app", 6990, "Launch", valid_to=T0 - timedelta(days=1))
    withdrawn = replace(expired, withdrawn_at=T0 - timedelta(hours=1))

    report = price_report(BOOK, [withdrawn], [], {"TEE-M": ["app"]}, "BRL", T0)

    assert report.rows == []


def test_the_report_only_compares_channels_a_sku_is_listed_on_and_skips_unpriced() -> None:
    report = price_report(
        BOOK,
        [override("marketplace", 8490)],
        [],
        {"TEE-M": ["web"], "UNPRICED": ["web"]},
        "BRL",
        T0,
    )

    assert report.rows == []
    assert [i.sku for i in report.items] == ["TEE-M"]
