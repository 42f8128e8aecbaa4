"""The web console in a real browser (Debian Chromium), against a real `tocsin serve`."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.e2e.conftest import Server
from tests.e2e.console_helpers import (
    CHROMIUM,
    CHROMIUM_ARGS,
    clock_row,
    create_token,
    declare,
    declare_with_cli,
    flash,
    incident_id_of,
    sign_in,
)

pytestmark = pytest.mark.e2e


@pytest.fixture
def server(shared_server: Server) -> Server:
    """These tests need nothing of their own: the session's shared server, reset."""
    return shared_server


SCREENSHOT = "/tmp/console.png"
COUNTDOWN = re.compile(r"^(in|overdue by) \d+ (s|min|h|d)\b")


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


def test_a_responder_declares_acknowledges_and_resolves_a_p1(page: Page, server: Server) -> None:
    sign_in(page, server, server.token)
    expect(page).to_have_url(f"{server.url}/console")
    expect(page.locator(".who")).to_contain_text("admin")

    declare(
        page,
        title="Checkout errors after deploy 4411",
        severity="P1",
        services="checkout, payments",
        summary="5xx on /pay since 02:58",
    )
    expect(page).to_have_url(re.compile(r"/console/incidents/INC-"))
    incident_id = incident_id_of(page)
    expect(page.get_by_role("heading", level=1)).to_have_text("Checkout errors after deploy 4411")
    expect(page.locator(".incident-head .sev")).to_have_text("P1")
    expect(page.locator(".incident-head")).to_contain_text("payments")

    acknowledge = clock_row(page, "acknowledge")
    expect(acknowledge).to_contain_text("pending")
    expect(acknowledge.locator(".countdown")).to_have_text(COUNTDOWN)
    expect(acknowledge.locator(".countdown")).to_have_attribute("data-due", re.compile("Z$"))
    page.screenshot(path=SCREENSHOT, full_page=True)

    page.get_by_role("button", name="Acknowledge").click()
    expect(flash(page)).to_contain_text("Acknowledged")
    expect(clock_row(page, "acknowledge")).to_contain_text("met")
    expect(page.get_by_role("button", name="Acknowledge")).to_have_count(0)

    page.get_by_label("New status").select_option("resolved")
    page.get_by_label("Message").fill("Rolled back deploy 4411")
    page.get_by_role("button", name="Change status").click()
    expect(flash(page)).to_contain_text("Status is now resolved")
    expect(page.locator(".incident-head .status")).to_have_text("resolved")

    timeline = page.locator("table.timeline")
    expect(timeline).to_contain_text("investigating → resolved: Rolled back deploy 4411")
    expect(timeline.locator("tr.kind-acknowledged")).to_have_count(1)
    expect(timeline.locator("tr.kind-declared")).to_contain_text("Checkout errors after deploy")
    expect(clock_row(page, "review")).to_contain_text("pending")
    expect(clock_row(page, "review").locator(".countdown")).to_have_text(COUNTDOWN)
    assert server.cli("verify").returncode == 0
    assert incident_id in page.title()


def test_the_list_shows_open_incidents_with_their_next_clock(page: Page, server: Server) -> None:
    sign_in(page, server, server.token)
    open_id = declare_with_cli(server, "Search is slow", "P2")
    done_id = declare_with_cli(server, "Typo on pricing page", "P3")
    assert server.cli("incident", "resolve", done_id, "-m", "Fixed").returncode == 0
    page.goto(f"{server.url}/console")

    open_row = page.locator("tr.is-open").filter(has_text=open_id)
    expect(open_row).to_contain_text("Search is slow")
    expect(open_row.locator(".countdown")).to_have_text(COUNTDOWN)
    expect(page.locator("tr.is-done").filter(has_text=done_id)).to_contain_text("resolved")

    page.get_by_label("Status").select_option("open")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("table.incidents tbody tr")).to_have_count(1)
    expect(page.locator("table.incidents")).to_contain_text(open_id)


def test_an_empty_title_is_refused_naming_the_field(page: Page, server: Server) -> None:
    sign_in(page, server, server.token)
    declare(page, title="", severity="P1", services="checkout")

    expect(page.locator("#title-error")).to_have_text("title: is required")
    expect(page.get_by_label("Title")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Services")).to_have_value("checkout")
    assert "INC-" not in server.cli("incident", "list").stdout


def test_an_action_error_comes_back_naming_the_field(page: Page, server: Server) -> None:
    incident_id = declare_with_cli(server, "Queue backlog")
    sign_in(page, server, server.token)
    page.goto(f"{server.url}/console/incidents/{incident_id}")

    page.get_by_label("New status").select_option("monitoring")
    page.get_by_role("button", name="Change status").click()

    expect(flash(page)).to_have_text("Change status failed — message: is required")
    expect(page.locator(".incident-head .status")).to_have_text("investigating")


def test_a_bad_token_is_refused_on_sign_in(page: Page, server: Server) -> None:
    sign_in(page, server, "tcn_not-a-real-token")

    expect(page.locator("#login-error")).to_have_text("token: not valid, or revoked")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert page.context.cookies() == []


def test_a_viewer_sees_the_incident_but_no_action_forms(page: Page, server: Server) -> None:
    incident_id = declare_with_cli(server, "Disk filling on db-2")
    sign_in(page, server, create_token(server, "viewer", "v"))
    page.goto(f"{server.url}/console/incidents/{incident_id}")

    expect(page.get_by_role("heading", level=1)).to_have_text("Disk filling on db-2")
    expect(page.locator(".who")).to_contain_text("viewer")
    expect(page.locator("form[action^='/console/incidents']")).to_have_count(0)
    expect(page.get_by_role("button", name="Acknowledge")).to_have_count(0)
    page.goto(f"{server.url}/console")
    expect(page.locator("#declare")).to_have_count(0)

    answer = page.request.post(
        f"{server.url}/console/incidents/{incident_id}/notes",
        form={"text": "sneaky"},
        headers={"Origin": server.url},
        max_redirects=0,
    )
    assert answer.status == 403


def test_a_post_from_another_site_is_refused(page: Page, server: Server) -> None:
    incident_id = declare_with_cli(server, "Login loop")
    sign_in(page, server, server.token)

    answer = page.request.post(
        f"{server.url}/console/incidents/{incident_id}/notes",
        form={"text": "forged"},
        headers={"Origin": "http://evil.example"},
        max_redirects=0,
    )

    assert answer.status == 403
    assert "forged" not in server.cli("incident", "timeline", incident_id).stdout


def test_the_page_refreshes_itself_but_never_under_a_responder_typing(
    page: Page, server: Server
) -> None:
    incident_id = declare_with_cli(server, "Webhook retries")
    sign_in(page, server, server.token)
    page.goto(f"{server.url}/console/incidents/{incident_id}")
    refresh_now = "document.dispatchEvent(new Event('visibilitychange'))"

    assert server.cli("incident", "note", incident_id, "Seen from the CLI").returncode == 0
    page.evaluate(refresh_now)
    expect(page.locator("table.timeline")).to_contain_text("Seen from the CLI")

    page.get_by_placeholder("What you saw or did").fill("half-typed thought")
    assert server.cli("incident", "note", incident_id, "Second CLI note").returncode == 0
    page.evaluate(refresh_now)
    page.wait_for_timeout(1500)
    expect(page.locator("table.timeline")).not_to_contain_text("Second CLI note")
    expect(page.get_by_placeholder("What you saw or did")).to_have_value("half-typed thought")


def test_the_policy_page_reads_as_the_runbook(page: Page, server: Server) -> None:
    sign_in(page, server, server.token)
    page.get_by_role("link", name="Policy").click()

    expect(page.get_by_role("heading", name="Severity ladder")).to_be_visible()
    expect(page.locator(".runbook table").first).to_contain_text("Critical")


def test_signing_out_returns_to_the_login_page(page: Page, server: Server) -> None:
    page.goto(f"{server.url}/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    sign_in(page, server, server.token)
    expect(page).to_have_url(f"{server.url}/console")

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.goto(f"{server.url}/console")
    expect(page).to_have_url(re.compile(r"/console/login\?next="))


def test_a_link_from_another_site_opens_the_incident_for_a_signed_in_responder(
    page: Page, server: Server
) -> None:
    incident_id = declare_with_cli(server, "Paged from chat")
    sign_in(page, server, server.token)
    link = f"{server.url}/console/incidents/{incident_id}"
    page.goto("about:blank")
    page.set_content(f'<a href="{link}">{incident_id}</a>')  # a page in chat or email

    page.get_by_role("link", name=incident_id).click()

    expect(page).to_have_url(link)
    expect(page.get_by_role("heading", level=1)).to_have_text("Paged from chat")


def test_a_responder_escalates_now_from_the_console(page: Page, server: Server) -> None:
    """'Escalate now' brings the next escalation step forward and says so in the timeline;
    once the incident is acknowledged there is nobody left to escalate to, so it goes."""
    sign_in(page, server, server.token)
    declare(page, title="Payments API timing out", severity="P1")
    expect(page.locator("ol.ladder")).to_contain_text("pending")

    page.get_by_role("button", name="Escalate now").click()
    expect(flash(page)).to_contain_text("Escalated")
    expect(page.locator("table.timeline tr.kind-escalated_now")).to_have_count(1)

    page.get_by_role("button", name="Acknowledge").click()
    expect(flash(page)).to_contain_text("Acknowledged")
    expect(page.get_by_role("button", name="Escalate now")).to_have_count(0)


def test_the_incident_page_shows_the_changes_that_may_explain_it(
    page: Page, server: Server
) -> None:
    """A deploy reported as a PagerDuty change event shows on the incident of its service,
    with its link; a change of another service does not."""
    headers = {"Authorization": f"Bearer {server.token}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=10) as api:
        keys = {}
        for service in ("checkout", "search"):
            made = api.post(
                "/api/v1/integrations",
                json={"name": f"{service} deploys", "kind": "pagerduty", "service": service},
            )
            assert made.status_code == 201, made.text
            keys[service] = made.json()["key"]
        for service, summary in (("checkout", "Deploy checkout v2.4.1"), ("search", "Reindex")):
            sent = api.post(
                "/v2/change/enqueue",
                json={
                    "routing_key": keys[service],
                    "payload": {"summary": summary, "source": "ci.example.com"},
                    "links": [{"href": "https://ci.example.com/builds/812", "text": "Build 812"}],
                },
            )
            assert sent.status_code == 202, sent.text
    sign_in(page, server, server.token)
    declare(page, title="Checkout errors", severity="P1", services="checkout")
    changes = page.locator("section.changes-card")
    expect(changes.get_by_role("heading")).to_contain_text("Recent changes")
    expect(changes.locator("tr.change")).to_have_count(1)
    expect(changes).to_contain_text("Deploy checkout v2.4.1")
    expect(changes).to_contain_text("checkout deploys")
    link = changes.get_by_role("link", name="Build 812")
    expect(link).to_have_attribute("href", "https://ci.example.com/builds/812")
