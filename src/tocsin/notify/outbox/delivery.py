"""Delivery: send a pass's claims in parallel, outside any transaction, keeping each lease
alive until its outcome is recorded."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait

from tocsin.db import Database
from tocsin.notify.channels import DeliveryError, Send
from tocsin.notify.outbox.claims import Claim, lease, renew_leases
from tocsin.notify.outbox.outcomes import Outcomes, record_safely

log = logging.getLogger("tocsin.engine.outbox")

RENEWALS_PER_LEASE = 3


def send_all(
    database: Database, claims: Sequence[Claim], deliver: Send, outcomes: Outcomes
) -> None:
    """Send every claim at once; until each is recorded, keep its lease alive."""
    if not claims:
        return
    every = lease().total_seconds() / RENEWALS_PER_LEASE
    with ThreadPoolExecutor(len(claims), thread_name_prefix="tocsin-outbox") as pool:
        futures = {
            pool.submit(send_one, database, claim, deliver, outcomes): claim for claim in claims
        }
        running: set[Future[None]] = set(futures)
        while running:
            _, still = wait(running, timeout=every)
            running = set(still)
            if running:
                renew_leases(database, [futures[future] for future in running])
        for future in futures:
            future.result()  # send_one records every failure; anything else is a bug


def send_one(database: Database, claim: Claim, deliver: Send, outcomes: Outcomes) -> None:
    try:
        deliver(claim.message)
    except DeliveryError as exc:
        record_safely(database, claim, exc, outcomes)
    except Exception as exc:  # a bug in a channel is one failed attempt, not a dead engine
        log.exception("channel %s raised on notification %s", claim.channel, claim.id)
        record_safely(database, claim, DeliveryError(f"unexpected error: {exc!r}"[:500]), outcomes)
    else:
        record_safely(database, claim, None, outcomes)


def give_up(database: Database, claims: Sequence[Claim], outcomes: Outcomes) -> None:
    """Rows whose lease ran out on their last attempt: their sender died mid-send, every time."""
    for claim in claims:
        error = DeliveryError(
            f"no result after {claim.attempt} attempts: the sender stopped mid-send"
        )
        record_safely(database, claim, error, outcomes)
