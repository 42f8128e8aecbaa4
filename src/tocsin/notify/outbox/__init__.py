"""The outbox: nothing leaves Tocsin except through here, and nothing is dropped silently.

One module per concern: `queue` (what other domains call), `claims` (claiming and leases),
`ratelimit`, `bundle`, `delivery` (sending a pass in parallel), `outcomes` (recording what
happened, and the `Outcomes` hooks that tell the rest of Tocsin) and `fallback` (the next
way to reach a person, along a rule chain the caller gives). The engine step that runs them
is tocsin.engine.outbox.

A row's life (see tocsin.notify.models):

    pending --claim--> sending --delivered--> sent
       ^                  |  \\--transient error, attempts left--> pending (+ backoff)
       |                  |  \\--permanent error, or attempts used up--> failed (+ fallback)
       |                  \\--lease expired, no result (crash)--> claimed again (never "sent")
       +-- claimed while its contact method is rate limited: pushed back, no attempt counted
    pending --a sibling to the same address and incident is sent--> bundled
    pending --cancel_pending (acknowledged)--> cancelled

Exactly once towards the receiver, as far as the receiver cooperates:
- the claim commits before the send, and rows are claimed with `FOR UPDATE SKIP LOCKED`
  (PostgreSQL) and a conditional UPDATE, so two engines never both send a row;
- an engine claims only what it sends at once (one batch, sent in parallel) and records each
  outcome in its own transaction as soon as it has it, so a crash strands one batch at most;
- while a send is in flight its engine keeps renewing the lease, so a slow send is never taken
  over by another engine: a lease runs out only when its engine died, or lost the database
  (or stalled) for longer than the lease;
- the outcome is recorded only by the holder of the lease (same attempt number);
- every channel passes on the idempotency key. A send cut short by a crash after the receiver
  accepted it is sent again (the sender cannot know it arrived) with the same key, so the
  receiver can recognise the copy and drop it.
Engines' clocks must agree to well within the lease: the lease is an instant one engine writes
and another compares with its own clock.
"""

from __future__ import annotations

from tocsin.notify.outbox.claims import BATCH, MAX_ATTEMPTS, Claim, claim_due, lease, renew_leases
from tocsin.notify.outbox.outcomes import Outcomes, backoff
from tocsin.notify.outbox.queue import cancel_pending, enqueue, failures_for

__all__ = [
    "BATCH",
    "MAX_ATTEMPTS",
    "Claim",
    "Outcomes",
    "backoff",
    "cancel_pending",
    "claim_due",
    "enqueue",
    "failures_for",
    "lease",
    "renew_leases",
]
