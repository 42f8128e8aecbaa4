"""The channels API (SQLite and PostgreSQL): settings validated on save with errors naming the
field, secrets never in an answer, admins alone change channels, the policy's references to
channels nobody saved listed, and a test message queued in the outbox before the 202."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from tests.api.conftest import Api, make_api
from tests.console_auth import sign_in_client
from tocsin.db import Database
from tocsin.notify import sealed
from tocsin.notify.models import NamedChannel, Notification
from tocsin.policy.loader import load_policy

PASSWORD = "p4ssw0rd-for-the-relay"
LEGAL = {
    "name": "legal",
    "kind": "email",
    "config": {
        "to": ["legal@example.com"],
        "host": "smtp.example.com",
        "username": "tocsin",
        "password": PASSWORD,
        "from": "Tocsin <tocsin@example.com>",
        "reply_to": "desk@example.com",
    },
}


@pytest.fixture
def proofkit_api(database: Database) -> Iterator[Api]:
    yield from make_api(database, load_policy("proofkit"))


def add(api: Api, body: object = LEGAL) -> dict[str, object]:
    response = api.post("/api/v1/channels", body, role="admin")
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def patch(api: Api, name: str, config: object, role: str = "admin"):  # type: ignore[no-untyped-def]
    return api.client.patch(
        f"/api/v1/channels/{name}", json={"config": config}, headers=api.headers(role)
    )


def stored(database: Database, name: str) -> dict[str, object]:
    with database.read_session() as session:
        row = session.scalar(select(NamedChannel).where(NamedChannel.name == name))
        assert row is not None
        return sealed.open_config(session, row.config)


def test_a_saved_channel_is_shown_with_its_password_masked(api: Api) -> None:
    created = add(api)
    assert created["config"]["password"] == "********"  # type: ignore[index]
    assert created["config"]["reply_to"] == "desk@example.com"  # type: ignore[index]
    for path in ("/api/v1/channels", "/api/v1/channels/legal"):
        answer = api.get(path)
        assert answer.status_code == 200 and PASSWORD not in answer.text


def test_bad_settings_are_a_422_naming_the_field_and_not_echoing_it(api: Api) -> None:
    settings = {**LEGAL["config"], "port": 99999, "from": "nobody", "to": "a@x.org, b"}  # type: ignore[dict-item]
    refused = api.post("/api/v1/channels", {**LEGAL, "config": settings}, role="admin")
    assert refused.status_code == 422
    fields = [e["field"] for e in refused.json()["errors"]]
    assert fields == ["config.to.1", "config.port", "config.from"]
    plain = {**LEGAL["config"], "security": "plain"}  # type: ignore[dict-item]
    refused = api.post("/api/v1/channels", {**LEGAL, "config": plain}, role="admin")
    (error,) = refused.json()["errors"]
    assert error["field"] == "config.security"
    assert error["message"].startswith("plain would send the password unencrypted")
    assert PASSWORD not in refused.text
    assert api.get("/api/v1/channels").json()["items"] == []


def test_an_unknown_setting_lists_the_kinds_settings(api: Api) -> None:
    body = {
        "name": "hooks",
        "kind": "webhook",
        "config": {"url": "https://x.example", "sekret": "y"},
    }
    refused = api.post("/api/v1/channels", body, role="admin")
    assert refused.status_code == 422
    allowed = "allowed: headers, per_minute, secret, timeout_s, url"
    assert f"config.sekret: not a setting of this kind; {allowed}" in refused.text


def test_a_change_keeps_the_saved_password_unless_a_new_one_is_given(
    api: Api, database: Database
) -> None:
    add(api)
    shown = api.get("/api/v1/channels/legal").json()["config"]
    # Saving the masked listing back, with one setting changed, keeps the password.
    changed = patch(api, "legal", {**shown, "to": "legal@example.com, gc@example.com"})
    assert changed.status_code == 200, changed.text
    assert stored(database, "legal")["password"] == PASSWORD
    assert stored(database, "legal")["to"] == ["legal@example.com", "gc@example.com"]
    assert patch(api, "legal", {"reply_to": None}).json()["config"]["reply_to"] is None
    assert patch(api, "legal", {"password": "a-new-one"}).status_code == 200
    assert stored(database, "legal")["password"] == "a-new-one"


def test_only_admins_change_channels_or_send_tests(api: Api) -> None:
    for role in ("viewer", "responder"):
        assert api.post("/api/v1/channels", LEGAL, role=role).status_code == 403
    add(api)
    assert patch(api, "legal", {"port": 2525}, role="responder").status_code == 403
    assert api.post("/api/v1/channels/legal/tests", role="responder").status_code == 403
    deleted = api.client.delete("/api/v1/channels/legal", headers=api.headers("responder"))
    assert deleted.status_code == 403


def test_a_second_channel_of_the_same_name_is_a_409(api: Api) -> None:
    add(api)
    again = api.post("/api/v1/channels", LEGAL, role="admin")
    assert again.status_code == 409 and again.json()["errors"][0]["field"] == "name"


def test_an_unknown_channel_is_a_404_naming_the_saved_ones(api: Api) -> None:
    add(api)
    missing = api.get("/api/v1/channels/exec-sms")
    assert missing.status_code == 404 and "channels: legal" in missing.json()["message"]
    bad_name = api.post("/api/v1/channels", {**LEGAL, "name": "Legal Team"}, role="admin")
    assert bad_name.status_code == 422 and bad_name.json()["errors"][0]["field"] == "name"


def test_the_listing_names_channels_the_policy_reaches_but_nobody_saved(
    proofkit_api: Api,
) -> None:
    listing = proofkit_api.get("/api/v1/channels").json()
    assert listing["missing"] == [{"name": "customers", "audiences": ["customers"]}]
    add(proofkit_api, {**LEGAL, "name": "customers"})
    listing = proofkit_api.get("/api/v1/channels").json()
    assert listing["missing"] == []
    assert listing["items"][0]["audiences"] == ["customers"]


def test_a_test_message_is_in_the_outbox_before_the_202(api: Api, database: Database) -> None:
    add(api)
    queued = api.post("/api/v1/channels/legal/tests", role="admin")
    assert queued.status_code == 202
    test = queued.json()
    assert test["status"] == "pending" and test["attempts"] == 0
    with database.read_session() as session:
        row = session.get(Notification, test["id"])
        assert row is not None and row.address == "channel:legal" and row.channel == "email"
        assert PASSWORD not in row.body + row.subject + str(row.data)
    outcome = api.get(f"/api/v1/channels/legal/tests/{test['id']}")
    assert outcome.status_code == 200 and outcome.json()["id"] == test["id"]
    add(api, {**LEGAL, "name": "other"})
    assert api.get(f"/api/v1/channels/other/tests/{test['id']}").status_code == 404


def test_a_removed_channel_is_gone(api: Api) -> None:
    add(api)
    removed = api.client.delete("/api/v1/channels/legal", headers=api.headers("admin"))
    assert removed.status_code == 204
    assert api.get("/api/v1/channels/legal").status_code == 404


# -- the console page ---------------------------------------------------------------------------


def console(api: Api, role: str = "admin") -> str:
    """Sign the console in with `role`'s token; the CSRF token its forms carry."""
    api.client.cookies.clear()
    return sign_in_client(api.client, token=api.tokens[role])


def test_the_console_lists_channels_masked_and_what_the_policy_lacks(proofkit_api: Api) -> None:
    add(proofkit_api, {**LEGAL, "name": "legal"})
    console(proofkit_api, "viewer")
    page = proofkit_api.client.get("/console/channels")
    assert page.status_code == 200
    assert "legal@example.com" in page.text and "********" in page.text
    assert PASSWORD not in page.text
    assert "tocsin notify channel add customers KIND" in page.text
    assert "Send a test" not in page.text, "only admins send tests"


def test_an_admin_sends_a_test_from_the_console(api: Api, database: Database) -> None:
    add(api)
    csrf = console(api, "admin")
    origin = {"Origin": "http://testserver"}
    sent = api.client.post(
        "/console/channels/legal/test",
        data={"csrf_token": csrf},
        headers=origin,
        follow_redirects=False,
    )
    assert sent.status_code == 303 and sent.headers["location"] == "/console/channels"
    with database.read_session() as session:
        rows = session.scalars(select(Notification).where(Notification.address == "channel:legal"))
        assert len(list(rows)) == 1
    csrf = console(api, "responder")
    refused = api.client.post(
        "/console/channels/legal/test", data={"csrf_token": csrf}, headers=origin
    )
    assert refused.status_code == 403
