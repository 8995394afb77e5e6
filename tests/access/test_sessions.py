"""Signing in and out, who am I, and the 401s of dead credentials."""

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from omnicx.access import Argon2PasswordHasher, update_user
from omnicx.bootstrap import Services
from omnicx.kernel import FixedClock
from tests.access.conftest import PASSWORD, Staff, add_user
from tests.conftest import table_counts

WRONG = {"error": {"code": "invalid_credentials", "message": "the email or password is wrong"}}


def test_login_returns_a_token_that_opens_me(client: TestClient, services: Services) -> None:
    add_user(services, "ana@shop.example", "agent")

    response = client.post(
        "/api/auth/login", json={"email": " ANA@Shop.example ", "password": PASSWORD}
    )

    assert response.status_code == 200
    body = response.json()
    assert body["token"].startswith("ocs_")
    assert body["user"]["email"] == "ana@shop.example"
    assert body["user"]["role"] == "agent"
    me = client.get("/api/auth/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200
    assert me.json()["kind"] == "user"
    assert me.json()["role"] == "agent"
    assert me.json()["permissions"] == [
        "commerce.read",
        "commerce.sell",
        "consent.read",
        "consent.write",
        "conversations.read",
        "conversations.write",
        "customers.read",
        "customers.write",
        "tasks.write",
    ]
    assert me.json()["session_expires_at"] == body["expires_at"]
    assert table_counts(services, "staff_sessions") == {"staff_sessions": 1}


def test_unknown_email_and_wrong_password_get_the_same_answer(
    client: TestClient, services: Services
) -> None:
    add_user(services, "ana@shop.example", "agent")

    unknown = client.post("/api/auth/login", json={"email": "bob@shop.example", "password": "x"})
    wrong = client.post("/api/auth/login", json={"email": "ana@shop.example", "password": "x"})

    assert (unknown.status_code, unknown.json()) == (401, WRONG)
    assert (wrong.status_code, wrong.json()) == (401, WRONG)
    assert table_counts(services, "staff_sessions") == {"staff_sessions": 0}


def test_a_disabled_user_cannot_sign_in_and_their_session_ends(
    client: TestClient, services: Services, staff: Staff
) -> None:
    headers = staff("store_associate", "clerk@shop.example")
    with services.uow() as uow:
        user = services.users(uow).by_email("clerk@shop.example")
        assert user is not None
        update_user(
            services.users(uow), services.sessions(uow), user.id, uow.clock.now(), disabled=True
        )
        uow.commit()

    assert client.get("/api/customers", headers=headers).status_code == 401
    again = client.post(
        "/api/auth/login", json={"email": "clerk@shop.example", "password": PASSWORD}
    )
    assert (again.status_code, again.json()) == (401, WRONG)


def test_logout_ends_the_session_at_once(client: TestClient, staff: Staff) -> None:
    headers = staff("agent")

    assert client.post("/api/auth/logout", headers=headers).status_code == 204

    after = client.get("/api/auth/me", headers=headers)
    assert after.status_code == 401
    assert after.json() == {
        "error": {
            "code": "unauthorized",
            "message": "unknown, expired or revoked session: sign in again",
        }
    }


def test_an_api_key_cannot_log_out(client: TestClient, admin: dict[str, str]) -> None:
    response = client.post("/api/auth/logout", headers=admin)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "not_a_session"


@pytest.mark.parametrize(
    ("wait", "live"), [(timedelta(minutes=119), True), (timedelta(hours=13), False)]
)
def test_sessions_expire_when_idle_or_old(
    make_settings: object, wait: timedelta, live: bool
) -> None:
    from omnicx.asgi import app_for
    from omnicx.bootstrap import build
    from omnicx.db.migrate import upgrade

    clock = FixedClock(datetime(2026, 5, 1, 9, tzinfo=UTC))
    services = build(make_settings(), clock=clock)  # type: ignore[operator]
    services.passwords = Argon2PasswordHasher(time_cost=1, memory_kib=1024, parallelism=1)
    upgrade(services.engines)
    add_user(services, "ana@shop.example", "agent")
    try:
        with TestClient(app_for(services, run_worker=False)) as client:
            token = client.post(
                "/api/auth/login", json={"email": "ana@shop.example", "password": PASSWORD}
            ).json()["token"]
            headers = {"Authorization": f"Bearer {token}"}
            clock.advance(wait)
            response = client.get("/api/auth/me", headers=headers)
            # Used every hour it still ends 12 hours after sign-in.
            for _ in range(12):
                clock.advance(timedelta(minutes=60))
                client.get("/api/auth/me", headers=headers)
            late = client.get("/api/auth/me", headers=headers)
    finally:
        services.close()

    assert response.status_code == (200 if live else 401)
    assert late.status_code == 401


def test_a_password_hashed_with_old_parameters_is_rehashed_at_sign_in(
    client: TestClient, services: Services
) -> None:
    user_id = add_user(services, "ana@shop.example", "agent")
    services.passwords = Argon2PasswordHasher(time_cost=2, memory_kib=1024, parallelism=1)

    assert (
        client.post(
            "/api/auth/login", json={"email": "ana@shop.example", "password": PASSWORD}
        ).status_code
        == 200
    )

    with services.uow(write=False) as uow:
        stored = services.users(uow).password_hash(user_id)
    assert stored is not None
    assert "t=2" in stored
    assert services.passwords.verify(stored, PASSWORD)
