"""The catalog's pure rules: listing states, which locations serve a channel, the
availability matrix and the gaps with the demand they lose."""

from datetime import date

from omnicx.commerce.catalog import CatalogConfig, find_gaps, gtin_valid, listing_state, matrix
from omnicx.commerce.model import (
    Cell,
    DemandCount,
    Gap,
    Item,
    Listing,
    LocationView,
    Money,
    ServiceTerms,
)

CONFIG = CatalogConfig(
    channels=("web", "store", "marketplace"), walk_in=frozenset({"store"}), currency="BRL"
)
DRESS = Item("DRESS-M", "p-dress", "dress", "Dress", "product", "active", {"size": "M"})
HEM = Item(
    "SRV-HEM", "p-hem", "hem", "Hem fitting", "service", "active", {}, ServiceTerms(30, "fitting")
)
DC = LocationView("dc-sp", "DC São Paulo", "distribution_centre", frozenset({"ship"}))
PAULISTA = LocationView(
    "store-paulista", "Paulista", "store", frozenset({"pickup", "ship_from_store", "fitting"})
)
CAMPINAS = LocationView("store-campinas", "Campinas", "store", frozenset({"pickup"}))
LOCATIONS = (CAMPINAS, DC, PAULISTA)


def listing(channel: str, **values: object) -> Listing:
    fields: dict[str, object] = {"published": True, "purchasable": True, **values}
    return Listing("p", channel, **fields)  # type: ignore[arg-type]


def test_listing_states_name_why_an_item_cannot_be_bought() -> None:
    assert listing_state("active", listing("web"), "web") is None
    assert listing_state("active", listing("web", published=False), "web") is None
    assert listing_state("archived", listing("web"), "web") == (
        "inactive",
        "the product is archived",
    )
    assert listing_state("active", None, "web") == ("not_listed", "not listed on web")
    assert listing_state(
        "active", listing("web", purchasable=False, in_store_only=True, reason="Try-on"), "web"
    ) == ("in_store_only", "Try-on")
    assert listing_state("active", listing("web", purchasable=False), "web") == (
        "not_purchasable",
        "not sold on web",
    )
    assert listing_state(
        "active", listing("web", published=False, purchasable=False, reason="Recall"), "web"
    ) == ("not_published", "Recall")


def test_the_matrix_without_inventory_is_the_listings() -> None:
    listings = {"p-dress": [listing("web"), listing("store")]}

    cells = matrix([DRESS], listings, CONFIG, [], None)

    assert cells == [
        Cell("DRESS-M", "web", None, True),
        Cell("DRESS-M", "store", None, True),
        Cell("DRESS-M", "marketplace", None, False, "not_listed", "not listed on marketplace"),
    ]


def test_the_matrix_checks_stock_at_each_location_serving_the_channel() -> None:
    listings = {"p-dress": [listing("web"), listing("store")]}
    stock = {("dc-sp", "DRESS-M"): 12, ("store-paulista", "DRESS-M"): 0}

    cells = matrix([DRESS], listings, CONFIG, LOCATIONS, stock)

    assert [(c.channel, c.location_id, c.available, c.reason, c.stock) for c in cells] == [
        ("web", None, True, None, None),
        ("web", "store-campinas", False, "out_of_stock", 0),
        ("web", "dc-sp", True, None, 12),
        ("web", "store-paulista", False, "out_of_stock", 0),
        ("store", None, True, None, None),
        ("store", "store-campinas", False, "out_of_stock", 0),
        ("store", "store-paulista", False, "out_of_stock", 0),
        ("marketplace", None, False, "not_listed", None),
    ]
    assert cells[3].detail == "none in stock at Paulista"


def test_a_service_is_served_where_a_location_has_its_capability() -> None:
    listings = {"p-hem": [listing("store"), listing("web")]}

    cells = matrix([HEM], listings, CONFIG, LOCATIONS, {})

    assert [(c.channel, c.location_id, c.available, c.reason) for c in cells] == [
        ("web", None, True, None),
        ("web", "store-campinas", False, "no_capability"),
        ("web", "store-paulista", True, None),
        ("store", None, True, None),
        ("store", "store-campinas", False, "no_capability"),
        ("store", "store-paulista", True, None),
        ("marketplace", None, False, "not_listed"),
    ]
    assert cells[1].detail == "Campinas has no fitting"


def test_gaps_are_cells_missing_where_others_have_the_item_with_demand_and_value() -> None:
    listings = {
        "p-dress": [
            listing("web"),
            listing("store"),
            listing("marketplace", purchasable=False, in_store_only=True, reason="Try-on"),
        ]
    }
    stock = {("dc-sp", "DRESS-M"): 3, ("store-paulista", "DRESS-M"): 2}
    cells = matrix([DRESS], listings, CONFIG, LOCATIONS, stock)
    day = date(2026, 5, 2)
    demand = [
        DemandCount(day, "DRESS-M", None, "marketplace", None, "search", 4),
        DemandCount(day, "DRESS-M", None, "marketplace", None, "agent", 1),
        DemandCount(day, "DRESS-M", None, "store", "store-campinas", "store", 2),
        DemandCount(day, None, "blue dress", "web", None, "search", 9),
    ]
    prices = {("DRESS-M", "marketplace"): Money(26990, "BRL")}

    gaps = find_gaps([DRESS], cells, demand, prices)

    assert gaps == [
        Gap(
            "DRESS-M",
            "p-dress",
            "Dress",
            "marketplace",
            None,
            "in_store_only",
            "Try-on",
            ("web", "store"),
            demand=5,
            lost_value=Money(134950, "BRL"),
        ),
        Gap(
            "DRESS-M",
            "p-dress",
            "Dress",
            "store",
            "store-campinas",
            "out_of_stock",
            "none in stock at Campinas",
            ("store-paulista",),
            demand=2,
            lost_value=None,
        ),
        Gap(
            "DRESS-M",
            "p-dress",
            "Dress",
            "web",
            "store-campinas",
            "out_of_stock",
            "none in stock at Campinas",
            ("dc-sp", "store-paulista"),
        ),
    ]


def test_an_item_missing_everywhere_is_a_gap_only_where_it_was_asked_for() -> None:
    listings = {"p-dress": [listing("web")]}
    cells = matrix([DRESS], listings, CONFIG, [DC], {})
    demand = [DemandCount(date(2026, 5, 2), "DRESS-M", None, "web", "dc-sp", "search", 3)]

    gaps = find_gaps([DRESS], cells, demand, {})

    assert [(g.channel, g.location_id, g.reason, g.demand) for g in gaps] == [
        ("web", "dc-sp", "out_of_stock", 3)
    ]
    assert find_gaps([DRESS], cells, [], {}) == []


def test_barcodes_are_checked_with_the_gs1_check_digit() -> None:
    assert gtin_valid("7891234567895")
    assert not gtin_valid("7891234567890")
    assert gtin_valid("96385074")
    assert gtin_valid("036000291452")
