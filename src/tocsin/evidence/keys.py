"""Where the checkpoint key is: TOCSIN_CHECKPOINT_KEY names the private key file (kept outside
the database; `tocsin checkpoint keygen` makes one). Verification needs only the public key."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from tocsin.evidence import signing

ENV = "TOCSIN_CHECKPOINT_KEY"


def private_key() -> Ed25519PrivateKey | None:
    path = os.environ.get(ENV, "").strip()
    return signing.load_private(Path(path)) if path else None


def public_key(given: Path | None = None) -> Ed25519PublicKey | None:
    """The public key from a file, else the configured private key's public half."""
    if given is not None:
        return signing.load_public(given)
    key = private_key()
    return key.public_key() if key else None
