"""S3-compatible object storage, through boto3: where it is, one shared client, and errors
that name the setting and the bucket (never a credential).

A location is an `s3://bucket/prefix` URL. The endpoint is TOCSIN_S3_ENDPOINT_URL (unset: AWS
itself; set it for MinIO, Ceph, Garage, R2, ...); credentials and region come from boto3's
own sources (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, a profile, an instance
role). Tocsin never logs, stores or repeats them.
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from tocsin.errors import InvalidInput, TocsinError, Unavailable

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client
else:
    S3Client = Any

ENDPOINT_ENV = "TOCSIN_S3_ENDPOINT_URL"
DEFAULT_REGION = "us-east-1"
_REFUSED = {
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "AllAccessDisabled",
    "403",
}
_MISSING_BUCKET = {"NoSuchBucket", "404", "NotFound"}


@dataclass(frozen=True)
class Location:
    """A bucket and a key prefix (without trailing slash; may be empty), and the setting
    that named them (for error messages)."""

    bucket: str
    prefix: str
    setting: str

    @classmethod
    def parse(cls, url: str, setting: str) -> Location:
        parts = urlsplit(url.strip())
        if "@" in parts.netloc:  # checked first: the message must not repeat the URL
            raise InvalidInput(
                f"{setting}: put no credentials in the URL; use AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY",
                field=setting,
            )
        if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
            raise InvalidInput(
                f"{setting}: {url!r} is not an s3://BUCKET/PREFIX URL", field=setting
            )
        return cls(parts.netloc, parts.path.strip("/"), setting)

    def key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"


def endpoint() -> str | None:
    return os.environ.get(ENDPOINT_ENV, "").strip() or None


def _shown_endpoint() -> str:
    raw = endpoint()
    if raw is None:
        return "AWS S3"
    parts = urlsplit(raw)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host  # never any user:password@
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def region() -> str:
    return (
        os.environ.get("AWS_REGION", "").strip()
        or os.environ.get("AWS_DEFAULT_REGION", "").strip()
        or DEFAULT_REGION
    )


_clients: dict[tuple[str | None, str, str], S3Client] = {}
_lock = threading.Lock()


def client() -> S3Client:
    """One client per endpoint, region and credentials, shared (boto3 clients are thread-safe
    and keep their connections). The cache key holds a digest of the credentials, not them."""
    secret = (
        os.environ.get("AWS_ACCESS_KEY_ID", "") + "\0" + os.environ.get("AWS_SECRET_ACCESS_KEY", "")
    )
    key = (endpoint(), region(), hashlib.sha256(secret.encode()).hexdigest())
    with _lock:
        found = _clients.get(key)
        if found is None:
            config = Config(
                connect_timeout=5,
                read_timeout=30,
                retries={"max_attempts": 3, "mode": "standard"},
                # Path-style addressing works with every S3-compatible store; AWS accepts both.
                s3={"addressing_style": "path" if endpoint() else "auto"},
            )
            found = boto3.session.Session().client(
                "s3", endpoint_url=endpoint(), region_name=region(), config=config
            )
            _clients[key] = found
        return found


def error_code(exc: ClientError) -> str:
    error: Any = exc.response.get("Error", {})
    return str(error.get("Code", ""))


def explain(exc: Exception, location: Location, doing: str) -> TocsinError:
    """A message naming the setting, bucket and endpoint, and what S3 answered; credentials
    never appear (boto3's messages do not carry them, and the endpoint is shown without
    any user part)."""
    where = f"{location.setting}: bucket {location.bucket!r} at {_shown_endpoint()}"
    if isinstance(exc, NoCredentialsError):
        detail = "no S3 credentials were found (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
    elif isinstance(exc, ClientError):
        code = error_code(exc)
        if code in _MISSING_BUCKET:
            detail = "the bucket does not exist (or is not visible with these credentials)"
        elif code in _REFUSED:
            detail = (
                f"S3 refused the credentials or the access ({code}); check "
                "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and the bucket's policy"
            )
        else:
            detail = f"S3 answered {code or 'an error'}"
    elif isinstance(exc, BotoCoreError):
        detail = f"could not reach S3 ({type(exc).__name__}; check {ENDPOINT_ENV})"
    else:
        detail = f"failed ({type(exc).__name__})"
    return Unavailable(f"{where}: {doing}: {detail}", field=location.setting)


def check_bucket(location: Location) -> None:
    """The bucket exists and these credentials reach it."""
    try:
        client().head_bucket(Bucket=location.bucket)
    except (BotoCoreError, ClientError) as exc:
        raise explain(exc, location, "checking the bucket") from None
