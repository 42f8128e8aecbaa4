"""People and their console sessions (SQLite and PostgreSQL): argon2 passwords, sessions that
end when the person signs out, is disabled or changes their password, idle and absolute
expiry, and the limit on guessing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select

from tocsin.auth import people, sessions
from tocsin.auth import service as auth_service
from tocsin.auth.models import ConsoleSession, User
from tocsin.db import Database
from tocsin.errors import Conflict, InvalidInput

PASSWORD = "correct horse battery"
START = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


def make_user(database: Database, username: str = "ada", role: str = "responder") -> None:
    with database.write_session() as session:
        people.create_user(
            session, username=username, role=role, password=PASSWORD, display_name="Ada L."
        )


def open_for(database: Database, username: str = "ada") -> str:
    with database.write_session() as session:
        user = people.verify_password(session, username, PASSWORD)
        assert user is not None
        return sessions.open_session(session, user).cookie


def who(database: Database, cookie: str) -> str | None:
    with database.read_session() as session:
        found = sessions.resolve(session, cookie)
    return None if found is None else found[0].name


def test_the_password_is_kept_as_an_argon2id_hash_and_checked(database: Database) -> None:
    make_user(database)
    with database.read_session() as session:
        user = session.scalar(select(User).where(User.name == "ada"))
        assert user is not None and user.password_hash is not None
        assert user.password_hash.startswith("$argon2id$")
        assert PASSWORD not in user.password_hash
        assert user.display_name == "Ada L." and user.role == "responder"
    with database.write_session() as session:
        assert people.verify_password(session, "ada", PASSWORD) is not None
        assert people.verify_password(session, "ADA ", PASSWORD) is not None
        assert people.verify_password(session, "ada", PASSWORD + "!") is None
        assert people.verify_password(session, "nobody", PASSWORD) is None


def test_bad_users_are_refused_naming_the_field(database: Database) -> None:
    make_user(database)
    with database.write_session() as session:
        with pytest.raises(InvalidInput) as short:
            people.create_user(session, username="bob", role="viewer", password="short")
        assert short.value.field == "password" and "10 characters" in short.value.message
        with pytest.raises(InvalidInput) as role:
            people.create_user(session, username="bob", role="superuser", password=PASSWORD)
        assert role.value.field == "role" and "admin, responder, viewer" in role.value.message
        with pytest.raises(InvalidInput) as name:
            people.create_user(session, username="bob smith", role="viewer", password=PASSWORD)
        assert name.value.field == "username"
        with pytest.raises(Conflict):
            people.create_user(session, username="ada", role="viewer", password=PASSWORD)


def test_the_session_row_keeps_only_a_digest_of_the_cookie(database: Database) -> None:
    make_user(database)
    cookie = open_for(database)
    assert who(database, cookie) == "ada"
    with database.read_session() as session:
        row = session.scalar(select(ConsoleSession))
        assert row is not None and row.digest == auth_service.digest(cookie)
        assert cookie not in (row.digest, row.csrf)
    assert who(database, cookie + "x") is None


def test_signing_out_refuses_the_old_cookie(database: Database) -> None:
    make_user(database)
    cookie, other = open_for(database), open_for(database)
    with database.write_session() as session:
        assert sessions.end(session, cookie)
    assert who(database, cookie) is None
    assert who(database, other) == "ada", "another browser stays signed in"


def test_disabling_the_user_ends_every_session_and_their_tokens(database: Database) -> None:
    make_user(database)
    cookie = open_for(database)
    with database.write_session() as session:
        token = auth_service.create_token(session, name="ada", role="responder")
    with database.write_session() as session:
        people.set_disabled(session, username="ada", disabled=True)
    assert who(database, cookie) is None
    with database.write_session() as session:
        assert people.verify_password(session, "ada", PASSWORD) is None
        assert auth_service.authenticate(session, token) is None
    with database.write_session() as session:
        people.set_disabled(session, username="ada", disabled=False)
    assert who(database, cookie) is None, "enabling does not bring an ended session back"
    assert who(database, open_for(database)) == "ada"


def test_a_disabled_flag_set_directly_refuses_the_session_at_once(database: Database) -> None:
    make_user(database)
    cookie = open_for(database)
    with database.write_session() as session:
        user = people.get(session, "ada")
        user.disabled = True  # e.g. another node, before it ended the sessions
    assert who(database, cookie) is None


def test_a_new_password_ends_the_sessions_and_the_old_password(database: Database) -> None:
    make_user(database)
    cookie = open_for(database)
    with database.write_session() as session:
        people.set_password(session, username="ada", password="a whole new passphrase")
    assert who(database, cookie) is None
    with database.write_session() as session:
        assert people.verify_password(session, "ada", PASSWORD) is None
        assert people.verify_password(session, "ada", "a whole new passphrase") is not None


def test_sessions_expire_when_idle_and_after_their_absolute_limit(database: Database) -> None:
    make_user(database)
    with time_machine.travel(START, tick=False) as clock:
        idle = open_for(database)
        clock.shift(sessions.IDLE + timedelta(minutes=1))
        assert who(database, idle) is None
        busy = open_for(database)
        for _ in range(int(sessions.ABSOLUTE / sessions.IDLE) + 2):
            clock.shift(sessions.IDLE - timedelta(minutes=1))
            with database.write_session() as session:
                found = sessions.resolve(session, busy)
                if found is None:
                    break
                principal, stale = found
                assert stale and principal.session_id is not None
                sessions.touch(session, principal.session_id)
        assert who(database, busy) is None, "used all week, it still ends at the absolute limit"


def test_a_token_session_ends_when_the_token_is_revoked(database: Database) -> None:
    with database.write_session() as session:
        token = auth_service.create_token(session, name="bootstrap", role="admin")
    with database.write_session() as session:
        row = auth_service.find_live_token(session, token)
        assert row is not None
        cookie = sessions.open_session(session, row.user, token=row).cookie
    with database.read_session() as session:
        found = sessions.resolve(session, cookie)
        assert found is not None and found[0].role == "admin"
    with database.write_session() as session:
        auth_service.revoke_named(session, name="bootstrap")
    assert who(database, cookie) is None


def test_a_token_never_changes_a_persons_role(database: Database) -> None:
    make_user(database, role="viewer")
    with database.write_session() as session:
        token = auth_service.create_token(session, name="ada", role="admin")
    with database.read_session() as session:
        assert people.get(session, "ada").role == "viewer"
        principal = auth_service.authenticate(session, token)
        assert principal is not None and principal.role == "admin"


def test_guessing_is_limited_per_username_and_per_address() -> None:
    limiter = sessions.LoginLimiter(per_username=3, per_address=5, window=timedelta(minutes=15))
    with time_machine.travel(START, tick=False) as clock:
        for _ in range(3):
            assert not limiter.blocked("ada", "10.0.0.1")
            limiter.failed("ada", "10.0.0.1")
        assert limiter.blocked("ada", "10.0.0.9"), "the username is limited from any address"
        assert not limiter.blocked("bob", "10.0.0.1")
        limiter.failed("bob", "10.0.0.1")
        limiter.failed("carol", "10.0.0.1")
        assert limiter.blocked("dave", "10.0.0.1"), "the address is limited for any username"
        clock.shift(timedelta(minutes=16))
        assert not limiter.blocked("ada", "10.0.0.1")
