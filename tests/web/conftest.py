"""Console tests: a signed-in browser session (cookie and CSRF token) per role, on SQLite."""

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from omnicx.access import create_user
from omnicx.asgi import app_for
from omnicx.bootstrap import Services

PASSWORD = "correct horse battery staple 42"


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """The console's tests run on the embedded default only."""
    return f"sqlite:///{tmp_path / 'console.db'}"


def add_staff(services: Services, role: str, *, language: str = "en") -> str:
    email = f"{role.replace('_', '.')}@shop.example"
    with services.uow() as uow:
        create_user(
            services.users(uow),
            services.passwords,
            email=email,
            name=f"{role.replace('_', ' ').title()} Person",
            role=role,
            language=language,
            now=uow.clock.now(),
            password=PASSWORD,
        )
        uow.commit()
    return email


def sign_in(client: TestClient, email: str, password: str = PASSWORD) -> str:
    """Signs `client` in through the sign-in form; returns the session's CSRF token."""
    form = client.get("/login")
    token = re.search(r'name="login_token" value="([^"]+)"', form.text)
    assert token is not None
    answer = client.post(
        "/login",
        data={"email": email, "password": password, "login_token": token.group(1)},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    page = client.get("/account")
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert csrf is not None, page.text
    return csrf.group(1)


@pytest.fixture
def console(services: Services) -> Iterator[Callable[..., tuple[TestClient, str]]]:
    """`console(role)` gives a new browser-like client signed in as a new user of that role,
    and its CSRF token."""
    clients: list[TestClient] = []

    def open_as(role: str, **kwargs: Any) -> tuple[TestClient, str]:
        email = add_staff(services, role, **kwargs)
        client = TestClient(app_for(services, run_worker=False))
        client.__enter__()
        clients.append(client)
        return client, sign_in(client, email)

    yield open_as
    for client in clients:
        client.__exit__(None, None, None)
