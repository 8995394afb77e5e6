"""`omnicx --help` lists every command. Commands that create something print one JSON object."""

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from omnicx.asgi import app_for
from omnicx.bootstrap import Services, StartupError, build
from omnicx.cli import demo as demo_data
from omnicx.cli import imports, protection
from omnicx.cli.access import keys_app, users_app
from omnicx.cli.analytics import analytics_app
from omnicx.cli.commerce import commerce_app, import_products_command
from omnicx.cli.inventory import import_stock_command, reconcile_command
from omnicx.cli.privacy import audit_app, privacy_app
from omnicx.config import load_settings
from omnicx.db.migrate import upgrade
from omnicx.events import CHANNELS, create_source
from omnicx.kernel import DomainError
from omnicx.workers import Worker, tune_gc

app = typer.Typer(
    help="omnicx: one customer, every channel, no lost context.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="markdown",
)
sources_app = typer.Typer(help="Sources of events, each with a write key.", no_args_is_help=True)
import_app = typer.Typer(
    help="Import data from files.", no_args_is_help=True, rich_markup_mode="markdown"
)
app.add_typer(sources_app, name="sources")
app.add_typer(keys_app, name="keys")
app.add_typer(users_app, name="users")
app.add_typer(import_app, name="import")
app.add_typer(privacy_app, name="privacy")
app.add_typer(audit_app, name="audit")
app.add_typer(commerce_app, name="commerce")
app.add_typer(analytics_app, name="analytics")
import_app.command("products")(import_products_command)
import_app.command("stock")(import_stock_command)
commerce_app.command("reconcile")(reconcile_command)


def services() -> Services:
    try:
        return build(load_settings())
    except StartupError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None


def fail(error: DomainError) -> None:
    typer.echo(
        json.dumps({"error": {"code": error.code, "message": error.message, "field": error.field}}),
        err=True,
    )
    raise typer.Exit(2)


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema."""
    built = services()
    try:
        upgrade(built.engines)
        sealed = protection.seal_stored(built)
    finally:
        built.close()
    if sealed:
        typer.echo(
            f"stored values sealed under data key {built.cipher.primary}: {json.dumps(sealed)}"
        )
    typer.echo(f"database ready: {built.engines.main.url.render_as_string(hide_password=True)}")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on")] = None,
    worker: Annotated[
        bool | None,
        typer.Option(help="Run the worker beside the server (default: OMNICX_RUN_WORKER)"),
    ] = None,
    migrate: Annotated[
        bool, typer.Option(help="Upgrade the schema first (turn off when many servers start)")
    ] = True,
    smtp: Annotated[
        bool | None,
        typer.Option(help="Run the SMTP listener for inbound email (default: OMNICX_SMTP_ENABLED)"),
    ] = None,
) -> None:
    """Serve the API; the worker runs beside it in a child process (the embedded mode), and
    the SMTP listener takes inbound email on OMNICX_SMTP_HOST:OMNICX_SMTP_PORT."""
    settings = load_settings()
    built = build(settings)
    if migrate:
        upgrade(built.engines)
        protection.seal_stored(built)
    if worker is None:
        worker = settings.run_worker
    tune_gc()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    uvicorn.run(
        app_for(
            built,
            run_worker=worker,
            run_smtp=settings.smtp_enabled if smtp is None else smtp,
        ),
        host=host or settings.host,
        port=port or settings.port,
        log_level="warning",
        access_log=False,
    )


@app.command("worker")
def run_worker() -> None:
    """Run only the worker (scale-out mode: many of these beside stateless `serve --no-worker`)."""
    built = services()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    worker = Worker(built)
    tune_gc()
    try:
        worker.run()
    except KeyboardInterrupt:
        pass
    finally:
        built.close()


@sources_app.command("create")
def sources_create(
    name: Annotated[str, typer.Option(help="A name people recognise, e.g. 'Web shop'")],
    channel: Annotated[str, typer.Option(help=f"Default channel: {', '.join(CHANNELS)}…")],
) -> None:
    """Create a source; prints {"id", "name", "channel", "write_key"}."""
    built = services()
    try:
        with built.uow() as uow:
            source = create_source(built.events(uow), name, channel, uow.clock.now())
            uow.commit()
    except DomainError as error:
        fail(error)
    finally:
        built.close()
    typer.echo(
        json.dumps(
            {
                "id": source.id,
                "name": source.name,
                "channel": source.channel,
                "write_key": source.write_key,
            }
        )
    )


@sources_app.command("list")
def sources_list() -> None:
    """List sources as JSON lines."""
    built = services()
    try:
        with built.uow(write=False) as uow:
            for s in built.events(uow).list_sources():
                typer.echo(
                    json.dumps(
                        {"id": s.id, "name": s.name, "channel": s.channel, "write_key": s.write_key}
                    )
                )
    finally:
        built.close()


@keys_app.command("rotate-data-key")
def keys_rotate_data_key(
    batch: Annotated[int, typer.Option(min=1, max=10_000, help="Rows per transaction")] = 500,
) -> None:
    """Seal every stored value under a new data key, without stopping the server.

    With the key file (OMNICX_DATA_KEYS unset): adds a new primary key, keeps the old ones for
    reading, waits until running processes use it, then re-seals. With OMNICX_DATA_KEYS: put
    the new key first and restart, run this, then drop the old key. Prints one JSON object with
    the rows rewritten per table; running it again rewrites nothing new.
    """
    built = services()
    try:
        report = protection.rotate_data_key(built, batch=batch)
    finally:
        built.close()
    typer.echo(json.dumps(report))


@app.command()
def demo(
    seed: Annotated[int, typer.Option(help="The same seed invents the same customers")] = 42,
    customers: Annotated[int, typer.Option(min=1, help="How many people to invent")] = 5000,
) -> None:
    """Load a year of a São Paulo fashion and home retailer: web shop, app, three stores and
    a call centre, through the real ingestion path.

    Skipped when the demo data are there already. Prints an admin API key, the sources' write
    keys and a few curl commands to start with.
    """
    # The demo is regenerated from its seed at will, so it does without an fsync per commit.
    built = build(load_settings(sqlite_synchronous="NORMAL"))
    anchor = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    try:
        demo_data.run(built, Console(), seed=seed, customers=customers, anchor=anchor)
    finally:
        built.close()


@import_app.command("customers")
def import_customers(
    file: Annotated[Path, typer.Argument(help="A CSV file whose first line names the columns")],
    channel: Annotated[
        str, typer.Option(help="Where these people were met: store, web, call_center…")
    ],
    source: Annotated[
        str | None, typer.Option(help='Source to record them under; by default "Import (CHANNEL)"')
    ] = None,
    encoding: Annotated[str, typer.Option(help="The file's text encoding")] = "utf-8-sig",
) -> None:
    """Import customers from a CSV file: each good row becomes an identify call.

    Columns are matched by header, whatever the case: email (e-mail), phone (telephone,
    mobile, celular), first_name, last_name, name, user_id (customer_id), loyalty_id and any
    identifier kind declared in OMNICX_IDENTIFIER_KINDS; every other column becomes a trait.
    Rows without a usable identifier, or with an email or phone that is not one, are listed
    with their line number (line 1 is the header) and left out. Importing a file again adds
    nothing.

    Exit status: 0 every row imported; 1 some rows rejected, the others imported; 2 the file
    could not be read (missing, not text, no header, clashing columns) or an option is wrong.
    """
    built = services()
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = progress.add_task("Importing customers", total=None, start=False)

    def start(total: int) -> None:
        # Shown only once the file is read: an unreadable file gets its error alone.
        if total:
            progress.update(task, total=total)
            progress.start_task(task)
            progress.start()

    try:
        report = imports.import_customers(
            built,
            file,
            channel,
            source_name=source,
            encoding=encoding,
            on_start=start,
            on_progress=lambda count: progress.advance(task, count),
        )
    except imports.Unreadable as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(imports.UNREADABLE) from None
    finally:
        if progress.live.is_started:
            progress.stop()
        built.close()
    imports.show(Console(), file, report)
    raise typer.Exit(report.exit_code)


def main() -> None:
    app()


__all__ = ["app", "main"]
