"""The communications API: the record of what was said, previews, and refusals that name the
field (SQLite and PostgreSQL)."""

from __future__ import annotations

from tests.api.conftest import Api


def test_a_new_incident_has_said_nothing_yet(api: Api) -> None:
    incident = api.declare()
    response = api.get(f"/api/v1/incidents/{incident['id']}/communications")
    assert response.status_code == 200
    assert response.json() == []
    assert incident["unreached"] == []


def test_a_preview_renders_a_policy_template_against_the_incident(api: Api) -> None:
    incident = api.declare(services=["checkout"], summary="Half of checkouts fail")
    response = api.post(
        f"/api/v1/incidents/{incident['id']}/communications/preview",
        {"template": "detected", "fields": {}},
        role="viewer",
    )
    assert response.status_code == 200, response.text
    preview = response.json()
    assert preview["template"] == "detected"
    assert preview["subject"] == "[P1] Investigating: Checkout is down"
    assert "We are investigating an issue affecting checkout." in preview["body"]
    assert "Impact: Half of checkouts fail" in preview["body"]


def test_an_unknown_template_is_refused_with_the_allowed_ones(api: Api) -> None:
    incident = api.declare()
    response = api.post(
        f"/api/v1/incidents/{incident['id']}/communications/preview", {"template": "nope"}
    )
    assert response.status_code == 422
    (error,) = response.json()["errors"]
    assert error["field"] == "template" and "detected" in error["allowed"]


def test_an_update_to_an_unknown_audience_is_refused(api: Api) -> None:
    incident = api.declare()
    response = api.post(
        f"/api/v1/incidents/{incident['id']}/updates",
        {"message": "Mitigating", "audience": ["everyone-ever"]},
    )
    assert response.status_code == 422
    (error,) = response.json()["errors"]
    assert error["field"] == "audience"
    assert "customers" in error["allowed"] and "communications_lead" in error["allowed"]


def test_an_update_reaches_its_audience_and_is_recorded(api: Api) -> None:
    incident = api.declare()
    response = api.post(
        f"/api/v1/incidents/{incident['id']}/updates",
        {"message": "Rolled back", "audience": ["engineering"]},
    )
    assert response.status_code == 201, response.text
    # The default policy leaves the engineering team's address unset: recorded, not lost.
    (unreached,) = response.json()["unreached"]
    assert unreached["what"] == "update:1"
    assert "Engineering team has no address" in unreached["problems"][0]


def test_sending_an_unknown_stage_names_the_stages(api: Api) -> None:
    incident = api.declare()
    response = api.post(f"/api/v1/incidents/{incident['id']}/communications", {"stage": "nope"})
    assert response.status_code == 404
    (error,) = response.json()["errors"]
    # The default policy's P1 stages: the initial notice, security and legal (security
    # incident types) and the customer prompt.
    assert error["field"] == "stage" and error["allowed"] == ["initial", "security", "customer"]


def test_a_typod_flag_is_a_422_listing_the_flags(api: Api) -> None:
    response = api.post(
        "/api/v1/incidents",
        {"title": "Leak", "severity": "P0", "flags": {"personal_data_breech": True}},
    )
    assert response.status_code == 422
    (error,) = response.json()["errors"]
    assert error["field"] == "flags" and "personal_data_breach" in error["allowed"]
