"""Process configuration, read once from the environment.

The names are a contract (see README): TOCSIN_DATABASE_URL, TOCSIN_POLICY, TOCSIN_PUBLIC_URL.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

DEFAULT_DATABASE_URL = "sqlite:///./var/tocsin.db"
DEFAULT_POLICY = "default"


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    policy: str = DEFAULT_POLICY
    public_url: str = "http://127.0.0.1:8080"
    engine_interval_seconds: float = 1.0
    engine_lease_seconds: float = 15.0  # a crashed engine's work waits at most this long
    # Who hears about a message that reached nobody, when the policy names no fallback.
    admin_emails: tuple[str, ...] = ()
    extra: dict[str, str] = field(default_factory=dict)


def load_settings(default_public_url: str = "http://127.0.0.1:8080") -> Settings:
    """`TOCSIN_PUBLIC_URL` is where people's browsers reach Tocsin (acknowledge links in
    pages point there); `serve` defaults it to the address it listens on."""
    return Settings(
        database_url=os.environ.get("TOCSIN_DATABASE_URL", DEFAULT_DATABASE_URL),
        policy=os.environ.get("TOCSIN_POLICY", DEFAULT_POLICY),
        public_url=os.environ.get("TOCSIN_PUBLIC_URL", default_public_url).rstrip("/"),
        engine_interval_seconds=float(os.environ.get("TOCSIN_ENGINE_INTERVAL", "1.0")),
        engine_lease_seconds=float(os.environ.get("TOCSIN_ENGINE_LEASE_SECONDS", "15")),
        admin_emails=_addresses(os.environ.get("TOCSIN_ADMIN_EMAIL", "")),
    )


def _addresses(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if "@" in part)
