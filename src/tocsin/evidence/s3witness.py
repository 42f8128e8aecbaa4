"""A checkpoint witness in an S3-compatible bucket with object lock (`s3://bucket/prefix` in
TOCSIN_WITNESS).

Each checkpoint becomes one object, `prefix/checkpoint-0000000042.json`, holding the same
record as a witness file's line, written with an object-lock retention:
TOCSIN_WITNESS_S3_LOCK_MODE (`COMPLIANCE`, the default: nobody, not even the bucket's owner,
can delete or overwrite the version or shorten its retention before it runs out; or
`GOVERNANCE`: users with s3:BypassGovernanceRetention can) until now +
TOCSIN_WITNESS_S3_RETAIN_DAYS (400 by default). A bucket without object lock is refused at
start, naming the setting: without it the witness is just another copy an administrator can
rewrite.

Objects are written after the checkpoint commits, catching up on every signed checkpoint the
bucket lacks, as witness files do. `tocsin verify` reads every version under the prefix back:
an overwrite leaves the locked original as an older version, and both are compared.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tocsin.db import Database
from tocsin.errors import InvalidInput
from tocsin.evidence import s3
from tocsin.evidence.checkpoints import witness_record
from tocsin.evidence.witness import ENV
from tocsin.timesource import now

MODE_ENV = "TOCSIN_WITNESS_S3_LOCK_MODE"
DAYS_ENV = "TOCSIN_WITNESS_S3_RETAIN_DAYS"
MODES = ("COMPLIANCE", "GOVERNANCE")
DEFAULT_DAYS = 400
_NAME = re.compile(r"checkpoint-(\d+)\.json$")


def lock_mode() -> str:
    raw = os.environ.get(MODE_ENV, "").strip().upper() or MODES[0]
    if raw not in MODES:
        raise InvalidInput(
            f"{MODE_ENV} must be COMPLIANCE or GOVERNANCE, got {raw!r}",
            field=MODE_ENV,
            allowed=MODES,
        )
    return raw


def retain_days() -> int:
    raw = os.environ.get(DAYS_ENV, "").strip()
    if not raw:
        return DEFAULT_DAYS
    if not raw.isdigit() or int(raw) < 1:
        raise InvalidInput(f"{DAYS_ENV} must be a number of days, got {raw!r}", field=DAYS_ENV)
    return int(raw)


@dataclass(frozen=True)
class Bucket:
    location: s3.Location

    @classmethod
    def configured(cls, url: str) -> Bucket:
        return cls(s3.Location.parse(url, ENV))

    def __str__(self) -> str:
        return str(self.location)

    def key_for(self, number: int) -> str:
        return self.location.key(f"checkpoint-{number:010d}.json")

    def check(self) -> None:
        """Refuse a bucket that cannot be reached or has no object lock (and the settings)."""
        lock_mode(), retain_days()
        answer: Any
        try:
            answer = s3.client().get_object_lock_configuration(Bucket=self.location.bucket)
        except ClientError as exc:
            if s3.error_code(exc) == "ObjectLockConfigurationNotFoundError":
                answer = {}
            else:
                raise s3.explain(exc, self.location, "checking object lock") from None
        except BotoCoreError as exc:
            raise s3.explain(exc, self.location, "checking object lock") from None
        config: Any = answer.get("ObjectLockConfiguration", {})
        if config.get("ObjectLockEnabled") != "Enabled":
            raise InvalidInput(
                f"{ENV}: bucket {self.location.bucket!r} has no object lock configuration; a "
                "witness must be a bucket created with object lock enabled (its objects "
                "could otherwise be rewritten or deleted)",
                field=ENV,
            )

    def write(self, record: dict[str, Any]) -> None:
        body = json.dumps(record, sort_keys=True).encode()
        try:
            s3.client().put_object(
                Bucket=self.location.bucket,
                Key=self.key_for(int(record["number"])),
                Body=body,
                ContentType="application/json",
                ObjectLockMode=lock_mode(),  # type: ignore[arg-type]
                ObjectLockRetainUntilDate=now() + timedelta(days=retain_days()),
            )
        except (BotoCoreError, ClientError) as exc:
            raise s3.explain(exc, self.location, "writing a checkpoint") from None

    def numbers(self) -> set[int]:
        """The checkpoint numbers the bucket holds (a current object under the prefix)."""
        return {number for number, _ in self._keys()}

    def _keys(self) -> Iterator[tuple[int, str]]:
        prefix = self.location.key("")
        try:
            pages = s3.client().get_paginator("list_objects_v2")
            for page in pages.paginate(Bucket=self.location.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    match = _NAME.search(item.get("Key", ""))
                    if match:
                        yield int(match.group(1)), item["Key"]
        except (BotoCoreError, ClientError) as exc:
            raise s3.explain(exc, self.location, "listing checkpoints") from None

    def read(self) -> Iterator[dict[str, Any]]:
        """Every version of every checkpoint object, oldest key first: each record, or an
        `unreadable_line` marker (the object's key) when one is not a record."""
        prefix = self.location.key("")
        bucket = self.location.bucket
        try:
            pages = s3.client().get_paginator("list_object_versions")
            for page in pages.paginate(Bucket=bucket, Prefix=prefix):
                for version in sorted(page.get("Versions", []), key=lambda v: v.get("Key", "")):
                    key = version.get("Key", "")
                    if not _NAME.search(key):
                        continue
                    answer = s3.client().get_object(
                        Bucket=bucket, Key=key, VersionId=version.get("VersionId", "null")
                    )
                    raw = answer["Body"].read()
                    try:
                        record = json.loads(raw)
                    except ValueError:
                        record = None
                    yield record if isinstance(record, dict) else {"unreadable_line": key}
        except (BotoCoreError, ClientError) as exc:
            raise s3.explain(exc, self.location, "reading checkpoints") from None

    def catch_up(self, database: Database, key: Ed25519PrivateKey) -> int:
        """Write every signed checkpoint the bucket lacks, oldest first; how many."""
        from tocsin.evidence.sealing import unwitnessed

        have = self.numbers()
        written = 0
        with database.read_session() as session:
            for checkpoint in unwitnessed(session, key, set(have)):
                self.write(witness_record(checkpoint))
                written += 1
        return written


def check(witnesses: list[str]) -> None:
    """Refuse to start when an S3 witness cannot be reached or has no object lock."""
    for url in witnesses:
        if url.startswith("s3://"):
            Bucket.configured(url).check()
