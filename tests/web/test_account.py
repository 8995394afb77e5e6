"""Signing in and out of the console, sessions in cookies, CSRF, roles and languages."""

import re
from collections.abc import Callable

from fastapi.testclient import TestClient

from omnicx.api.deps import SESSION_COOKIE
from omnicx.bootstrap import Services
from tests.conftest import table_counts
from tests.web.conftest import PASSWORD, add_staff

Console = Callable[..., tuple[TestClient, str]]


def login_token(client: TestClient) -> str:
    found = re.search(r'name="login_token" value="([^"]+)"', client.get("/login").text)
    assert found is not None
    return found.group(1)


def test_the_sign_in_page_has_labelled_fields(client: TestClient) -> None:
    page = client.get("/login")
    assert page.status_code == 200
    assert '<label for="email">Email</label>' in page.text
    assert '<label for="password">Password</label>' in page.text
    assert "content-security-policy" in page.headers
    assert page.headers["x-frame-options"] == "DENY"


def test_a_wrong_password_shows_an_error_and_opens_no_session(
    client: TestClient, services: Services
) -> None:
    email = add_staff(services, "agent")
    answer = client.post(
        "/login",
        data={"email": email, "password": "wrong", "login_token": login_token(client)},
        follow_redirects=False,
    )
    assert answer.status_code == 401
    assert "Wrong email or password." in answer.text
    assert SESSION_COOKIE not in answer.cookies
    assert table_counts(services, "staff_sessions") == {"staff_sessions": 0}


def test_a_sign_in_without_the_form_token_is_refused(
    client: TestClient, services: Services
) -> None:
    email = add_staff(services, "agent")
    client.get("/login")
    answer = client.post(
        "/login",
        data={"email": email, "password": PASSWORD, "login_token": "forged"},
        follow_redirects=False,
    )
    assert answer.status_code == 401
    assert "The sign-in form expired. Please try again." in answer.text
    assert table_counts(services, "staff_sessions") == {"staff_sessions": 0}


def test_each_role_lands_on_its_own_area(client: TestClient, services: Services) -> None:
    homes = {
        "agent": "/inbox",
        "store_associate": "/store",
        "marketer": "/customers",
        "admin": "/inbox",
        "analyst": "/analytics",
    }
    for role, home in homes.items():
        email = add_staff(services, role)
        client.cookies.clear()
        answer = client.post(
            "/login",
            data={"email": email, "password": PASSWORD, "login_token": login_token(client)},
            follow_redirects=False,
        )
        assert (role, answer.headers["location"]) == (role, home)
        cookie = answer.headers["set-cookie"]
        assert f"{SESSION_COOKIE}=ocs_" in cookie
        assert "HttpOnly" in cookie
        assert "SameSite=lax" in cookie


def test_sign_in_returns_to_a_local_page_only(client: TestClient, services: Services) -> None:
    email = add_staff(services, "agent")
    for asked, landed in [("/account", "/account"), ("//evil.example/x", "/inbox")]:
        client.cookies.clear()
        answer = client.post(
            "/login",
            data={
                "email": email,
                "password": PASSWORD,
                "login_token": login_token(client),
                "next": asked,
            },
            follow_redirects=False,
        )
        assert answer.headers["location"] == landed


def test_a_page_without_a_session_sends_to_sign_in(client: TestClient) -> None:
    answer = client.get("/account?x=1", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=/account%3Fx%3D1"


def test_a_page_the_role_lacks_is_forbidden(console: Console) -> None:
    client, _ = console("analyst")
    page = client.get("/inbox")
    assert page.status_code == 403
    assert "Your role (Analyst) cannot open this page." in page.text


def test_sign_out_needs_the_csrf_token_and_ends_the_session(
    console: Console, services: Services
) -> None:
    client, csrf = console("agent")
    refused = client.post("/logout", data={"csrf": "forged"}, follow_redirects=False)
    assert refused.status_code == 403
    assert client.get("/account").status_code == 200
    answer = client.post("/logout", data={"csrf": csrf}, follow_redirects=False)
    assert answer.headers["location"] == "/login"
    client.cookies.clear()
    with services.uow(write=False) as uow:
        revoked = uow.conn.exec_driver_sql(
            "SELECT count(*) FROM staff_sessions WHERE revoked_at IS NOT NULL"
        ).scalar()
    assert revoked == 1


def test_the_console_session_calls_the_api_with_the_csrf_header(console: Console) -> None:
    client, csrf = console("agent")
    me = client.get("/api/auth/me")
    assert me.status_code == 200
    assert me.json()["role"] == "agent"
    refused = client.post("/api/auth/logout")
    assert refused.status_code == 403
    assert "X-CSRF-Token" in refused.json()["error"]["message"]
    assert client.get("/api/auth/me").status_code == 200
    assert client.post("/api/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    assert client.get("/api/auth/me").status_code == 401


def test_the_role_is_enforced_on_the_api_for_a_console_session(console: Console) -> None:
    client, _ = console("store_associate")
    answer = client.get("/api/segments")
    assert answer.status_code == 403


def test_a_user_chooses_their_language(console: Console) -> None:
    client, csrf = console("agent")
    assert "Sign out" in client.get("/account").text
    answer = client.post(
        "/account/language", data={"language": "pt-BR", "csrf": csrf}, follow_redirects=False
    )
    assert answer.status_code == 303
    page = client.get("/account")
    assert '<html lang="pt-BR">' in page.text
    assert "Sair" in page.text
    client.post("/account/language", data={"language": "es", "csrf": csrf})
    assert "Cerrar sesión" in client.get("/account").text


def test_an_unknown_language_is_refused_and_nothing_changes(console: Console) -> None:
    client, csrf = console("agent")
    answer = client.post("/account/language", data={"language": "xx", "csrf": csrf})
    assert answer.status_code == 400
    assert '<html lang="en">' in client.get("/account").text
