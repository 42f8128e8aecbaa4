"""Driving the web console in headless Chromium, the way a responder would."""

from __future__ import annotations

import json
import re

from playwright.sync_api import Browser, Locator, Page, expect

from tests.e2e.conftest import Server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
INCIDENT_URL = re.compile(r"/console/incidents/(INC-\d{4}-\d{2}-\d{2}-\d{2,})$")


def sign_in(page: Page, server: Server, token: str) -> None:
    """Sign in with an API token (the console's form for admins bootstrapping); people sign
    in with a password: tests.e2e.console_login.sign_in."""
    page.goto(f"{server.url}/console/login?token=true&next=/console")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in").click()


def declare(
    page: Page, *, title: str, severity: str, services: str = "", summary: str = ""
) -> None:
    form = page.locator("#declare")
    form.get_by_label("Title").fill(title)
    form.get_by_label("Severity").select_option(severity)
    form.get_by_label("Services").fill(services)
    form.get_by_label("Summary").fill(summary)
    form.get_by_role("button", name="Declare and start the clocks").click()


def incident_id_of(page: Page) -> str:
    match = INCIDENT_URL.search(page.url)
    assert match, page.url
    return match.group(1)


def create_token(server: Server, role: str, name: str) -> str:
    result = server.cli("token", "create", "--role", role, "--name", name)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def declare_with_cli(server: Server, title: str, severity: str = "P2") -> str:
    result = server.cli("incident", "declare", "--title", title, "--severity", severity, "--json")
    assert result.returncode == 0, result.stderr
    incident_id: str = json.loads(result.stdout)["id"]
    return incident_id


def clock_row(page: Page, key: str) -> Locator:
    return page.locator("table.clocks tr.clock").filter(has_text=key)


def flash(page: Page) -> Locator:
    return page.locator("#flash")


def console_page(browser: Browser, server: Server, *, width: int = 1280, height: int = 900) -> Page:
    """A new browser context, signed in to the console as the server's admin: the one place
    the console tests sign in, so changing how people sign in changes only this."""
    context = browser.new_context(viewport={"width": width, "height": height})
    context.set_default_timeout(10_000)
    page = context.new_page()
    sign_in(page, server, server.token)
    expect(page.locator(".who")).to_be_visible()
    return page
