"""Signing in to the console as a person, in a real browser: the one helper every console
Playwright test uses (`sign_in(page, server.url, server.admin_username, server.admin_password)`
signs in as the admin `serve --bootstrap-admin` created)."""

from __future__ import annotations

from playwright.sync_api import Page, expect

SESSION_COOKIE = "tocsin_session"


def sign_in(page: Page, base_url: str, username: str, password: str) -> None:
    """Sign in through the login form with the keyboard, as a person would, and wait for
    the console to show who is signed in."""
    page.goto(f"{base_url}/console/login?next=/console")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_label("Password").press("Enter")
    expect(page.locator(".who")).to_be_visible()


def sign_out(page: Page) -> None:
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def session_cookie(page: Page) -> str:
    """The value of the console's session cookie in this page's browser context."""
    for cookie in page.context.cookies():
        if cookie["name"] == SESSION_COOKIE:
            return cookie["value"]
    raise AssertionError("no console session cookie")
