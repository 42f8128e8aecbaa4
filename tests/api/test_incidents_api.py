"""The incident API as a client sees it (each test runs on SQLite and PostgreSQL)."""

from __future__ import annotations

import itertools

from tests.api.conftest import Api


def test_declare_answers_201_with_the_incident(api: Api) -> None:
    incident = api.declare(
        title="Checkout is down",
        severity="P0",
        services=["checkout"],
        flags={"customer_facing": True},
    )
    assert incident["id"].startswith("INC-")
    assert incident["status"] == "investigating"
    assert incident["severity"] == "P0"
    assert incident["flags"] == {"customer_facing": True}
    assert incident["services"] == ["checkout"]
    assert incident["declared_at"].endswith("Z")
    assert isinstance(incident["clocks"], list)
    read = api.get(f"/api/v1/incidents/{incident['id']}").json()
    assert read["id"] == incident["id"]


def test_unknown_severity_is_422_and_lists_the_allowed_ones(api: Api) -> None:
    response = api.post("/api/v1/incidents", {"title": "x", "severity": "SEV9"})
    assert response.status_code == 422
    body = response.json()
    assert body["errors"] == [
        {"field": "severity", "message": body["message"], "allowed": ["P0", "P1", "P2", "P3"]}
    ]
    assert "P0, P1, P2, P3" in body["message"]


def test_a_missing_title_is_422_naming_the_field(api: Api) -> None:
    response = api.post("/api/v1/incidents", {"severity": "P1"})
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["title"]


def test_an_unknown_field_is_refused_by_name(api: Api) -> None:
    response = api.post("/api/v1/incidents", {"title": "x", "severity": "P1", "sevrity": "P0"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "sevrity"


def test_malformed_json_is_422_on_the_body(api: Api) -> None:
    response = api.client.post(
        "/api/v1/incidents",
        content=b'{"title": "x", ',
        headers={**api.headers(), "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body"


def test_a_body_over_one_mebibyte_is_413(api: Api) -> None:
    huge = {"title": "x", "severity": "P1", "summary": "a" * (1024 * 1024 + 10)}
    response = api.post("/api/v1/incidents", huge)
    assert response.status_code == 413
    assert response.json()["error"] == "too_large"


def test_no_token_is_401_and_a_bad_token_is_401(api: Api) -> None:
    assert api.client.get("/api/v1/incidents").status_code == 401
    bad = api.client.get("/api/v1/incidents", headers={"Authorization": "Bearer tcn_nope"})
    assert bad.status_code == 401
    assert bad.headers["WWW-Authenticate"] == "Bearer"


def test_a_viewer_reads_but_cannot_write(api: Api) -> None:
    incident = api.declare()
    assert api.get(f"/api/v1/incidents/{incident['id']}", role="viewer").status_code == 200
    response = api.post(f"/api/v1/incidents/{incident['id']}/notes", {"text": "hi"}, role="viewer")
    assert response.status_code == 403
    assert "viewer" in response.json()["message"]


def test_an_illegal_transition_is_409_and_names_the_next_statuses(api: Api) -> None:
    incident = api.declare()
    path = f"/api/v1/incidents/{incident['id']}/status"
    assert api.post(path, {"status": "monitoring", "message": "rolled back"}).status_code == 200
    response = api.post(path, {"status": "identified", "message": "backwards"})
    assert response.status_code == 409
    assert response.json()["errors"][0]["allowed"] == ["resolved", "closed"]
    assert "allowed next: resolved, closed" in response.json()["message"]


def test_a_status_change_needs_a_message(api: Api) -> None:
    incident = api.declare()
    response = api.post(f"/api/v1/incidents/{incident['id']}/status", {"status": "resolved"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "message"


def test_the_whole_journey_leaves_a_chained_timeline(api: Api) -> None:
    incident_id = api.declare(severity="P2")["id"]
    base = f"/api/v1/incidents/{incident_id}"
    assert api.post(f"{base}/acknowledge").status_code == 200
    assert api.post(f"{base}/severity", {"severity": "P1", "reason": "EU too"}).status_code == 200
    role = api.get("/api/v1/incidents").json()  # any read works for a viewer
    assert role["items"][0]["id"] == incident_id
    assert api.post(f"{base}/notes", {"text": "Rolling back"}).status_code == 201
    assert api.post(f"{base}/status", {"status": "resolved", "message": "Fixed"}).status_code == 200
    closed = api.post(f"{base}/status", {"status": "closed", "message": "Reviewed"}).json()
    assert closed["status"] == "closed"
    assert closed["allowed_next_statuses"] == []
    events = api.get(f"{base}/timeline").json()
    own = [e["kind"] for e in events if not e["kind"].startswith("clock")]
    assert own == [
        "declared",
        "acknowledged",
        "severity_changed",
        "note",
        "status_changed",
        "review_opened",  # P1 needs a review (docs/reviews.md)
        "status_changed",
    ]
    for before, after in itertools.pairwise(events):
        assert after["prev_hash"] == before["hash"]


def test_unknown_incident_is_404(api: Api) -> None:
    response = api.get("/api/v1/incidents/INC-1999-01-01-01")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_list_filters_and_pages(api: Api) -> None:
    for n in range(5):
        api.declare(title=f"incident {n}", severity="P1" if n % 2 else "P2")
    p1 = api.get("/api/v1/incidents", params={"severity": "P1"}).json()
    assert {i["severity"] for i in p1["items"]} == {"P1"} and len(p1["items"]) == 2
    first = api.get("/api/v1/incidents", params={"limit": 3}).json()
    second = api.get(
        "/api/v1/incidents", params={"limit": 3, "cursor": first["next_cursor"]}
    ).json()
    titles = [i["title"] for i in first["items"] + second["items"]]
    assert titles == [f"incident {n}" for n in range(4, -1, -1)]
    assert second["next_cursor"] is None
    bad = api.get("/api/v1/incidents", params={"status": "fixed"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "status"


def test_health_and_docs_are_served(api: Api) -> None:
    health = api.client.get("/healthz").json()
    assert health["status"] == "ok" and health["policy"]["name"] == "default"
    assert api.client.get("/docs").status_code == 200
    assert "/api/v1/incidents" in api.client.get("/openapi.json").json()["paths"]
