"""Which policy is in force, and the policy each incident was declared under."""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy.orm import Session

from tocsin.db import upsert_insert
from tocsin.errors import NotFound
from tocsin.policy.loader import LoadedPolicy, load_policy_text
from tocsin.policy.models import PolicySnapshot
from tocsin.timesource import now


def remember(session: Session, loaded: LoadedPolicy) -> None:
    """Store the policy text under its hash, once, even when declarations race."""
    if session.get(PolicySnapshot, loaded.hash) is not None:
        return
    insert = upsert_insert(session)
    values = {
        "hash": loaded.hash,
        "name": loaded.policy.name,
        "source": loaded.source,
        "text": loaded.text,
        "first_seen_at": now(),
    }
    session.execute(insert(PolicySnapshot).values(**values).on_conflict_do_nothing())


@lru_cache(maxsize=64)
def _parse(text: str, source: str) -> LoadedPolicy:
    return load_policy_text(text, source=source)


def by_hash(session: Session, policy_hash: str) -> LoadedPolicy:
    snapshot = session.get(PolicySnapshot, policy_hash)
    if snapshot is None:
        raise NotFound(f"no policy with hash {policy_hash}", field="policy_hash")
    return _parse(snapshot.text, snapshot.source)
