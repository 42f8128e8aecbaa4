"""Alembic environment: runs against the URL Tocsin was given, online only."""

from __future__ import annotations

from alembic import context

import tocsin.models  # noqa: F401  (fills Base.metadata)
from tocsin.db import Base, make_unpooled_engine

config = context.config
url = config.get_main_option("sqlalchemy.url")
assert url, "tocsin.migrate sets sqlalchemy.url"

connectable = config.attributes.get("connection") or make_unpooled_engine(url)


def run() -> None:
    if hasattr(connectable, "connect"):
        with connectable.connect() as connection:
            _migrate(connection)
    else:
        _migrate(connectable)


def _migrate(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=Base.metadata,
        render_as_batch=True,  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run()
