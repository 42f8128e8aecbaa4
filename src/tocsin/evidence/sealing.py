"""Sealing: make a checkpoint when a timeline moved, give it to the remote witnesses in the
same transaction, then bring every witness file and bucket up to date (see
tocsin.engine.checkpoints)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.db import Database
from tocsin.evidence import checkpoints, signing, witness
from tocsin.evidence.checkpoints import signed_payload, witness_record
from tocsin.evidence.models import Checkpoint


def make(
    database: Database, key: Ed25519PrivateKey, witnesses: list[str], *, force: bool = False
) -> Checkpoint | None:
    """One checkpoint, if a timeline moved (or `force`), then the witness files caught up."""
    with database.write_session() as session:
        if (
            not force
            and checkpoints.latest(session) is not None
            and not checkpoints.moved_since_latest(session)
        ):
            made = None
        else:
            made = checkpoints.create(session, key).checkpoint
            witness.record(session, made, witness.remote(witnesses))
    catch_up(database, key, witness.files(witnesses))
    if witness.buckets(witnesses):
        from tocsin.evidence import s3witness  # boto3 is loaded only when used

        for url in witness.buckets(witnesses):
            s3witness.Bucket.configured(url).catch_up(database, key)
    return made


def catch_up(database: Database, key: Ed25519PrivateKey, paths: list[Path]) -> None:
    """Append to each witness file the checkpoints it lacks, oldest first (only ones whose
    signature this key made: a row forged into the database is never witnessed)."""
    with database.read_session() as session:
        for path in paths:
            have = {r.get("number") for r in witness.read(path)} if path.exists() else set()
            for checkpoint in unwitnessed(session, key, have):
                witness.append(path, json.dumps(witness_record(checkpoint), sort_keys=True))


def unwitnessed(session: Session, key: Ed25519PrivateKey, have: set[Any]) -> list[Checkpoint]:
    """The checkpoints, oldest first, whose number is not in `have` and whose signature this
    key made."""
    public = key.public_key()
    stored = session.scalars(select(Checkpoint).order_by(Checkpoint.number))
    return [
        c
        for c in stored
        if c.number not in have and signing.valid(public, signed_payload(c), c.signature)
    ]
