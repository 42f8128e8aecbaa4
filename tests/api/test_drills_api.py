"""The drills API in process (SQLite and PostgreSQL): the programme, starting and ending a
drill, and bad input named by field."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api.conftest import Api, make_api
from tests.console_auth import sign_in_client
from tocsin.db import Database
from tocsin.flows import drills as drill_flows
from tocsin.policy.loader import load_policy


@pytest.fixture
def rastup(database: Database) -> Iterator[Api]:
    loaded = load_policy("rastup")
    with database.write_session() as session:  # as the engine does when it starts
        drill_flows.sync(session, loaded)
    yield from make_api(database, loaded)


def _programme(api: Api) -> dict[str, dict[str, object]]:
    reply = api.get("/api/v1/drills")
    assert reply.status_code == 200, reply.text
    return {d["id"]: d for d in reply.json()["programme"]}


def test_the_programme_lists_each_drill_with_its_due_date(rastup: Api) -> None:
    programme = _programme(rastup)
    assert set(programme) == {"sev2-tabletop", "sev3-drill"}
    assert programme["sev2-tabletop"]["cadence"] == "quarterly"
    assert programme["sev2-tabletop"]["state"] == "scheduled"
    assert programme["sev3-drill"]["severity"] == "SEV3"
    assert programme["sev3-drill"]["due_at"] is not None


def test_a_drill_is_started_held_and_ended(rastup: Api) -> None:
    started = rastup.post("/api/v1/drills", {"scenario": "sev2-tabletop"})
    assert started.status_code == 201, started.text
    drill = started.json()
    assert drill["severity"] == "SEV2" and drill["outcome"] is None
    incident = rastup.get(f"/api/v1/incidents/{drill['incident_id']}").json()
    assert incident["flags"]["drill"] is True
    assert _programme(rastup)["sev2-tabletop"]["running"] == drill["id"]

    ended = rastup.post(
        f"/api/v1/drills/{drill['id']}/end", {"outcome": "passed", "lessons": "Runbook held up"}
    )
    assert ended.status_code == 200, ended.text
    assert ended.json()["outcome"] == "passed"
    assert rastup.get(f"/api/v1/incidents/{drill['incident_id']}").json()["status"] == "resolved"
    held = rastup.get("/api/v1/drills").json()["held"]
    assert [(d["id"], d["outcome"], d["lessons"]) for d in held] == [
        (drill["id"], "passed", "Runbook held up")
    ]
    assert _programme(rastup)["sev2-tabletop"]["last_outcome"] == "passed"
    again = rastup.post(f"/api/v1/drills/{drill['id']}/end", {"outcome": "failed"})
    assert again.status_code == 409, again.text


def test_bad_input_is_refused_naming_the_field_and_what_is_allowed(rastup: Api) -> None:
    unknown = rastup.post("/api/v1/drills", {"scenario": "fire", "drill": "fire-drill"})
    assert unknown.status_code == 422, unknown.text
    assert "sev2-tabletop, sev3-drill" in unknown.text and '"drill"' in unknown.text
    drill = rastup.post("/api/v1/drills", {"scenario": "sev3-drill"}).json()
    bad = rastup.post(f"/api/v1/drills/{drill['id']}/end", {"outcome": "great"})
    assert bad.status_code == 422 and "outcome" in bad.text
    assert rastup.post("/api/v1/drills/999/end", {"outcome": "passed"}).status_code == 404
    assert (
        rastup.post("/api/v1/drills", {"scenario": "sev3-drill"}, role="viewer").status_code == 403
    )


def test_the_runbook_review_is_recorded(database: Database) -> None:
    loaded = load_policy("harborlist")  # reviewed quarterly, no date set
    with database.write_session() as session:
        drill_flows.sync(session, loaded)
    for api in make_api(database, loaded):
        before = _programme(api)["runbook_review"]
        assert before["state"] == "scheduled" and before["last_held_at"] is None
        reply = api.post("/api/v1/drills/runbook-review", {"note": "Contacts updated"})
        assert reply.status_code == 201, reply.text
        assert reply.json()["last_held_at"] is not None


# -- the console page ---------------------------------------------------------------------------

ORIGIN = {"Origin": "http://testserver"}


def console(api: Api, role: str) -> str:
    """Sign in to the console as `role`; the session's CSRF token for its forms."""
    api.client.cookies.clear()
    return sign_in_client(api.client, token=api.tokens[role])


def test_the_console_drills_page_starts_and_ends_a_drill(rastup: Api) -> None:
    console(rastup, "viewer")
    page = rastup.client.get("/console/drills")
    assert page.status_code == 200
    assert 'href="/console/drills" aria-current="page"' in page.text, "linked in the nav"
    assert "sev2-tabletop" in page.text and "quarterly" in page.text
    assert "<th>Owner</th>" in page.text
    assert "Start drill" not in page.text, "a viewer only reads"

    csrf = console(rastup, "responder")
    started = rastup.client.post(
        "/console/drills",
        data={"drill": "sev2-tabletop", "scenario": "", "csrf_token": csrf},
        headers=ORIGIN,
        follow_redirects=False,
    )
    assert started.status_code == 303, started.text
    [drill] = rastup.get("/api/v1/drills").json()["held"]
    assert started.headers["location"] == f"/console/incidents/{drill['incident_id']}"
    page = rastup.client.get("/console/drills")
    assert "End drill" in page.text and f"drill {drill['id']} in progress" in page.text

    ended = rastup.client.post(
        f"/console/drills/{drill['id']}/end",
        data={"outcome": "failed", "lessons": "Nobody knew the bridge", "csrf_token": csrf},
        headers=ORIGIN,
        follow_redirects=False,
    )
    assert ended.status_code == 303
    [drill] = rastup.get("/api/v1/drills").json()["held"]
    assert (drill["outcome"], drill["lessons"]) == ("failed", "Nobody knew the bridge")
    assert "Nobody knew the bridge" in rastup.client.get("/console/drills").text


def test_a_console_start_of_an_unknown_drill_says_what_is_allowed(rastup: Api) -> None:
    csrf = console(rastup, "responder")
    reply = rastup.client.post(
        "/console/drills", data={"drill": "nope", "csrf_token": csrf}, headers=ORIGIN
    )
    assert reply.status_code == 200 and "sev2-tabletop, sev3-drill" in reply.text
