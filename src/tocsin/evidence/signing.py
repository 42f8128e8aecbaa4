"""Checkpoint signatures: Ed25519 (the `cryptography` package). The private key lives in a
file outside the database (TOCSIN_CHECKPOINT_KEY); anyone holding the public key can check a
checkpoint, and nobody without the private key can forge one."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from tocsin.errors import InvalidInput


def generate(path: Path) -> Ed25519PrivateKey:
    """A new private key, written readable by its owner only; refuses to overwrite."""
    if path.exists():
        raise InvalidInput(f"{path} exists: Tocsin never overwrites a signing key", field="out")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)
    return key


def load_private(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise InvalidInput(f"cannot read the signing key {path}: {exc}", field="key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InvalidInput(f"{path} is not an Ed25519 private key", field="key")
    return key


def load_public(path: Path) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise InvalidInput(
            f"cannot read the public key {path}: {exc}", field="public_key"
        ) from None
    if not isinstance(key, Ed25519PublicKey):
        raise InvalidInput(f"{path} is not an Ed25519 public key", field="public_key")
    return key


def public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def key_id(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def sign(key: Ed25519PrivateKey, payload: bytes) -> str:
    return key.sign(payload).hex()


def valid(key: Ed25519PublicKey, payload: bytes, signature: str) -> bool:
    try:
        key.verify(bytes.fromhex(signature), payload)
    except (InvalidSignature, ValueError):
        return False
    return True
