"""Evidence bytes in an S3-compatible bucket (TOCSIN_EVIDENCE_STORE=s3://bucket/prefix).

The same content addressing as the local store: an upload is hashed while it is spooled to
a private temporary file (at most TOCSIN_EVIDENCE_MAX_BYTES), then stored under
`prefix/<sha256>`, unless that key already holds it. Downloads stream from the bucket; the
object's name proves its content, and `tocsin verify` re-hashes what the bucket returns.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from io import BytesIO
from typing import BinaryIO, cast

from botocore.exceptions import BotoCoreError, ClientError

from tocsin.errors import NotFound
from tocsin.evidence import s3
from tocsin.evidence.storage import (
    CHUNK,
    STORE_ENV,
    Stored,
    check_digest,
    hash_limited,
    max_bytes,
)

_ABSENT = {"NoSuchKey", "404", "NotFound"}


@dataclass(frozen=True)
class S3Store:
    location: s3.Location

    @classmethod
    def configured(cls, url: str) -> S3Store:
        return cls(s3.Location.parse(url, STORE_ENV))

    @property
    def where(self) -> str:
        return str(self.location)

    def key_for(self, sha256: str) -> str:
        check_digest(sha256)
        return self.location.key(sha256)

    def check(self) -> None:
        s3.check_bucket(self.location)

    def put(self, stream: BinaryIO, *, limit: int | None = None) -> Stored:
        limit = max_bytes() if limit is None else limit
        with tempfile.TemporaryFile(prefix="tocsin-evidence-") as spool:
            stored = hash_limited(stream, cast(BinaryIO, spool), limit)
            if self.exists(stored.sha256):
                return stored
            spool.seek(0)
            try:
                s3.client().upload_fileobj(
                    spool,
                    self.location.bucket,
                    self.key_for(stored.sha256),
                    ExtraArgs={
                        "ContentType": "application/octet-stream",
                        "Metadata": {"sha256": stored.sha256},
                    },
                )
            except (BotoCoreError, ClientError) as exc:
                raise s3.explain(exc, self.location, "storing evidence") from None
            except Exception as exc:  # s3transfer wraps failures in its own errors
                cause = exc.__cause__ or exc.__context__
                if isinstance(cause, BotoCoreError | ClientError):
                    raise s3.explain(cause, self.location, "storing evidence") from None
                raise s3.explain(exc, self.location, "storing evidence") from None
        return stored

    def put_bytes(self, data: bytes) -> Stored:
        return self.put(BytesIO(data), limit=max(len(data), 1))

    def exists(self, sha256: str) -> bool:
        try:
            s3.client().head_object(Bucket=self.location.bucket, Key=self.key_for(sha256))
        except ClientError as exc:
            if s3.error_code(exc) in _ABSENT:
                return False
            raise s3.explain(exc, self.location, "looking up evidence") from None
        except BotoCoreError as exc:
            raise s3.explain(exc, self.location, "looking up evidence") from None
        return True

    def open(self, sha256: str) -> BinaryIO:
        """The object's body, streamed (it is a file-like object: read(n), close())."""
        try:
            answer = s3.client().get_object(Bucket=self.location.bucket, Key=self.key_for(sha256))
        except ClientError as exc:
            if s3.error_code(exc) in _ABSENT:
                raise NotFound(
                    f"the stored bytes of {sha256[:12]}… are missing from {self.where}",
                    field="sha256",
                ) from None
            raise s3.explain(exc, self.location, "reading evidence") from None
        except BotoCoreError as exc:
            raise s3.explain(exc, self.location, "reading evidence") from None
        return cast(BinaryIO, answer["Body"])

    def chunks(self, sha256: str) -> Iterator[bytes]:
        body = self.open(sha256)
        try:
            while chunk := body.read(CHUNK):
                yield chunk
        except BotoCoreError as exc:
            raise s3.explain(exc, self.location, "reading evidence") from None
        finally:
            body.close()

    def digest_of(self, sha256: str) -> str | None:
        try:
            chunks = self.chunks(sha256)
            digest = hashlib.sha256()
            for chunk in chunks:
                digest.update(chunk)
        except NotFound:
            return None
        return digest.hexdigest()

    def delete(self, sha256: str) -> None:
        """Delete the object, and every version of it if the bucket keeps versions (as one
        with object lock must): a purge leaves no copy behind a delete marker."""
        key, bucket = self.key_for(sha256), self.location.bucket
        try:
            listed = s3.client().list_object_versions(Bucket=bucket, Prefix=key)
            versions = [
                v["VersionId"]
                for v in [*listed.get("Versions", []), *listed.get("DeleteMarkers", [])]
                if v.get("Key") == key and v.get("VersionId") not in (None, "null")
            ]
            for version in versions:
                s3.client().delete_object(Bucket=bucket, Key=key, VersionId=version)
            if not versions:
                s3.client().delete_object(Bucket=bucket, Key=key)
        except (BotoCoreError, ClientError) as exc:
            raise s3.explain(exc, self.location, "deleting evidence") from None
