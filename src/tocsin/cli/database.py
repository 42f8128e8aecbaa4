"""Opening the database for the admin commands that work on it directly: it must exist
and be migrated, so a command run in the wrong directory says so instead of leaving an empty
./var behind."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tocsin.db import Database

# Heavy imports (SQLAlchemy, alembic, argon2, the engine) happen inside the commands that
# need them, so `tocsin --help` and the commands that only talk HTTP start quickly.

from tocsin.cli.client import fail


def existing_database() -> Database:
    """The configured database, which must exist and be migrated: an admin command run in
    the wrong directory says so instead of creating an empty ./var there."""
    from tocsin.config import load_settings
    from tocsin.db import Database

    settings = load_settings()
    _check_database_exists(settings.database_url)
    ensure_schema(settings.database_url, create=False)
    return Database(settings.database_url)


def _check_database_exists(url: str) -> None:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return
    if parsed.database != ":memory:" and not Path(parsed.database).exists():
        fail(
            f"no Tocsin database at {parsed.database} (TOCSIN_DATABASE_URL={url}): run this "
            "in the checkout where `make run` runs, or set TOCSIN_DATABASE_URL"
        )


def ensure_schema(url: str, *, create: bool = True) -> None:
    """Upgrade an empty database; refuse to run on one that needs a migration."""
    from tocsin import migrate

    current = migrate.current_revision(url)
    if current is None and not create:
        fail(f"the database at {url} has no Tocsin tables; run `tocsin db upgrade` first")
    if current is None:
        migrate.upgrade(url)
    elif current != migrate.head_revision(url):
        fail(f"the database is at revision {current}; run `tocsin db upgrade` first")
