"""The public status page against a real `tocsin serve`: in Chromium, through a real feed
reader (feedparser), as Statuspage's JSON readers see it, and through real mail (aiosmtpd).

Each test sets the page up over the admin API, as a team would, and checks what a customer
(or an attacker) can read.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import feedparser
import httpx
import pytest
from playwright.sync_api import Browser, expect, sync_playwright

from tests.e2e.conftest import Server, start_server, stop_server
from tests.e2e.console_helpers import CHROMIUM, CHROMIUM_ARGS, declare, sign_in
from tests.e2e.receivers import HttpReceiver, SmtpCatcher
from tocsin.db import Database

pytestmark = pytest.mark.e2e

DOCS = Path(__file__).parent.parent.parent / "docs"
XSS = '<script>alert("pwned")</script> Checkout errors'
SECRET_NOTE = "root password rotated, old one was hunter2"
INTERNAL_TITLE = "pg-checkout-primary disk full (dana paged twice)"
COMPONENTS = [
    ("checkout", "Checkout", "Shop", ["pg-checkout-primary"]),
    ("cart", "Cart", "Shop", ["cart-svc"]),
    ("search", "Search", "Shop", ["search-svc"]),
    ("api", "Public API", "Platform", ["api-gw"]),
    ("webhooks", "Webhooks", "Platform", ["hooks-svc"]),
    ("dashboard", "Dashboard", None, ["dash-svc"]),
]


class Admin:
    """The admin API, as a team drives it."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.client = httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {server.token}"}, timeout=10
        )

    def post(self, path: str, body: dict[str, Any], status: int = 201) -> Any:
        reply = self.client.post(path, json=body)
        assert reply.status_code == status, reply.text
        return reply.json()

    def components(self) -> None:
        for slug, name, group, services in COMPONENTS:
            self.post(
                "/api/v1/status/components",
                {"slug": slug, "name": name, "group": group, "services": services},
            )

    def incident(self, title: str, severity: str, services: list[str]) -> str:
        found = self.post(
            "/api/v1/incidents",
            {"title": title, "severity": severity, "services": services, "summary": SECRET_NOTE},
        )
        incident_id: str = found["id"]
        self.post(f"/api/v1/incidents/{incident_id}/notes", {"text": SECRET_NOTE}, 201)
        self.post(
            f"/api/v1/incidents/{incident_id}/roles",
            {"role": "commander", "assignee": "dana.ruiz"},
            200,
        )
        return incident_id

    def publish(self, incident_id: str, **body: Any) -> Any:
        return self.post(f"/api/v1/incidents/{incident_id}/status-page", body)

    def maintenance_now(self) -> str:
        start = datetime.now(UTC) + timedelta(seconds=1)
        found = self.post(
            "/api/v1/status/maintenances",
            {
                "title": "Search index rebuild",
                "message": "We are rebuilding the search index; results may be incomplete.",
                "scheduled_for": start.isoformat(),
                "scheduled_until": (start + timedelta(hours=2)).isoformat(),
                "components": ["search"],
            },
        )
        code: str = found["id"]
        until(
            lambda: self.public("/api/v2/scheduled-maintenances/active.json")[
                "scheduled_maintenances"
            ]
        )
        return code

    def public(self, path: str) -> Any:
        reply = httpx.get(self.server.url + path, timeout=10)
        assert reply.status_code == 200, reply.text
        return reply.json()


def until(predicate: Any, seconds: float = 15.0) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError("the status page never showed it")


@pytest.fixture
def page_server(database: Database, tmp_path: Path) -> Iterator[Server]:
    running = start_server(database.url, tmp_path, extra_env={"TOCSIN_STATUS_RECHECK": "0"})
    yield running
    stop_server(running)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def _outage(admin: Admin) -> tuple[str, Any]:
    admin.components()
    incident_id = admin.incident(INTERNAL_TITLE, "P1", ["pg-checkout-primary"])
    published = admin.publish(
        incident_id,
        title=XSS,
        status="identified",
        message="Some payments fail. We found the cause and are fixing it.",
    )
    return incident_id, published


def test_a_customer_reads_the_page_in_a_browser_without_javascript(
    page_server: Server, browser: Browser
) -> None:
    admin = Admin(page_server)
    _outage(admin)
    admin.maintenance_now()
    context = browser.new_context(
        java_script_enabled=False, viewport={"width": 1000, "height": 900}
    )
    page = context.new_page()
    page.goto(f"{page_server.url}/status")

    expect(page.get_by_role("status")).to_have_text("Partial System Outage")
    active = page.get_by_role("region", name="Active incidents")
    expect(active.get_by_role("heading", level=3)).to_have_text(XSS)
    expect(active).to_contain_text(re.compile(r"Identified . Some payments fail\."))
    expect(active).to_contain_text("Affects: Checkout")
    maintenance = page.get_by_role("region", name="Maintenance in progress")
    expect(maintenance).to_contain_text("Search index rebuild")
    checkout = page.locator("li.component").filter(has_text="Checkout")
    expect(checkout.locator(".component-status")).to_have_text("Partial outage")
    search = page.locator("li.component").filter(has_text="Search")
    expect(search.locator(".component-status")).to_have_text("Under maintenance")
    expect(checkout.get_by_role("img")).to_have_attribute(
        "aria-label", re.compile(r"^Checkout: \d+\.\d\d% uptime over the last 90 days, 1 days")
    )
    assert checkout.locator(".bars li").count() == 90
    expect(checkout.locator(".bars li").last).to_have_class("partial_outage")
    expect(page.get_by_label("Email address")).to_be_visible()
    assert page.locator("script").count() == 0
    if os.environ.get("TOCSIN_UPDATE_SCREENSHOTS"):
        page.screenshot(path=str(DOCS / "statuspage.png"), full_page=True)
    context.close()


def test_nothing_private_reaches_any_public_output_and_titles_stay_text(
    page_server: Server,
) -> None:
    admin = Admin(page_server)
    incident_id, published = _outage(admin)
    code = published["id"]
    admin.maintenance_now()
    paths = [
        "/status",
        f"/status/incidents/{code}",
        "/history.rss",
        "/history.atom",
        "/api/v2/summary.json",
        "/api/v2/status.json",
        "/api/v2/components.json",
        "/api/v2/incidents.json",
        "/api/v2/incidents/unresolved.json",
        "/api/v2/scheduled-maintenances.json",
        "/api/v2/scheduled-maintenances/upcoming.json",
        "/api/v2/scheduled-maintenances/active.json",
    ]
    private = [
        SECRET_NOTE,
        "hunter2",
        INTERNAL_TITLE,
        "dana",
        "local-admin",  # who published it
        incident_id,
        "pg-checkout-primary",  # internal service names
        "<script>alert",
    ]
    for path in paths:
        text = httpx.get(page_server.url + path, timeout=10).text
        for secret in private:
            assert secret not in text, f"{secret!r} leaked on {path}"

    for path in ("/history.rss", "/history.atom"):
        feed = feedparser.parse(httpx.get(page_server.url + path, timeout=10).content)
        assert not feed.bozo, feed.bozo_exception
        titles = [entry.title for entry in feed.entries]
        assert titles == ["Search index rebuild", XSS], path
        incident = feed.entries[1]
        assert incident.link == f"{page_server.url}/status/incidents/{code}"
        assert "Identified" in incident.summary
        assert "Some payments fail." in incident.summary


def test_readers_of_statuspage_json_find_its_fields_and_enums(page_server: Server) -> None:
    admin = Admin(page_server)
    _outage(admin)
    summary = admin.public("/api/v2/summary.json")
    assert set(summary) == {"page", "components", "incidents", "scheduled_maintenances", "status"}
    assert set(summary["page"]) == {"id", "name", "url", "time_zone", "updated_at"}
    assert summary["status"] == {"indicator": "major", "description": "Partial System Outage"}
    by_id = {c["id"]: c for c in summary["components"]}
    assert by_id["checkout"]["status"] == "partial_outage"
    assert by_id["checkout"]["group_id"] == by_id["group-shop"]["id"]
    assert by_id["group-shop"]["group"] is True
    assert by_id["group-shop"]["components"] == ["checkout", "cart", "search"]
    component_keys = {
        "id", "name", "status", "created_at", "updated_at", "position", "description",
        "showcase", "start_date", "group_id", "page_id", "group", "only_show_if_degraded",
    }  # fmt: skip
    assert component_keys <= set(by_id["api"])
    [incident] = summary["incidents"]
    assert {
        "id", "name", "status", "created_at", "updated_at", "monitoring_at", "resolved_at",
        "impact", "shortlink", "started_at", "page_id", "incident_updates", "components",
    } <= set(incident)  # fmt: skip
    assert (incident["status"], incident["impact"]) == ("identified", "major")
    [update] = incident["incident_updates"]
    assert update["affected_components"] == [
        {"code": "checkout", "name": "Checkout", "old_status": "operational",
         "new_status": "partial_outage"}
    ]  # fmt: skip
    assert datetime.fromisoformat(update["created_at"]).tzinfo is not None

    admin.post(
        f"/api/v1/status/incidents/{incident['id']}/updates",
        {"status": "resolved", "message": "Payments work again."},
    )
    assert admin.public("/api/v2/incidents/unresolved.json")["incidents"] == []
    assert admin.public("/api/v2/status.json")["status"]["indicator"] == "none"
    [past] = admin.public("/api/v2/incidents.json")["incidents"]
    assert past["resolved_at"] is not None

    start = datetime.now(UTC) + timedelta(days=2)
    admin.post(
        "/api/v1/status/maintenances",
        {
            "title": "Cart migration",
            "message": "Carts may be read-only.",
            "scheduled_for": start.isoformat(),
            "scheduled_until": (start + timedelta(hours=1)).isoformat(),
            "components": ["cart"],
        },
    )
    [upcoming] = admin.public("/api/v2/scheduled-maintenances/upcoming.json")[
        "scheduled_maintenances"
    ]
    assert (upcoming["status"], upcoming["impact"]) == ("scheduled", "maintenance")
    assert datetime.fromisoformat(upcoming["scheduled_for"]) == start.replace(
        microsecond=start.microsecond // 1000 * 1000
    )
    assert (
        admin.public("/api/v2/scheduled-maintenances/active.json")["scheduled_maintenances"] == []
    )

    bad = admin.client.post(
        f"/api/v1/status/incidents/{incident['id']}/updates",
        json={"status": "fixed", "message": "x"},
    )
    assert bad.status_code == 422
    assert "investigating, identified, monitoring, resolved" in bad.text


def test_the_page_and_its_json_carry_etags_and_cache_control(page_server: Server) -> None:
    Admin(page_server).components()
    for path in ("/status", "/api/v2/summary.json", "/history.rss"):
        first = httpx.get(page_server.url + path)
        assert first.headers["cache-control"].startswith("public, max-age=")
        again = httpx.get(page_server.url + path, headers={"If-None-Match": first.headers["etag"]})
        assert again.status_code == 304
    before = httpx.get(page_server.url + "/api/v2/summary.json").headers["etag"]
    Admin(page_server).client.put(
        "/api/v1/status/components/api/override", json={"status": "major_outage"}
    ).raise_for_status()
    after = httpx.get(page_server.url + "/api/v2/summary.json")
    assert after.headers["etag"] != before
    assert after.json()["status"]["indicator"] == "critical"


def test_a_customer_confirms_hears_only_about_checkout_and_unsubscribes_in_one_click(
    database: Database, tmp_path: Path
) -> None:
    with SmtpCatcher() as smtp:
        server = start_server(
            database.url,
            tmp_path,
            extra_env={"TOCSIN_SMTP_URL": smtp.url, "TOCSIN_STATUS_RECHECK": "0"},
        )
        try:
            _subscriber_journey(server, smtp)
        finally:
            stop_server(server)


def _subscriber_journey(server: Server, smtp: SmtpCatcher) -> None:
    admin = Admin(server)
    admin.components()
    reply = httpx.post(
        f"{server.url}/status/subscribe",
        data={"email": "ana@example.com", "components": "checkout"},
    )
    assert reply.status_code == 202
    assert "Check your inbox" in reply.text
    [confirm] = smtp.wait_for(1)
    assert confirm.rcpt_tos == ["ana@example.com"]
    link = re.search(r"http://\S+/confirm", confirm.text)
    assert link, confirm.text
    assert "Confirm subscription" in httpx.get(link.group(0)).text  # a GET changes nothing
    other = admin.incident("api-gw 502s", "P2", ["api-gw"])
    assert (
        admin.publish(other, title="API errors", status="investigating", message="x")["notified"]
        == 0
    )
    assert "Subscribed" in httpx.post(link.group(0)).text

    checkout = admin.incident(INTERNAL_TITLE, "P1", ["pg-checkout-primary"])
    assert (
        admin.publish(
            checkout, title="Checkout errors", status="investigating", message="Payments fail."
        )["notified"]
        == 1
    )
    assert admin.publish(other, status="monitoring", message="API recovering.")["notified"] == 0
    mail = smtp.wait_for(2)[1]
    assert mail["Subject"].endswith("Checkout errors: Investigating")
    assert "Payments fail." in mail.text
    assert INTERNAL_TITLE not in mail.text and SECRET_NOTE not in mail.text
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = (mail["List-Unsubscribe"] or "").strip("<>")
    one_click = httpx.post(unsubscribe, content=b"List-Unsubscribe=One-Click")
    assert one_click.status_code == 200
    assert "Unsubscribed" in one_click.text
    assert admin.publish(checkout, status="resolved", message="Fixed.")["notified"] == 0
    [listed] = admin.client.get("/api/v1/status/subscribers").json()
    assert (listed["confirmed"], listed["unsubscribed"], listed["delivered"]) == (True, True, 2)
    assert listed["address"] != "ana@example.com"  # masked for the admin too


def test_a_team_runs_the_page_from_the_cli(page_server: Server) -> None:
    def ok(*args: str) -> str:
        result = page_server.cli("status", *args)
        assert result.returncode == 0, result.stderr
        return result.stdout

    ok("component", "add", "checkout", "--name", "Checkout", "--service", "pg-checkout-primary")
    ok("component", "add", "api", "--name", "Public API", "--group", "Platform")
    incident = page_server.cli(
        "incident", "declare", "--title", INTERNAL_TITLE, "--severity", "P0",
        "--service", "pg-checkout-primary", "--json",
    )  # fmt: skip
    incident_id = json.loads(incident.stdout)["id"]
    assert "major_outage" in ok("component", "list")

    published = json.loads(
        ok("publish", incident_id, "--title", "Checkout down", "--status", "investigating",
           "-m", "Checkout is down.", "--component", "checkout=partial_outage", "--json")
    )  # fmt: skip
    assert published["components"] == {"checkout": "partial_outage"}
    assert "identified" in ok("update", published["id"], "--status", "identified", "-m", "Found it")
    assert (
        ok("override", "api", "degraded_performance", "--note", "slow")
        == "api: degraded_performance\n"
    )
    start = datetime.now(UTC) + timedelta(days=1)
    ok("maintenance", "schedule", "--title", "Upgrade", "-m", "Short downtime",
       "--start", start.isoformat(), "--end", (start + timedelta(hours=1)).isoformat(),
       "--component", "api")  # fmt: skip
    shown = json.loads(ok("show", "--json"))
    assert {c["slug"]: c["status"] for c in shown["components"]} == {
        "checkout": "partial_outage",
        "api": "degraded_performance",
    }
    assert sorted(i["kind"] for i in shown["incidents"]) == ["incident", "maintenance"]
    summary = httpx.get(page_server.url + "/api/v2/summary.json").json()
    assert summary["status"]["indicator"] == "major"
    assert [m["name"] for m in summary["scheduled_maintenances"]] == ["Upgrade"]

    bad = page_server.cli("status", "override", "api", "broken")
    assert bad.returncode != 0
    assert "status" in bad.stderr and "major_outage" in bad.stderr
    missing = page_server.cli("status", "publish", "INC-2026-01-01-99", "--status", "x", "-m", "y")
    assert missing.returncode != 0 and "INC-2026-01-01-99" in missing.stderr


def test_the_communications_lead_publishes_from_the_incident_room(
    page_server: Server, browser: Browser
) -> None:
    Admin(page_server).components()
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    sign_in(page, page_server, page_server.token)
    declare(page, title=INTERNAL_TITLE, severity="P1", services="pg-checkout-primary")
    room = page.locator("form[data-action=status-page]")
    room.get_by_label("Public title").fill("Checkout errors")
    room.get_by_label("Public status").select_option("investigating")
    room.get_by_label("What customers read").fill("Some payments fail.")
    room.get_by_role("button", name="Publish on the status page").click()
    expect(page.locator("#flash")).to_contain_text("On the status page: Checkout errors")
    expect(page.locator(".timeline")).to_contain_text("Status page: Some payments fail.")

    page.get_by_role("link", name="Status page").click()
    row = page.locator("tr.component").filter(has_text="Public API")
    row.get_by_label("Status for Public API").select_option("major_outage")
    row.get_by_role("button", name="Set").click()
    expect(page.locator("#flash")).to_contain_text("api shows major_outage until cleared")
    item = page.locator("article.public-incident").filter(has_text="Checkout errors")
    item.get_by_label("New status").select_option("resolved")
    item.get_by_label("Public message").fill("Payments work again.")
    item.get_by_role("button", name="Post update").click()
    expect(page.locator("#flash")).to_contain_text("Checkout errors: resolved")

    public = context.new_page()
    public.goto(f"{page_server.url}/status")
    expect(public.get_by_role("status")).to_have_text("Major System Outage")
    expect(public.get_by_role("region", name="Past incidents")).to_contain_text(
        re.compile(r"Resolved . Payments work again\.")
    )
    context.close()


def test_webhook_subscribers_get_retried_and_a_dead_one_is_shown_to_the_admin(
    page_server: Server,
) -> None:
    admin = Admin(page_server)
    admin.components()
    with HttpReceiver() as flaky, HttpReceiver() as gone:
        flaky.fail(1, status=503)
        gone.answer(410)
        for args in ([f"{flaky.url}/hook", "--component", "checkout"], [f"{gone.url}/hook"]):
            added = page_server.cli("status", "subscribe", *args)
            assert added.returncode == 0, added.stderr
            assert "live" in added.stdout
        incident = admin.incident(INTERNAL_TITLE, "P1", ["pg-checkout-primary"])
        published = admin.publish(
            incident, title="Checkout errors", status="investigating", message="Payments fail."
        )
        assert published["notified"] == 2

        until(lambda: flaky.delivered, seconds=30)
        [first, second] = flaky.requests[:2]
        assert (first.status, second.status) == (503, 200)
        assert first.idempotency_key == second.idempotency_key
        payload = second.json()["data"]["statuspage"]
        assert payload["incident"]["name"] == "Checkout errors"
        assert payload["incident"]["incident_updates"][0]["body"] == "Payments fail."
        assert INTERNAL_TITLE not in second.body.decode()

        failures = until(lambda: admin.client.get("/api/v1/status/deliveries/failed").json())
        [failure] = failures
        assert failure["address"] != f"{gone.url}/hook"  # masked: a URL can carry a secret
        assert "410" in failure["error"]
        listed = page_server.cli("status", "subscribers")
        assert "410" in listed.stdout
        shown = page_server.cli("status", "failures")
        assert "410" in shown.stdout
