"""Acknowledge links: signed, single-use, expiring, and usable without logging in.

A link carries the incident, the person paged, a random nonce and an expiry, signed with
HMAC-SHA256 under a key every instance shares (kept in the database). Using it stores the
nonce, so a link works once; a forwarded or replayed link is refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from tocsin.db import upsert_insert
from tocsin.errors import Conflict, InvalidInput
from tocsin.notify.models import ServerSecret, UsedAckToken
from tocsin.timesource import now

KEY_NAME = "ack-link-key"
LIFETIME = timedelta(hours=24)


@dataclass(frozen=True)
class AckClaim:
    incident_id: str
    person: str
    nonce: str
    expires_at: datetime


def signing_key(session: Session) -> bytes:
    """The shared key, created once by whichever instance needs it first."""
    stored = session.get(ServerSecret, KEY_NAME)
    if stored is None:
        candidate = secrets.token_hex(32)
        session.execute(
            upsert_insert(session)(ServerSecret)
            .values(name=KEY_NAME, value=candidate, created_at=now())
            .on_conflict_do_nothing()
        )
        stored = session.get(ServerSecret, KEY_NAME)
        assert stored is not None
    return bytes.fromhex(stored.value)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make_token(session: Session, *, incident_id: str, person: str) -> str:
    claim = {
        "i": incident_id,
        "p": person,
        "n": secrets.token_hex(12),
        "e": int((now() + LIFETIME).timestamp()),
    }
    body = _b64(json.dumps(claim, separators=(",", ":")).encode())
    signature = hmac.new(signing_key(session), body.encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(signature)}"


def read_token(session: Session, token: str) -> AckClaim:
    """Check the signature and expiry; raise InvalidInput naming what is wrong."""
    body, _, signature = token.partition(".")
    expected = hmac.new(signing_key(session), body.encode(), hashlib.sha256).digest()
    try:
        valid = hmac.compare_digest(_unb64(signature), expected)
        claim = json.loads(_unb64(body)) if valid else None
    except (ValueError, UnicodeDecodeError):
        claim = None
    if not claim:
        raise InvalidInput("this acknowledge link is not valid", field="token")
    expires = datetime.fromtimestamp(int(claim["e"]), tz=now().tzinfo)
    if expires < now():
        raise InvalidInput("this acknowledge link has expired; use the API or CLI", field="token")
    return AckClaim(str(claim["i"]), str(claim["p"]), str(claim["n"]), expires)


def consume(session: Session, claim: AckClaim) -> None:
    """Mark the link used; a second use is a Conflict.

    RETURNING says whether this call stored the nonce: an INSERT's rowcount is -1 on
    PostgreSQL (psycopg), which once let a used link through there.
    """
    stored = session.execute(
        upsert_insert(session)(UsedAckToken)
        .values(nonce=claim.nonce, used_at=now(), expires_at=claim.expires_at)
        .on_conflict_do_nothing()
        .returning(UsedAckToken.nonce)
    ).scalar()
    if stored is None:
        raise Conflict("this acknowledge link was already used", field="token")
