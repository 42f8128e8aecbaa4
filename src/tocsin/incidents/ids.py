"""Human incident ids, INC-YYYY-MM-DD-NN, unique under concurrent declarations.

The per-day counter is bumped with one atomic upsert: PostgreSQL row-locks the counter row for
the rest of the transaction and SQLite holds the database write lock, so two declarations never
read the same number.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Insert
from sqlalchemy.orm import Session

from tocsin.db import upsert_insert
from tocsin.incidents.models import IncidentCounter


def format_id(day: date, seq: int) -> str:
    return f"INC-{day.isoformat()}-{seq:02d}"


def next_id(session: Session, day: date) -> str:
    stmt = upsert_insert(session)(IncidentCounter).values(day=day, last_seq=1)
    upsert: Insert = stmt.on_conflict_do_update(
        index_elements=[IncidentCounter.day],
        set_={"last_seq": IncidentCounter.last_seq + 1},
    ).returning(IncidentCounter.last_seq)
    seq = session.execute(upsert).scalar_one()
    return format_id(day, seq)
