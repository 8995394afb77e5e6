"""Access fixtures: staff users signed in per role, with a cheap password hasher."""

from collections.abc import Callable
from datetime import timedelta

import pytest

from omnicx.access import Argon2PasswordHasher, create_user, log_in
from omnicx.bootstrap import Services

PASSWORD = "correct horse battery"
Staff = Callable[..., dict[str, str]]


@pytest.fixture(autouse=True)
def cheap_hasher(services: Services) -> None:
    services.passwords = Argon2PasswordHasher(time_cost=1, memory_kib=1024, parallelism=1)


def add_user(services: Services, email: str, role: str, password: str = PASSWORD) -> str:
    with services.uow() as uow:
        user, _ = create_user(
            services.users(uow),
            services.passwords,
            email=email,
            role=role,
            password=password,
            now=uow.clock.now(),
        )
        uow.commit()
    return user.id


def sign_in(services: Services, email: str, password: str = PASSWORD) -> str:
    with services.uow() as uow:
        signed_in = log_in(
            services.users(uow),
            services.sessions(uow),
            services.passwords,
            email=email,
            password=password,
            now=uow.clock.now(),
            lifetime=timedelta(hours=1),
        )
        uow.commit()
    return signed_in.token


@pytest.fixture
def staff(services: Services) -> Staff:
    """`staff("agent")`: a new user of that role, signed in; returns the bearer header."""

    def make(role: str, email: str | None = None) -> dict[str, str]:
        email = email or f"{role}@shop.example"
        add_user(services, email, role)
        return {"Authorization": f"Bearer {sign_in(services, email)}"}

    return make
