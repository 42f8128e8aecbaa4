"""The vault: secrets at rest are sealed, encrypted with a key the database never holds.

A database dump, a backup or a read-only SQL account therefore yields no usable secret (the
acknowledge-link signing key, channel passwords and webhook secrets). The key is Fernet
(AES-128-CBC with HMAC-SHA256, from `cryptography`), found in this order:

1. `TOCSIN_SECRET_KEY`: one or more keys, comma-separated. The first seals; every one unseals,
   so a key is rotated by putting the new one first and running `tocsin secrets reseal`.
2. `TOCSIN_SECRET_KEY_FILE`: a file holding the same, one key per line.
3. For an embedded SQLite database only: a key file beside it (`tocsin.db` -> `tocsin.db.key`,
   mode 0600), made on first use, so `make run` needs no setup. PostgreSQL serves several
   instances, which must all share one key, so there it has to be configured.

Sealed values read `fernet:<token>`. A value without the prefix was stored before sealing
existed; it is read as it is, and sealed the next time the server starts.
"""

from __future__ import annotations

import functools
import os
import threading
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy.engine import make_url

from tocsin.errors import TocsinError

KEY_ENV = "TOCSIN_SECRET_KEY"
KEY_FILE_ENV = "TOCSIN_SECRET_KEY_FILE"
PREFIX = "fernet:"
_making_key = threading.Lock()


class SealingError(TocsinError):
    """No key to seal with, or a sealed value that no configured key opens."""

    code = "secret_key"


def new_key() -> str:
    return Fernet.generate_key().decode()


def is_sealed(value: str) -> bool:
    return value.startswith(PREFIX)


def seal(value: str, database_url: str) -> str:
    return PREFIX + keyring(database_url).encrypt(value.encode()).decode()


def unseal(value: str, database_url: str) -> str:
    if not is_sealed(value):
        return value  # stored before sealing; `reseal` seals it at the next start
    try:
        return keyring(database_url).decrypt(value[len(PREFIX) :].encode()).decode()
    except InvalidToken:
        raise SealingError(
            f"a stored secret was sealed with a key that is not in {KEY_ENV} or {KEY_FILE_ENV}: "
            "give every Tocsin instance the same keys (the old one may follow the new, "
            "comma-separated)"
        ) from None


def reseal(value: str, database_url: str) -> str:
    """The value sealed with the first key (plain, or sealed with an older key, before)."""
    return seal(unseal(value, database_url), database_url)


def keyring(database_url: str) -> MultiFernet:
    return _keyring(database_url, os.environ.get(KEY_ENV, ""), os.environ.get(KEY_FILE_ENV, ""))


def describe(database_url: str) -> str:
    """Where the key comes from, for `serve` to say at start (never the key itself)."""
    if os.environ.get(KEY_ENV, "").strip():
        return f"secrets sealed with {KEY_ENV}"
    if os.environ.get(KEY_FILE_ENV, "").strip():
        return f"secrets sealed with the key in {os.environ[KEY_FILE_ENV]}"
    return f"secrets sealed with the key in {_beside_database(database_url)}"


@functools.lru_cache(maxsize=16)
def _keyring(database_url: str, from_env: str, key_file: str) -> MultiFernet:
    if from_env.strip():
        return _parse(from_env.replace(",", "\n"), KEY_ENV)
    if key_file.strip():
        return _parse(_read(Path(key_file), KEY_FILE_ENV), KEY_FILE_ENV)
    return _parse(_read_or_make(_beside_database(database_url)), "the key file")


def _beside_database(database_url: str) -> Path:
    url = make_url(database_url)
    if not url.get_backend_name().startswith("sqlite"):
        raise SealingError(
            f"set {KEY_ENV} (or {KEY_FILE_ENV}) to a key from `tocsin secrets new-key`, the same "
            "on every instance: on PostgreSQL Tocsin seals its stored secrets with it"
        )
    name = url.database or ""
    if name in ("", ":memory:") or name.startswith("file:"):
        raise SealingError(f"an in-memory SQLite database has no place for a key: set {KEY_ENV}")
    return Path(name).with_name(Path(name).name + ".key")


def _parse(text: str, source: str) -> MultiFernet:
    keys = [line.strip() for line in text.splitlines() if line.strip()]
    if not keys:
        raise SealingError(f"{source} holds no key; make one with `tocsin secrets new-key`")
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except ValueError:
        raise SealingError(
            f"{source} must hold Fernet keys (32 url-safe base64 bytes each, as "
            "`tocsin secrets new-key` prints)"
        ) from None


def _read(path: Path, source: str) -> str:
    try:
        return path.read_text()
    except OSError as exc:
        raise SealingError(f"{source} {path}: {exc.strerror or exc}") from None


def _read_or_make(path: Path) -> str:
    with _making_key:
        if not path.exists():
            _make_key_file(path)
        return _read(path, "the key file")


def _make_key_file(path: Path) -> None:
    """Write the key whole under a private name, then link it into place: two processes
    starting together end up with one key, and neither reads a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(new_key() + "\n")
    try:
        os.link(draft, path)
    except FileExistsError:
        pass  # another process won; its key is the key
    finally:
        draft.unlink()
