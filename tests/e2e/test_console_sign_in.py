"""People sign in to the console with a password in Debian's Chromium, against a real
`tocsin serve --bootstrap-admin`: focus is visible, the session cookie is HttpOnly and Lax,
signing out refuses the old cookie, and a person disabled from the CLI is out at once."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.e2e.conftest import Server
from tests.e2e.console_helpers import CHROMIUM, CHROMIUM_ARGS
from tests.e2e.console_login import SESSION_COOKIE, session_cookie, sign_in, sign_out

pytestmark = pytest.mark.e2e


@pytest.fixture
def server(shared_server: Server) -> Server:
    """These tests need nothing of their own: the session's shared server, reset."""
    return shared_server


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def refused(server: Server, cookie: str) -> bool:
    """Whether the console sends this cookie's holder to sign in."""
    answer = httpx.get(
        f"{server.url}/console", cookies={SESSION_COOKIE: cookie}, follow_redirects=False
    )
    assert answer.status_code in (200, 303), answer.status_code
    return answer.status_code == 303 and "/console/login" in answer.headers["location"]


def test_the_admin_signs_in_with_a_password_and_signs_out(page: Page, server: Server) -> None:
    assert server.admin_password, server.banner
    page.goto(f"{server.url}/console/login")
    page.keyboard.press("Tab")  # focus is visible on the login form's fields
    focused = page.evaluate("document.activeElement.id")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert focused in ("username", "password") and outline != "none"

    page.get_by_label("Username").fill(server.admin_username)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("Username or password not recognised")

    sign_in(page, server.url, server.admin_username, server.admin_password)
    expect(page).to_have_url(f"{server.url}/console")
    expect(page.locator(".who")).to_contain_text("Admin")
    expect(page.locator(".who")).to_contain_text("admin")
    cookie = next(c for c in page.context.cookies() if c["name"] == SESSION_COOKIE)
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and cookie["path"] == "/console"
    assert server.admin_password not in cookie["value"] and server.token not in cookie["value"]
    old = session_cookie(page)
    assert not refused(server, old)

    page.get_by_role("link", name="Users").click()
    expect(page.get_by_role("heading", name="Users")).to_be_visible()
    expect(page.locator("table.users")).to_contain_text("admin")

    sign_out(page)
    assert refused(server, old), "the old cookie no longer signs anyone in"
    page.goto(f"{server.url}/console/policy")
    expect(page).to_have_url(re.compile(r"/console/login\?next="))


def test_a_person_disabled_from_the_cli_is_signed_out_at_once(page: Page, server: Server) -> None:
    made = server.cli(
        "user", "create", "ada", "--role", "responder", "--password", "correct horse battery"
    )
    assert made.returncode == 0, made.stderr
    sign_in(page, server.url, "ada", "correct horse battery")
    expect(page.get_by_role("link", name="Users")).to_have_count(0)
    assert server.cli("user", "disable", "ada").returncode == 0
    page.reload()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
