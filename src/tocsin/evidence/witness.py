"""Witnesses: copies of every checkpoint kept outside the database, so a database
administrator who rewrites history, and recomputes every chain and checkpoint, still
disagrees with something they cannot reach.

TOCSIN_WITNESS lists them, comma-separated:
- `file:/var/lib/tocsin/witness.jsonl`: an append-only file (one JSON line per checkpoint,
  flushed and fsync'ed before the checkpoint's transaction commits; put it on storage the
  database host cannot rewrite, or ship it with your logs);
- `https://...` or `http://...`: a webhook, posted through the outbox (retried, never lost);
- `mailto:audit@example.com`: an email, through the outbox;
- `s3://bucket/prefix`: an S3-compatible bucket with object lock (tocsin.evidence.s3witness):
  one object per checkpoint, written after it commits with a retention nobody can shorten
  (COMPLIANCE) before it runs out. Tocsin refuses to start if the bucket has no object lock.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from tocsin.errors import InvalidInput
from tocsin.evidence.checkpoints import witness_record
from tocsin.evidence.models import Checkpoint
from tocsin.notify import outbox

ENV = "TOCSIN_WITNESS"


def configured(raw: str | None = None) -> list[str]:
    text = os.environ.get(ENV, "") if raw is None else raw
    witnesses = [part.strip() for part in text.split(",") if part.strip()]
    for witness in witnesses:
        if not witness.startswith(("file:", "http://", "https://", "mailto:", "s3://")):
            raise InvalidInput(
                f"{ENV}: {witness!r} is not file:PATH, an http(s) URL, mailto:ADDRESS or "
                "s3://BUCKET/PREFIX",
                field=ENV,
            )
    return witnesses


def remote(witnesses: list[str]) -> list[str]:
    """The witnesses written through the outbox, in the checkpoint's own transaction."""
    return [w for w in witnesses if w.startswith(("http://", "https://", "mailto:"))]


def buckets(witnesses: list[str]) -> list[str]:
    """The S3 witnesses (written after the checkpoint commits, like files)."""
    return [w for w in witnesses if w.startswith("s3://")]


def files(witnesses: list[str]) -> list[Path]:
    return [Path(w.removeprefix("file:")) for w in witnesses if w.startswith("file:")]


def record(session: Session, checkpoint: Checkpoint, witnesses: list[str]) -> None:
    """Give the checkpoint to every witness: files now, messages through the outbox."""
    line = json.dumps(witness_record(checkpoint), sort_keys=True)
    for witness in witnesses:
        if witness.startswith("file:"):
            append(Path(witness.removeprefix("file:")), line)
        elif witness.startswith("s3://"):
            continue  # written after the commit (tocsin.evidence.sealing)
        else:
            _send(session, checkpoint, witness, line)


def append(path: Path, line: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(line + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def _send(session: Session, checkpoint: Checkpoint, witness: str, line: str) -> None:
    email = witness.startswith("mailto:")
    outbox.enqueue(
        session,
        idempotency_key=f"checkpoint/{checkpoint.number}/{witness}"[:300],
        purpose="notify",
        channel="email" if email else "webhook",
        address=witness.removeprefix("mailto:"),
        subject=f"Tocsin checkpoint #{checkpoint.number}: {checkpoint.root}",
        body=line,
        data={"checkpoint": witness_record(checkpoint)},
    )


def read(path: Path) -> Iterator[dict[str, Any]]:
    """A witness file's records; a line that is not a record is itself a finding."""
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                try:
                    yield json.loads(line)
                except ValueError:
                    yield {"unreadable_line": number}
