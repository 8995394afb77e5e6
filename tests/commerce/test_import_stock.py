"""`omnicx import stock FILE.csv` and `omnicx commerce reconcile`, as a shell runs them: good
lines become receipts or adjustments to the counted quantity, bad lines are reported by line
and column and leave nothing behind."""

from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner, Result

from omnicx.bootstrap import Services
from omnicx.cli.inventory import demo_counts, import_stock, load_demo_stock
from omnicx.cli.main import app
from omnicx.commerce.locations import Address, OpeningHours, create_location
from tests.conftest import table_counts

Invoke = Callable[..., Result]

STOCK = (
    "Location;SKU;Quantity;Bucket\n"
    "store-paulista;VES-M;5;\n"
    "store-paulista;VES-M;1;display\n"
    "store-nowhere;VES-M;3;\n"
    "store-paulista;VES-G;three;\n"
    "dc-cajamar;VES-G;40;sellable\n"
    "dc-cajamar;VES G;1;\n"
    "dc-cajamar;VES-P;2;shelf\n"
    "dc-cajamar;;2;\n"
    "store-paulista;VES-P;-4;\n"
)
SUMMARY = [
    "stock.csv → stock",
    "  lines read        9",
    "  received          3",
    "  adjusted          0",
    "  unchanged         0",
    "  rejected          6",
    "Rejected lines (line 1 is the header):",
    "  line 4, column Location: no location 'store-nowhere'",
    "  line 5, column Quantity: qty 'three' is not a count (a whole number, 0 or more)",
    "  line 7, column SKU: sku must be 1 to 64 characters without spaces",
    "  line 8, column Bucket: bucket must be one of sellable, display, damaged",
    "  line 9, column SKU: sku is empty",
    "  line 10, column Quantity: qty '-4' is not a count (a whole number, 0 or more)",
]


@pytest.fixture
def invoke(tmp_path: Path, db_url: str, services: Services) -> Invoke:
    """Run `omnicx ...` against the test's (migrated) database, as a shell would."""

    def run(*args: str) -> Result:
        env = {"OMNICX_DATA_DIR": str(tmp_path), "OMNICX_DATABASE_URL": db_url}
        return CliRunner().invoke(app, list(args), env=env)

    return run


def _places(services: Services) -> None:
    with services.uow() as uow:
        for location_id, kind in (
            ("store-paulista", "store"),
            ("dc-cajamar", "distribution_centre"),
        ):
            create_location(
                services.stock(uow),
                location_id=location_id,
                name=location_id,
                kind=kind,
                capabilities=["ship"],
                address=Address("BR"),
                hours=OpeningHours(),
                now=uow.clock.now(),
            )
        uow.commit()


def _write(tmp_path: Path, text: str, name: str = "stock.csv") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def _levels(services: Services) -> list[tuple[str, str, int, int]]:
    with services.uow(write=False) as uow:
        return [
            (lv.location_id, lv.sku, lv.sellable, lv.display) for lv in services.stock(uow).levels()
        ]


def test_good_lines_are_imported_and_bad_ones_reported_by_line(
    invoke: Invoke, services: Services, tmp_path: Path
) -> None:
    _places(services)
    result = invoke("import", "stock", _write(tmp_path, STOCK))

    assert result.exit_code == 1, result.output
    assert result.stdout.splitlines() == SUMMARY
    assert _levels(services) == [
        ("dc-cajamar", "VES-G", 40, 0),
        ("store-paulista", "VES-M", 5, 1),
    ]
    with services.uow(write=False) as uow:
        ledger = services.stock(uow).movements()
    assert {(m.reason, m.ref, m.actor) for m in ledger} == {
        ("receipt", "import stock.csv", "import")
    }


def test_importing_counts_again_adjusts_only_what_changed(
    invoke: Invoke, services: Services, tmp_path: Path
) -> None:
    _places(services)
    first = "location_id,sku,qty\nstore-paulista,VES-M,5\ndc-cajamar,VES-M,9\n"
    assert invoke("import", "stock", _write(tmp_path, first)).exit_code == 0
    again = invoke("import", "stock", _write(tmp_path, first))
    assert again.exit_code == 0
    assert "  unchanged         2" in again.stdout.splitlines()

    recount = "location_id,sku,qty\nstore-paulista,VES-M,2\ndc-cajamar,VES-M,9\n"
    counted = invoke("import", "stock", _write(tmp_path, recount, "recount.csv"))
    assert counted.exit_code == 0
    assert counted.stdout.splitlines()[2:5] == [
        "  received          0",
        "  adjusted          1",
        "  unchanged         1",
    ]
    assert _levels(services) == [("dc-cajamar", "VES-M", 9, 0), ("store-paulista", "VES-M", 2, 0)]
    assert invoke("commerce", "reconcile").exit_code == 0


def test_a_count_below_what_is_reserved_is_refused(services: Services, tmp_path: Path) -> None:
    _places(services)
    with services.uow() as uow:
        services.receive(uow, location_id="store-paulista", sku="VES-M", qty=5)
        services.reserve(uow, location_id="store-paulista", sku="VES-M", qty=4)
        uow.commit()
    before = table_counts(services, "commerce_stock_movements")
    report = import_stock(
        services, Path(_write(tmp_path, "location,sku,qty\nstore-paulista,VES-M,3\n"))
    )
    assert [(r.line, r.field, r.reason) for r in report.rejected] == [
        (2, "qty", "4 of VES-M are reserved at store-paulista: more than 3"),
    ]
    assert table_counts(services, "commerce_stock_movements") == before


def test_unreadable_files_write_nothing(invoke: Invoke, services: Services, tmp_path: Path) -> None:
    missing = invoke("import", "stock", str(tmp_path / "nope.csv"))
    assert (missing.exit_code, missing.stderr.strip()) == (
        2,
        f"error: {tmp_path / 'nope.csv'} does not exist",
    )
    no_qty = invoke("import", "stock", _write(tmp_path, "location,sku\nx,y\n"))
    assert no_qty.exit_code == 2
    assert "has no qty column" in no_qty.stderr
    twice = invoke("import", "stock", _write(tmp_path, "location,store,sku,qty\n"))
    assert twice.exit_code == 2
    assert "both mean location_id" in twice.stderr
    assert table_counts(services, "commerce_stock_movements") == {"commerce_stock_movements": 0}


def test_reconcile_prints_each_difference_and_fixes_on_request(
    invoke: Invoke, services: Services
) -> None:
    _places(services)
    with services.uow() as uow:
        services.receive(uow, location_id="dc-cajamar", sku="VES-M", qty=7)
        uow.commit()
    assert invoke("commerce", "reconcile").exit_code == 0
    with services.engines.main.begin() as conn:
        conn.execute(sa.text("UPDATE commerce_stock_levels SET sellable = 8"))

    found = invoke("commerce", "reconcile")
    assert found.exit_code == 1
    assert found.stdout.splitlines() == [
        '{"location_id": "dc-cajamar", "sku": "VES-M", "bucket": "sellable", "recorded": 8, '
        '"derived": 7, "fixed": false}'
    ]
    fixed = invoke("commerce", "reconcile", "--fix")
    assert (fixed.exit_code, fixed.stdout.count('"fixed": true')) == (1, 1)
    assert invoke("commerce", "reconcile").exit_code == 0


def test_the_demo_stocks_a_network(services: Services) -> None:
    first = load_demo_stock(services)
    again = load_demo_stock(services)
    assert (first.loaded, again.loaded) == (True, False)
    with services.uow(write=False) as uow:
        places = {p.id: p for p in services.locations(uow)}
        tv = services.availability(uow, "AUR-TV-55-4K")
    assert sorted(places) == [
        "dark-vila-mariana",
        "dc-cajamar",
        "store-campinas",
        "store-paulista",
        "store-pinheiros",
    ]
    assert [p for p, place in places.items() if place.can("fitting")] == ["store-pinheiros"]
    assert places["dark-vila-mariana"].kind == "dark_store"
    assert tv == {"dc-cajamar": 40, "dark-vila-mariana": 3}
    assert table_counts(services, "commerce_stock_movements") == {
        "commerce_stock_movements": len(demo_counts())
    }
    assert services.reconcile_stock() == []
