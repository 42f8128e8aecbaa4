"""Importing a realistic PagerDuty organisation from a stand-in of its API (both databases)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from tests.importers.pagerduty_standin import TOKEN, PagerDuty
from tests.importers.standin import StandIn, serving
from tocsin.alerts import integrations
from tocsin.db import Database
from tocsin.importers import pagerduty, plan, verify
from tocsin.oncall.export import current_config
from tocsin.oncall.models import EscalationPolicy

NOW = datetime(2026, 10, 22, tzinfo=UTC)


@pytest.fixture
def standin() -> Iterator[StandIn]:
    with serving(PagerDuty()) as running:
        yield running


def run(database: Database, standin: StandIn, *, apply: bool) -> plan.Outcome:
    with database.read_session() as session:
        current = current_config(session)
    api = pagerduty.api(TOKEN, base_url=standin.url)
    try:
        imported = pagerduty.mapped(pagerduty.fetch(api, NOW), current, NOW)
    finally:
        api.close()
    return plan.run(database, imported, apply=apply)


def test_plan_apply_rerun_and_parity(database: Database, standin: StandIn) -> None:
    planned = run(database, standin, apply=False)
    left = "\n".join(str(item) for item in planned.left_out)
    assert "person alice: sms_contact_method Mobile 7700900123" in left
    assert "integration Checkout mail (generic_email_inbound_integration)" in left
    assert "integration Legacy cron (generic_events_api_inbound_integration)" in left
    first = run(database, standin, apply=True)
    assert len([c for c in first.changes if c.startswith("created person")]) == 12
    assert run(database, standin, apply=True).changes == []
    with database.read_session() as session:
        checkout = integrations.by_key(session, "8f2b6c1d9e3a4f5b7c8d9e0a1b2c3d4e")
        assert checkout is not None and (checkout.kind, checkout.service) == (
            "pagerduty",
            "checkout",
        )
        api = pagerduty.api(TOKEN, base_url=standin.url)
        parity = verify.compare(
            session, "pagerduty", lambda ident, a, b: pagerduty.on_call(api, ident, a, b), NOW
        )
        api.close()
    assert parity.schedules == ["mobile", "payments-primary", "platform"]
    assert parity.differences == []


def test_escalation_delays_add_up_exactly(database: Database, standin: StandIn) -> None:
    run(database, standin, apply=True)
    with database.read_session() as session:
        policies = {p.handle: p for p in session.scalars(select(EscalationPolicy))}
        config = current_config(session)
    payments = policies["payments"]
    assert [s["after_s"] for s in payments.steps] == [0, 240]
    assert (payments.repeat, payments.repeat_after_s) == (2, 540)
    assert policies["mobile"].repeat_after_s == 180
    platform = next(s for s in config.schedules if s.handle == "platform")
    assert [layer.name for layer in platform.layers] == ["daily", "business-hours"]
    alice = next(p for p in config.people if p.handle == "alice")
    assert [(r.method, r.after) for r in alice.notification_rules] == [("work", "0m")]


def test_paging_and_rate_limits(database: Database, standin: StandIn) -> None:
    run(database, standin, apply=False)
    assert [r.param("offset") for r in standin.seen if r.path == "/users"] == ["0", "5", "10"]
    assert len([r for r in standin.seen if r.path == "/teams"]) == 2
