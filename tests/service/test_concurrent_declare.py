"""Many declarations at once still get distinct, gap-free ids."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from tocsin.db import Database
from tocsin.flows import incidents as flows
from tocsin.incidents.service import Declaration
from tocsin.policy.loader import LoadedPolicy
from tocsin.timesource import now


def test_fifty_concurrent_declarations_get_fifty_distinct_ids(
    database: Database, default_policy: LoadedPolicy
) -> None:
    def declare(n: int) -> str:
        with database.write_session() as session:
            incident = flows.declare(
                session,
                loaded=default_policy,
                declaration=Declaration(title=f"Storm {n}", severity="P2"),
                actor=f"sender-{n}",
            )
            return incident.id

    with ThreadPoolExecutor(max_workers=16) as pool:
        ids = list(pool.map(declare, range(50)))

    assert len(set(ids)) == 50
    # Unless the run straddled midnight UTC, the numbers are exactly 01..50.
    day = now().date().isoformat()
    todays = sorted(int(i.rsplit("-", 1)[1]) for i in ids if i.startswith(f"INC-{day}-"))
    if len(todays) == 50:
        assert todays == list(range(1, 51))
