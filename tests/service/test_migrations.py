"""The migrations build exactly the schema the models declare (both databases).

A model change without its migration (or the reverse) would work in tests that create
tables from the models and fail on a user's upgraded database; here the suite's databases
are built by `alembic upgrade head`, and compared with the models column by column.
"""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import tocsin.models  # noqa: F401  (every model module, so Base.metadata knows every table)
from tocsin import migrate
from tocsin.db import Base, Database


def _differences(database: Database) -> list[Any]:
    with database.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": False, "render_as_batch": True}
        )
        return list(compare_metadata(context, Base.metadata))


def test_the_upgraded_database_matches_the_models(database: Database) -> None:
    assert migrate.current_revision(database.url) == migrate.head_revision(database.url)
    assert _differences(database) == []
