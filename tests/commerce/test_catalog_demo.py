"""The demo catalog loads once, and the reports and commands read it as a person would."""

import json
from pathlib import Path

from typer.testing import CliRunner

from omnicx.bootstrap import Services
from omnicx.cli.commerce import DEMO_CATALOG, load_demo_catalog
from omnicx.cli.main import app
from omnicx.commerce import catalog
from tests.conftest import table_counts


def test_the_demo_catalog_loads_once_with_its_overrides_promotion_and_demand(
    services: Services,
) -> None:
    first = load_demo_catalog(services)
    again = load_demo_catalog(services)

    assert (first.loaded, again.loaded) == (True, False)
    assert first.products == len(DEMO_CATALOG) == 6
    assert len(first.skus) == 15
    assert (
        table_counts(services, "commerce_products", "commerce_variants")["commerce_variants"] == 15
    )
    with services.uow(write=False) as uow:
        config = services.catalog_config()
        repo = services.catalog(uow)
        prices = catalog.price_consistency(repo, config, uow.clock.now())
        gaps = catalog.gaps_report(repo, services.stock_view(uow), config, uow.clock.now())
        tv = services.quote(uow, "AUR-TV-55-4K", "app")
    assert prices.flagged == 0
    assert {(r.sku, r.channel, r.source) for r in prices.rows} >= {
        ("AUR-CAM-0101-BR-M", "marketplace", "override"),
        ("AUR-CAM-0101-BR-M", "web", "promotion"),
        ("AUR-TV-55-4K", "app", "override"),
    }
    assert (tv.price.amount, tv.reason) == (284900, "App launch price")
    asked = [(g.sku, g.channel, g.reason, g.demand) for g in gaps.gaps if g.demand]
    assert asked == [
        ("AUR-TER-0801-50", "web", "in_store_only", 4),
        ("AUR-TV-55-4K", "store", "not_listed", 3),
        ("AUR-TER-0801-50", "app", "in_store_only", 2),
    ]
    assert [(s.query, s.count) for s in gaps.searches] == [("vestido midi azul", 5)]


def test_the_commerce_commands_print_the_reports(
    services: Services, tmp_path: Path, db_url: str
) -> None:
    load_demo_catalog(services)
    env = {"OMNICX_DATA_DIR": str(tmp_path), "OMNICX_DATABASE_URL": db_url}

    prices = CliRunner().invoke(app, ["commerce", "prices", "--csv"], env=env)
    gaps = CliRunner().invoke(app, ["commerce", "gaps", "--channel", "store"], env=env)

    assert prices.exit_code == 0
    assert prices.stdout.splitlines()[0] == (
        "sku,channel,currency,base,price,source,reason,flag,detail"
    )
    assert "AUR-TV-55-4K,app,BRL,299900,284900,override,App launch price,," in prices.stdout
    assert gaps.exit_code == 0
    first = json.loads(gaps.stdout.splitlines()[0])
    assert (first["sku"], first["reason"], first["demand"], first["lost_value"]) == (
        "AUR-TV-55-4K",
        "not_listed",
        3,
        899700,
    )
