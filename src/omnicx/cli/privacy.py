"""`omnicx privacy …` and `omnicx audit …`: subject rights, suppressions, retention and the
audit log from the command line.

What an operator does here is audited like an API call, under the actor `cli:<OS user>`.
Commands print JSON; errors go to stderr as `{"error": {...}}` with exit status 2.
"""

import getpass
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Literal, NoReturn

import orjson
import typer

from omnicx.bootstrap import Services, StartupError, build
from omnicx.config import load_settings
from omnicx.kernel import DomainError, Invalid
from omnicx.privacy import (
    Actor,
    AuditFilter,
    audit_csv,
    audit_entries,
    audit_jsonl,
    lift_suppression,
    record_access,
)
from omnicx.profiles import normalize

privacy_app = typer.Typer(
    help="Subject access, erasure, suppressions and retention.", no_args_is_help=True
)
suppressions_app = typer.Typer(
    help="Identifiers of erased people that ingestion drops.", no_args_is_help=True
)
audit_app = typer.Typer(help="The append-only audit log.", no_args_is_help=True)
privacy_app.add_typer(suppressions_app, name="suppressions")


def _fail(error: DomainError) -> NoReturn:
    typer.echo(
        json.dumps({"error": {"code": error.code, "message": error.message, "field": error.field}}),
        err=True,
    )
    raise typer.Exit(2)


@contextmanager
def _services() -> Iterator[Services]:
    try:
        built = build(load_settings())
    except StartupError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    try:
        yield built
    except DomainError as error:
        _fail(error)
    finally:
        built.close()


def _operator() -> Actor:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return Actor("cli", user, user, "operator")


def _audit(
    services: Services, action: str, command: str, customers: list[str], status: int, **detail: str
) -> None:
    with services.uow() as uow:
        record_access(
            services.audit(uow),
            actor=_operator(),
            action=action,
            method="CLI",
            route=f"omnicx {command}",
            resource=None,
            customer_ids=customers,
            client_address=None,
            user_agent=None,
            status=status,
            detail=detail,
            now=uow.clock.now(),
        )
        uow.commit()


@privacy_app.command("export")
def export(
    customer: Annotated[str, typer.Option(help="Any id of the customer")],
    out: Annotated[
        Path | None, typer.Option(help="Where to write the zip; default omnicx-export-<id>.zip")
    ] = None,
    reason: Annotated[str, typer.Option(help="Why, for the record")] = "",
) -> None:
    """Export everything held about a customer as a zip; prints the request as JSON."""
    with _services() as built:
        try:
            request = built.export_customer(customer, _operator(), reason)
        except DomainError as error:
            _audit(
                built,
                "export",
                "privacy export",
                [customer],
                error.status,
            )
            raise
        content = built.archive(request.id)
        target = out or Path(f"omnicx-export-{request.id}.zip")
        target.write_bytes(content)
        _audit(
            built,
            "export",
            "privacy export",
            [customer, request.subject_id],
            201,
            privacy_request_id=request.id,
        )
    typer.echo(json.dumps({**_public(asdict(request)), "archive": str(target)}))


@privacy_app.command("erase")
def erase(
    customer: Annotated[str, typer.Option(help="Any id of the customer")],
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: erasure cannot be undone")] = False,
    reason: Annotated[str, typer.Option(help="Why, for the record")] = "",
) -> None:
    """Erase a customer from every domain and suppress their identifiers. Cannot be undone."""
    if not yes:
        _fail(Invalid("confirmation_needed", "erasure cannot be undone: add --yes", "yes"))
    with _services() as built:
        try:
            request = built.erase_customer(customer, _operator(), reason)
        except DomainError as error:
            _audit(built, "erase", "privacy erase", [customer], error.status)
            raise
        _audit(
            built,
            "erase",
            "privacy erase",
            [customer, request.subject_id],
            201,
            privacy_request_id=request.id,
        )
    typer.echo(json.dumps(_public(asdict(request))))


@privacy_app.command("retention")
def retention(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only count what is due")] = False,
) -> None:
    """Apply the retention policies now; prints rows deleted (or due) per data kind."""
    with _services() as built:
        counts = built.apply_retention(dry_run=dry_run)
        policies = built.settings.retention_policies
    typer.echo(json.dumps({"dry_run": dry_run, "policies": policies, "counts": counts}))


@suppressions_app.command("lift")
def lift(
    kind: Annotated[str, typer.Option(help="email, phone, user_id, anonymous_id, loyalty_id…")],
    value: Annotated[str, typer.Option(help="The identifier, typed any usual way")],
) -> None:
    """Let an identifier in again, for a person who comes back and asks to be known."""
    with _services() as built:
        kinds = built.settings.all_identifier_kinds
        if kind not in kinds:
            _fail(
                Invalid(
                    "unknown_identifier_kind", f"kind must be one of: {', '.join(kinds)}", "kind"
                )
            )
        try:
            identifier = normalize(kind, value, built.settings.default_region)
        except Invalid as error:
            _fail(Invalid(error.code, error.message, "value"))
        with built.uow() as uow:
            lift_suppression(built.privacy(uow), built.cipher, identifier.kind, identifier.value)
            uow.commit()
        _audit(built, "lift", "privacy suppressions lift", [], 200, kind=identifier.kind)
    typer.echo(json.dumps({"lifted": {"kind": identifier.kind}}))


@suppressions_app.command("list")
def list_suppressions(
    limit: Annotated[int, typer.Option(min=1, help="How many, newest first")] = 100,
) -> None:
    """Suppressed identifiers (kind and keyed hash only), with how often ingestion met them."""
    with _services() as built, built.uow(write=False) as uow:
        for s in built.privacy(uow).suppressions(limit):
            typer.echo(json.dumps(_public(asdict(s))))


@audit_app.command("export")
def audit_export(
    customer: Annotated[str | None, typer.Option(help="Only entries about this customer")] = None,
    actor: Annotated[str | None, typer.Option(help="Only entries of this key or user id")] = None,
    format: Annotated[str, typer.Option(help="csv or jsonl")] = "csv",
) -> None:
    """Write the audit log, newest first, to stdout as CSV or JSON lines."""
    if format not in ("csv", "jsonl"):
        _fail(Invalid("invalid_format", "format must be csv or jsonl", "format"))
    chosen: Literal["csv", "jsonl"] = "csv" if format == "csv" else "jsonl"
    with _services() as built, built.uow(write=False) as uow:
        entries = iter(audit_entries(built.audit(uow), AuditFilter(customer, actor)))
        lines = audit_csv(entries) if chosen == "csv" else audit_jsonl(entries)
        for chunk in lines:
            sys.stdout.buffer.write(chunk)
        sys.stdout.buffer.flush()


def _public(values: dict[str, object]) -> dict[str, object]:
    return orjson.loads(orjson.dumps(values))  # type: ignore[no-any-return]
