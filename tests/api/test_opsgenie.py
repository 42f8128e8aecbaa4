"""Opsgenie Alert API compatibility: a tool pointed at Tocsin is answered as Opsgenie answers it
(both databases)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from httpx import Response

from tests.api.conftest import Api
from tocsin.alerts.models import OpsgenieRequest
from tocsin.alerts.opsgenie_requests import RETENTION
from tocsin.db import Database
from tocsin.timesource import now

ACCEPTED = "Request will be processed"
NOT_PROCESSABLE = "Request body is not processable. Please check the errors."


def create_integration(api: Api, kind: str = "opsgenie") -> str:
    response = api.post(
        "/api/v1/integrations", {"name": f"{kind} prod", "kind": kind}, role="admin"
    )
    assert response.status_code == 201, response.text
    key: str = response.json()["key"]
    return key


def genie(key: str) -> dict[str, str]:
    return {"Authorization": f"GenieKey {key}"}


def og_post(api: Api, key: str, path: str, body: object = None) -> Response:
    response: Response = api.client.post(path, json=body, headers=genie(key))
    return response


def create(api: Api, key: str, **fields: object) -> Response:
    body = {"message": "Checkout 5xx above 5%", **fields}
    return og_post(api, key, "/v2/alerts", body)


def status_of(api: Api, key: str, response: Response) -> dict[str, Any]:
    """What Opsgenie's request status says the request did."""
    request_id = response.json()["requestId"]
    polled = api.client.get(f"/v2/alerts/requests/{request_id}", headers=genie(key))
    assert polled.status_code == 200, polled.text
    assert polled.json()["requestId"] != request_id  # the poll is a request of its own
    data: dict[str, Any] = polled.json()["data"]
    return data


def alerts(api: Api) -> list[dict[str, Any]]:
    response = api.get("/api/v1/alerts", params={"limit": 500})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def incidents(api: Api) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = api.get("/api/v1/incidents").json()["items"]
    return items


def assert_accepted(response: Response) -> None:
    assert response.status_code == 202, response.text
    body = response.json()
    assert set(body) == {"result", "took", "requestId"}
    assert body["result"] == ACCEPTED
    assert isinstance(body["took"], float)
    assert str(uuid.UUID(body["requestId"])) == body["requestId"]
    assert response.headers["X-Request-ID"] == body["requestId"]


# -- create ------------------------------------------------------------------------------------


def test_create_is_answered_as_opsgenie_answers(api: Api) -> None:
    key = create_integration(api)
    response = create(
        api,
        key,
        alias="checkout-5xx",
        description="Every alert needs a description",
        tags=["OverwriteQuietHours", "Critical"],
        details={"region": "eu-1"},
        entity="checkout",
        source="prometheus",
        priority="P2",
        user="Monitoring",
        note="From the runbook",
        responders=[{"name": "SRE", "type": "team"}],
        actions=["Restart"],
    )
    assert_accepted(response)
    (alert,) = alerts(api)
    assert alert["dedup_key"] == "checkout-5xx"
    assert (alert["summary"], alert["source_severity"]) == ("Checkout 5xx above 5%", "error")
    assert alert["labels"] == {
        "tag:OverwriteQuietHours": "true",
        "tag:Critical": "true",
        "entity": "checkout",
        "source": "prometheus",
        "priority": "P2",
    }
    details = alert["details"]
    assert details["details"] == {"region": "eu-1"}
    assert details["description"] == "Every alert needs a description"
    assert (details["note"], details["user"]) == ("From the runbook", "Monitoring")
    assert details["responders"] == [{"name": "SRE", "type": "team"}]


def test_request_status_reports_the_created_alert(api: Api) -> None:
    key = create_integration(api)
    data = status_of(api, key, create(api, key, alias="checkout-5xx"))
    (alert,) = alerts(api)
    assert data["success"] is data["isSuccess"] is True
    assert (data["action"], data["status"]) == ("Create", "Created alert")
    assert (data["alertId"], data["alias"]) == (str(alert["id"]), "checkout-5xx")
    assert data["processedAt"].endswith("Z")
    integration = api.get("/api/v1/integrations").json()[0]
    assert data["integrationId"] == str(integration["id"])


def test_a_repeated_alias_deduplicates(api: Api) -> None:
    key = create_integration(api)
    answers = [create(api, key, alias="db-down", priority="P1") for _ in range(3)]
    assert [a.status_code for a in answers] == [202, 202, 202]
    (alert,) = alerts(api)
    assert alert["count"] == 3
    assert len(incidents(api)) == 1
    assert status_of(api, key, answers[-1])["alertId"] == str(alert["id"])


def test_without_an_alias_each_create_is_a_new_alert_with_a_stable_alias(api: Api) -> None:
    key = create_integration(api)
    first, second = create(api, key), create(api, key)
    aliases = [status_of(api, key, r)["alias"] for r in (first, second)]
    assert len(set(aliases)) == 2
    assert sorted(a["dedup_key"] for a in alerts(api)) == sorted(aliases)
    closed = og_post(api, key, f"/v2/alerts/{aliases[0]}/close?identifierType=alias")
    assert status_of(api, key, closed)["status"] == "Closed alert"


def test_an_alias_longer_than_the_column_still_deduplicates_and_closes(api: Api) -> None:
    key = create_integration(api)
    alias = "k8s/" + "x" * 400  # Opsgenie allows 512 characters
    create(api, key, alias=alias)
    create(api, key, alias=alias)
    (alert,) = alerts(api)
    assert alert["count"] == 2 and alert["details"]["alias"] == alias
    assert status_of(api, key, create(api, key, alias=alias))["alias"] == alias
    closed = og_post(api, key, f"/v2/alerts/{alias}/close?identifierType=alias")
    assert status_of(api, key, closed)["status"] == "Closed alert"
    assert alerts(api)[0]["status"] == "resolved"


# -- acknowledge and close -----------------------------------------------------------------


def test_acknowledge_and_close_by_alias(api: Api) -> None:
    key = create_integration(api)
    create(api, key, alias="db-down", priority="P1")
    ack = og_post(
        api,
        key,
        "/v2/alerts/db-down/acknowledge?identifierType=alias",
        {"user": "Monitoring", "note": "Looking", "source": "script"},
    )
    assert_accepted(ack)
    data = status_of(api, key, ack)
    assert set(data) == {
        "success",
        "action",
        "processedAt",
        "integrationId",
        "isSuccess",
        "status",
        "alertId",
        "alias",
    }
    assert (data["action"], data["isSuccess"], data["status"]) == (
        "Acknowledge",
        True,
        "Acknowledged alert",
    )
    assert (data["alertId"], data["alias"]) == (str(alerts(api)[0]["id"]), "db-down")
    incident = api.get(f"/api/v1/incidents/{alerts(api)[0]['incident_id']}").json()
    assert incident["acknowledged_by"] == "integration:opsgenie prod"
    close = og_post(api, key, "/v2/alerts/db-down/close?identifierType=alias")
    assert_accepted(close)
    assert status_of(api, key, close)["status"] == "Closed alert"
    assert alerts(api)[0]["status"] == "resolved"


def test_acknowledge_and_close_by_id_the_default_identifier_type(api: Api) -> None:
    key = create_integration(api)
    alert_id = status_of(api, key, create(api, key, alias="db-down", priority="P1"))["alertId"]
    ack = og_post(api, key, f"/v2/alerts/{alert_id}/acknowledge")  # no identifierType: id
    assert status_of(api, key, ack)["status"] == "Acknowledged alert"
    assert alerts(api)[0]["acknowledged_at"] is not None
    close = og_post(api, key, f"/v2/alerts/{alert_id}/close?identifierType=id", {"note": "ok"})
    assert_accepted(close)
    assert status_of(api, key, close)["status"] == "Closed alert"
    assert alerts(api)[0]["status"] == "resolved"


def test_closing_twice_and_closing_nothing(api: Api) -> None:
    key = create_integration(api)
    create(api, key, alias="db-down")
    og_post(api, key, "/v2/alerts/db-down/close?identifierType=alias")
    again = og_post(api, key, "/v2/alerts/db-down/close?identifierType=alias")
    assert status_of(api, key, again)["status"] == "Alert is already closed"
    missing = og_post(api, key, "/v2/alerts/no-such-alert/close?identifierType=alias")
    assert_accepted(missing)  # Opsgenie accepts, and its request status says what happened
    data = status_of(api, key, missing)
    assert (data["isSuccess"], data["status"], data["alertId"]) == (
        False,
        "Alert does not exist",
        "",
    )
    late_ack = og_post(api, key, "/v2/alerts/db-down/acknowledge?identifierType=alias")
    assert status_of(api, key, late_ack)["isSuccess"] is False


def test_an_old_alert_id_never_touches_the_alert_that_reopened(api: Api) -> None:
    key = create_integration(api)
    old_id = status_of(api, key, create(api, key, alias="db-down"))["alertId"]
    og_post(api, key, f"/v2/alerts/{old_id}/close")
    create(api, key, alias="db-down")
    og_post(api, key, f"/v2/alerts/{old_id}/close")
    assert sorted(a["status"] for a in alerts(api)) == ["firing", "resolved"]


def test_an_integration_cannot_touch_another_ones_alerts(api: Api) -> None:
    mine, theirs = create_integration(api), create_integration(api)
    alert_id = status_of(api, key=theirs, response=create(api, theirs, alias="a"))["alertId"]
    for path in (f"/v2/alerts/{alert_id}/close", "/v2/alerts/a/close?identifierType=alias"):
        data = status_of(api, mine, og_post(api, mine, path))
        assert data["status"] == "Alert does not exist"
    assert alerts(api)[0]["status"] == "firing"


def test_an_unknown_identifier_type_is_refused_as_opsgenie_refuses(api: Api) -> None:
    # Tiny ids used to be refused here too; the SDK names alerts by them, so they now work
    # (a Tocsin alert's tiny id is its id: see test_get_by_id_tiny_id_and_alias).
    key = create_integration(api)
    response = og_post(api, key, "/v2/alerts/1/close?identifierType=name")
    assert response.status_code == 422
    body = response.json()
    assert body["message"] == NOT_PROCESSABLE
    assert body["errors"] == {"identifierType": "should be one of [ id, tiny, alias ]"}
    assert set(body) == {"message", "errors", "took", "requestId"}


# -- routing -----------------------------------------------------------------------------------


def test_p1_pages_and_alerts_about_one_entity_share_an_incident(api: Api) -> None:
    key = create_integration(api)
    create(api, key, alias="db-1-down", priority="P1", entity="db-1")
    create(api, key, alias="db-1-replication", priority="P1", entity="db-1")
    create(api, key, alias="cache-down", priority="P1", entity="cache")
    stored = {a["dedup_key"]: a for a in alerts(api)}
    assert {a["action"] for a in stored.values()} == {"page"}
    assert stored["db-1-down"]["incident_id"] == stored["db-1-replication"]["incident_id"]
    assert stored["cache-down"]["incident_id"] != stored["db-1-down"]["incident_id"]
    assert len(incidents(api)) == 2
    incident = api.get(f"/api/v1/incidents/{stored['db-1-down']['incident_id']}").json()
    assert incident["severity"] == "P0"  # critical pages at the top of the ladder
    assert incident["title"] == "Checkout 5xx above 5%"


def test_p3_the_default_notifies_without_paging(api: Api) -> None:
    key = create_integration(api)
    create(api, key, alias="slow")
    create(api, key, alias="slower", priority="P3")
    assert {(a["source_severity"], a["action"], a["incident_id"]) for a in alerts(api)} == {
        ("warning", "notify", None)
    }
    assert incidents(api) == []


@pytest.mark.parametrize(("priority", "severity"), [("P4", "info"), ("P5", "info")])
def test_p4_and_p5_are_informational(api: Api, priority: str, severity: str) -> None:
    key = create_integration(api)
    create(api, key, priority=priority)
    assert alerts(api)[0]["source_severity"] == severity


# -- refusals ----------------------------------------------------------------------------------


def test_validation_errors_name_every_bad_field(api: Api) -> None:
    key = create_integration(api)
    body = {
        "message": "x" * 131,
        "priority": "P0",
        "tags": ["ok", 7],
        "details": {"team": 1},
        "alias": "a" * 513,
        "source": "s" * 101,
    }
    response = og_post(api, key, "/v2/alerts", body)
    assert response.status_code == 422
    answer = response.json()
    assert set(answer) == {"message", "errors", "took", "requestId"}
    assert answer["message"] == NOT_PROCESSABLE
    errors = answer["errors"]
    assert set(errors) == {"message", "priority", "tags[1]", "details.team", "alias", "source"}
    assert errors["priority"] == "should be one of [ P1, P2, P3, P4, P5 ]"
    assert alerts(api) == []


@pytest.mark.parametrize("body", [{}, {"message": ""}, {"message": "   "}, {"message": None}])
def test_a_missing_message_is_refused_in_opsgenie_words(api: Api, body: dict[str, Any]) -> None:
    key = create_integration(api)
    response = og_post(api, key, "/v2/alerts", body)
    assert response.status_code == 422
    assert response.json()["errors"] == {"message": "Message can not be empty."}


def test_malformed_json_is_400_naming_the_body(api: Api) -> None:
    key = create_integration(api)
    headers = genie(key) | {"Content-Type": "application/json"}
    response = api.client.post("/v2/alerts", content=b"{nope", headers=headers)
    assert response.status_code == 400  # Opsgenie: "400 Bad Request (Syntax Error only)"
    assert set(response.json()["errors"]) == {"body"}
    not_an_object = og_post(api, key, "/v2/alerts", ["message"])
    assert not_an_object.status_code == 422
    assert set(not_an_object.json()["errors"]) == {"body"}


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "GenieKey",
        "Bearer {key}",
        "GenieKey 0123456789abcdef0123456789abcdef",
        "GenieKey {pd_key}",
    ],
)
def test_a_missing_or_unknown_key_is_401_and_says_nothing_more(
    api: Api, authorization: str | None
) -> None:
    key, pd_key = create_integration(api), create_integration(api, "pagerduty")
    headers = {}
    if authorization is not None:
        headers["Authorization"] = authorization.format(key=key, pd_key=pd_key)
    for method, path in (
        ("POST", "/v2/alerts"),
        ("POST", "/v2/alerts/a/close"),
        ("GET", f"/v2/alerts/requests/{uuid.uuid4()}"),
    ):
        response = api.client.request(method, path, json={"message": "x"}, headers=headers)
        assert response.status_code == 401
        body = response.json()
        assert set(body) == {"message", "took", "requestId"}
        assert body["message"] == "Could not authenticate"
    assert alerts(api) == []


def test_the_scheme_is_not_case_sensitive(api: Api) -> None:
    key = create_integration(api)
    response = api.client.post(
        "/v2/alerts", json={"message": "x"}, headers={"Authorization": f"geniekey {key}"}
    )
    assert response.status_code == 202


def test_an_unknown_request_id_is_404(api: Api) -> None:
    key, other = create_integration(api), create_integration(api)
    response = api.client.get(f"/v2/alerts/requests/{uuid.uuid4()}", headers=genie(key))
    assert response.status_code == 404
    assert set(response.json()) == {"message", "took", "requestId"}
    request_id = create(api, key).json()["requestId"]
    foreign = api.client.get(f"/v2/alerts/requests/{request_id}", headers=genie(other))
    assert foreign.status_code == 404  # one integration never reads another's requests


def test_the_rate_limit_answers_429(api: Api) -> None:
    from tocsin.alerts.ratelimit import TokenBuckets

    api.client.app.state.intake_writer.limiter = TokenBuckets(rate_per_second=0.001, burst=2)  # type: ignore[attr-defined]
    key = create_integration(api)
    answers = [create(api, key, alias=f"a{n}") for n in range(3)]
    assert [a.status_code for a in answers] == [202, 202, 429]
    assert set(answers[-1].json()) == {"message", "took", "requestId"}
    assert answers[-1].headers["Retry-After"] == "1"
    assert len(alerts(api)) == 2


def test_request_statuses_are_kept_for_a_week(api: Api, database: Database) -> None:
    # They used to be kept in one process's memory (the last 5,000); now in the database.
    key = create_integration(api)
    old, recent = create(api, key).json()["requestId"], create(api, key).json()["requestId"]
    week_ago = now() - RETENTION - timedelta(seconds=1)
    with database.write_session() as session:
        session.get(OpsgenieRequest, old).processed_at = week_ago  # type: ignore[union-attr]
    create(api, key)  # any write forgets what is older than a week
    gone = api.client.get(f"/v2/alerts/requests/{old}", headers=genie(key))
    assert gone.status_code == 404
    kept = api.client.get(f"/v2/alerts/requests/{recent}", headers=genie(key))
    assert kept.status_code == 200
