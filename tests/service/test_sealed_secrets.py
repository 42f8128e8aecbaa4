"""The acknowledge-link signing key is sealed in the database: a dump of it mints nothing."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from sqlalchemy import select

from tocsin import vault
from tocsin.db import Database
from tocsin.errors import NotFound
from tocsin.notify import acklinks
from tocsin.notify.models import ServerSecret
from tocsin.timesource import now


def _stored(database: Database) -> str:
    with database.read_session() as session:
        return session.scalars(select(ServerSecret.value)).one()


def test_the_stored_key_is_sealed_and_links_still_verify(database: Database) -> None:
    with database.write_session() as session:
        token = acklinks.make_token(session, incident_id="INC-1", person="alice")
    stored = _stored(database)
    assert vault.is_sealed(stored)
    with database.read_session() as session:
        key = acklinks.signing_key(session)
        assert key.hex() not in stored
        assert acklinks.read_token(session, token).person == "alice"


def test_a_link_forged_with_what_the_database_holds_is_not_found(database: Database) -> None:
    with database.write_session() as session:
        acklinks.make_token(session, incident_id="INC-1", person="alice")
    # An attacker with the database signs with the stored text, the only key they have.
    body = acklinks._b64(b'{"i":"INC-1","p":"mallory","n":"00","e":9999999999}')
    forged_mac = hmac.new(_stored(database).encode(), body.encode(), hashlib.sha256).digest()
    forged = f"{body}.{acklinks._b64(forged_mac)}"
    with database.read_session() as session, pytest.raises(NotFound) as refused:
        acklinks.read_token(session, forged)
    assert refused.value.message == acklinks.NO_SUCH_LINK


def test_a_key_stored_before_sealing_is_sealed_and_keeps_its_links(database: Database) -> None:
    plain = "ab" * 32
    with database.write_session() as session:
        session.add(ServerSecret(name=acklinks.KEY_NAME, value=plain, created_at=now()))
    with database.write_session() as session:
        issued_before = acklinks.make_token(session, incident_id="INC-7", person="bob")
    with database.write_session() as session:
        assert acklinks.reseal_secrets(session) == 1
    assert vault.is_sealed(_stored(database))
    with database.write_session() as session:
        assert acklinks.reseal_secrets(session) == 0  # nothing left in the clear
        assert acklinks.signing_key(session) == bytes.fromhex(plain)
        assert acklinks.read_token(session, issued_before).incident_id == "INC-7"
