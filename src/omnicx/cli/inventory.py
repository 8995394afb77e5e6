"""`omnicx import stock FILE.csv`, `omnicx commerce reconcile`, and the demo's locations and
stock.

A stock file says how many units of a SKU a location holds (a count): one line per
(location_id, sku), with an optional bucket (sellable by default). Each line brings that
bucket to the count, by a receipt when it held none and an adjustment by the difference
otherwise, so importing a file again changes nothing; when a pair appears twice, the later
line wins. A bad line is reported with its line number and column and leaves nothing behind;
the good lines are imported in the same pass.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from omnicx.bootstrap import Services
from omnicx.cli.commerce import DEMO_CATALOG, services_or_exit
from omnicx.cli.imports import Rejection, Unreadable, read_rows, show_report
from omnicx.commerce import inventory, locations
from omnicx.db import UnitOfWork
from omnicx.kernel import DomainError, Invalid

OK, FOUND, UNREADABLE = 0, 1, 2
BATCH_ROWS = 500
ACTOR = "import"

ALIASES: dict[str, tuple[str, ...]] = {
    "location_id": ("location_id", "location", "store", "store_id", "warehouse", "loja"),
    "sku": ("sku", "item", "variant_sku"),
    "qty": ("qty", "quantity", "count", "on_hand", "quantidade"),
    "bucket": ("bucket",),
}


@dataclass
class StockReport:
    rows: int = 0
    received: int = 0
    adjusted: int = 0
    unchanged: int = 0
    rejected: list[Rejection] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return FOUND if self.rejected else OK


@dataclass(frozen=True)
class StockLine:
    number: int
    values: dict[str, str]
    """By field (location_id, sku, qty, bucket), stripped."""
    width: int


def _key(header: str) -> str:
    return "_".join(header.strip().lower().replace("-", " ").split())


def read_stock(path: Path, encoding: str) -> tuple[dict[str, str], int, list[StockLine]]:
    """(field → header as written, the header's width, the lines); Unreadable before
    anything is written."""
    rows = read_rows(path, encoding)
    try:
        _, header = next(rows)
    except StopIteration:
        raise Unreadable(f"{path} is empty: line 1 must be a header naming the columns") from None
    lookup = {alias: name for name, aliases in ALIASES.items() for alias in aliases}
    positions: dict[str, int] = {}
    names: dict[str, str] = {}
    for position, raw in enumerate(header):
        name = lookup.get(_key(raw))
        if name is None:
            continue
        if name in names:
            raise Unreadable(f"columns {names[name]!r} and {raw.strip()!r} both mean {name}")
        positions[name], names[name] = position, raw.strip()
    missing = [name for name in ("location_id", "sku", "qty") if name not in names]
    if missing:
        raise Unreadable(f"{path} has no {', '.join(missing)} column; see the README")
    lines = [
        StockLine(
            number,
            {
                name: cells[position].strip() if position < len(cells) else ""
                for name, position in positions.items()
            },
            len(cells),
        )
        for number, cells in rows
    ]
    return names, len(header), lines


def _write_line(services: Services, uow: UnitOfWork, line: StockLine, width: int, ref: str) -> str:
    """Bring one (location, SKU, bucket) to its count: received, adjusted or unchanged."""
    if line.width > width:
        raise Invalid("too_many_cells", f"the line has {line.width} cells, the header {width}")
    values = line.values
    for name in ("location_id", "sku", "qty"):
        if not values.get(name):
            raise Invalid(f"missing_{name}", f"{name} is empty", name)
    text = values["qty"]
    if not text.isdigit():
        raise Invalid(
            "invalid_qty", f"qty {text!r} is not a count (a whole number, 0 or more)", "qty"
        )
    bucket = (values.get("bucket") or "sellable").lower()
    if bucket not in inventory.ON_HAND:
        raise Invalid(
            "invalid_bucket", f"bucket must be one of {', '.join(inventory.ON_HAND)}", "bucket"
        )
    repo, ctx = services.stock(uow), services.stock_context(uow, ACTOR)
    location_id, sku = values["location_id"], values["sku"]
    locations.get_location(repo, location_id)
    moved = inventory.set_count(repo, ctx, location_id, sku, int(text), bucket=bucket, ref=ref)
    if moved is None:
        return "unchanged"
    return "received" if moved.reason == "receipt" else "adjusted"


def import_stock(
    services: Services,
    path: Path,
    *,
    encoding: str = "utf-8-sig",
    on_start: Callable[[int], None] = lambda _: None,
    on_progress: Callable[[int], None] = lambda _: None,
) -> StockReport:
    """Read and import the file in one pass; Unreadable before anything is written."""
    names, width, lines = read_stock(path, encoding)
    report = StockReport(rows=len(lines))
    on_start(len(lines))
    ref = f"import {path.name}"[:100]
    for start in range(0, len(lines), BATCH_ROWS):
        with services.uow() as uow:
            for line in lines[start : start + BATCH_ROWS]:
                savepoint = uow.begin_savepoint()
                try:
                    outcome = _write_line(services, uow, line, width, ref)
                except DomainError as error:
                    savepoint.rollback()
                    column = names.get(error.field or "", error.field)
                    report.rejected.append(Rejection(line.number, column, error.message))
                else:
                    savepoint.commit()
                    setattr(report, outcome, getattr(report, outcome) + 1)
                on_progress(1)
            uow.commit()
    return report


def show(console: Console, path: Path, report: StockReport) -> None:
    show_report(
        console,
        f"{path.name} → stock",
        (
            ("lines read", report.rows),
            ("received", report.received),
            ("adjusted", report.adjusted),
            ("unchanged", report.unchanged),
        ),
        report.rejected,
        noun="lines",
    )


# -- commands ----------------------------------------------------------------------------------


def import_stock_command(
    file: Annotated[Path, typer.Argument(help="A CSV file whose first line names the columns")],
    encoding: Annotated[str, typer.Option(help="The file's text encoding")] = "utf-8-sig",
) -> None:
    """Import stock counts from a CSV file: columns location_id, sku, qty and optionally bucket
    (sellable, display or damaged; sellable when empty).

    Each line brings that bucket to the count: a receipt when it held none, else an
    adjustment by the difference, both in the movement ledger. Bad lines are listed with
    their line number and column and leave nothing behind; the good ones are imported.

    Exit status: 0 every line imported; 1 some lines rejected; 2 the file could not be read.
    """
    built = services_or_exit()
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = progress.add_task("Importing stock", total=None, start=False)

    def start(total: int) -> None:
        if total:
            progress.update(task, total=total)
            progress.start_task(task)
            progress.start()

    try:
        report = import_stock(
            built,
            file,
            encoding=encoding,
            on_start=start,
            on_progress=lambda count: progress.advance(task, count),
        )
    except Unreadable as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(UNREADABLE) from None
    finally:
        if progress.live.is_started:
            progress.stop()
        built.close()
    show(Console(), file, report)
    raise typer.Exit(report.exit_code)


def reconcile_command(
    fix: Annotated[
        bool, typer.Option("--fix", help="Set the differing balances to what the ledger says")
    ] = False,
) -> None:
    """Re-derive every stock balance from the movement ledger (and reserved from the active
    reservations) and print each difference as a JSON line.

    Exit status: 0 every balance matches; 1 differences were found (with --fix, and fixed).
    """
    built = services_or_exit()
    try:
        found = built.reconcile_stock(fix=fix)
    except DomainError as error:
        typer.echo(f"error: {error.message}", err=True)
        raise typer.Exit(2) from None
    finally:
        built.close()
    for difference in found:
        typer.echo(json.dumps({**difference.__dict__, "fixed": fix}, ensure_ascii=False))
    if not found:
        typer.echo("every balance matches the ledger", err=True)
    raise typer.Exit(FOUND if found else OK)


# -- the demo's locations and stock ------------------------------------------------------------

SAO_PAULO = "America/Sao_Paulo"
MON_SAT = ("mon", "tue", "wed", "thu", "fri", "sat")
STORE_WEEK = {**{day: [["10:00", "22:00"]] for day in MON_SAT}, "sun": [["14:00", "20:00"]]}


@dataclass(frozen=True)
class DemoLocation:
    id: str
    name: str
    kind: str
    capabilities: tuple[str, ...]
    address: locations.Address
    week: dict[str, list[list[str]]]
    priority: int
    safety_stock: int
    latitude: float
    longitude: float


DEMO_LOCATIONS = (
    DemoLocation(
        "dc-cajamar",
        "Distribution centre Cajamar",
        "distribution_centre",
        ("ship",),
        locations.Address("BR", "Rod. Anhanguera, km 32", city="Cajamar", region="SP"),
        {},
        priority=10,
        safety_stock=0,
        latitude=-23.356,
        longitude=-46.877,
    ),
    DemoLocation(
        "store-paulista",
        "Store Paulista",
        "store",
        ("pickup", "ship_from_store", "accept_returns"),
        locations.Address("BR", "Av. Paulista, 1000", district="Bela Vista", city="São Paulo"),
        STORE_WEEK,
        priority=50,
        safety_stock=1,
        latitude=-23.565,
        longitude=-46.652,
    ),
    DemoLocation(
        "store-pinheiros",
        "Store Pinheiros",
        "store",
        ("pickup", "ship_from_store", "accept_returns", "fitting"),
        locations.Address("BR", "R. dos Pinheiros, 500", district="Pinheiros", city="São Paulo"),
        STORE_WEEK,
        priority=50,
        safety_stock=1,
        latitude=-23.566,
        longitude=-46.684,
    ),
    DemoLocation(
        "store-campinas",
        "Store Campinas",
        "store",
        ("pickup", "accept_returns"),
        locations.Address("BR", "Av. Iguatemi, 777", district="Vila Brandina", city="Campinas"),
        {day: [["10:00", "22:00"]] for day in MON_SAT},
        priority=60,
        safety_stock=1,
        latitude=-22.894,
        longitude=-47.027,
    ),
    DemoLocation(
        "dark-vila-mariana",
        "Dark store Vila Mariana",
        "dark_store",
        ("ship",),
        locations.Address("BR", "R. Domingos de Morais, 2000", city="São Paulo"),
        {day: [["07:00", "23:00"]] for day in (*MON_SAT, "sun")},
        priority=20,
        safety_stock=0,
        latitude=-23.589,
        longitude=-46.634,
    ),
)


@dataclass(frozen=True)
class DemoStock:
    locations: tuple[str, ...]
    skus: tuple[str, ...]
    loaded: bool


def demo_counts() -> dict[tuple[str, str], int]:
    """How many of each demo product SKU each location holds: the DC most, the stores a few,
    the suit only where it can be fitted, the television only in the DC and the dark store."""
    counts: dict[tuple[str, str], int] = {}
    for index, spec in enumerate(DEMO_CATALOG):
        if spec.kind != "product":
            continue
        for position, (sku, _, _) in enumerate(spec.skus):
            spread = (index * 7 + position * 3) % 5
            if spec.handle.startswith("terno"):
                counts[("dc-cajamar", sku)] = 6 + spread
                counts[("store-pinheiros", sku)] = 2 + spread % 2
            elif spec.handle.startswith("smart-tv"):
                counts[("dc-cajamar", sku)] = 40
                counts[("dark-vila-mariana", sku)] = 3
            else:
                counts[("dc-cajamar", sku)] = 120 + 10 * spread
                counts[("store-paulista", sku)] = 4 + spread
                counts[("store-pinheiros", sku)] = 3 + spread
                counts[("store-campinas", sku)] = 2 + spread % 3
                counts[("dark-vila-mariana", sku)] = 8 + spread
    return counts


def load_demo_stock(services: Services) -> DemoStock:
    """A distribution centre, three stores (Pinheiros does fittings), a dark store, and stock
    of every demo product SKU; skipped when the distribution centre exists."""
    counts = demo_counts()
    ids = tuple(place.id for place in DEMO_LOCATIONS)
    skus = tuple(sorted({sku for _, sku in counts}))
    with services.uow() as uow:
        repo = services.stock(uow)
        if repo.location(ids[0]) is not None:
            return DemoStock(ids, skus, loaded=False)
        now = uow.clock.now()
        for place in DEMO_LOCATIONS:
            locations.create_location(
                repo,
                location_id=place.id,
                name=place.name,
                kind=place.kind,
                capabilities=place.capabilities,
                address=place.address,
                hours=locations.parse_hours(SAO_PAULO, place.week),
                now=now,
                safety_stock=place.safety_stock,
                priority=place.priority,
                latitude=place.latitude,
                longitude=place.longitude,
            )
        ctx = services.stock_context(uow, "demo")
        for (location_id, sku), count in sorted(counts.items()):
            inventory.receive(repo, ctx, location_id, sku, count, ref="opening stock")
        uow.commit()
    return DemoStock(ids, skus, loaded=True)
