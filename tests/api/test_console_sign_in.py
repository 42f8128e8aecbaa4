"""Signing in to the console as a person (SQLite and PostgreSQL), in-process: the session
cookie's flags, signing out, disabling, a new password, CSRF tokens, the guessing limit, the
users page, and actions on the timeline named after the person who did them."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import Api
from tests.console_auth import csrf_from, sign_in_client
from tocsin.auth import people
from tocsin.config import Settings
from tocsin.db import Database
from tocsin.policy.loader import LoadedPolicy
from tocsin.web.app import create_app
from tocsin.web.deps import Runtime

PASSWORD = "correct horse battery"
ORIGIN = {"Origin": "http://testserver"}


def add_person(database: Database, username: str, role: str = "responder") -> None:
    with database.write_session() as session:
        people.create_user(
            session, username=username, role=role, password=PASSWORD, display_name="Ada Lovelace"
        )


def login(client: TestClient, username: str, password: str = PASSWORD):  # type: ignore[no-untyped-def]
    return client.post(
        "/console/login",
        data={"username": username, "password": password, "next": "/console"},
        headers=ORIGIN,
        follow_redirects=False,
    )


@pytest.fixture
def https_client(database: Database, default_policy: LoadedPolicy) -> Iterator[TestClient]:
    settings = Settings(database_url=database.url, public_url="https://tocsin.example.com")
    runtime = Runtime(settings=settings, database=database, policy=default_policy)
    with TestClient(create_app(runtime), base_url="http://testserver") as client:
        yield client


def test_the_cookie_is_a_session_id_httponly_lax_and_secure_under_https(
    https_client: TestClient, database: Database
) -> None:
    add_person(database, "ada")
    signed = login(https_client, "ada")
    assert signed.status_code == 303 and signed.headers["location"] == "/console"
    cookie = signed.headers["set-cookie"]
    assert cookie.startswith("tocsin_session=")
    for flag in ("HttpOnly", "SameSite=lax", "Secure", "Path=/console"):
        assert flag.lower() in cookie.lower(), (flag, cookie)
    assert PASSWORD.replace(" ", "") not in cookie


def test_over_plain_http_the_cookie_is_not_secure(api: Api, database: Database) -> None:
    add_person(database, "ada")
    cookie = login(api.client, "ada").headers["set-cookie"]
    assert "secure" not in cookie.lower() and "httponly" in cookie.lower()


def test_a_person_signs_in_sees_their_name_and_signs_out(api: Api, database: Database) -> None:
    add_person(database, "ada")
    assert login(api.client, "ada").status_code == 303
    page = api.client.get("/console")
    assert page.status_code == 200 and "Ada Lovelace" in page.text
    old = api.client.cookies.get("tocsin_session")
    assert old
    out = api.client.post("/console/logout", headers=ORIGIN, follow_redirects=False)
    assert out.status_code == 303
    api.client.cookies.clear()
    api.client.cookies.set("tocsin_session", old, path="/console")
    again = api.client.get("/console", follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"].startswith("/console/login")


def test_a_wrong_password_and_an_unknown_name_get_the_same_answer(
    api: Api, database: Database
) -> None:
    add_person(database, "ada")
    wrong, unknown = login(api.client, "ada", "not the password"), login(api.client, "zed")
    assert wrong.status_code == unknown.status_code == 401
    assert "Username or password not recognised" in wrong.text
    error = re.compile(r'<p class="field-error"[^>]*>([^<]*)</p>')
    assert error.findall(wrong.text) == error.findall(unknown.text) != []
    assert "tocsin_session" not in wrong.headers.get("set-cookie", "")


def test_guessing_a_password_is_stopped_even_for_the_right_one(
    api: Api, database: Database
) -> None:
    add_person(database, "ada")
    for _ in range(5):
        assert login(api.client, "ada", "guess-guess-guess").status_code == 401
    blocked = login(api.client, "ada")
    assert blocked.status_code == 401, "the right password is refused while the limit holds"
    assert "too many attempts" in blocked.text


def test_disabling_a_person_refuses_their_session_at_once(api: Api, database: Database) -> None:
    add_person(database, "ada")
    login(api.client, "ada")
    assert api.client.get("/console", follow_redirects=False).status_code == 200
    with database.write_session() as session:
        people.set_disabled(session, username="ada", disabled=True)
    assert api.client.get("/console", follow_redirects=False).status_code == 303
    assert login(api.client, "ada").status_code == 401


def test_a_new_password_refuses_the_session_at_once(api: Api, database: Database) -> None:
    add_person(database, "ada")
    login(api.client, "ada")
    with database.write_session() as session:
        people.set_password(session, username="ada", password="another long passphrase")
    assert api.client.get("/console", follow_redirects=False).status_code == 303


def test_a_form_without_its_csrf_token_is_refused(api: Api, database: Database) -> None:
    add_person(database, "ada")
    login(api.client, "ada")
    page = api.client.get("/console")
    csrf = csrf_from(page.text)
    assert page.text.count('name="csrf_token"') >= 2, "the declare form and Sign out carry it"
    form = {"title": "Checkout is down", "severity": "P2"}
    for sent in ({}, {"csrf_token": "forged"}):
        refused = api.client.post("/console/incidents", data={**form, **sent}, headers=ORIGIN)
        assert refused.status_code == 403 and "security token" in refused.text
    made = api.client.post(
        "/console/incidents",
        data={**form, "csrf_token": csrf},
        headers=ORIGIN,
        follow_redirects=False,
    )
    assert made.status_code == 303 and "/console/incidents/INC-" in made.headers["location"]


def test_console_actions_are_attributed_to_the_person(api: Api, database: Database) -> None:
    add_person(database, "ada")
    incident = api.declare()
    csrf = sign_in_client(api.client, username="ada", password=PASSWORD)
    noted = api.client.post(
        f"/console/incidents/{incident['id']}/notes",
        data={"text": "Rolled back deploy 4411", "csrf_token": csrf},
        headers=ORIGIN,
        follow_redirects=False,
    )
    assert noted.status_code == 303
    timeline = api.get(f"/api/v1/incidents/{incident['id']}/timeline").json()
    events = timeline["events"] if isinstance(timeline, dict) else timeline
    note = next(e for e in events if "Rolled back" in str(e.get("data")))
    assert note["actor"] == "ada"


def test_the_users_page_is_for_admins_who_create_disable_and_reset(
    api: Api, database: Database
) -> None:
    add_person(database, "root", role="admin")
    add_person(database, "ada", role="viewer")
    viewer = TestClient(api.client.app)
    sign_in_client(viewer, username="ada", password=PASSWORD)
    assert viewer.get("/console/users").status_code == 403
    csrf = sign_in_client(api.client, username="root", password=PASSWORD)
    page = api.client.get("/console/users")
    assert page.status_code == 200 and "<code>ada</code>" in page.text
    created = api.client.post(
        "/console/users",
        data={
            "username": "grace",
            "display_name": "Grace H.",
            "role": "responder",
            "password": "compilers all the way",
            "csrf_token": csrf,
        },
        headers=ORIGIN,
    )
    assert created.status_code == 200 and "User grace created" in created.text
    short = api.client.post(
        "/console/users/grace/password",
        data={"password": "short", "csrf_token": csrf},
        headers=ORIGIN,
    )
    assert "password: at least 10 characters" in short.text
    api.client.post("/console/users/ada/disable", data={"csrf_token": csrf}, headers=ORIGIN)
    assert viewer.get("/console", follow_redirects=False).status_code == 303
    with database.read_session() as session:
        assert people.get(session, "ada").disabled
        assert people.get(session, "grace").display_name == "Grace H."
