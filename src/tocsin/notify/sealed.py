"""The notify layer's secrets at rest, sealed with tocsin.vault: a named channel's settings
(SMTP passwords, webhook signing secrets, Teams and Apprise URLs with their tokens) are stored
as one sealed value, so the database holds none of them in the clear."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.orm import Session

from tocsin import vault

SEALED_KEY = "sealed"


def database_url(session: Session) -> str:
    """The URL the sealing key is found by (for SQLite, the key file sits beside it)."""
    return session.get_bind().engine.url.render_as_string(hide_password=False)


def seal_config(session: Session, settings: dict[str, Any]) -> dict[str, Any]:
    text = json.dumps(settings, sort_keys=True, separators=(",", ":"))
    return {SEALED_KEY: vault.seal(text, database_url(session))}


def open_config(session: Session, stored: dict[str, Any]) -> dict[str, Any]:
    """The settings; a config stored before sealing (a plain dict) is returned as it is."""
    sealed = stored.get(SEALED_KEY)
    if not (isinstance(sealed, str) and vault.is_sealed(sealed)):
        return dict(stored)
    opened: dict[str, Any] = json.loads(vault.unseal(sealed, database_url(session)))
    return opened


def is_sealed(stored: dict[str, Any]) -> bool:
    sealed = stored.get(SEALED_KEY)
    return isinstance(sealed, str) and vault.is_sealed(sealed)
