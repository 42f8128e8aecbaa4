"""The console's metrics page in headless Chromium: figures, server-drawn charts, filters."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.e2e.conftest import Server
from tests.e2e.console_helpers import CHROMIUM, CHROMIUM_ARGS, sign_in


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
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, java_script_enabled=False
    )
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def test_the_metrics_page_shows_figures_and_charts_without_javascript(
    page: Page, server: Server
) -> None:
    declared = server.cli("incident", "declare", "--title", "Search slow", "--severity", "P2")
    assert declared.returncode == 0, declared.stderr
    sign_in(page, server, server.token)
    page.get_by_role("link", name="Metrics").click()
    expect(page.get_by_role("heading", name="Summary: 1 incident")).to_be_visible()
    expect(page.locator('tr[data-figure="mttr"] td').first).to_have_text("—")
    expect(page.locator("figure[data-chart] svg")).to_have_count(4)
    page.locator("form.filters select[name=severity]").select_option("P0")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_role("heading", name="Summary: 0 incidents")).to_be_visible()


def test_a_bad_period_names_the_accepted_forms(page: Page, server: Server) -> None:
    sign_in(page, server, server.token)
    page.goto(f"{server.url}/console/metrics?period=last-week")
    expect(page.get_by_role("alert")).to_contain_text("2026-W47")
