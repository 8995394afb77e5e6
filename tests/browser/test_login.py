"""Signing in at /login in a real browser: the labelled form, a wrong password refused with
no session, and the right one landing where the user asked to go."""

import re

from playwright.sync_api import Page, expect

from omnicx.api.deps import SESSION_COOKIE
from tests.browser.conftest import PASSWORD, LiveServer, add_staff, screenshot
from tests.conftest import table_counts


def open_sessions(live: LiveServer) -> int:
    return table_counts(live.services, "staff_sessions")["staff_sessions"]


def test_a_wrong_password_is_refused_on_the_page(page: Page, live: LiveServer) -> None:
    email = add_staff(live, "agent")
    before = open_sessions(live)

    page.goto(live.url_for("/login"))
    expect(page).to_have_title(re.compile("Sign in"))
    expect(page.get_by_label("Email")).to_have_attribute("name", "email")
    expect(page.get_by_label("Password")).to_have_attribute("name", "password")
    expect(page.get_by_label("Password")).to_have_attribute("type", "password")

    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("alert")).to_have_text("Wrong email or password.")
    assert page.url == live.url_for("/login")
    expect(page.get_by_label("Email")).to_have_value(email)
    expect(page.get_by_label("Password")).to_have_value("")
    assert SESSION_COOKIE not in {c["name"] for c in page.context.cookies()}
    assert open_sessions(live) == before
    screenshot(page, "login")


def test_the_right_password_signs_in_and_goes_where_asked(page: Page, live: LiveServer) -> None:
    email = add_staff(live, "agent", name="Rita Lima")
    before = open_sessions(live)

    page.goto(live.url_for("/login?next=/account"))
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    page.wait_for_url(live.url_for("/account"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Your account")
    expect(page.get_by_text("Rita Lima", exact=True)).to_be_visible()
    assert SESSION_COOKIE in {c["name"] for c in page.context.cookies()}
    assert open_sessions(live) == before + 1
