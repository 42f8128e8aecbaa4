"""The reviews and action items API (SQLite and PostgreSQL): the contracts others rely on,
edits and moves, refusals that name what is allowed, and the exports (the PDF is rendered to
PNG to see it is a real document)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pypdfium2
import pytest
import time_machine

from tests.api.conftest import Api, make_api
from tocsin.db import Database
from tocsin.policy.loader import load_policy

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> Iterator[time_machine.Coordinates]:
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def api(database: Database, clock: time_machine.Coordinates) -> Iterator[Api]:
    yield from make_api(database, load_policy("proofkit"))


def patch(api: Api, path: str, body: object):  # type: ignore[no-untyped-def]
    return api.client.patch(path, json=body, headers=api.headers())


def resolved_p0(api: Api, clock: time_machine.Coordinates) -> str:
    incident_id = str(api.declare(severity="P0", services=["checkout"])["id"])
    api.post(f"/api/v1/incidents/{incident_id}/roles", {"role": "commander", "assignee": "alice"})
    clock.shift(timedelta(minutes=30))
    answer = api.post(
        f"/api/v1/incidents/{incident_id}/status", {"status": "resolved", "message": "fixed"}
    )
    assert answer.status_code == 200, answer.text
    return incident_id


def test_the_review_contract(api: Api, clock: time_machine.Coordinates) -> None:
    incident_id = resolved_p0(api, clock)
    review = api.get(f"/api/v1/incidents/{incident_id}/review").json()
    assert review["status"] == "draft"
    assert review["owner"] == "alice"
    assert review["due_at"] == "2026-11-22T10:30:00Z"
    assert review["action_items"] == []
    assert review["allowed_moves"] == ["in_review"]
    assert review["clock"]["state"] == "pending"
    incident = api.get(f"/api/v1/incidents/{incident_id}").json()
    assert {"kind": "review", "state": "pending"}.items() <= next(
        c for c in incident["clocks"] if c["kind"] == "review"
    ).items()


def test_an_incident_without_a_review_is_404_naming_why(api: Api) -> None:
    incident_id = str(api.declare(severity="P3")["id"])
    answer = api.get(f"/api/v1/incidents/{incident_id}/review")
    assert answer.status_code == 404
    assert "has no review" in answer.json()["message"]


def test_edits_and_moves_and_an_illegal_move_is_409_naming_the_allowed(
    api: Api, clock: time_machine.Coordinates
) -> None:
    incident_id = resolved_p0(api, clock)
    path = f"/api/v1/incidents/{incident_id}/review"
    edited = patch(api, path, {"body": "# Review\n\nRoot cause: a bad deploy.\n", "version": 1})
    assert edited.status_code == 200, edited.text
    assert edited.json()["version"] == 2
    stale = patch(api, path, {"body": "# mine\n", "version": 1})
    assert stale.status_code == 409
    assert stale.json()["errors"][0]["field"] == "version"
    refused = patch(api, path, {"status": "closed"})
    assert refused.status_code == 409
    assert refused.json()["errors"][0]["allowed"] == ["in_review"]
    unknown = patch(api, path, {"status": "done"})
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "status"
    assert patch(api, path, {"status": "in_review"}).json()["status"] == "in_review"
    held = patch(api, path, {"status": "reviewed"}).json()
    assert held["clock"]["state"] == "met"
    kinds = [e["kind"] for e in api.get(f"/api/v1/incidents/{incident_id}/timeline").json()]
    assert kinds.count("review_status_changed") == 2
    assert "review_edited" in kinds and "review_opened" in kinds


def test_action_items_and_the_overdue_lists(api: Api, clock: time_machine.Coordinates) -> None:
    incident_id = resolved_p0(api, clock)
    added = api.post(
        f"/api/v1/incidents/{incident_id}/review/action-items",
        {
            "title": "Canary deploys",
            "class": "immediate",
            "owner": "carol",
            "tracker_url": "https://tracker.example.com/OPS-1",
        },
    )
    assert added.status_code == 201, added.text
    item = added.json()
    assert item["due_at"] == "2026-11-27T10:30:00Z"
    assert (item["class"], item["status"], item["clock"]["state"]) == (
        "immediate",
        "open",
        "pending",
    )
    assert api.get("/api/v1/action-items?overdue=true").json()["items"] == []
    clock.shift(timedelta(days=8))
    late = api.get("/api/v1/action-items?overdue=true").json()["items"]
    assert [i["id"] for i in late] == [item["id"]]
    overdue_reviews = api.get("/api/v1/reviews?overdue=true").json()["items"]
    assert [r["incident_id"] for r in overdue_reviews] == [incident_id]
    assert overdue_reviews[0]["action_items"][0]["overdue"] is True
    done = patch(api, f"/api/v1/action-items/{item['id']}", {"status": "done"})
    assert done.json()["status"] == "done"
    assert done.json()["clock"]["state"] == "breached"  # it was done after its due date
    assert api.get("/api/v1/action-items?overdue=true").json()["items"] == []
    assert api.get("/api/v1/reviews?status=draft").json()["items"][0]["incident_id"] == incident_id


def test_bad_action_items_are_refused_naming_the_field(
    api: Api, clock: time_machine.Coordinates
) -> None:
    incident_id = resolved_p0(api, clock)
    path = f"/api/v1/incidents/{incident_id}/review/action-items"
    unknown = api.post(path, {"title": "x", "class": "someday"})
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["allowed"] == ["immediate", "short_term", "long_term"]
    neither = api.post(path, {"title": "x"})
    assert neither.status_code == 422 and neither.json()["errors"][0]["field"] == "class"
    bad_url = api.post(path, {"title": "x", "class": "immediate", "tracker_url": "ftp://x"})
    assert bad_url.status_code == 422 and bad_url.json()["errors"][0]["field"] == "tracker_url"
    assert api.get("/api/v1/reviews?status=nope").status_code == 422
    assert api.get("/api/v1/action-items?status=nope").json()["errors"][0]["field"] == "status"
    missing = patch(api, "/api/v1/action-items/999", {"status": "done"})
    assert missing.status_code == 404


def test_a_viewer_cannot_edit(api: Api, clock: time_machine.Coordinates) -> None:
    incident_id = resolved_p0(api, clock)
    answer = api.client.patch(
        f"/api/v1/incidents/{incident_id}/review",
        json={"status": "in_review"},
        headers=api.headers("viewer"),
    )
    assert answer.status_code == 403


def test_the_exports(api: Api, clock: time_machine.Coordinates) -> None:
    incident_id = resolved_p0(api, clock)
    api.post(
        f"/api/v1/incidents/{incident_id}/review/action-items",
        {"title": "Canary deploys", "class": "immediate", "owner": "carol"},
    )
    path = f"/api/v1/incidents/{incident_id}/review/export"
    markdown = api.get(path, params={"format": "md"})
    assert markdown.headers["content-type"].startswith("text/markdown")
    assert "| Resolved | 2026-11-20 10:30:00 UTC | +30 min |" in markdown.text
    assert "| 1 | Canary deploys | carol | immediate |" in markdown.text
    html = api.get(path, params={"format": "html"}).text
    assert "<table>" in html and "<h2>Key milestones</h2>" in html
    assert api.get(path, params={"format": "docx"}).status_code == 422


def render_pdf(content: bytes) -> list[tuple[int, str]]:
    """Each page of the PDF rasterised: (its dark pixels, its text)."""
    document = pypdfium2.PdfDocument(io.BytesIO(content))
    pages = []
    for page in document:
        image = page.render(scale=1).to_pil().convert("L")
        dark = sum(image.histogram()[:128])
        pages.append((dark, page.get_textpage().get_text_range()))
    document.close()
    return pages


def test_the_pdf_renders_every_page_with_its_footer(
    api: Api, clock: time_machine.Coordinates
) -> None:
    incident_id = resolved_p0(api, clock)
    answer = api.get(f"/api/v1/incidents/{incident_id}/review/export", params={"format": "pdf"})
    assert answer.headers["content-type"] == "application/pdf"
    pages = render_pdf(answer.content)
    assert len(pages) == 2  # the record, then the sections people write
    assert all(dark > 2000 for dark, _ in pages), "no page is blank"
    assert "Post-incident review" in pages[0][1] and incident_id in pages[0][1]
    assert "1 / 2" in pages[0][1] and "2 / 2" in pages[-1][1]
    assert "Lessons learned" in pages[-1][1]


def test_a_drills_short_review_is_one_page(api: Api, clock: time_machine.Coordinates) -> None:
    incident_id = str(api.declare(severity="P3", flags={"drill": True})["id"])
    api.post(f"/api/v1/incidents/{incident_id}/status", {"status": "resolved", "message": "ok"})
    answer = api.get(f"/api/v1/incidents/{incident_id}/review/export", params={"format": "pdf"})
    pages = render_pdf(answer.content)
    assert len(pages) == 1
    assert "Drill review" in pages[0][1] and "Outcome" in pages[0][1]


def test_completing_the_review_clock_holds_the_review_and_item_clocks_are_refused(
    api: Api, clock: time_machine.Coordinates
) -> None:
    incident_id = resolved_p0(api, clock)
    item = api.post(
        f"/api/v1/incidents/{incident_id}/review/action-items",
        {"title": "Canary deploys", "class": "immediate"},
    ).json()
    base = f"/api/v1/incidents/{incident_id}/clocks"
    refused = api.post(f"{base}/action_item:{item['id']}/complete", {"note": "done"})
    assert refused.status_code == 409
    assert "belongs to the action item" in refused.json()["message"]
    held = api.post(f"{base}/review/complete", {"note": "Held on Monday"})
    assert held.status_code == 200, held.text
    assert next(c for c in held.json()["clocks"] if c["kind"] == "review")["state"] == "met"
    assert api.get(f"/api/v1/incidents/{incident_id}/review").json()["status"] == "reviewed"
