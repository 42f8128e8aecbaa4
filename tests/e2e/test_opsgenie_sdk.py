"""The official Opsgenie Python SDK (`opsgenie-sdk`, unmodified) against a real `tocsin serve`,
over sockets, on SQLite and PostgreSQL.

The SDK is pointed at Tocsin the way a team leaving Opsgenie would point it: the API URL that
`integration create` prints as its `Configuration.host`, the key as `api_key['Authorization']`,
nothing else changed. Every call the Alert API section of docs/alerts.md lists is made here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import opsgenie_sdk
import pytest
from opsgenie_sdk.exceptions import ApiException, ConfigurationException

from tests.e2e.conftest import Server

pytestmark = pytest.mark.e2e


@dataclass
class Genie:
    """The SDK's AlertApi pointed at a running Tocsin, and Tocsin's own API beside it."""

    alerts: Any  # opsgenie_sdk.AlertApi (the SDK has no type hints)
    tocsin: httpx.Client

    def tocsin_get(self, path: str, **params: str | int) -> Any:
        response = self.tocsin.get(path, params=params)
        assert response.status_code == 200, f"GET {path}: {response.text}"
        return response.json()

    def incident_of(self, alert_id: str) -> str:
        page = self.tocsin_get("/api/v1/alerts", limit=500)
        (alert,) = [a for a in page["items"] if str(a["id"]) == alert_id]
        incident_id: str = alert["incident_id"]
        assert incident_id is not None, alert
        return incident_id

    def timeline(self, incident_id: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = self.tocsin_get(f"/api/v1/incidents/{incident_id}/timeline")
        return events


@pytest.fixture
def genie(server: Server) -> Iterator[Genie]:
    headers = {"Authorization": f"Bearer {server.token}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=10) as tocsin:
        created = tocsin.post("/api/v1/integrations", json={"name": "sdk", "kind": "opsgenie"})
        assert created.status_code == 201, created.text
        configuration = opsgenie_sdk.Configuration()
        configuration.host = created.json()["urls"]["api_url"]
        configuration.api_key["Authorization"] = created.json()["key"]
        client = opsgenie_sdk.ApiClient(configuration=configuration)
        yield Genie(opsgenie_sdk.AlertApi(api_client=client), tocsin)


def create(genie: Genie, **fields: Any) -> Any:
    """Create an alert; the SDK's own short polling of the request status gives its id."""
    payload = opsgenie_sdk.CreateAlertPayload(**{"message": "Disk full on db-1", **fields})
    response = genie.alerts.create_alert(create_alert_payload=payload)
    assert response.result == "Request will be processed"
    return response


def test_create_get_list_count_and_the_request_status(genie: Genie) -> None:
    response = create(
        genie,
        alias="db-1-disk",
        description="Only 2% left",
        tags=["disk", "db"],
        details={"region": "eu-1"},
        entity="db-1",
        source="zabbix",
        priority="P2",
        responders=[{"type": "team", "name": "SRE"}],
        actions=["Clean up"],
        user="Monitoring",
        note="From the runbook",
    )
    status = genie.alerts.get_request_status(request_id=response.request_id).data
    assert (status.action, status.is_success, status.status) == ("Create", True, "Created alert")
    assert (status.alert_id, status.alias) == (response.id, "db-1-disk")

    alert = response.retrieve_resulting_action().data  # the SDK gets it by the id it polled
    assert (alert.id, alert.tiny_id, alert.alias) == (response.id, response.id, "db-1-disk")
    assert (alert.message, alert.description, alert.priority) == (
        "Disk full on db-1",
        "Only 2% left",
        "P2",
    )
    assert (alert.tags, alert.details, alert.entity, alert.source) == (
        ["disk", "db"],
        {"region": "eu-1"},
        "db-1",
        "zabbix",
    )
    assert (alert.status, alert.acknowledged, alert.count) == ("open", False, 1)
    assert [(r.type, r.id) for r in alert.responders] == [("team", "SRE")]
    assert alert.integration.name == "sdk" and alert.created_at.tzinfo is not None
    for identifier, identifier_type in ((response.id, "tiny"), ("db-1-disk", "alias")):
        same = genie.alerts.get_alert(identifier=identifier, identifier_type=identifier_type)
        assert same.data.id == response.id

    # A duplicate alias: the count rises, every field stays (as Opsgenie does).
    again = create(genie, message="Something else", alias="db-1-disk", priority="P5", tags=["x"])
    assert again.id == response.id
    kept = genie.alerts.get_alert(identifier=response.id).data
    assert (kept.count, kept.message, kept.priority, kept.tags) == (
        2,
        "Disk full on db-1",
        "P2",
        ["disk", "db"],
    )

    for n in range(3):
        create(genie, message=f"Queue {n} slow", alias=f"queue-{n}", tags=["queue"])
    page = genie.alerts.list_alerts(query="status:open tag:queue", limit=2, order="asc")
    assert [a.alias for a in page.data] == ["queue-0", "queue-1"]
    assert page.paging.next and page.paging.first and page.paging.last
    listed = genie.alerts.list_alerts(query="priority:P2", sort="count").data
    assert [a.id for a in listed] == [response.id]
    assert genie.alerts.count_alerts(query="tag:queue").data.count == 3
    assert genie.alerts.count_alerts().data.count == 4

    with pytest.raises(ApiException) as missing:
        genie.alerts.get_alert(identifier="no-such-alias", identifier_type="alias")
    assert missing.value.status == 404
    with pytest.raises(ConfigurationException) as refused:
        genie.alerts.list_alerts(query="status:open OR tag:queue")
    assert refused.value.status == 422


def test_acknowledge_unacknowledge_snooze_escalate_and_close_keep_who_and_why(
    genie: Genie,
) -> None:
    alert_id = create(genie, alias="api-down", priority="P1").id  # P1 pages: an incident
    incident_id = genie.incident_of(alert_id)

    escalated = genie.alerts.escalate_alert(
        identifier=alert_id,
        escalate_alert_to_next_payload=opsgenie_sdk.EscalateAlertToNextPayload(
            escalation=opsgenie_sdk.EscalationRecipient(name="default"),
            user="alice",
            note="Nobody answered",
        ),
    )
    assert escalated.retrieve_result().data.status == "Escalated alert"

    acknowledged = genie.alerts.acknowledge_alert(
        identifier="api-down",
        identifier_type="alias",
        acknowledge_alert_payload=opsgenie_sdk.AcknowledgeAlertPayload(
            user="alice", note="Looking"
        ),
    )
    assert acknowledged.retrieve_result().data.status == "Acknowledged alert"
    alert = genie.alerts.get_alert(identifier=alert_id).data
    assert (alert.acknowledged, alert.owner, alert.report.acknowledged_by) == (
        True,
        "alice",
        "alice",
    )
    incident = genie.tocsin_get(f"/api/v1/incidents/{incident_id}")
    assert incident["acknowledged_at"] is not None  # through flows.incidents.acknowledge

    unacknowledged = genie.alerts.un_acknowledge_alert(
        identifier=alert_id,
        un_acknowledge_alert_payload=opsgenie_sdk.UnAcknowledgeAlertPayload(user="bob"),
    )
    assert unacknowledged.retrieve_result().data.status == "Unacknowledged alert"
    assert genie.alerts.get_alert(identifier=alert_id).data.acknowledged is False

    until = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
    snoozed = genie.alerts.snooze_alert(
        identifier=alert_id,
        snooze_alert_payload=opsgenie_sdk.SnoozeAlertPayload(end_time=until, note="Deploying"),
    )
    assert snoozed.retrieve_result().data.status == "Snoozed alert"
    alert = genie.alerts.get_alert(identifier=alert_id).data
    assert (alert.snoozed, alert.snoozed_until) == (True, until)
    with pytest.raises(ConfigurationException):  # 422: Opsgenie's "in the future"
        genie.alerts.snooze_alert(
            identifier=alert_id,
            snooze_alert_payload=opsgenie_sdk.SnoozeAlertPayload(
                end_time=datetime.now(UTC) - timedelta(hours=1)
            ),
        )

    closed = genie.alerts.close_alert(
        identifier=alert_id,
        close_alert_payload=opsgenie_sdk.CloseAlertPayload(user="alice", note="Restarted"),
    )
    assert closed.retrieve_result().data.status == "Closed alert"
    alert = genie.alerts.get_alert(identifier=alert_id).data
    assert (alert.status, alert.report.closed_by, alert.snoozed) == ("closed", "alice", False)

    notes = genie.alerts.list_notes(identifier=alert_id, order="asc").data
    assert [(n.note, n.owner) for n in notes] == [
        ("Nobody answered", "alice"),
        ("Looking", "alice"),
        ("Unacknowledged alert", "bob"),
        ("Deploying", "sdk"),
        ("Restarted", "alice"),
    ]
    events = genie.timeline(incident_id)
    kinds = [e["kind"] for e in events]
    for kind in ("escalated_now", "acknowledged", "alerts_resolved"):
        assert kind in kinds, kinds
    said = [e["data"]["text"] for e in events if e["kind"] == "note"]
    assert said == [
        f"Opsgenie EscalateToNext on alert {alert_id} (api-down) by alice: Nobody answered",
        f"Opsgenie Acknowledge on alert {alert_id} (api-down) by alice: Looking",
        f"Opsgenie UnAcknowledge on alert {alert_id} (api-down) by bob",
        f"Opsgenie Snooze on alert {alert_id} (api-down) until "
        f"{until.isoformat(timespec='milliseconds').replace('+00:00', 'Z')}: Deploying",
        f"Opsgenie Close on alert {alert_id} (api-down) by alice: Restarted",
    ]


def test_notes_tags_details_and_the_message_description_and_priority_updates(
    genie: Genie,
) -> None:
    alert_id = create(genie, alias="slow-api", tags=["api"], details={"team": "web"}).id
    calls = [
        genie.alerts.add_note(
            identifier=alert_id,
            add_note_to_alert_payload=opsgenie_sdk.AddNoteToAlertPayload(note="p99 at 2s"),
        ),
        genie.alerts.add_tags(
            identifier=alert_id,
            add_tags_to_alert_payload=opsgenie_sdk.AddTagsToAlertPayload(tags=["latency"]),
        ),
        genie.alerts.remove_tags(identifier=alert_id, tags=["api"]),
        genie.alerts.add_details(
            identifier=alert_id,
            add_details_to_alert_payload=opsgenie_sdk.AddDetailsToAlertPayload(
                details={"p99": "2s", "region": "eu-1"}
            ),
        ),
        genie.alerts.remove_details(identifier=alert_id, keys=["team", "region"]),
        genie.alerts.update_alert_message(
            identifier=alert_id,
            update_alert_message_payload=opsgenie_sdk.UpdateAlertMessagePayload(
                message="API p99 above 2s"
            ),
        ),
        genie.alerts.update_alert_description(
            identifier=alert_id,
            update_alert_description_payload=opsgenie_sdk.UpdateAlertDescriptionPayload(
                description="Since the 14:00 deploy"
            ),
        ),
    ]
    actions = [call.retrieve_result().data.action for call in calls]
    assert actions == [
        "AddNote",
        "AddTags",
        "RemoveTags",
        "AddDetails",
        "RemoveDetails",
        "UpdateMessage",
        "UpdateDescription",
    ]
    alert = genie.alerts.get_alert(identifier=alert_id).data
    assert (alert.message, alert.description) == ("API p99 above 2s", "Since the 14:00 deploy")
    assert (alert.tags, alert.details) == (["latency"], {"p99": "2s"})
    assert [n.note for n in genie.alerts.list_notes(identifier=alert_id).data] == ["p99 at 2s"]

    # P3 notifies; raised to P1 it pages: routed again, it opens an incident through intake.
    assert genie.tocsin_get("/api/v1/incidents")["items"] == []
    raised = genie.alerts.update_alert_priority(
        identifier=alert_id,
        update_alert_priority_payload=opsgenie_sdk.UpdateAlertPriorityPayload(priority="P1"),
    )
    assert raised.retrieve_result().data.status == "Updated priority"
    assert genie.alerts.get_alert(identifier=alert_id).data.priority == "P1"
    incident = genie.tocsin_get(f"/api/v1/incidents/{genie.incident_of(alert_id)}")
    assert incident["severity"] == "P0"
