"""Pages that could not be delivered show on the incident (`page_failures`), where a person
looks, not only in the outbox (each test runs on SQLite and PostgreSQL).

The pages are real: the on-call file is applied through the API, the incident is declared
through the API, and the engine's own steps page and send, against a closed port and a mail
setup that is missing, with time moved past each retry's backoff.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import time_machine

from tests.api.conftest import Api, make_api
from tests.e2e.conftest import free_port
from tests.e2e.receivers import HttpReceiver
from tocsin.db import Database
from tocsin.engine.outbox import OutboxStep
from tocsin.engine.steps import clock_step
from tocsin.notify.channels.email import NO_SERVER
from tocsin.notify.outbox import MAX_ATTEMPTS, backoff
from tocsin.policy.loader import LoadedPolicy, load_policy

T0 = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)

POLICY = """\
name: pages-at-once
title: P1 pages the escalation policy at once
severities:
  - id: P1
    name: Critical
    pages: true
    respond_within: 1h
  - id: P2
    name: High
"""


@pytest.fixture
def api(database: Database, tmp_path: Path) -> Iterator[Api]:
    path = tmp_path / "pages-at-once.yaml"
    path.write_text(POLICY)
    loaded: LoadedPolicy = load_policy(str(path))
    yield from make_api(database, loaded)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[time_machine.Traveller]:
    monkeypatch.delenv("TOCSIN_SMTP_URL", raising=False)  # email cannot be sent
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def apply_oncall(api: Api, handle: str, people: str) -> None:
    """`people` (YAML), and a default escalation policy that pages `handle` at once."""
    document = f"""\
{people}
escalation_policies:
  - handle: pager
    name: Page the person
    default: true
    steps:
      - {{after: 0m, targets: ["person:{handle}"]}}
"""
    response = api.post("/api/v1/oncall/apply", {"text": document}, role="admin")
    assert response.status_code == 200, response.text


def run_engine(database: Database) -> None:
    """One engine tick: fire due escalation steps (queueing pages), then send what is due."""
    for step in (clock_step("http://tocsin.test"), OutboxStep()):
        while step.run_due(database):
            pass


def incident(api: Api, incident_id: str) -> dict[str, Any]:
    response = api.get(f"/api/v1/incidents/{incident_id}")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def failed_events(api: Api, incident_id: str) -> list[dict[str, Any]]:
    events = api.get(f"/api/v1/incidents/{incident_id}/timeline").json()
    return [e for e in events if e["kind"] == "notification_failed"]


def test_a_webhook_to_a_closed_port_shows_as_failed_once_its_retries_are_spent(
    api: Api, database: Database, clock: time_machine.Traveller
) -> None:
    url = f"http://127.0.0.1:{free_port()}/hooks/alice"  # nothing listens there
    apply_oncall(
        api,
        "alice",
        f"""people:
  - handle: alice
    name: Alice
    contact_methods: [{{name: pager, kind: webhook, address: "{url}"}}]""",
    )
    incident_id = str(api.declare(severity="P1")["id"])
    quiet = str(api.declare(severity="P2", title="Nothing pages")["id"])

    run_engine(database)  # attempt 1
    for attempt in range(1, MAX_ATTEMPTS):
        # Still retrying: not a failure yet.
        assert incident(api, incident_id)["page_failures"] == [], f"after attempt {attempt}"
        clock.shift(backoff(attempt, jitter=0))  # the longest the backoff can be
        run_engine(database)

    [failure] = incident(api, incident_id)["page_failures"]
    [event] = failed_events(api, incident_id)
    assert failure == {
        "notification_id": event["data"]["notification_id"],
        "purpose": "page",
        "person": "alice",
        "method": "pager",
        "channel": "webhook",
        "address": event["data"]["address"],
        "error": event["data"]["error"],
        "attempts": MAX_ATTEMPTS,
        "at": event["at"],
        "fallback": None,
    }
    assert "refused" in failure["error"].lower(), failure["error"]
    assert url not in failure["address"]  # masked, as in the timeline
    assert datetime.fromisoformat(failure["at"]) > T0  # the last attempt, not the first

    listed = {i["id"]: i for i in api.get("/api/v1/incidents").json()["items"]}
    assert listed[incident_id]["page_failures"] == [failure]
    assert listed[quiet]["page_failures"] == []


def test_a_permanent_failure_shows_with_the_fallback_that_reached_the_person(
    api: Api, database: Database, clock: time_machine.Traveller
) -> None:
    with HttpReceiver() as hooks:
        apply_oncall(
            api,
            "bob",
            f"""people:
  - handle: bob
    name: Bob
    contact_methods:
      - {{name: mail, kind: email, address: bob@example.com}}
      - {{name: pager, kind: webhook, address: "{hooks.url}/hooks/bob"}}
    notification_rules:
      - {{method: mail, after: 0m}}
      - {{method: pager, after: 5m}}""",
        )
        incident_id = str(api.declare(severity="P1")["id"])

        run_engine(database)  # no time passes: the webhook does not wait its 5 minutes

        [delivered] = hooks.delivered
    assert delivered.json()["data"]["incident_id"] == incident_id
    [failure] = incident(api, incident_id)["page_failures"]
    assert {k: v for k, v in failure.items() if k not in ("notification_id", "at")} == {
        "purpose": "page",
        "person": "bob",
        "method": "mail",
        "channel": "email",
        "address": "***@example.com",  # too short to show any of
        "error": NO_SERVER,
        "attempts": 1,
        "fallback": "webhook (rule 1), sending now",
    }
    assert datetime.fromisoformat(failure["at"]) == T0
