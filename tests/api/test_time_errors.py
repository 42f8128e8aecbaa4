"""A time Tocsin cannot take is refused naming the field, with an example of one it takes,
never pydantic's own wording (SQLite and PostgreSQL)."""

from __future__ import annotations

from tests.api.conftest import Api


def test_a_query_time_that_does_not_parse(api: Api) -> None:
    answer = api.get("/api/v1/oncall", params={"at": "3pm"})
    assert answer.status_code == 422
    error = answer.json()["errors"][0]
    assert error["field"] == "at"
    assert error["message"] == (
        "'3pm' is not a time: give an ISO 8601 time with a time zone, e.g. 2026-11-22T09:12:00Z"
    )
    assert "Input should be" not in answer.text


def test_a_body_time_without_a_zone(api: Api) -> None:
    incident = api.declare()
    answer = api.post(
        f"/api/v1/incidents/{incident['id']}/status",
        {"status": "identified", "message": "x", "at": "2026-11-22T09:12:00"},
    )
    assert answer.status_code == 422
    assert answer.json()["message"].startswith("at: '2026-11-22T09:12:00' has no time zone")
    assert "2026-11-22T10:12:00+01:00" in answer.json()["message"]
