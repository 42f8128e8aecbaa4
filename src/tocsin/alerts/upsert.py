"""The one statement that stores a delivery's triggers: insert new alerts, count repeats.

Written out by hand and run on the driver's cursor. For a batch of a hundred alerts,
SQLAlchemy's per-parameter processing cost more than the database did, and each database
wants the batch in its own shape (docs/performance.md has the profiles):

- SQLite: multi-row VALUES. sqlite3 keeps the prepared statement, so the long text is free.
- PostgreSQL: the rows as one JSON array parameter, unpacked by json_array_elements(). A
  VALUES list of a hundred rows is a ten-kilobyte statement that psycopg re-parses on every
  call (it caches short ones only), and arrays of JSON text go through psycopg's per-character
  escaping in Python; one orjson-encoded parameter costs neither.

Both name the partial unique index's predicate in the conflict target, which each database
requires in order to use a partial index for ON CONFLICT.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, NamedTuple

import orjson
from sqlalchemy.orm import Session

# The values that differ from alert to alert, in this order in every row.
VARYING = (
    "dedup_key",
    "summary",
    "source_severity",
    "severity",
    "service",
    "action",
    "rule",
    "suppressed_by",
    "labels",
    "details",
    "group_key",
)
ON_CONFLICT = (
    "ON CONFLICT (integration_id, dedup_key) WHERE status = 'firing' DO UPDATE SET "
    "count = alerts.count + 1, last_seen_at = excluded.last_seen_at, "
    "summary = excluded.summary, labels = excluded.labels, details = excluded.details, "
    # A repeat trigger is the sender's latest word on the alert, severity included (as in
    # PagerDuty), so it is routed again: its severity, action and rule follow it.
    "source_severity = excluded.source_severity, severity = excluded.severity, "
    "action = excluded.action, rule = excluded.rule "
    "RETURNING id, dedup_key, count, summary, group_key, suppressed_by, incident_id"
)
COLUMNS = "integration_id, status, count, first_seen_at, last_seen_at, " + ", ".join(VARYING)
SQLITE_CHUNK = 500  # rows per statement: 8,000 parameters, far below SQLite's 32,766


class Stored(NamedTuple):
    """One row as the upsert returned it; `seen` is 1 exactly when it was inserted.
    (A tuple: built straight from the driver's row, a hundred times a delivery.)"""

    id: int
    dedup_key: str
    seen: int
    summary: str
    group_key: str
    suppressed_by: int | None
    incident_id: str | None


def upsert(
    session: Session, integration_id: int, at: Any, rows: list[tuple[Any, ...]]
) -> list[Stored]:
    """Store `rows` (tuples in VARYING order, labels and details as dicts) as firing alerts
    of the integration seen at `at` (as the timestamp columns store it)."""
    connection = session.connection()  # begins the transaction if nothing else has
    cursor = connection.connection.cursor()
    try:
        if connection.dialect.name == "postgresql":
            cursor.execute(_POSTGRESQL, (integration_id, at, at, orjson.dumps(rows).decode()))
            returned = cursor.fetchall()
        else:
            returned = []
            for start in range(0, len(rows), SQLITE_CHUNK):
                chunk = rows[start : start + SQLITE_CHUNK]
                params = [v for row in chunk for v in (integration_id, at, at, *_text(row))]
                cursor.execute(_sqlite(len(chunk)), params)
                returned += cursor.fetchall()
    finally:
        cursor.close()
    return [Stored._make(row) for row in returned]


@lru_cache(maxsize=32)
def _sqlite(rows: int) -> str:
    one = "(?, 'firing', 1, ?, ?, " + ", ".join("?" for _ in VARYING) + ")"
    return f"INSERT INTO alerts ({COLUMNS}) VALUES {', '.join([one] * rows)} {ON_CONFLICT}"


def _text(row: tuple[Any, ...]) -> list[Any]:
    """The row with its JSON columns serialised, for SQLite's text columns."""
    values = list(row)
    values[_LABELS] = orjson.dumps(values[_LABELS]).decode()
    values[_DETAILS] = orjson.dumps(values[_DETAILS]).decode()
    return values


_LABELS, _DETAILS = VARYING.index("labels"), VARYING.index("details")


def _element(index: int, column: str) -> str:
    if column in ("labels", "details"):
        return f"e.value->{index}"  # already JSON
    if column == "suppressed_by":
        return f"(e.value->>{index})::int"
    return f"e.value->>{index}"


_POSTGRESQL = (
    f"INSERT INTO alerts ({COLUMNS}) "
    "SELECT %s, 'firing', 1, %s, %s, "
    + ", ".join(_element(i, c) for i, c in enumerate(VARYING))
    # In the given order (sorted by key), so concurrent deliveries lock rows alike.
    + " FROM json_array_elements(%s::json) WITH ORDINALITY AS e ORDER BY e.ordinality "
    + ON_CONFLICT
)
