"""`omnicx analytics rebuild`: empty the analytics read models and fill them again from the
stored past (events, conversations and their messages, orders, the gate's sends, journeys).

Each chunk of events, with the other facts of its span of time, is a transaction of its own;
running the command again gives the same tables. Live facts arriving meanwhile would be
counted twice or missed: stop the worker (and the server's ingestion) while it runs.
"""

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from omnicx.bootstrap import Services, StartupError, build
from omnicx.config import load_settings
from omnicx.kernel import DomainError

analytics_app = typer.Typer(
    help="Journey analytics: the read models behind the reports.", no_args_is_help=True
)


def _services() -> Services:
    try:
        return build(load_settings())
    except StartupError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None


@analytics_app.command("rebuild")
def rebuild_command(
    chunk: Annotated[
        int, typer.Option(min=1, help="Events per chunk (one transaction each).")
    ] = 20_000,
) -> None:
    """Rebuild every analytics read model from the stored past, in chunks, then print what
    was read as one JSON object. Stop the worker first: facts arriving meanwhile are not
    counted exactly."""
    built = _services()
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = progress.add_task("Rebuilding the analytics read models", total=None)

    def step(done: int, total: int) -> None:
        progress.update(task, completed=done, total=total)

    try:
        with progress:
            done = built.analytics.rebuild(
                built.uow, built.service_analytics, chunk=chunk, progress=step
            )
    except DomainError as error:
        payload = {"code": error.code, "message": error.message, "field": error.field}
        typer.echo(json.dumps({"error": payload}), err=True)
        raise typer.Exit(2) from None
    finally:
        built.close()
    typer.echo(json.dumps({"chunks": done.chunks, "read": done.counts}, sort_keys=True))
