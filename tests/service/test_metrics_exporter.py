"""The Prometheus collector: figures from the database, read at most once per cache period."""

from __future__ import annotations

from datetime import timedelta

from tests.service.test_metrics import T0, _clock, _incident
from tocsin.db import Database
from tocsin.metrics.exporter import TocsinCollector, snapshot


def test_open_incidents_and_breached_clocks_by_kind(database: Database) -> None:
    with database.write_session() as session:
        open_p0 = _incident(session, 1, severity="P0", resolve_after=None)
        _incident(session, 2, severity="P0")  # resolved
        _incident(session, 3, severity="P0", resolve_after=None, drill=True)
        session.flush()
        _clock(session, open_p0, "regulatory:gdpr", "breached")
        _clock(session, open_p0, "acknowledge", "pending")
    with database.read_session() as session:
        figures = snapshot(session, at=T0 + timedelta(hours=1, minutes=5))
    assert figures.open_incidents == {"P0": 1}
    assert figures.clocks_breached == {"regulatory:gdpr": 1}
    assert figures.engine_lag_seconds == 300  # the pending clock was due 5 minutes ago


def test_a_scrape_within_the_cache_period_reads_no_database(database: Database) -> None:
    collector = TocsinCollector(database, cache_seconds=3600)
    assert collector.current().open_incidents == {}
    with database.write_session() as session:
        _incident(session, 1, severity="P1", resolve_after=None)
    assert collector.current().open_incidents == {}  # still the cached figures
    collector.cache_seconds = 0
    assert collector.current().open_incidents == {"P1": 1}
