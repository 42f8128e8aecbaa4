"""The status page's HTTP surface in process (SQLite and PostgreSQL): bad input named by
field, who may do what, and no database query per request while nothing changes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from tests.api.conftest import Api, make_api
from tocsin.db import Database
from tocsin.policy.loader import LoadedPolicy, PolicyError, load_policy_text
from tocsin.web import status_page


@pytest.fixture
def page(api: Api) -> Api:
    for slug, name, services in [("checkout", "Checkout", ["checkout"]), ("api", "API", ["api"])]:
        reply = api.post(
            "/api/v1/status/components",
            {"slug": slug, "name": name, "services": services},
            role="admin",
        )
        assert reply.status_code == 201, reply.text
    return api


@pytest.fixture
def statements(database: Database) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(str(args[2]))

    event.listen(database.engine, "before_cursor_execute", record)
    yield seen
    event.remove(database.engine, "before_cursor_execute", record)


def _errors(reply: Any) -> dict[str, Any]:
    return {e["field"]: e for e in reply.json()["errors"]}


def test_the_page_and_its_json_read_no_database_while_nothing_changes(
    page: Api, statements: list[str]
) -> None:
    page.client.app.state.status_cache.recheck = 3600  # type: ignore[attr-defined]
    for path in ("/status", "/api/v2/summary.json", "/history.atom"):
        assert page.client.get(path).status_code == 200
    statements.clear()
    for _ in range(100):
        for path in ("/status", "/api/v2/summary.json", "/api/v2/status.json", "/history.rss"):
            assert page.client.get(path).status_code == 200
    assert statements == []

    changed = page.client.put(
        "/api/v1/status/components/api/override",
        json={"status": "major_outage"},
        headers=page.headers("responder"),
    )
    assert changed.status_code == 200, changed.text
    summary = page.client.get("/api/v2/status.json").json()
    assert summary["status"] == {"indicator": "critical", "description": "Major System Outage"}


def test_a_write_shows_at_once_on_a_machine_booted_minutes_ago(
    page: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # time.monotonic() counts from boot: two minutes after boot, an invalidation that reset
    # the last check to 0 still looked fresh under an hour's recheck, and the page stayed green.
    booted_minutes_ago = SimpleNamespace(monotonic=lambda: 120.0)
    monkeypatch.setattr(status_page, "time", booted_minutes_ago)
    page.client.app.state.status_cache.recheck = 3600  # type: ignore[attr-defined]
    assert page.client.get("/api/v2/status.json").json()["status"]["indicator"] == "none"

    changed = page.client.put(
        "/api/v1/status/components/api/override",
        json={"status": "major_outage"},
        headers=page.headers("responder"),
    )
    assert changed.status_code == 200, changed.text
    status = page.client.get("/api/v2/status.json").json()["status"]
    assert status == {"indicator": "critical", "description": "Major System Outage"}


def test_bad_input_names_the_field_and_what_is_allowed(page: Api) -> None:
    bad_slug = page.post(
        "/api/v1/status/components", {"slug": "Check Out", "name": "x"}, role="admin"
    )
    assert bad_slug.status_code == 422
    assert "slug" in _errors(bad_slug)

    twice = page.post("/api/v1/status/components", {"slug": "api", "name": "x"}, role="admin")
    assert twice.status_code == 409

    override = page.client.put(
        "/api/v1/status/components/api/override",
        json={"status": "down"},
        headers=page.headers(),
    )
    assert override.status_code == 422
    assert "major_outage" in _errors(override)["status"]["allowed"]

    unknown = page.client.put(
        "/api/v1/status/components/nope/override",
        json={"status": "major_outage"},
        headers=page.headers(),
    )
    assert unknown.status_code == 404
    assert "checkout" in unknown.json()["message"]

    incident = page.declare(services=["checkout"])
    publish = page.post(
        f"/api/v1/incidents/{incident['id']}/status-page",
        {"title": "T", "status": "investigating", "message": "m", "components": {"cart": "x"}},
    )
    assert publish.status_code == 422
    assert _errors(publish)["components"]["allowed"] == ["checkout", "api"]

    effect = page.post(
        f"/api/v1/incidents/{incident['id']}/status-page",
        {"title": "T", "status": "investigating", "message": "m", "components": {"api": "down"}},
    )
    assert effect.status_code == 422
    assert "components.api" in _errors(effect)

    window = page.post(
        "/api/v1/status/maintenances",
        {
            "title": "x",
            "message": "y",
            "scheduled_for": "2030-01-01T10:00:00Z",
            "scheduled_until": "2030-01-01T09:00:00Z",
        },
    )
    assert window.status_code == 422
    assert "scheduled_until" in _errors(window)

    email = page.client.post("/status/subscribe", data={"email": "not-an-address"})
    assert email.status_code == 422
    assert "not an email address" in email.text

    hook = page.post(
        "/api/v1/status/subscribers", {"kind": "sms", "address": "+15550100"}, role="admin"
    )
    assert hook.status_code == 422
    assert _errors(hook)["kind"]["allowed"] == ["email", "webhook"]


def test_only_admins_shape_the_page_and_responders_publish(page: Api) -> None:
    assert (
        page.post("/api/v1/status/components", {"slug": "x", "name": "X"}, role="responder")
    ).status_code == 403
    assert page.get("/api/v1/status/subscribers", role="responder").status_code == 403
    assert page.get("/api/v1/status/components", role="viewer").status_code == 200
    incident = page.declare(services=["checkout"])
    viewer = page.post(
        f"/api/v1/incidents/{incident['id']}/status-page",
        {"title": "T", "status": "investigating", "message": "m"},
        role="viewer",
    )
    assert viewer.status_code == 403
    assert page.client.get("/api/v2/summary.json").status_code == 200  # public: no token


def test_a_confirmation_link_changes_nothing_until_it_is_posted(page: Api) -> None:
    page.client.post("/status/subscribe", data={"email": "ana@example.com"})
    [subscriber] = page.get("/api/v1/status/subscribers", role="admin").json()
    assert subscriber["confirmed"] is False
    bogus = page.client.get("/status/subscriptions/not-a-token/confirm")
    assert bogus.status_code == 404
    assert page.client.post("/status/subscriptions/not-a-token/unsubscribe").status_code == 404


BRANDED = """
status_page:
  name: Harbor & Co
  url: https://status.harbor.example
  logo_url: https://harbor.example/logo.svg
  links: [{title: Support, url: "https://harbor.example/support"}]
  timezone: America/New_York
  impact: {P0: major_outage, P1: bogus}
"""


def test_the_page_shows_the_policy_branding_and_a_bad_one_is_refused_at_load(
    database: Database, default_policy: LoadedPolicy
) -> None:
    text = default_policy.text.replace("\nstatus_page:\n", "\nstatus_page_old:\n")
    text = re.sub(r"\nstatus_page_old:\n(  .*\n)+", "\n", text)
    with pytest.raises(PolicyError) as refused:
        load_policy_text(text + BRANDED, source="branded.yaml")
    assert "status_page.impact.P1" in str(refused.value)
    assert "major_outage" in str(refused.value)

    branded = load_policy_text(
        text + BRANDED.replace("P1: bogus", "P1: partial_outage"), source="b"
    )
    for api in make_api(database, branded):
        html = api.client.get("/status").text
        assert "<title>Current status · Harbor &amp; Co</title>" in html
        assert 'src="https://harbor.example/logo.svg"' in html
        assert '<a href="https://harbor.example/support">Support</a>' in html
        assert "Times are shown in America/New_York" in html
        page = api.client.get("/api/v2/status.json").json()["page"]
        assert page == {
            "id": "default",
            "name": "Harbor & Co",
            "url": "https://status.harbor.example",
            "time_zone": "America/New_York",
            "updated_at": page["updated_at"],
        }
        assert page["updated_at"].endswith(("-05:00", "-04:00"))


def test_during_a_database_outage_readers_get_the_last_copy(
    page: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = page.client.get("/api/v2/summary.json")
    cache = page.client.app.state.status_cache  # type: ignore[attr-defined]
    cache.recheck = 0

    def down() -> None:
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr(cache.runtime.database, "read_session", down)
    during = page.client.get("/api/v2/summary.json")
    assert during.status_code == 200
    assert during.content == before.content
    assert page.client.get("/status").status_code == 200


@pytest.mark.parametrize("path", ["/status", "/api/v2/summary.json", "/history.rss"])
def test_an_uptime_monitors_head_gets_the_gets_answer_without_a_body(page: Api, path: str) -> None:
    """HEAD answers whether the page is in memory yet (first request) or not."""
    page.client.app.state.status_cache.recheck = 3600  # type: ignore[attr-defined]
    first = page.client.head(path)
    second = page.client.head(path)
    got = page.client.get(path)
    for head in (first, second):
        assert head.status_code == 200
        assert head.content == b""
        assert head.headers["etag"] == got.headers["etag"]
        assert head.headers["content-type"] == got.headers["content-type"]
