"""Which policy is in force, and the policy each incident was declared under."""

from __future__ import annotations

from functools import lru_cache
from weakref import WeakKeyDictionary

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from tocsin.db import upsert_insert
from tocsin.errors import NotFound
from tocsin.policy.loader import LoadedPolicy, load_policy_text
from tocsin.policy.models import PolicySnapshot
from tocsin.timesource import now

# Per database engine, the policy hashes seen stored by a committed transaction. Snapshots
# are never deleted, so a declaration need not look its policy up again (in a storm, every
# declaration did, for the same hash). A hash this transaction inserted itself is not noted:
# it could still roll back.
_STORED: WeakKeyDictionary[Engine, set[str]] = WeakKeyDictionary()
INSERTED = "tocsin.policy.inserted"


def remember(session: Session, loaded: LoadedPolicy) -> None:
    """Store the policy text under its hash, once, even when declarations race."""
    stored = _stored(session)
    if loaded.hash in stored:
        return
    if session.get(PolicySnapshot, loaded.hash) is not None:
        if loaded.hash not in session.info.get(INSERTED, ()):
            stored.add(loaded.hash)
        return
    session.info.setdefault(INSERTED, set()).add(loaded.hash)
    insert = upsert_insert(session)
    values = {
        "hash": loaded.hash,
        "name": loaded.policy.name,
        "source": loaded.source,
        "text": loaded.text,
        "first_seen_at": now(),
    }
    session.execute(insert(PolicySnapshot).values(**values).on_conflict_do_nothing())


def _stored(session: Session) -> set[str]:
    engine = session.get_bind()
    if not isinstance(engine, Engine):  # a session bound to one connection: no sharing
        return set()
    return _STORED.setdefault(engine, set())


@lru_cache(maxsize=64)
def _parse(text: str, source: str) -> LoadedPolicy:
    return load_policy_text(text, source=source)


def by_hash(session: Session, policy_hash: str) -> LoadedPolicy:
    snapshot = session.get(PolicySnapshot, policy_hash)
    if snapshot is None:
        raise NotFound(f"no policy with hash {policy_hash}", field="policy_hash")
    return _parse(snapshot.text, snapshot.source)
