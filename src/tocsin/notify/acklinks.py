"""Acknowledge links: signed, single-use, expiring, and usable without logging in.

A link carries the incident, the person paged, a random nonce and an expiry, signed with
HMAC-SHA256 under a key every instance shares, kept in the database sealed (`tocsin.vault`):
whoever reads the database cannot mint links. Using a link stores its nonce, so a link works
once; a forwarded or replayed link is refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin import vault
from tocsin.db import remember, upsert_insert
from tocsin.errors import Conflict, InvalidInput, NotFound
from tocsin.notify.models import ServerSecret, UsedAckToken
from tocsin.notify.sealed import database_url
from tocsin.timesource import now

KEY_NAME = "ack-link-key"
LIFETIME = timedelta(hours=24)
# The one answer for a link that is not ours: it says nothing about which part was wrong.
NO_SUCH_LINK = "there is no such acknowledge link; acknowledge in the console, API or CLI"


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
        candidate = vault.seal(secrets.token_hex(32), database_url(session))
        session.execute(
            upsert_insert(session)(ServerSecret)
            .values(name=KEY_NAME, value=candidate, created_at=now())
            .on_conflict_do_nothing()
        )
        stored = session.get(ServerSecret, KEY_NAME)
        assert stored is not None
    return bytes.fromhex(vault.unseal(stored.value, database_url(session)))


def reseal_secrets(session: Session, *, rotate: bool = False) -> int:
    """Seal the secrets stored in the clear (from before sealing), and with `rotate` re-seal
    every one under the first key, so an old key can then be dropped. Returns how many."""
    url = database_url(session)
    changed = 0
    for stored in session.scalars(select(ServerSecret)):
        if rotate or not vault.is_sealed(stored.value):
            stored.value = vault.reseal(stored.value, url)
            changed += 1
    return changed


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
    # A burst signs one link per page: unseal the key once per transaction that asked
    # (tocsin.db.enable_memo), not once per link.
    key = remember(session, ("acklinks.signing_key",), lambda: signing_key(session))
    signature = hmac.new(key, body.encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(signature)}"


def read_token(session: Session, token: str) -> AckClaim:
    """Check the signature and expiry. A link that is not ours is NotFound, whatever is wrong
    with it; only a genuine link hears that it expired (InvalidInput) or was used (Conflict)."""
    body, _, signature = token.partition(".")
    expected = hmac.new(signing_key(session), body.encode(), hashlib.sha256).digest()
    try:
        valid = hmac.compare_digest(_unb64(signature), expected)
        claim = json.loads(_unb64(body)) if valid else None
    except (ValueError, UnicodeDecodeError):
        claim = None
    if not claim:
        raise NotFound(NO_SUCH_LINK, field="token")
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
