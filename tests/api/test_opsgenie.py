"""Opsgenie Alert API compatibility: a tool pointed at Tocsin is answered as Opsgenie answers it
(both databases)."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from httpx import Response

from tests.api.conftest import Api, make_api
from tocsin.alerts.models import OpsgenieRequest
from tocsin.alerts.opsgenie_requests import RETENTION
from tocsin.db import Database
from tocsin.policy.loader import LoadedPolicy
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


def og_call(api: Api, key: str, method: str, path: str, body: object = None) -> Response:
    response: Response = api.client.request(method, path, json=body, headers=genie(key))
    return response


def og_get(api: Api, key: str, path: str, **params: object) -> Response:
    response: Response = api.client.get(path, params=params, headers=genie(key))  # type: ignore[arg-type]
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


def timeline(api: Api, incident_id: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = api.get(f"/api/v1/incidents/{incident_id}/timeline").json()
    return events


def notes_on(api: Api, incident_id: str) -> list[str]:
    return [e["data"]["text"] for e in timeline(api, incident_id) if e["kind"] == "note"]


def alert_id_of(api: Api, key: str, **fields: object) -> str:
    alert_id: str = status_of(api, key, create(api, key, **fields))["alertId"]
    return alert_id


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


def test_any_instance_answers_a_poll_for_a_request_another_one_took(
    api: Api, database: Database, default_policy: LoadedPolicy
) -> None:
    key = create_integration(api)
    request_id = create(api, key, alias="db-down").json()["requestId"]
    instances = make_api(database, default_policy)  # a second process on the same database
    other = next(instances)
    try:
        polled = other.client.get(f"/v2/alerts/requests/{request_id}", headers=genie(key))
    finally:
        instances.close()
    assert polled.status_code == 200, polled.text
    assert polled.json()["data"]["status"] == "Created alert"


# -- a duplicate alias -------------------------------------------------------------------------


def test_a_duplicate_alias_counts_and_keeps_every_field_as_opsgenie_does(api: Api) -> None:
    key = create_integration(api)
    first = {
        "alias": "db-down",
        "description": "The primary is down",
        "tags": ["db"],
        "details": {"region": "eu-1"},
        "entity": "db-1",
        "source": "zabbix",
        "priority": "P2",
    }
    create(api, key, **first)
    again = create(
        api, key, message="Something else", alias="db-down", tags=["other"], priority="P5"
    )
    data = status_of(api, key, again)
    assert (data["isSuccess"], data["status"]) == (True, "Alert already exists: count increased")
    (alert,) = alerts(api)
    assert alert["count"] == 2 and str(alert["id"]) == data["alertId"]
    shown = og_get(api, key, "/v2/alerts/db-down", identifierType="alias").json()["data"]
    assert (shown["message"], shown["count"], shown["priority"]) == (
        "Checkout 5xx above 5%",
        2,
        "P2",
    )
    assert (shown["tags"], shown["entity"], shown["source"]) == (["db"], "db-1", "zabbix")
    assert (shown["description"], shown["details"]) == ("The primary is down", {"region": "eu-1"})
    assert alert["labels"]["tag:db"] == "true" and "tag:other" not in alert["labels"]


# -- get, list, count ------------------------------------------------------------------------

ALERT_FIELDS = {
    "id",
    "tinyId",
    "alias",
    "message",
    "status",
    "acknowledged",
    "isSeen",
    "tags",
    "snoozed",
    "count",
    "lastOccurredAt",
    "createdAt",
    "updatedAt",
    "source",
    "owner",
    "priority",
    "responders",
    "integration",
    "report",
}
FULL_FIELDS = ALERT_FIELDS | {"actions", "entity", "description", "details"}


def test_get_by_id_tiny_id_and_alias(api: Api) -> None:
    key = create_integration(api)
    alert_id = alert_id_of(
        api,
        key,
        alias="db-down",
        description="The primary is down",
        tags=["db"],
        details={"region": "eu-1"},
        entity="db-1",
        source="zabbix",
        priority="P2",
        responders=[{"name": "SRE", "type": "team"}, {"username": "a@example.com", "type": "user"}],
        actions=["Restart"],
    )
    paths = [
        (f"/v2/alerts/{alert_id}", {}),
        (f"/v2/alerts/{alert_id}", {"identifierType": "tiny"}),
        ("/v2/alerts/db-down", {"identifierType": "alias"}),
    ]
    answers = [og_get(api, key, path, **params) for path, params in paths]
    assert {a.status_code for a in answers} == {200}
    body = answers[0].json()
    assert set(body) == {"data", "took", "requestId"}
    assert all(a.json()["data"] == body["data"] for a in answers[1:])
    shown = body["data"]
    assert set(shown) == FULL_FIELDS
    assert (shown["id"], shown["tinyId"], shown["alias"]) == (alert_id, alert_id, "db-down")
    assert (shown["status"], shown["acknowledged"], shown["snoozed"]) == ("open", False, False)
    assert shown["responders"] == [
        {"type": "team", "id": "SRE"},
        {"type": "user", "id": "a@example.com"},
    ]
    assert shown["integration"] == {
        "id": str(api.get("/api/v1/integrations").json()[0]["id"]),
        "name": "opsgenie prod",
        "type": "API",
    }
    assert shown["createdAt"].endswith("Z") and shown["report"] == {}
    assert (shown["actions"], shown["details"]) == (["Restart"], {"region": "eu-1"})


def test_getting_a_missing_alert_is_404_in_opsgenie_words(api: Api) -> None:
    key, other = create_integration(api), create_integration(api)
    theirs = alert_id_of(api, other, alias="theirs")
    for path, params in (
        ("/v2/alerts/999", {}),
        ("/v2/alerts/nope", {"identifierType": "alias"}),
        (f"/v2/alerts/{theirs}", {}),  # another integration's alert
        ("/v2/alerts/8743a1b2-11da-480e-8493-744660987bef", {}),  # an Opsgenie id
    ):
        response = og_get(api, key, path, **params)
        assert response.status_code == 404
        assert set(response.json()) == {"message", "took", "requestId"}
        assert response.json()["message"] == "Alert does not exist"


def test_list_searches_sorts_and_pages(api: Api) -> None:
    key = create_integration(api)
    for n in range(5):
        create(api, key, message=f"Disk {n} full", alias=f"disk-{n}", tags=["disk"], priority="P3")
    create(api, key, message="Cache down", alias="cache", priority="P1", entity="cache-1")
    og_post(api, key, "/v2/alerts/disk-0/close?identifierType=alias")
    page = og_get(api, key, "/v2/alerts", query="status:open tag:disk", limit=2, order="asc")
    assert page.status_code == 200, page.text
    body = page.json()
    assert set(body) == {"data", "paging", "took", "requestId"}
    assert [a["alias"] for a in body["data"]] == ["disk-1", "disk-2"]
    assert set(body["data"][0]) == ALERT_FIELDS  # a list leaves description and details out
    assert "offset=2" in body["paging"]["next"] and "offset=0" in body["paging"]["first"]
    assert "offset=2" in body["paging"]["last"] and "query=status%3Aopen" in body["paging"]["next"]
    rest = api.client.get(body["paging"]["next"], headers=genie(key)).json()
    assert [a["alias"] for a in rest["data"]] == ["disk-3", "disk-4"] and "next" not in rest[
        "paging"
    ]
    searches = {
        "priority:P1": ["cache"],
        "entity=cache-1": ["cache"],
        "status: closed": ["disk-0"],
        'message:"disk 4"': ["disk-4"],
        "tag!=disk": ["cache"],
        "full AND alias:disk-3": ["disk-3"],
    }
    for query, expected in searches.items():
        found = og_get(api, key, "/v2/alerts", query=query).json()["data"]
        assert [a["alias"] for a in found] == expected, query
    newest = og_get(api, key, "/v2/alerts").json()["data"]
    assert [a["alias"] for a in newest][:2] == ["cache", "disk-4"]  # createdAt, desc: the default


def test_count_counts_what_the_search_finds(api: Api) -> None:
    key = create_integration(api)
    for n in range(3):
        create(api, key, alias=f"a{n}", priority="P1" if n else "P4")
    create(api, key, alias="a1")  # a repeat: still one alert
    answer = og_get(api, key, "/v2/alerts/count", query="priority:P1")
    assert answer.status_code == 200
    assert set(answer.json()) == {"data", "took", "requestId"}
    assert answer.json()["data"] == {"count": 2}
    assert og_get(api, key, "/v2/alerts/count").json()["data"] == {"count": 3}
    assert og_get(api, key, "/v2/alerts/count", query="count>1").json()["data"] == {"count": 1}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"query": "status:open OR priority:P1"}, "query"),
        ({"query": "color:blue"}, "query"),
        ({"query": "status:shut"}, "query"),
        ({"limit": "101"}, "limit"),
        ({"limit": "0"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"sort": "color"}, "sort"),
        ({"order": "up"}, "order"),
        ({"searchIdentifier": "abc"}, "searchIdentifier"),
    ],
)
def test_a_list_it_cannot_answer_is_refused_naming_the_parameter(
    api: Api, params: dict[str, str], field: str
) -> None:
    key = create_integration(api)
    response = og_get(api, key, "/v2/alerts", **params)
    assert response.status_code == 422
    assert set(response.json()) == {"message", "errors", "took", "requestId"}
    assert set(response.json()["errors"]) == {field}


# -- acknowledge, unacknowledge, close, snooze, escalate: the user and note are kept ---------


def test_acknowledge_and_close_keep_the_user_and_note_on_the_alert_and_the_incident(
    api: Api,
) -> None:
    key = create_integration(api)
    alert_id = alert_id_of(api, key, alias="db-down", priority="P1", note="Opened by Zabbix")
    ack = og_post(
        api, key, f"/v2/alerts/{alert_id}/acknowledge", {"user": "alice", "note": "Looking"}
    )
    assert status_of(api, key, ack)["status"] == "Acknowledged alert"
    close = og_post(api, key, "/v2/alerts/db-down/close?identifierType=alias", {"note": "Fixed"})
    assert status_of(api, key, close)["status"] == "Closed alert"
    shown = og_get(api, key, f"/v2/alerts/{alert_id}").json()["data"]
    assert (shown["status"], shown["owner"]) == ("closed", "alice")
    assert shown["report"]["acknowledgedBy"] == "alice"
    assert shown["report"]["closedBy"] == "opsgenie prod"  # no user: the integration
    assert shown["report"]["ackTime"] >= 0 and shown["report"]["closeTime"] >= 0
    notes = og_get(api, key, f"/v2/alerts/{alert_id}/notes", order="asc").json()["data"]
    assert [(n["note"], n["owner"]) for n in notes] == [
        ("Opened by Zabbix", "opsgenie prod"),
        ("Looking", "alice"),
        ("Fixed", "opsgenie prod"),
    ]
    incident_id = alerts(api)[0]["incident_id"]
    assert notes_on(api, incident_id) == [
        f"Opsgenie Acknowledge on alert {alert_id} (db-down) by alice: Looking",
        f"Opsgenie Close on alert {alert_id} (db-down): Fixed",
    ]
    kinds = [e["kind"] for e in timeline(api, incident_id)]
    assert kinds.index("acknowledged") < kinds.index("alerts_resolved")  # through the flows
    incident = api.get(f"/api/v1/incidents/{incident_id}").json()
    assert incident["acknowledged_by"] == "integration:opsgenie prod"  # the authenticated one


def test_unacknowledge_clears_the_alert_but_not_the_incident(api: Api) -> None:
    key = create_integration(api)
    alert_id = alert_id_of(api, key, alias="db-down", priority="P1")
    og_post(api, key, f"/v2/alerts/{alert_id}/acknowledge", {"user": "alice"})
    unack = og_post(
        api, key, f"/v2/alerts/{alert_id}/unacknowledge", {"user": "bob", "note": "Not mine"}
    )
    assert_accepted(unack)
    data = status_of(api, key, unack)
    assert (data["action"], data["status"]) == ("UnAcknowledge", "Unacknowledged alert")
    shown = og_get(api, key, f"/v2/alerts/{alert_id}").json()["data"]
    assert (shown["acknowledged"], shown["owner"]) == (False, "")
    again = og_post(api, key, f"/v2/alerts/{alert_id}/unacknowledge")
    assert status_of(api, key, again)["status"] == "Alert is not acknowledged"
    incident_id = alerts(api)[0]["incident_id"]
    assert api.get(f"/api/v1/incidents/{incident_id}").json()["acknowledged_at"] is not None
    assert notes_on(api, incident_id)[-1].endswith(
        "UnAcknowledge on alert " + alert_id + " (db-down) by bob: Not mine"
    )


def test_snooze_marks_the_alert_until_its_end_time(api: Api) -> None:
    key = create_integration(api)
    alert_id = alert_id_of(api, key, alias="db-down", priority="P1")
    until = "2099-05-01T10:00:00Z"
    snooze = og_post(
        api, key, f"/v2/alerts/{alert_id}/snooze", {"endTime": until, "note": "After the deploy"}
    )
    assert_accepted(snooze)
    assert status_of(api, key, snooze)["status"] == "Snoozed alert"
    shown = og_get(api, key, f"/v2/alerts/{alert_id}").json()["data"]
    assert (shown["snoozed"], shown["snoozedUntil"]) == (True, "2099-05-01T10:00:00.000Z")
    incident_id = alerts(api)[0]["incident_id"]
    assert notes_on(api, incident_id) == [
        f"Opsgenie Snooze on alert {alert_id} (db-down) until {shown['snoozedUntil']}: "
        "After the deploy"
    ]
    past = og_post(api, key, f"/v2/alerts/{alert_id}/snooze", {"endTime": "2001-01-01T00:00:00Z"})
    assert past.status_code == 422 and past.json()["errors"] == {
        "endTime": "should be in the future"
    }
    missing = og_post(api, key, f"/v2/alerts/{alert_id}/snooze", {})
    assert missing.status_code == 422 and set(missing.json()["errors"]) == {"endTime"}


def test_escalate_pages_the_next_step_of_the_alerts_incident(api: Api) -> None:
    key = create_integration(api)
    alert_id = alert_id_of(api, key, alias="db-down", priority="P1")
    body = {"escalation": {"name": "default", "type": "escalation"}, "user": "alice"}
    escalate = og_post(api, key, f"/v2/alerts/{alert_id}/escalate", body)
    assert_accepted(escalate)
    data = status_of(api, key, escalate)
    assert (data["action"], data["isSuccess"], data["status"]) == (
        "EscalateToNext",
        True,
        "Escalated alert",
    )
    incident_id = alerts(api)[0]["incident_id"]
    assert "escalated_now" in [e["kind"] for e in timeline(api, incident_id)]
    quiet = alert_id_of(api, key, alias="slow", priority="P3")  # notifies: no incident
    nothing = status_of(api, key, og_post(api, key, f"/v2/alerts/{quiet}/escalate", body))
    assert (nothing["isSuccess"], nothing["status"]) == (False, "Alert has nothing to escalate")
    unnamed = og_post(api, key, f"/v2/alerts/{alert_id}/escalate", {"escalation": {}})
    assert unnamed.status_code == 422
    assert unnamed.json()["errors"] == {"escalation": "should have an id or a name"}


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("acknowledge", None),
        ("unacknowledge", None),
        ("snooze", {"endTime": "2099-01-01T00:00:00Z"}),
        ("escalate", {"escalation": {"name": "default"}}),
    ],
)
def test_actions_on_a_closed_alert_fail_in_its_request_status(
    api: Api, path: str, body: dict[str, Any] | None
) -> None:
    key = create_integration(api)
    alert_id = alert_id_of(api, key, alias="db-down")
    og_post(api, key, f"/v2/alerts/{alert_id}/close")
    data = status_of(api, key, og_post(api, key, f"/v2/alerts/{alert_id}/{path}", body))
    assert (data["isSuccess"], data["status"], data["alertId"]) == (
        False,
        "Alert is already closed",
        alert_id,
    )


# -- notes, tags, details ----------------------------------------------------------------------


def test_a_note_goes_on_the_alert_and_on_its_incident(api: Api) -> None:
    key = create_integration(api)
    alert_id = alert_id_of(api, key, alias="db-down", priority="P1")
    added = og_post(
        api, key, f"/v2/alerts/{alert_id}/notes", {"note": "Runbook step 3", "user": "bob"}
    )
    assert_accepted(added)
    assert status_of(api, key, added)["action"] == "AddNote"
    og_post(api, key, f"/v2/alerts/{alert_id}/notes", {"note": "Step 4"})
    listed = og_get(api, key, f"/v2/alerts/{alert_id}/notes")
    assert listed.status_code == 200
    assert set(listed.json()) == {"data", "paging", "took", "requestId"}
    newest_first = listed.json()["data"]
    assert [n["note"] for n in newest_first] == ["Step 4", "Runbook step 3"]
    assert set(newest_first[0]) == {"note", "owner", "createdAt", "offset"}
    one = og_get(api, key, f"/v2/alerts/{alert_id}/notes", limit=1).json()
    assert [n["note"] for n in one["data"]] == ["Step 4"] and "offset=1" in one["paging"]["next"]
    incident_id = alerts(api)[0]["incident_id"]
    assert notes_on(api, incident_id)[0].endswith("by bob: Runbook step 3")
    for empty in ({}, {"note": "  "}):
        refused = og_post(api, key, f"/v2/alerts/{alert_id}/notes", empty)
        assert refused.status_code == 422
        assert refused.json()["errors"] == {"note": "Note can not be empty."}


def test_tags_and_details_are_added_and_removed(api: Api) -> None:
    key = create_integration(api)
    alert_id = alert_id_of(api, key, alias="db-down", tags=["db"], details={"region": "eu-1"})
    steps = [
        ("POST", "tags", {"tags": ["primary", "db"]}, "AddTags"),
        ("DELETE", "tags?tags=db,nothing&user=alice", None, "RemoveTags"),
        ("POST", "details", {"details": {"owner": "dba", "tier": "1"}}, "AddDetails"),
        ("DELETE", "details?keys=region,tier&note=tidy", None, "RemoveDetails"),
    ]
    for method, path, body, action in steps:
        response = og_call(api, key, method, f"/v2/alerts/{alert_id}/{path}", body)
        assert_accepted(response)
        assert status_of(api, key, response)["action"] == action
    shown = og_get(api, key, f"/v2/alerts/{alert_id}").json()["data"]
    assert (shown["tags"], shown["details"]) == (["primary"], {"owner": "dba"})
    (alert,) = alerts(api)
    assert {k for k in alert["labels"] if k.startswith("tag:")} == {"tag:primary"}
    notes = og_get(api, key, f"/v2/alerts/{alert_id}/notes", order="asc").json()["data"]
    assert [(n["note"], n["owner"]) for n in notes] == [
        ("Removed tags", "alice"),
        ("tidy", "opsgenie prod"),
    ]


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "tags", {"tags": []}, "tags"),
        ("POST", "tags", {}, "tags"),
        ("POST", "tags", {"tags": ["x" * 51]}, "tags[0]"),
        ("DELETE", "tags", None, "tags"),
        ("POST", "details", {"details": {}}, "details"),
        ("POST", "details", {"details": {"a": 1}}, "details.a"),
        ("DELETE", "details?keys=", None, "keys"),
        ("PUT", "message", {}, "message"),
        ("PUT", "message", {"message": "x" * 131}, "message"),
        ("PUT", "priority", {"priority": "P0"}, "priority"),
        ("PUT", "description", {"description": "x" * 15_001}, "description"),
    ],
)
def test_a_bad_change_is_refused_naming_the_field(
    api: Api, method: str, path: str, body: object, field: str
) -> None:
    key = create_integration(api)
    alert_id = alert_id_of(api, key, alias="db-down")
    response = og_call(api, key, method, f"/v2/alerts/{alert_id}/{path}", body)
    assert response.status_code == 422, response.text
    assert response.json()["message"] == NOT_PROCESSABLE
    assert set(response.json()["errors"]) == {field}


# -- message, description, priority -----------------------------------------------------------


def test_message_and_description_updates_change_the_alert(api: Api) -> None:
    key = create_integration(api)
    create(api, key, alias="db-down", description="Old")
    for path, body, action in (
        ("message", {"message": "Primary down"}, "UpdateMessage"),
        ("description", {"description": "New"}, "UpdateDescription"),
    ):
        response = og_call(api, key, "PUT", f"/v2/alerts/db-down/{path}?identifierType=alias", body)
        assert_accepted(response)
        assert status_of(api, key, response)["action"] == action
    shown = og_get(api, key, "/v2/alerts/db-down", identifierType="alias").json()["data"]
    assert (shown["message"], shown["description"]) == ("Primary down", "New")
    assert alerts(api)[0]["summary"] == "Primary down"
    cleared = og_call(api, key, "PUT", "/v2/alerts/db-down/description?identifierType=alias", {})
    assert_accepted(cleared)  # Alertmanager leaves an empty description out
    shown = og_get(api, key, "/v2/alerts/db-down", identifierType="alias").json()["data"]
    assert shown["description"] == ""
    missing = og_call(
        api, key, "PUT", "/v2/alerts/nope/message?identifierType=alias", {"message": "x"}
    )
    assert status_of(api, key, missing)["status"] == "Alert does not exist"


def test_a_priority_raise_routes_again_and_pages_through_intake(api: Api) -> None:
    key = create_integration(api)
    alert_id = alert_id_of(api, key, alias="slow", priority="P3")
    assert alerts(api)[0]["action"] == "notify" and incidents(api) == []
    raised = og_call(api, key, "PUT", f"/v2/alerts/{alert_id}/priority", {"priority": "P1"})
    assert_accepted(raised)
    assert status_of(api, key, raised)["status"] == "Updated priority"
    (alert,) = alerts(api)
    assert (alert["source_severity"], alert["severity"], alert["action"]) == (
        "critical",
        "P0",
        "page",
    )
    assert alert["labels"]["priority"] == "P1"
    (incident,) = incidents(api)
    assert incident["id"] == alert["incident_id"] and incident["severity"] == "P0"
    kinds = [e["kind"] for e in timeline(api, incident["id"])]
    assert "page_requested" in kinds and "alerts_attached" in kinds
    shown = og_get(api, key, f"/v2/alerts/{alert_id}").json()["data"]
    assert shown["priority"] == "P1"


def test_a_priority_change_raises_the_incident_but_never_lowers_it(api: Api) -> None:
    key = create_integration(api)
    alert_id = alert_id_of(api, key, alias="db-down", priority="P2")
    incident_id = alerts(api)[0]["incident_id"]
    assert api.get(f"/api/v1/incidents/{incident_id}").json()["severity"] == "P1"
    og_call(api, key, "PUT", f"/v2/alerts/{alert_id}/priority", {"priority": "P1"})
    assert api.get(f"/api/v1/incidents/{incident_id}").json()["severity"] == "P0"
    changes = [e["data"] for e in timeline(api, incident_id) if e["kind"] == "severity_changed"]
    assert [(c["from"], c["to"]) for c in changes] == [("P1", "P0")]
    og_call(api, key, "PUT", f"/v2/alerts/{alert_id}/priority", {"priority": "P5"})
    assert api.get(f"/api/v1/incidents/{incident_id}").json()["severity"] == "P0"
    assert alerts(api)[0]["action"] == "ticket"  # the alert itself follows the policy


# -- what Tocsin does not take -------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", "/v2/alerts/1"),
        ("POST", "/v2/alerts/1/assign"),
        ("POST", "/v2/alerts/1/responders"),
        ("GET", "/v2/alerts/1/attachments"),
        ("GET", "/v2/alerts/saved-searches/x/y"),
    ],
)
def test_a_call_tocsin_does_not_take_is_404_never_405(api: Api, method: str, path: str) -> None:
    key = create_integration(api)
    response = og_call(api, key, method, path, {})
    assert response.status_code == 404  # the SDK reads 405 as "not authorized"
    assert set(response.json()) == {"message", "took", "requestId"}
    assert response.json()["message"].startswith("Tocsin does not support")
    unauthenticated = api.client.request(method, path)
    assert unauthenticated.status_code == 401


def test_concurrent_creates_of_one_alias_make_one_alert(api: Api) -> None:
    key = create_integration(api)
    messages = [f"Replica lag {n}s" for n in range(8)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(
            pool.map(lambda m: create(api, key, message=m, alias="lag", priority="P1"), messages)
        )
    assert {a.status_code for a in answers} == {202}
    (alert,) = alerts(api)
    assert alert["count"] == 8 and alert["summary"] in messages
    statuses = sorted(status_of(api, key, a)["status"] for a in answers)
    assert statuses == ["Alert already exists: count increased"] * 7 + ["Created alert"]
    assert len(incidents(api)) == 1
