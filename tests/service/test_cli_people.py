"""`tocsin user ...`, `tocsin token ...` and `serve --bootstrap-admin` against a real
database (SQLite and PostgreSQL): people managed from the CLI, clear errors, and `make run`
twice keeping every credential that exists."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tocsin.auth import people, sessions
from tocsin.auth import service as auth_service
from tocsin.cli import admin, app
from tocsin.cli.client import read_logins, saved_token
from tocsin.db import Database

URL = "http://127.0.0.1:8080"


@pytest.fixture(autouse=True)
def environment(database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOCSIN_DATABASE_URL", database.url)
    monkeypatch.setenv("TOCSIN_CONFIG", str(tmp_path / "cli.json"))


def tocsin(*args: str, input: str | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, list(args), input=input)


def test_an_unknown_role_is_one_clear_line(database: Database) -> None:
    result = tocsin("token", "create", "--role", "superuser", "--name", "ci")
    assert result.exit_code == 1
    assert "unknown role 'superuser'; allowed: admin, responder, viewer" in result.output
    assert "Traceback" not in result.output


def test_people_are_created_listed_disabled_and_given_new_passwords(database: Database) -> None:
    made = tocsin(
        "user", "create", "ada", "--role", "admin", "--display-name", "Ada L.", "--generate"
    )
    assert made.exit_code == 0, made.output
    password = made.output.split("password: ")[1].split()[0]
    prompted = tocsin(
        "user", "create", "bob", "--role", "viewer", input="a long passphrase\na long passphrase\n"
    )
    assert prompted.exit_code == 0, prompted.output
    listed = json.loads(tocsin("user", "list", "--json").output)
    assert [(u["username"], u["role"], u["disabled"]) for u in listed] == [
        ("ada", "admin", False),
        ("bob", "viewer", False),
    ]
    assert password not in tocsin("user", "list").output
    with database.write_session() as session:
        ada = people.verify_password(session, "ada", password)
        assert ada is not None
        cookie = sessions.open_session(session, ada).cookie

    assert tocsin("user", "disable", "ada").exit_code == 0
    with database.read_session() as session:
        assert sessions.resolve(session, cookie) is None
    assert tocsin("user", "enable", "ada").exit_code == 0
    changed = tocsin("user", "set-password", "ada", "--password", "another passphrase")
    assert changed.exit_code == 0 and "sessions have ended" in changed.output
    with database.write_session() as session:
        assert people.verify_password(session, "ada", "another passphrase") is not None

    short = tocsin("user", "set-password", "bob", "--password", "short")
    assert short.exit_code == 1 and "at least 10 characters" in short.output
    unknown = tocsin("user", "disable", "nobody")
    assert unknown.exit_code == 1 and "no user named 'nobody'" in unknown.output


def test_bootstrapping_twice_keeps_the_admin_and_every_credential(
    database: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    admin._bootstrap(database, URL)
    first = capsys.readouterr().out
    assert "Admin user:   admin" in first
    password = first.split("Password:")[1].split()[0]
    token = first.split("Admin token:")[1].split()[0]
    with database.write_session() as session:
        user = people.verify_password(session, "admin", password)
        assert user is not None
        cookie = sessions.open_session(session, user).cookie

    admin._bootstrap(database, URL)
    second = capsys.readouterr().out
    assert "Password:" not in second, "the password is shown once"
    assert second.split("Admin token:")[1].split()[0] == token, "the saved token is kept"
    with database.write_session() as session:
        assert auth_service.authenticate(session, token) is not None
        assert sessions.resolve(session, cookie) is not None, "the browser stays signed in"
        assert people.verify_password(session, "admin", password) is not None
        assert len(auth_service.list_tokens(session)) == 1


def test_a_revoked_saved_token_is_replaced_without_revoking_others(
    database: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    admin._bootstrap(database, URL)
    token = capsys.readouterr().out.split("Admin token:")[1].split()[0]
    with database.write_session() as session:
        other = auth_service.create_token(session, name="ci", role="responder")
        auth_service.revoke_named(session, name=admin.BOOTSTRAP_TOKEN_NAME)
    admin._bootstrap(database, URL)
    fresh = capsys.readouterr().out.split("Admin token:")[1].split()[0]
    assert fresh != token and saved_token(URL) == fresh
    with database.read_session() as session:
        assert auth_service.authenticate(session, fresh) is not None
        assert auth_service.authenticate(session, other) is not None


def test_logins_are_kept_per_server(database: Database, capsys: pytest.CaptureFixture[str]) -> None:
    admin._bootstrap(database, URL)
    admin._bootstrap(database, "http://127.0.0.1:8081")
    capsys.readouterr()
    logins = read_logins()
    assert set(logins["servers"]) == {URL, "http://127.0.0.1:8081"}
    assert logins["current"] == "http://127.0.0.1:8081"
    assert saved_token(URL) and saved_token(URL) != saved_token("http://127.0.0.1:8081")


def test_an_old_one_server_login_file_still_reads(tmp_path: Path) -> None:
    Path(os.environ["TOCSIN_CONFIG"]).write_text(json.dumps({"url": URL + "/", "token": "tcn_x"}))
    assert saved_token(URL) == "tcn_x" and read_logins()["current"] == URL


@pytest.mark.parametrize("command", [["token", "list"], ["verify"], ["user", "list"]])
def test_outside_the_checkout_a_command_says_so_and_leaves_no_var(
    tmp_path: Path, command: list[str]
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "TOCSIN_DATABASE_URL"}
    tocsin_bin = Path(sys.executable).parent / "tocsin"
    result = subprocess.run(
        [str(tocsin_bin), *command],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "no Tocsin database at ./var/tocsin.db" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert list(elsewhere.iterdir()) == [], "nothing left behind, not even an empty ./var"
