"""Which policy is in force, and the policy each incident was declared under."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from weakref import WeakKeyDictionary

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from tocsin.db import upsert_insert
from tocsin.errors import NotFound
from tocsin.policy.loader import LoadedPolicy, load_policy_text
from tocsin.policy.models import PolicySnapshot
from tocsin.timesource import now


# Per database engine, what is known to be stored by a committed transaction. A snapshot is
# never deleted and its text is what its hash names, so once seen it need not be read again:
# in a storm every declaration looked its policy up, and every answer and engine step read
# the whole policy text back by hash. What this transaction inserted itself is not noted: it
# could still roll back.
@dataclass
class _Known:
    stored: set[str] = field(default_factory=set)
    policies: dict[str, LoadedPolicy] = field(default_factory=dict)


_KNOWN: WeakKeyDictionary[Engine, _Known] = WeakKeyDictionary()
INSERTED = "tocsin.policy.inserted"


def remember(session: Session, loaded: LoadedPolicy) -> None:
    """Store the policy text under its hash, once, even when declarations race."""
    known = _known(session)
    if loaded.hash in known.stored:
        return
    if session.get(PolicySnapshot, loaded.hash) is not None:
        if _committed(session, loaded.hash):
            known.stored.add(loaded.hash)
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


def _committed(session: Session, policy_hash: str) -> bool:
    """Found, and not by this session's own insert (which may yet roll back)."""
    return policy_hash not in session.info.get(INSERTED, ())


def _known(session: Session) -> _Known:
    engine = session.get_bind()
    if not isinstance(engine, Engine):  # a session bound to one connection: no sharing
        return _Known()
    return _KNOWN.setdefault(engine, _Known())


@lru_cache(maxsize=64)
def _parse(text: str, source: str) -> LoadedPolicy:
    return load_policy_text(text, source=source)


def by_hash(session: Session, policy_hash: str) -> LoadedPolicy:
    known = _known(session)
    if policy_hash in known.policies:
        return known.policies[policy_hash]
    snapshot = session.get(PolicySnapshot, policy_hash)
    if snapshot is None:
        raise NotFound(f"no policy with hash {policy_hash}", field="policy_hash")
    loaded = _parse(snapshot.text, snapshot.source)
    if _committed(session, policy_hash):
        known.stored.add(policy_hash)
        known.policies[policy_hash] = loaded
    return loaded
