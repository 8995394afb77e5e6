"""`omnicx import products FILE.csv`, the `omnicx commerce …` group, and the demo catalog.

The product file has one line per SKU; lines sharing a handle are one product (columns are
matched by header, whatever the case; README "Catalog and prices" lists them). Each line is
checked and written on its own: a bad line is reported with its line number and column and
leaves nothing behind, the good ones are imported in the same pass. Importing a file again
changes nothing.
"""

import csv
import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from omnicx.bootstrap import Services, StartupError, build
from omnicx.cli.imports import Rejection, Unreadable, read_rows, show_report
from omnicx.commerce import catalog, pricing
from omnicx.commerce.messages import RecordDemand
from omnicx.commerce.model import Money, Product, ServiceTerms
from omnicx.config import load_settings
from omnicx.db import UnitOfWork
from omnicx.kernel import DomainError, Event, Invalid

OK, SOME_REJECTED, UNREADABLE = 0, 1, 2
BATCH_ROWS = 500

commerce_app = typer.Typer(
    help="Commerce: catalog, prices and stock.", no_args_is_help=True, rich_markup_mode="markdown"
)

PRODUCT_COLUMNS = ("title", "kind", "description", "status", "duration_minutes", "capability")
KNOWN = frozenset(
    {
        "handle",
        "sku",
        "barcode",
        "price",
        "currency",
        "channels",
        "in_store_only",
        "reason",
        *PRODUCT_COLUMNS,
        *(f"option{n}{part}" for n in (1, 2, 3) for part in ("", "_name", "_value")),
    }
)


def _key(header: str) -> str:
    return "_".join(header.strip().lower().replace("-", " ").split())


# -- reading a product file --------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """One line of the file: the product it belongs to and the SKU it adds."""

    number: int
    values: dict[str, str]
    """By column key (handle, sku, option1_value…), blanks left out."""
    attributes: dict[str, str]


@dataclass
class ImportReport:
    rows: int = 0
    products_created: int = 0
    skus_created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[Rejection] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return SOME_REJECTED if self.rejected else OK


def read_lines(path: Path, encoding: str) -> tuple[dict[str, str], Iterator[Line]]:
    """(column key → header as written, the lines); Unreadable before anything is written."""
    rows = read_rows(path, encoding)
    try:
        _, header = next(rows)
    except StopIteration:
        raise Unreadable(f"{path} is empty: line 1 must be a header naming the columns") from None
    keys: list[str] = []
    names: dict[str, str] = {}
    for raw in header:
        key = _key(raw)
        if key and key in names:
            raise Unreadable(f"column {raw.strip()!r} appears twice")
        keys.append(key)
        if key:
            names[key] = raw.strip()
    missing = [c for c in ("handle", "sku") if c not in names]
    if missing:
        raise Unreadable(f"{path} has no {' or '.join(missing)} column; see the README")

    def lines() -> Iterator[Line]:
        for number, cells in rows:
            values: dict[str, str] = {}
            attributes: dict[str, str] = {}
            for key, cell in zip(keys, cells, strict=False):
                text = cell.strip()
                if not key or not text:
                    continue
                if key in KNOWN:
                    values[key] = text
                else:
                    attributes[names[key]] = text
            if len(cells) > len(keys):
                values["__width__"] = str(len(cells))
            yield Line(number, values, attributes)

    return names, lines()


def _channels(text: str | None) -> list[str]:
    if not text:
        return []
    for separator in ";|,":
        text = text.replace(separator, " ")
    return list(dict.fromkeys(text.split()))


def _options(values: dict[str, str]) -> dict[str, str]:
    options: dict[str, str] = {}
    for n in (1, 2, 3):
        value = values.get(f"option{n}_value") or values.get(f"option{n}")
        if value:
            options[values.get(f"option{n}_name") or f"option{n}"] = value
    return options


# -- writing one line --------------------------------------------------------------------------

FIELDS = {
    "amount": "price",
    "service": "duration_minutes",
    "service.duration_minutes": "duration_minutes",
    "channel": "channels",
    "in_store_only": "in_store_only",
    "published": "channels",
    "purchasable": "channels",
    "options": "option1_value",
    "variants": "sku",
}


def _column(error: DomainError, names: dict[str, str], line: Line) -> str | None:
    name = error.field
    if name is None:
        return None
    if name.startswith("attributes."):
        return name.partition(".")[2]
    if name.startswith("options."):
        return names.get("option1_name") or names.get("option1_value") or names.get("option1")
    key = FIELDS.get(name, name)
    return names.get(key, key)


def _ensure_product(
    services: Services,
    uow: UnitOfWork,
    line: Line,
    seen: set[str],
    events: list[Event],
) -> tuple[Product, str]:
    """The line's product, created or brought in line with the file; and what happened."""
    repo, now, values = services.catalog(uow), uow.clock.now(), line.values
    handle = values.get("handle", "").strip().lower()
    kind = values.get("kind", "product").lower()
    service = None
    if kind == "service":
        duration = values.get("duration_minutes", "")
        if not duration.isdigit():
            raise Invalid(
                "invalid_duration", "a service needs whole duration_minutes", "duration_minutes"
            )
        service = ServiceTerms(int(duration), values.get("capability"))
    product = repo.product_by_handle(handle)
    if product is None:
        if "title" not in values:
            raise Invalid("title_required", f"a new product ({handle}) needs a title", "title")
        draft = catalog.ProductDraft(
            handle=handle,
            title=values["title"],
            kind=kind,
            description=values.get("description", ""),
            status=values.get("status", "active").lower(),
            attributes=dict(line.attributes),
            service=service,
            variants=(
                catalog.VariantDraft(
                    values.get("sku", ""), _options(values), values.get("barcode")
                ),
            ),
        )
        product, raised = catalog.create_product(repo, draft, now)
        events.extend(raised)
        seen.add(handle)
        return product, "created"
    if kind != product.kind:
        raise Invalid("kind_mismatch", f"{handle} is a {product.kind}", "kind")
    if handle in seen:
        return product, "unchanged"
    seen.add(handle)
    title = values.get("title", product.title)
    description = values.get("description", product.description)
    status = values.get("status", product.status).lower()
    attributes = {**product.attributes, **line.attributes}
    terms = service or product.service
    if (title, description, status, attributes, terms) == (
        product.title,
        product.description,
        product.status,
        product.attributes,
        product.service,
    ):
        return product, "unchanged"
    changed, raised = catalog.change_product(
        repo,
        product.id,
        now,
        title=title,
        description=description,
        status=status,
        attributes=attributes,
        service=terms,
    )
    events.extend(raised)
    return changed, "updated"


def _write_line(services: Services, uow: UnitOfWork, line: Line, seen: set[str]) -> str:
    """Write one line; returns created, updated or unchanged. Events go out only when the
    whole line is written."""
    events: list[Event] = []
    repo, now, values = services.catalog(uow), uow.clock.now(), line.values
    config = services.catalog_config()
    if "__width__" in values:
        raise Invalid(
            "too_many_cells",
            f"the line has {values['__width__']} cells, more than the header",
            None,
        )
    currency = pricing.currency_code(values.get("currency"), config.currency)
    price = pricing.parse_amount(values["price"], currency) if "price" in values else None
    channels = _channels(values.get("channels"))
    in_store = _channels(values.get("in_store_only"))
    for name in (*channels, *in_store):
        pricing.channel_name(
            name, config.channels, "channels" if name in channels else "in_store_only"
        )
    product, outcome = _ensure_product(services, uow, line, seen, events)
    made_product = outcome == "created"
    sku = values.get("sku", "")
    variant = repo.variant(sku)
    if variant is None:
        _, raised = catalog.add_variant(
            repo,
            product.id,
            catalog.VariantDraft(sku, _options(values), values.get("barcode")),
            now,
        )
        events.extend(raised)
        outcome = "created"
    elif variant.product_id != product.id:
        raise Invalid("sku_elsewhere", f"{sku} belongs to another product", "sku")
    elif outcome != "created":
        options = _options(values) or variant.options
        barcode = values.get("barcode", variant.barcode)
        if options != variant.options or barcode != variant.barcode:
            _, raised = catalog.change_variant(repo, sku, now, options=options, barcode=barcode)
            events.extend(raised)
            outcome = "updated"
    if price is not None:
        _, raised = pricing.set_base_price(repo, sku, price, "import", now)
        if raised and outcome == "unchanged":
            outcome = "updated"
        events.extend(raised)
    product = catalog.get_product(repo, product.id)
    for name in channels:
        current = product.listing(name)
        if current is None or not (current.published and current.purchasable):
            _, raised = catalog.put_listing(
                repo,
                config,
                product.id,
                name,
                published=True,
                purchasable=True,
                actor="import",
                now=now,
            )
            events.extend(raised)
            outcome = "updated" if outcome == "unchanged" else outcome
    for name in in_store:
        current = product.listing(name)
        reason = values.get("reason")
        if current is None or not current.in_store_only or current.reason != reason:
            _, raised = catalog.put_listing(
                repo,
                config,
                product.id,
                name,
                published=True,
                purchasable=False,
                in_store_only=True,
                reason=reason,
                actor="import",
                now=now,
            )
            events.extend(raised)
            outcome = "updated" if outcome == "unchanged" else outcome
    for event in events:
        uow.raise_event(event)
    return "product" if made_product else outcome


def import_products(
    services: Services,
    path: Path,
    *,
    encoding: str = "utf-8-sig",
    on_start: Callable[[int], None] = lambda _: None,
    on_progress: Callable[[int], None] = lambda _: None,
) -> ImportReport:
    """Read and import the file in one pass; Unreadable before anything is written."""
    names, lines = read_lines(path, encoding)
    pending = list(lines)
    report = ImportReport(rows=len(pending))
    on_start(len(pending))
    seen: set[str] = set()
    for start in range(0, len(pending), BATCH_ROWS):
        with services.uow() as uow:
            for line in pending[start : start + BATCH_ROWS]:
                savepoint = uow.begin_savepoint()
                try:
                    outcome = _write_line(services, uow, line, seen)
                except DomainError as error:
                    savepoint.rollback()
                    column = _column(error, names, line)
                    report.rejected.append(Rejection(line.number, column, error.message))
                else:
                    savepoint.commit()
                    _count(report, outcome)
                on_progress(1)
            uow.commit()
    return report


def _count(report: ImportReport, outcome: str) -> None:
    if outcome == "product":
        report.products_created += 1
        report.skus_created += 1
    elif outcome == "created":
        report.skus_created += 1
    elif outcome == "updated":
        report.updated += 1
    else:
        report.unchanged += 1


def show(console: Console, path: Path, report: ImportReport) -> None:
    show_report(
        console,
        f"{path.name} → catalog",
        (
            ("lines read", report.rows),
            ("products created", report.products_created),
            ("skus created", report.skus_created),
            ("lines updated", report.updated),
            ("lines unchanged", report.unchanged),
        ),
        report.rejected,
        noun="lines",
    )


# -- commands ----------------------------------------------------------------------------------


def services_or_exit() -> Services:
    try:
        return build(load_settings())
    except StartupError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None


def import_products_command(
    file: Annotated[Path, typer.Argument(help="A CSV file whose first line names the columns")],
    encoding: Annotated[str, typer.Option(help="The file's text encoding")] = "utf-8-sig",
) -> None:
    """Import products and services from a CSV file: one line per SKU, lines sharing a
    handle make one product, with price and channel listings.

    Columns (any case): handle, sku (required); title, kind (product|service), description,
    status, option1_name/option1_value… option3, barcode, price (199.90), currency, channels
    (web;app;store), in_store_only (channels) with reason, duration_minutes and capability
    (services); any other column is a product attribute. Bad lines are listed with their line
    number and column and leave nothing behind; the good ones are imported.

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
    task = progress.add_task("Importing products", total=None, start=False)

    def start(total: int) -> None:
        if total:
            progress.update(task, total=total)
            progress.start_task(task)
            progress.start()

    try:
        report = import_products(
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


@commerce_app.command("prices")
def prices_command(
    csv_out: Annotated[bool, typer.Option("--csv", help="CSV instead of JSON")] = False,
) -> None:
    """The price consistency report: every channel price that differs from the base, with its
    reason, and flags (differences without a reason, expired overrides, overlaps).

    Exit status 1 when anything is flagged."""
    built = services_or_exit()
    try:
        with built.uow(write=False) as uow:
            report = catalog.price_consistency(
                built.catalog(uow), built.catalog_config(), uow.clock.now()
            )
    finally:
        built.close()
    if csv_out:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(
            ("sku", "channel", "currency", "base", "price", "source", "reason", "flag", "detail")
        )
        for r in report.rows:
            writer.writerow(
                (
                    r.sku,
                    r.channel,
                    r.base.currency,
                    r.base.amount,
                    r.price.amount,
                    r.source,
                    r.reason or "",
                    r.flag or "",
                    r.detail or "",
                )
            )
    else:
        for r in report.rows:
            typer.echo(
                json.dumps(
                    {
                        "sku": r.sku,
                        "channel": r.channel,
                        "base": r.base.amount,
                        "price": r.price.amount,
                        "currency": r.base.currency,
                        "source": r.source,
                        "reason": r.reason,
                        "flag": r.flag,
                        "detail": r.detail,
                    },
                    ensure_ascii=False,
                )
            )
    raise typer.Exit(1 if report.flagged else 0)


@commerce_app.command("gaps")
def gaps_command(
    days: Annotated[int, typer.Option(min=1, max=366, help="Days of demand counted")] = 30,
    channel: Annotated[str | None, typer.Option(help="Only this channel")] = None,
) -> None:
    """The availability gaps, most demand first, as JSON lines."""
    built = services_or_exit()
    try:
        with built.uow(write=False) as uow:
            report = catalog.gaps_report(
                built.catalog(uow),
                built.stock_view(uow),
                built.catalog_config(),
                uow.clock.now(),
                days=days,
                channel=channel,
            )
    except DomainError as error:
        typer.echo(f"error: {error.message}", err=True)
        raise typer.Exit(2) from None
    finally:
        built.close()
    for gap in report.gaps:
        typer.echo(
            json.dumps(
                {
                    "sku": gap.sku,
                    "title": gap.title,
                    "channel": gap.channel,
                    "location_id": gap.location_id,
                    "reason": gap.reason,
                    "detail": gap.detail,
                    "available_elsewhere": list(gap.available_elsewhere),
                    "demand": gap.demand,
                    "lost_value": gap.lost_value.amount if gap.lost_value else None,
                },
                ensure_ascii=False,
            )
        )


# -- the demo catalog --------------------------------------------------------------------------

DEMO_CHANNELS = ("web", "app", "store", "call_center")


@dataclass(frozen=True)
class DemoProduct:
    handle: str
    title: str
    price: int
    skus: tuple[tuple[str, dict[str, str], str | None], ...]
    kind: str = "product"
    service: ServiceTerms | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    channels: tuple[str, ...] = DEMO_CHANNELS
    in_store_only: tuple[str, ...] = ()
    reason: str | None = None


DEMO_CATALOG = (
    DemoProduct(
        "camiseta-basica-pima",
        "Camiseta Básica Algodão Pima",
        7990,
        tuple(
            (f"AUR-CAM-0101-{c}-{s}", {"colour": colour, "size": s}, None)
            for c, colour in (("BR", "branco"), ("PT", "preto"))
            for s in ("P", "M", "G")
        ),
        attributes={"category": "Feminino > Camisetas", "fabric": "algodão pima"},
        channels=(*DEMO_CHANNELS, "marketplace"),
    ),
    DemoProduct(
        "vestido-midi-floral",
        "Vestido Midi Floral Viscose",
        24990,
        tuple((f"AUR-VES-0201-{s}", {"size": s}, None) for s in ("P", "M", "G")),
        attributes={"category": "Feminino > Vestidos", "fabric": "viscose"},
    ),
    DemoProduct(
        "terno-alfaiataria-la",
        "Terno Alfaiataria Lã Fria",
        129990,
        tuple((f"AUR-TER-0801-{s}", {"size": s}, None) for s in ("48", "50", "52")),
        attributes={"category": "Masculino > Ternos"},
        channels=("store",),
        in_store_only=("web", "app"),
        reason="Try-on and tailoring needed; buy in store",
    ),
    DemoProduct(
        "ajuste-de-barra",
        "Ajuste de barra (bainha)",
        2990,
        (("AUR-SRV-BARRA", {}, None),),
        kind="service",
        service=ServiceTerms(30, "fitting"),
        channels=("store", "web", "app"),
    ),
    DemoProduct(
        "smart-tv-55-4k",
        'Smart TV 55" 4K',
        299900,
        (("AUR-TV-55-4K", {}, "7891234567895"),),
        attributes={"category": "Casa > Eletrônicos", "brand": "Aurora Home"},
        channels=("web", "app", "call_center"),
    ),
    DemoProduct(
        "instalacao-de-tv",
        "Instalação de TV na parede",
        19900,
        (("AUR-SRV-INST-TV", {}, None),),
        kind="service",
        service=ServiceTerms(90, "installation"),
    ),
)


@dataclass(frozen=True)
class DemoCatalog:
    products: int
    skus: tuple[str, ...]
    loaded: bool


def load_demo_catalog(services: Services) -> DemoCatalog:
    """The demo retailer's catalog, prices, two channel overrides with reasons, a promotion
    and a few counted requests; skipped when its products exist."""
    skus = tuple(sku for p in DEMO_CATALOG for sku, _, _ in p.skus)
    with services.uow() as uow:
        repo, now, config = services.catalog(uow), uow.clock.now(), services.catalog_config()
        if repo.product_by_handle(DEMO_CATALOG[0].handle) is not None:
            return DemoCatalog(len(DEMO_CATALOG), skus, loaded=False)
        ids: dict[str, str] = {}
        events: list[Event] = []
        for spec in DEMO_CATALOG:
            product, raised = catalog.create_product(
                repo,
                catalog.ProductDraft(
                    handle=spec.handle,
                    title=spec.title,
                    kind=spec.kind,
                    attributes=dict(spec.attributes),
                    service=spec.service,
                    variants=tuple(catalog.VariantDraft(s, o, b) for s, o, b in spec.skus),
                ),
                now,
            )
            ids[spec.handle] = product.id
            events.extend(raised)
            for channel in spec.channels:
                events.extend(
                    catalog.put_listing(
                        repo,
                        config,
                        product.id,
                        channel,
                        published=True,
                        purchasable=True,
                        actor="demo",
                        now=now,
                    )[1]
                )
            for channel in spec.in_store_only:
                events.extend(
                    catalog.put_listing(
                        repo,
                        config,
                        product.id,
                        channel,
                        published=True,
                        purchasable=False,
                        in_store_only=True,
                        reason=spec.reason,
                        actor="demo",
                        now=now,
                    )[1]
                )
            for sku, _, _ in spec.skus:
                price = Money(spec.price, config.currency)
                events.extend(pricing.set_base_price(repo, sku, price, "demo", now)[1])
        for sku, _, _ in DEMO_CATALOG[0].skus:
            events.extend(
                pricing.add_override(
                    repo,
                    sku=sku,
                    channel="marketplace",
                    price=Money(8490, config.currency),
                    reason="Marketplace commission passed on",
                    valid_from=None,
                    valid_to=None,
                    actor="demo",
                    now=now,
                )[1]
            )
        events.extend(
            pricing.add_override(
                repo,
                sku="AUR-TV-55-4K",
                channel="app",
                price=Money(284900, config.currency),
                reason="App launch price",
                valid_from=now,
                valid_to=now + timedelta(days=30),
                actor="demo",
                now=now,
            )[1]
        )
        events.extend(
            pricing.create_promotion(
                repo,
                pricing.PromotionDraft(
                    name="Winter apparel 15% off",
                    kind="percent",
                    value=15,
                    channels=("web", "app"),
                    product_ids=(ids["camiseta-basica-pima"], ids["vestido-midi-floral"]),
                    valid_from=now,
                    valid_to=now + timedelta(days=14),
                ),
                channels=config.channels,
                default_currency=config.currency,
                actor="demo",
                now=now,
            )[1]
        )
        stock = services.stock_view(uow)
        for count, command in (
            (4, RecordDemand("web", "search", sku="AUR-TER-0801-50")),
            (2, RecordDemand("app", "search", sku="AUR-TER-0801-50")),
            (3, RecordDemand("store", "store", sku="AUR-TV-55-4K")),
            (5, RecordDemand("web", "search", query="vestido midi azul")),
        ):
            for _ in range(count):
                events.extend(catalog.record_demand(repo, stock, config, command, now)[1])
        for event in events:
            uow.raise_event(event)
        uow.commit()
    return DemoCatalog(len(DEMO_CATALOG), skus, loaded=True)
