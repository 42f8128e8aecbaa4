"""Where evidence bytes live: a content-addressed store on the local filesystem (the
default), or in an S3-compatible bucket when TOCSIN_EVIDENCE_STORE is `s3://bucket/prefix`
(tocsin.evidence.s3store: the same addressing, key `prefix/<sha256>`).

A file is stored under its own SHA-256 (`<dir>/sha256/ab/abcdef...`), so the name proves the
content, the same log attached twice is kept once, and nothing is ever overwritten: a write
goes to a private name, is fsync'ed, then renamed into place, read-only. The directory is
TOCSIN_EVIDENCE_DIR (default `./var/evidence`); keep it on storage that is backed up with,
but not writable by, whoever administers the database.

Bytes are written before the database row that names them commits: a request that fails
after the write leaves an unreferenced file (harmless, as its name is its hash), never a row
without its file.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import BinaryIO, Protocol

from tocsin.errors import InvalidInput, NotFound, TooLarge

ENV = "TOCSIN_EVIDENCE_DIR"
STORE_ENV = "TOCSIN_EVIDENCE_STORE"
MAX_ENV = "TOCSIN_EVIDENCE_MAX_BYTES"
DEFAULT_DIR = Path("var") / "evidence"
DEFAULT_MAX_BYTES = 100 * 1024 * 1024
CHUNK = 1024 * 1024
_DIGEST = re.compile(r"^[0-9a-f]{64}$")


def too_large(limit: int) -> TooLarge:
    return TooLarge(f"the evidence is larger than the {limit} bytes allowed", field="file")


@dataclass(frozen=True)
class Stored:
    sha256: str
    size: int


def max_bytes() -> int:
    raw = os.environ.get(MAX_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_BYTES
    if not raw.isdigit() or int(raw) < 1:
        raise InvalidInput(f"{MAX_ENV} must be a number of bytes, got {raw!r}", field=MAX_ENV)
    return int(raw)


class EvidenceStore(Protocol):
    """What the locker, the bundle, verification and retention need of a store."""

    @property
    def where(self) -> str: ...

    def put(self, stream: BinaryIO, *, limit: int | None = None) -> Stored: ...

    def put_bytes(self, data: bytes) -> Stored: ...

    def exists(self, sha256: str) -> bool: ...

    def open(self, sha256: str) -> BinaryIO: ...

    def chunks(self, sha256: str) -> Iterator[bytes]: ...

    def digest_of(self, sha256: str) -> str | None: ...

    def delete(self, sha256: str) -> None: ...


def configured() -> EvidenceStore:
    """The store TOCSIN_EVIDENCE_STORE names: unset (or `file:PATH`) the local directory
    (TOCSIN_EVIDENCE_DIR), or `s3://bucket/prefix`."""
    raw = os.environ.get(STORE_ENV, "").strip()
    if not raw:
        return LocalStore.configured()
    if raw.startswith("file:"):
        return LocalStore(Path(raw.removeprefix("file:")))
    if raw.startswith("s3://"):
        from tocsin.evidence.s3store import S3Store  # boto3 is loaded only when used

        return S3Store.configured(raw)
    raise InvalidInput(
        f"{STORE_ENV}: {raw!r} is neither s3://BUCKET/PREFIX nor file:PATH "
        f"(leave it unset for the local directory {ENV})",
        field=STORE_ENV,
    )


def check_digest(sha256: str) -> None:
    if not _DIGEST.match(sha256):
        raise InvalidInput(f"{sha256!r} is not a SHA-256 digest", field="sha256")


def hash_limited(stream: BinaryIO, out: BinaryIO, limit: int) -> Stored:
    """Copy at most `limit` bytes from `stream` to `out`, hashing them."""
    digest, size = hashlib.sha256(), 0
    while chunk := stream.read(CHUNK):
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        digest.update(chunk)
        out.write(chunk)
    return Stored(digest.hexdigest(), size)


@dataclass(frozen=True)
class LocalStore:
    root: Path

    @classmethod
    def configured(cls) -> LocalStore:
        return cls(Path(os.environ.get(ENV, "").strip() or DEFAULT_DIR))

    @property
    def where(self) -> str:
        return str(self.root)

    def path_for(self, sha256: str) -> Path:
        check_digest(sha256)
        return self.root / "sha256" / sha256[:2] / sha256

    def put(self, stream: BinaryIO, *, limit: int | None = None) -> Stored:
        """Store a stream's bytes (at most `limit`) under their hash."""
        limit = max_bytes() if limit is None else limit
        incoming = self.root / "incoming"
        incoming.mkdir(parents=True, exist_ok=True)
        draft = incoming / f".{secrets.token_hex(8)}"
        try:
            stored = _write_hashing(stream, draft, limit)
            final = self.path_for(stored.sha256)
            if final.exists():
                draft.unlink()
            else:
                final.parent.mkdir(parents=True, exist_ok=True)
                os.replace(draft, final)
            return stored
        finally:
            draft.unlink(missing_ok=True)

    def put_bytes(self, data: bytes) -> Stored:
        return self.put(BytesIO(data), limit=max(len(data), 1))

    def exists(self, sha256: str) -> bool:
        return self.path_for(sha256).exists()

    def open(self, sha256: str) -> BinaryIO:
        try:
            return self.path_for(sha256).open("rb")
        except FileNotFoundError:
            raise NotFound(
                f"the stored bytes of {sha256[:12]}… are missing from {self.root}", field="sha256"
            ) from None

    def chunks(self, sha256: str) -> Iterator[bytes]:
        with self.open(sha256) as handle:
            while chunk := handle.read(CHUNK):
                yield chunk

    def digest_of(self, sha256: str) -> str | None:
        """The SHA-256 of what is stored under `sha256` now (None if it is gone)."""
        if not self.exists(sha256):
            return None
        digest = hashlib.sha256()
        for chunk in self.chunks(sha256):
            digest.update(chunk)
        return digest.hexdigest()

    def delete(self, sha256: str) -> None:
        path = self.path_for(sha256)
        if path.exists():
            path.chmod(0o600)
            path.unlink()


def _write_hashing(stream: BinaryIO, draft: Path, limit: int) -> Stored:
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        stored = hash_limited(stream, out, limit)
        out.flush()
        os.fsync(out.fileno())
    draft.chmod(0o400)
    return stored


def sha256_text(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()
