"""`omnicx import products FILE.csv`: good lines imported in one pass, bad lines reported by
line number and column and leaving nothing behind, a second run changing nothing."""

from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from omnicx.bootstrap import Services
from omnicx.cli.commerce import import_products
from omnicx.cli.imports import Rejection, Unreadable
from omnicx.cli.main import app
from omnicx.commerce.model import ServiceTerms
from tests.conftest import table_counts

PRODUCTS = (
    "Handle,Title,Kind,SKU,Option1 Name,Option1 Value,Barcode,Price,Currency,Channels,"
    "In Store Only,Reason,Duration Minutes,Capability,Brand\n"
    "vestido-midi,Vestido Midi,product,VES-P,size,P,,249.90,BRL,web;app;store,,,,,Aurora\n"
    "vestido-midi,,,VES-M,size,M,7891234567895,249.90,,web;app;store,,,,,\n"
    "vestido-midi,,,VES-G,size,G,7891234567890,249.90,,web,,,,,\n"
    "terno-la,Terno Lã,product,TER-50,size,50,,1299.90,,store,web app,Try-on needed,,,\n"
    "camiseta,Camiseta,product,CAM-M,size,M,,79.999,,web,,,,,\n"
    "barra,Ajuste de barra,service,SRV-BARRA,,,,29.90,,store,,,30,fitting,\n"
    "instalacao,Instalação,service,SRV-INST,,,,199,,web,,,,installation,\n"
    ",Sem handle,,X-1,,,,10,,web,,,,,\n"
    "meia,Meia,product,VES-M,,,,,,,,,,,\n"
    "cinto,Cinto,product,CIN-1,,,,10.00,USD,tv,,,,,\n"
    "bolsa,Bolsa,product,BOL-1,,,,,,web,,,,,\n"
)
REJECTED = [
    Rejection(4, "Barcode", "barcode 7891234567890 fails its check digit"),
    Rejection(6, "Price", "price '79.999' has more than 2 decimals for BRL"),
    Rejection(8, "Duration Minutes", "a service needs whole duration_minutes"),
    Rejection(9, "Handle", "handle '' must be lower-case words joined by -"),
    Rejection(10, "SKU", "sku VES-M exists already"),
    Rejection(
        11,
        "Channels",
        "'tv' is not a sales channel; use one of web, app, store, call_center, marketplace",
    ),
]
SUMMARY = [
    "products.csv → catalog",
    "  lines read        11",
    "  products created  4",
    "  skus created      5",
    "  lines updated     0",
    "  lines unchanged   0",
    "  rejected          6",
    "Rejected lines (line 1 is the header):",
    "  line 4, column Barcode: barcode 7891234567890 fails its check digit",
    "  line 6, column Price: price '79.999' has more than 2 decimals for BRL",
    "  line 8, column Duration Minutes: a service needs whole duration_minutes",
    "  line 9, column Handle: handle '' must be lower-case words joined by -",
    "  line 10, column SKU: sku VES-M exists already",
    "  line 11, column Channels: 'tv' is not a sales channel; use one of web, app, store, "
    "call_center, marketplace",
]


def _file(tmp_path: Path, text: str, name: str = "products.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _invoke(tmp_path: Path, db_url: str, *args: str) -> Result:
    env = {"OMNICX_DATA_DIR": str(tmp_path), "OMNICX_DATABASE_URL": db_url}
    return CliRunner().invoke(app, list(args), env=env)


def test_good_lines_are_imported_and_bad_ones_reported_by_line_and_column(
    services: Services, tmp_path: Path, db_url: str
) -> None:
    result = _invoke(tmp_path, db_url, "import", "products", str(_file(tmp_path, PRODUCTS)))

    assert result.exit_code == 1
    assert result.stdout.splitlines() == SUMMARY
    with services.uow(write=False) as uow:
        repo = services.catalog(uow)
        dress = repo.product_by_handle("vestido-midi")
        suit = repo.product_by_handle("terno-la")
        hem = repo.product_by_handle("barra")
        prices = repo.base_prices(None, "BRL", uow.clock.now())
        quote = services.quote(uow, "VES-M", "app")
    assert dress is not None
    assert suit is not None
    assert hem is not None
    assert [(v.sku, v.options, v.barcode) for v in dress.variants] == [
        ("VES-P", {"size": "P"}, None),
        ("VES-M", {"size": "M"}, "7891234567895"),
    ]
    assert dress.attributes == {"Brand": "Aurora"}
    assert [(lst.channel, lst.purchasable) for lst in dress.listings] == [
        ("app", True),
        ("store", True),
        ("web", True),
    ]
    assert [(lst.channel, lst.in_store_only, lst.reason) for lst in suit.listings] == [
        ("app", True, "Try-on needed"),
        ("store", False, None),
        ("web", True, "Try-on needed"),
    ]
    assert (hem.kind, hem.service) == ("service", ServiceTerms(30, "fitting"))
    assert {sku: p.price.amount for sku, p in prices.items()} == {
        "VES-P": 24990,
        "VES-M": 24990,
        "TER-50": 129990,
        "SRV-BARRA": 2990,
    }
    assert quote.price.amount == 24990
    assert table_counts(services, "commerce_products", "commerce_variants") == {
        "commerce_products": 4,
        "commerce_variants": 5,
    }


def test_importing_the_same_file_again_changes_nothing(services: Services, tmp_path: Path) -> None:
    path = _file(tmp_path, PRODUCTS)
    import_products(services, path)
    tables = (
        "commerce_products",
        "commerce_variants",
        "commerce_listings",
        "commerce_base_prices",
    )
    before = table_counts(services, *tables)

    again = import_products(services, path)

    assert (again.rows, again.products_created, again.skus_created, again.updated) == (11, 0, 0, 0)
    assert again.unchanged == 5
    assert again.rejected == REJECTED
    assert table_counts(services, *tables) == before


def test_a_changed_price_or_title_updates_and_adds_a_price_version(
    services: Services, tmp_path: Path
) -> None:
    import_products(services, _file(tmp_path, "handle,title,sku,price\nmeia,Meia,MEI-1,10\n"))

    changed = import_products(
        services,
        _file(tmp_path, "handle,title,sku,price\nmeia,Meia Soquete,MEI-1,12.50\n", "b.csv"),
    )

    assert (changed.updated, changed.rejected) == (1, [])
    with services.uow(write=False) as uow:
        repo = services.catalog(uow)
        meia = repo.product_by_handle("meia")
        history = repo.base_history("MEI-1")
    assert meia is not None
    assert meia.title == "Meia Soquete"
    assert [b.price.amount for b in history] == [1250, 1000]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is empty: line 1 must be a header naming the columns"),
        ("title,price\nX,1\n", "has no handle or sku column; see the README"),
        ("handle,sku,SKU\n", "column 'SKU' appears twice"),
    ],
)
def test_an_unreadable_file_writes_nothing(
    services: Services, tmp_path: Path, text: str, message: str
) -> None:
    path = _file(tmp_path, text)

    with pytest.raises(Unreadable) as caught:
        import_products(services, path)

    assert message in str(caught.value)
    assert table_counts(services, "commerce_products")["commerce_products"] == 0


def test_the_command_exits_2_on_an_unreadable_file(
    services: Services, tmp_path: Path, db_url: str
) -> None:
    result = _invoke(tmp_path, db_url, "import", "products", str(tmp_path / "missing.csv"))

    assert result.exit_code == 2
    assert "missing.csv does not exist" in result.stderr


def test_a_line_with_more_cells_than_the_header_is_rejected(
    services: Services, tmp_path: Path
) -> None:
    report = import_products(services, _file(tmp_path, "handle,title,sku\na,A,A-1,extra\n"))

    assert report.rejected == [Rejection(2, None, "the line has 4 cells, more than the header")]
