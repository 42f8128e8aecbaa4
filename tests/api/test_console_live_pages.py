"""The console's live pages in process (each test on SQLite and PostgreSQL): the dashboard,
the incident room's checklist, alerts, messages and ladder, on-call, alerts, silences and
integrations; escaping, the same-origin check, and the live feed they listen to."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import time_machine

from tests.api.conftest import Api
from tests.api.test_incident_page_failures import run_engine
from tests.console_auth import sign_in_client
from tocsin.db import Database
from tocsin.policy.clock_kinds import fires
from tocsin.web.console import live
from tocsin.web.console.live import ChangeFeed

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # a Monday
XSS = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
ORIGIN = {"Origin": "http://testserver"}
ONCALL = (Path(__file__).parent.parent / "fixtures" / "oncall.yaml").read_text()
PAGES = ("/console", "/console/dashboard", "/console/oncall", "/console/alerts")


CSRF: dict[int, str] = {}  # the signed-in session's CSRF token, per test client


def sign_in(api: Api, role: str = "admin") -> None:
    """The console's sign-in, in one place: a session of `role`, and its CSRF token."""
    api.client.cookies.clear()
    CSRF[id(api.client)] = sign_in_client(api.client, token=api.tokens[role])


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def form(api: Api, path: str, **fields: str) -> Any:
    data = {"csrf_token": CSRF.get(id(api.client), ""), **fields}
    return api.client.post(path, data=data, headers=ORIGIN, follow_redirects=False)


def apply_oncall(api: Api, text: str = ONCALL) -> None:
    response = api.post("/api/v1/oncall/apply", {"text": text}, role="admin")
    assert response.status_code == 200, response.text


def alertmanager(api: Api, summary: str, name: str = "prom") -> dict[str, Any]:
    made = api.post("/api/v1/integrations", {"name": name, "kind": "alertmanager"}, role="admin")
    assert made.status_code == 201, made.text
    sent = api.client.post(path_of(made.json()["urls"]["webhook"]), json=payload(summary))
    assert sent.status_code == 200, sent.text
    return made.json()  # type: ignore[no-any-return]


def path_of(url: str) -> str:
    return url.replace("http://testserver", "")


def payload(summary: str) -> dict[str, Any]:
    return {
        "version": "4",
        "status": "firing",
        "receiver": "tocsin",
        "groupKey": "g",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "DiskFull", "service": "checkout"},
                "annotations": {"summary": summary, "runbook": "grow the disk"},
                "startsAt": "2026-11-23T09:58:00Z",
                "fingerprint": "f1",
            }
        ],
    }


def test_every_page_shows_user_text_as_text(api: Api, clock: time_machine.Traveller) -> None:
    apply_oncall(api, ONCALL.replace("name: Alice Okafor", f'name: "{XSS}"'))
    alertmanager(api, XSS, name=XSS)
    incident = api.declare(title=XSS, summary=XSS, services=["checkout"])
    api.post(f"/api/v1/incidents/{incident['id']}/notes", {"text": XSS})
    alert_id = api.get("/api/v1/alerts").json()["items"][0]["id"]
    sign_in(api, "viewer")
    for path in (
        *PAGES,
        "/console/integrations",
        f"/console/incidents/{incident['id']}",
        f"/console/alerts/{alert_id}",
    ):
        page = api.client.get(path)
        assert page.status_code == 200, (path, page.text[:300])
        assert XSS not in page.text, path
        assert ESCAPED in page.text, path


def test_the_dashboard_lists_open_incidents_by_policy_severity_with_their_deadlines(
    api: Api, clock: time_machine.Traveller
) -> None:
    api.declare(title="Search slow", severity="P3")
    api.declare(title="Checkout down", severity="P0")
    api.declare(title="Login errors", severity="P1")
    sign_in(api, "viewer")
    page = api.client.get("/console/dashboard").text
    order = [page.index(title) for title in ("Checkout down", "Login errors", "Search slow")]
    assert order == sorted(order), "most severe first, in the policy's order"
    assert 'data-live="dashboard"' in page
    assert "Acknowledge within" in page and "not acknowledged" in page
    clock.shift(60 * 60)  # past every acknowledge deadline: the next deadline shows overdue
    assert "phase-overdue" in api.client.get("/console/dashboard").text


def test_the_room_shows_who_is_paged_every_message_and_one_ladder(
    api: Api, database: Database, clock: time_machine.Traveller
) -> None:
    apply_oncall(api)
    incident = api.declare(title="Checkout down", severity="P1", services=["checkout"])
    run_engine(database)
    sign_in(api, "viewer")
    page = api.client.get(f"/console/incidents/{incident['id']}").text
    assert "On-Call Engineer</dt><dd>bob (paged, not yet acknowledged)" in page
    assert "unassigned</dd></div>" in page  # the commander is still unassigned
    messages = page.split('id="messages-title"')[1].split("</section>")[0]
    assert "<strong>bob</strong>" in messages and "push" in messages
    assert "could not connect to 127.0.0.1:9" in messages, "the outcome, with its error"
    ladder = page.split('class="ladder"')[1].split("</ol>")[0]
    clocks = api.get(f"/api/v1/incidents/{incident['id']}/clocks").json()
    steps = [c for c in clocks if fires(c["kind"])]
    instants = {c["due_at"] for c in steps}
    assert ladder.count('<li class="rung') == len(instants) < len(steps), "a rung per instant"


def test_a_checklist_item_is_ticked_by_whoever_did_it_and_recorded(
    api: Api, clock: time_machine.Traveller
) -> None:
    incident = api.declare(title="Checkout down", severity="P1")
    room = f"/console/incidents/{incident['id']}"
    sign_in(api, "responder")
    page = api.client.get(room).text
    assert "Checklist: Phase 1: Detection and Triage" in page
    ticked = form(api, f"{room}/checklist", item="detection/1", phase="detection", done="yes")
    assert ticked.status_code == 303
    events = api.get(f"/api/v1/incidents/{incident['id']}/timeline").json()
    tick = [e for e in events if e["kind"] == "checklist_ticked"]
    assert [(e["actor"], e["data"]["item"]) for e in tick] == [("responder-user", "detection/1")]
    assert "responder-user" in api.client.get(room).text.split('id="checklist"')[1]
    form(api, f"{room}/checklist", item="detection/1", phase="detection", done="no")
    kinds = [e["kind"] for e in api.get(f"/api/v1/incidents/{incident['id']}/timeline").json()]
    assert kinds.count("checklist_unticked") == 1
    bad = form(api, f"{room}/checklist", item="nope/9", done="yes")
    assert (
        "no checklist item 'nope/9'" in bad.cookies.get("tocsin_flash", "")
        or bad.status_code == 303
    )


def test_overrides_are_created_and_removed_on_the_oncall_page(
    api: Api, clock: time_machine.Traveller
) -> None:
    apply_oncall(api)
    sign_in(api, "responder")
    page = api.client.get("/console/oncall").text
    assert "Layer primary" in page and "Overrides" in page and "alice" in page
    made = form(
        api,
        "/console/oncall/overrides",
        schedule="primary",
        person="carol",
        start="2026-11-24T09:00",
        end="2026-11-25T09:00",
        reason="swap",
    )
    assert made.status_code == 303
    overrides = api.get("/api/v1/schedules/primary/overrides").json()
    assert [(o["person"], o["created_by"]) for o in overrides] == [("carol", "responder-user")]
    week = api.client.get("/console/oncall").text
    assert 'carol <span class="small">09:00\u201324:00</span>' in week
    bad = form(api, "/console/oncall/overrides", schedule="primary", person="carol", start="soon")
    assert (
        bad.status_code == 303
        and api.get("/api/v1/schedules/primary/overrides").json() == overrides
    )
    removed = form(api, f"/console/oncall/overrides/{overrides[0]['id']}/remove")
    assert removed.status_code == 303
    assert api.get("/api/v1/schedules/primary/overrides").json() == []


def test_the_oncall_week_reads_and_takes_overrides_in_the_viewers_zone(
    api: Api, clock: time_machine.Traveller
) -> None:
    apply_oncall(api)  # London schedule: alice, then bob from Monday 09:00 London (20:00 Sydney)
    sign_in(api, "responder")
    page = api.client.get("/console/oncall", params={"tz": "Australia/Sydney"}).text
    assert "week of 2026-11-23 · times Australia/Sydney" in page
    assert 'alice <span class="small">00:00\u201320:00</span>' in page
    assert 'bob <span class="small">20:00\u201324:00</span>' in page
    assert '<input type="hidden" name="tz" value="Australia/Sydney">' in page
    made = form(
        api,
        "/console/oncall/overrides",
        schedule="primary",
        person="carol",
        start="2026-11-25T09:00",
        end="2026-11-26T09:00",
        tz="Australia/Sydney",
    )
    assert made.status_code == 303
    assert made.headers["location"] == "/console/oncall?tz=Australia%2FSydney"
    [stored] = api.get("/api/v1/schedules/primary/overrides").json()
    assert datetime.fromisoformat(stored["start"]) == datetime(2026, 11, 24, 22, tzinfo=UTC)
    assert datetime.fromisoformat(stored["end"]) == datetime(2026, 11, 25, 22, tzinfo=UTC)
    week = api.client.get(made.headers["location"]).text
    assert 'carol <span class="small">09:00\u201324:00</span>' in week
    assert "2026-11-25 09:00 → 2026-11-26 09:00 Australia/Sydney" in week


def test_an_unknown_zone_is_named_with_examples_not_a_failure(
    api: Api, clock: time_machine.Traveller
) -> None:
    apply_oncall(api)
    sign_in(api, "responder")
    page = api.client.get("/console/oncall", params={"tz": "Mars/Olympus"})
    assert page.status_code == 200
    assert "tz: &#39;Mars/Olympus&#39; is not a time zone" in page.text
    assert "Australia/Sydney" in page.text and "times UTC" in page.text
    bad = form(
        api,
        "/console/oncall/overrides",
        schedule="primary",
        person="carol",
        start="2026-11-25T09:00",
        end="2026-11-26T09:00",
        tz="Mars/Olympus",
    )
    assert bad.status_code == 303 and api.get("/api/v1/schedules/primary/overrides").json() == []
    flash = api.client.get(bad.headers["location"]).text
    assert "Override not created" in flash and "tz: " in flash


def test_only_an_admin_makes_calendar_links_and_rotates_keys(
    api: Api, clock: time_machine.Traveller
) -> None:
    apply_oncall(api)
    made = alertmanager(api, "Disk full")
    sign_in(api, "responder")
    assert form(api, "/console/oncall/people/alice/calendar").status_code == 403
    assert form(api, f"/console/integrations/{made['id']}/rotate-key").status_code == 403
    sign_in(api, "admin")
    page = api.client.get("/console/integrations").text
    assert "/api/v1/integrations/&lt;key&gt;/alertmanager" in page
    assert made["key"] not in page
    assert form(api, f"/console/integrations/{made['id']}/rotate-key").status_code == 303
    old = api.client.post(path_of(made["urls"]["webhook"]), json=payload("again"))
    assert old.status_code == 404, "the old key stopped"
    assert form(api, "/console/oncall/people/alice/calendar").status_code == 303


def test_alerts_are_filtered_and_silenced_from_the_console(
    api: Api, clock: time_machine.Traveller
) -> None:
    made = alertmanager(api, "Disk full on db-1")
    sign_in(api, "responder")
    assert "Disk full on db-1" in api.client.get("/console/alerts?status=firing").text
    assert "Disk full on db-1" not in api.client.get("/console/alerts?status=resolved").text
    assert "Disk full on db-1" in api.client.get(f"/console/alerts?integration={made['id']}").text
    assert "Disk full on db-1" not in api.client.get("/console/alerts?service=search").text
    refused = api.client.get("/console/alerts?status=sleeping")
    assert refused.status_code == 422 and "allowed: firing, resolved" in refused.text
    alert_id = api.get("/api/v1/alerts").json()["items"][0]["id"]
    detail = api.client.get(f"/console/alerts/{alert_id}")
    assert "grow the disk" in detail.text and "DiskFull" in detail.text
    made_silence = form(
        api,
        "/console/silences",
        service="checkout",
        matchers="alertname=DiskFull",
        ends_at="2026-11-24T10:00",
        reason="known",
    )
    assert made_silence.status_code == 303 and made_silence.headers["location"] == "/console/alerts"
    silences = api.get("/api/v1/silences").json()
    assert [(s["service"], s["matchers"], s["created_by"]) for s in silences] == [
        ("checkout", {"alertname": "DiskFull"}, "responder-user")
    ]
    back = api.client.post(
        f"/console/silences/{silences[0]['id']}/end",
        data={"csrf_token": CSRF[id(api.client)]},
        headers={**ORIGIN, "Referer": f"http://testserver/console/alerts/{alert_id}"},
        follow_redirects=False,
    )
    assert back.status_code == 303 and back.headers["location"] == f"/console/alerts/{alert_id}"
    assert api.get("/api/v1/silences").json() == []


@pytest.mark.parametrize(
    "path",
    [
        "/console/oncall/overrides",
        "/console/silences",
        "/console/incidents/INC-1/checklist",
        "/console/integrations/1/rotate-key",
    ],
)
def test_a_console_form_from_another_site_is_refused(api: Api, path: str) -> None:
    sign_in(api, "admin")
    refused = api.client.post(path, data={"x": "y"}, headers={"Origin": "https://evil.example"})
    assert refused.status_code == 403
    assert "not sent from a Tocsin page" in refused.text


def test_the_live_stream_needs_a_console_session_and_a_known_topic(api: Api) -> None:
    assert api.client.get("/console/live?topic=dashboard").status_code == 401
    sign_in(api, "viewer")
    refused = api.client.get("/console/live?topic=everything")
    assert refused.status_code == 422 and "topic" in refused.text


def test_the_feed_wakes_only_the_pages_a_change_touches(api: Api, database: Database) -> None:
    first, second = api.declare(title="One"), api.declare(title="Two")

    async def scenario() -> tuple[list[str], bool, bool]:
        feed = ChangeFeed(database, interval=60)  # ticked by hand below
        room = await feed.subscribe(f"incident:{first['id']}")
        other = await feed.subscribe(f"incident:{second['id']}")
        board = await feed.subscribe("dashboard")
        api.post(f"/api/v1/incidents/{first['id']}/notes", {"text": "seen"})
        await feed.tick()
        change = room.queue.get_nowait()
        return sorted(change.incidents), other.queue.empty(), not board.queue.empty()

    incidents, other_quiet, board_told = asyncio.run(scenario())
    assert incidents == [first["id"]] and other_quiet and board_told


def test_a_stream_whose_session_ended_says_so_and_stops(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live, "RECHECK_SECONDS", 0)

    async def signed_out() -> bool:
        return False

    async def scenario() -> tuple[list[str | None], int]:
        feed = ChangeFeed(database, interval=60)
        events = [e.event async for e in live._events(feed, "dashboard", None, signed_out)]
        return events, feed.listeners

    assert asyncio.run(scenario()) == (["ready", "signed-out"], 0)
