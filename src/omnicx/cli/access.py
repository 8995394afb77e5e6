"""`omnicx users …` and `omnicx keys …`: staff users and API keys from the command line.

Each command prints JSON: one object for what it created or changed, one line per item for a
list. Secrets (a generated password, a key) are printed this once and never again.
"""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any, NoReturn

import typer

from omnicx.access import (
    KEY_SCOPES,
    LANGUAGES,
    STAFF_ROLES,
    ApiKey,
    StaffUser,
    create_api_key,
    create_user,
    normalize_email,
    revoke_api_key,
    update_user,
)
from omnicx.bootstrap import Services, build
from omnicx.config import load_settings
from omnicx.kernel import DomainError, NotFound

users_app = typer.Typer(help="Staff users who sign in, each with a role.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys for the admin API.", no_args_is_help=True)


@contextmanager
def _services() -> Iterator[Services]:
    built = build(load_settings())
    try:
        yield built
    except DomainError as error:
        _fail(error)
    finally:
        built.close()


def _fail(error: DomainError) -> NoReturn:
    typer.echo(
        json.dumps({"error": {"code": error.code, "message": error.message, "field": error.field}}),
        err=True,
    )
    raise typer.Exit(2)


def _when(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def user_json(user: StaffUser) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "name": user.name,
        "role": user.role,
        "language": user.language,
        "disabled": not user.active,
        "last_login_at": _when(user.last_login_at),
    }


def key_json(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "name": key.name,
        "role": key.role,
        "prefix": key.prefix,
        "created_at": _when(key.created_at),
        "last_used_at": _when(key.last_used_at),
        "revoked_at": _when(key.revoked_at),
    }


@users_app.command("create")
def users_create(
    email: Annotated[str, typer.Option(help="The address they sign in with")],
    role: Annotated[str, typer.Option(help=", ".join(STAFF_ROLES))],
    name: Annotated[str | None, typer.Option(help="Shown in the console")] = None,
    language: Annotated[str, typer.Option(help=", ".join(LANGUAGES))] = "en",
) -> None:
    """Create a staff user; prints the user and a generated password, shown only now."""
    with _services() as services, services.uow() as uow:
        user, password = create_user(
            services.users(uow),
            services.passwords,
            email=email,
            role=role,
            name=name,
            language=language,
            now=uow.clock.now(),
        )
        uow.commit()
    typer.echo(json.dumps({**user_json(user), "password": password}))


@users_app.command("list")
def users_list() -> None:
    """List staff users as JSON lines."""
    with _services() as services, services.uow(write=False) as uow:
        for user in services.users(uow).all():
            typer.echo(json.dumps(user_json(user)))


@users_app.command("disable")
def users_disable(email: Annotated[str, typer.Option(help="The user's email")]) -> None:
    """Disable a staff user: their sessions end at once (the last active admin stays)."""
    with _services() as services, services.uow() as uow:
        users = services.users(uow)
        found = users.by_email(normalize_email(email))
        if found is None:
            raise NotFound("user_not_found", f"no user with the email {email}", "email")
        user = update_user(users, services.sessions(uow), found.id, uow.clock.now(), disabled=True)
        uow.commit()
    typer.echo(json.dumps(user_json(user)))


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="Who or what uses the key")],
    role: Annotated[str, typer.Option(help=" or ".join(KEY_SCOPES))] = "admin",
) -> None:
    """Create an API key; prints {"id", "name", "role", "key"}. The key is shown only now."""
    with _services() as services, services.uow() as uow:
        key, secret = create_api_key(
            services.api_keys(uow), name, role, uow.clock.now(), "command line"
        )
        uow.commit()
    typer.echo(json.dumps({"id": key.id, "name": key.name, "role": key.role, "key": secret}))


@keys_app.command("list")
def keys_list() -> None:
    """List API keys as JSON lines, newest first (never the secret)."""
    with _services() as services, services.uow(write=False) as uow:
        for key in services.api_keys(uow).all():
            typer.echo(json.dumps(key_json(key)))


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Option("--id", help="The key's id")]) -> None:
    """Revoke an API key; it stops working at once."""
    with _services() as services, services.uow() as uow:
        key = revoke_api_key(services.api_keys(uow), key_id, uow.clock.now())
        uow.commit()
    typer.echo(json.dumps(key_json(key)))
