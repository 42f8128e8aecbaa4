"""The engine's steps, in the order each tick runs them, and what each is wired to.

Every step of the engine is listed here (GoAlert's engine/ list is the model). A step is a
module with a name, `run_due(database, deadline)` and `next_due(database)`; see
tocsin.engine.loop.
"""

from __future__ import annotations

from tocsin.alerts import grouping
from tocsin.comms import clock_handlers as comms_handlers
from tocsin.comms.messages import Sending
from tocsin.engine.checkpoints import CheckpointStep
from tocsin.engine.checkpoints import interval as checkpoint_interval
from tocsin.engine.clocks import ClockStep
from tocsin.engine.heartbeats import HeartbeatStep
from tocsin.engine.loop import EngineStep
from tocsin.engine.outbox import OutboxStep
from tocsin.engine.retention import RetentionStep
from tocsin.evidence import clock_handlers as evidence_handlers
from tocsin.evidence import keys, witness
from tocsin.flows.delivery import DeliveryOutcomes
from tocsin.flows.reviews import ReviewReminders
from tocsin.incidents import clock_registry
from tocsin.incidents.clock_registry import ClockRegistry
from tocsin.notify.channels import Send
from tocsin.notify.channels import deliver as deliver_any
from tocsin.oncall import clock_handlers
from tocsin.oncall.directory import OnCallDirectory
from tocsin.policy.loader import LoadedPolicy
from tocsin.reviews import clock_handlers as review_handlers
from tocsin.statuspage import maintenance
from tocsin.statuspage.subscribers import Links

LOCAL_URL = "http://127.0.0.1:8080"


def sending(public_url: str, admin_emails: tuple[str, ...] = ()) -> Sending:
    return Sending(public_url, OnCallDirectory(), admin_emails)


def clock_kinds(send: Sending, page_name: str = "Status") -> ClockRegistry:
    """Every clock kind's handler, registered by the domain that owns it."""
    registry = ClockRegistry()
    clock_registry.register(registry, notices=comms_handlers.Notices(send))
    clock_handlers.register(
        registry,
        base_url=send.base_url,
        alert_lines=grouping.page_lines,
        unreached=comms_handlers.EscalationUnreached(send),
    )
    comms_handlers.register(registry, sending=send)
    evidence_handlers.register(
        registry, notices=comms_handlers.Notices(send), new_alerts=grouping.seen_since
    )
    maintenance.register(registry, links=Links(send.base_url, page_name))
    review_handlers.register(registry, notices=ReviewReminders(send))
    return registry


def clock_step(
    public_url: str = LOCAL_URL, admin_emails: tuple[str, ...] = (), page_name: str = "Status"
) -> ClockStep:
    return ClockStep(clock_kinds(sending(public_url, admin_emails), page_name))


def outbox_step(
    public_url: str = LOCAL_URL, admin_emails: tuple[str, ...] = (), deliver: Send = deliver_any
) -> OutboxStep:
    return OutboxStep(deliver, DeliveryOutcomes(sending(public_url, admin_emails)))


def default_steps(
    loaded: LoadedPolicy, public_url: str, admin_emails: tuple[str, ...] = ()
) -> list[EngineStep]:
    """Clocks first (deadlines and escalation steps, which queue pages), heartbeats (which may
    declare incidents), then the outbox (which sends what the others queued)."""
    steps: list[EngineStep] = [
        clock_step(public_url, admin_emails, loaded.policy.status_page_name()),
        HeartbeatStep(loaded),
        outbox_step(public_url, admin_emails),
        RetentionStep(),
    ]
    key = keys.private_key()
    if key is not None:  # without a key there is nothing to sign with; verify says so
        steps.append(CheckpointStep(key, witness.configured(), checkpoint_interval()))
    return steps
