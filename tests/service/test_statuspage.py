"""The status page's rules, on SQLite and PostgreSQL: what a component shows and why, what
publishing meets, maintenance on the clock, and who hears about what."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine

from tests.service.test_alert_ingest import count, critical, deliver, make_integration
from tocsin.alerts.models import Silence
from tocsin.db import Database
from tocsin.engine.steps import clock_step, outbox_step
from tocsin.errors import Conflict, InvalidInput
from tocsin.flows import incidents as flows
from tocsin.flows import statuspage as status_flows
from tocsin.incidents.clocks import all_clocks
from tocsin.incidents.models import Incident
from tocsin.incidents.service import Declaration
from tocsin.notify.channels import DeliveryError, Message
from tocsin.notify.models import Notification
from tocsin.policy.loader import LoadedPolicy, load_policy
from tocsin.statuspage import board as boards
from tocsin.statuspage import service, subscribers
from tocsin.statuspage.models import PublicIncident, Subscriber
from tocsin.statuspage.views import Board
from tocsin.timesource import now

URL = "http://tocsin.test"
NOON = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> Iterator[time_machine.Coordinates]:
    with time_machine.travel(NOON, tick=False) as traveller:
        yield traveller


def _components(database: Database) -> None:
    with database.write_session() as session:
        service.add_component(
            session, slug="checkout", name="Checkout", group="Shop", services=["checkout"]
        )
        service.add_component(session, slug="api", name="Public API", services=["api"])


def _board(database: Database, loaded: LoadedPolicy) -> Board:
    with database.read_session() as session:
        return boards.build(session, policy=loaded.policy, at=now(), base_url=URL)


def _status(database: Database, loaded: LoadedPolicy) -> dict[str, str]:
    return {c.slug: c.status for c in _board(database, loaded).components}


def _declare(database: Database, loaded: LoadedPolicy, severity: str, **fields: Any) -> str:
    with database.write_session() as session:
        declaration = Declaration(title="db-7 disk full", severity=severity, **fields)
        return flows.declare(session, loaded=loaded, declaration=declaration, actor="dana").id


def _links(loaded: LoadedPolicy) -> subscribers.Links:
    return status_flows.links(URL, loaded.policy)


def test_a_component_follows_an_open_incident_on_its_services_until_it_resolves(
    database: Database, default_policy: LoadedPolicy, clock: time_machine.Coordinates
) -> None:
    _components(database)
    incident_id = _declare(database, default_policy, "P1", services=["checkout"])
    board = _board(database, default_policy)
    assert _status(database, default_policy) == {"checkout": "partial_outage", "api": "operational"}
    assert (board.indicator, board.description) == ("major", "Partial System Outage")
    assert board.groups[0].status == "partial_outage"

    clock.shift(timedelta(hours=3))
    with database.write_session() as session:
        flows.change_status(
            session, incident_id=incident_id, status="resolved", message="fixed", actor="dana"
        )
    board = _board(database, default_policy)
    assert _status(database, default_policy) == {"checkout": "operational", "api": "operational"}
    checkout = board.components[0]
    assert checkout.uptime.days[-1].status == "partial_outage"
    assert checkout.uptime.days[-1].down_minutes == pytest.approx(180 * 0.3)
    assert checkout.uptime.incident_days == 1
    assert board.components[1].uptime.percent == 100.0


def test_a_person_overrides_what_incidents_say_until_they_clear_it(
    database: Database, default_policy: LoadedPolicy, clock: time_machine.Coordinates
) -> None:
    _components(database)
    _declare(database, default_policy, "P0", services=["checkout"])
    with database.write_session() as session:
        service.override(
            session, slug="checkout", status="degraded_performance", note="mostly ok", actor="ic"
        )
    assert _status(database, default_policy)["checkout"] == "degraded_performance"
    with database.write_session() as session:
        service.override(session, slug="checkout", status=None, note=None, actor="ic")
    assert _status(database, default_policy)["checkout"] == "major_outage"
    with database.write_session() as session, pytest.raises(InvalidInput) as bad:
        service.override(session, slug="checkout", status="down", note=None, actor="ic")
    assert bad.value.field == "status"
    assert "operational" in bad.value.message


def test_a_drill_never_reaches_the_page(
    database: Database, default_policy: LoadedPolicy, clock: time_machine.Coordinates
) -> None:
    _components(database)
    drill = _declare(database, default_policy, "P0", services=["checkout"], flags={"drill": True})
    assert _status(database, default_policy)["checkout"] == "operational"
    with database.write_session() as session, pytest.raises(Conflict):
        status_flows.publish(
            session,
            incident_id=drill,
            title="Tabletop",
            status="investigating",
            message="x",
            actor="ic",
            links=_links(default_policy),
        )


def test_publishing_answers_the_update_clock_owed_to_customers(
    database: Database, clock: time_machine.Coordinates
) -> None:
    """Rastup SEV2: "Status page & email, hourly updates" to customers."""
    rastup = load_policy("rastup")
    _components(database)
    incident_id = _declare(database, rastup, "SEV2", services=["checkout"])
    clock.shift(timedelta(minutes=40))
    with database.write_session() as session:
        done = status_flows.publish(
            session,
            incident_id=incident_id,
            title="Checkout errors",
            status="investigating",
            message="We are investigating errors at checkout. Next update in 60 minutes.",
            actor="comms",
            links=_links(rastup),
        )
        assert done.row.components == {"checkout": "partial_outage"}
        clocks = [c for c in all_clocks(session, incident_id) if c.kind == "update"]
        states = sorted((c.state, c.due_at) for c in clocks)
    assert states == [
        ("met", NOON + timedelta(hours=1)),
        ("pending", NOON + timedelta(minutes=100)),
    ]
    with database.write_session() as session, pytest.raises(InvalidInput) as no_title:
        other = flows.declare(
            session,
            loaded=rastup,
            declaration=Declaration(title="x", severity="SEV2"),
            actor="dana",
        ).id
        status_flows.publish(
            session,
            incident_id=other,
            status="investigating",
            message="m",
            actor="comms",
            links=_links(rastup),
        )
    assert no_title.value.field == "title"


def test_maintenance_starts_and_completes_on_time_and_silences_its_services(
    database: Database, default_policy: LoadedPolicy, clock: time_machine.Coordinates
) -> None:
    _components(database)
    with database.write_session() as session:
        done = status_flows.schedule_maintenance(
            session,
            name="Database upgrade",
            message="We will upgrade the checkout database.",
            scheduled_for=NOON + timedelta(hours=1),
            scheduled_until=NOON + timedelta(hours=2),
            components=["checkout"],
            actor="ops",
            links=_links(default_policy),
        )
        code = done.row.code
        [silence] = session.query(Silence).all()
        assert (silence.service, silence.kind) == ("checkout", "maintenance")
        assert (silence.starts_at, silence.ends_at) == (
            NOON + timedelta(hours=1),
            NOON + timedelta(hours=2),
        )
    board = _board(database, default_policy)
    assert [m.code for m in board.upcoming_maintenance] == [code]
    assert _status(database, default_policy)["checkout"] == "operational"

    step = clock_step(URL)
    clock.shift(timedelta(hours=1))
    step.run_due(database)
    integration = make_integration(database, service="checkout")
    deliver(database, default_policy, integration, [critical("db-1", group="during")])
    assert count(database, Incident) == 0  # kept, but nobody is paged for it
    board = _board(database, default_policy)
    assert [m.status for m in board.active_maintenance] == ["in_progress"]
    assert _status(database, default_policy)["checkout"] == "under_maintenance"
    assert board.description == "Service Under Maintenance"

    clock.shift(timedelta(hours=1))
    step.run_due(database)
    with database.read_session() as session:
        row = service.find(session, code)
        assert row.status == "completed"
        updates = [u.status for u in service.updates_of(session, [row.id])[row.id]]
    assert updates == ["completed", "in_progress", "scheduled"]
    assert _status(database, default_policy)["checkout"] == "operational"
    deliver(database, default_policy, integration, [critical("db-2", group="after")])
    assert count(database, Incident) == 1  # the window is over: alerts page again


def test_a_subscriber_hears_only_about_their_components_and_a_failure_stays_visible(
    database: Database, default_policy: LoadedPolicy, clock: time_machine.Coordinates
) -> None:
    _components(database)
    links = _links(default_policy)
    with database.write_session() as session:
        for url, chosen in [
            ("https://hooks.example/checkout", ["checkout"]),
            ("https://hooks.example/api", ["api"]),
            ("https://hooks.example/all", []),
        ]:
            subscribers.subscribe(
                session, kind="webhook", address=url, components=chosen, links=links, confirmed=True
            )
        subscribers.subscribe(
            session, kind="email", address="Unconfirmed@Example.com", components=[], links=links
        )
        entry = service.open_incident(
            session,
            name="Checkout errors",
            status="investigating",
            message="Looking into it",
            components={"checkout": "partial_outage"},
            actor="comms",
        )
        row = session.get(PublicIncident, entry.status_incident_id)
        assert row is not None
        assert subscribers.announce(session, row=row, entry=entry, links=links) == 2

    sent: list[Message] = []

    def deliver(message: Message) -> None:
        if message.address.endswith("/all"):
            raise DeliveryError("the receiver answered 410 Gone", permanent=True)
        sent.append(message)

    outbox_step(URL, deliver=deliver).run_due(database)
    by_address = {m.address: m for m in sent}
    assert set(by_address) == {"https://hooks.example/checkout", "unconfirmed@example.com"}
    assert by_address["unconfirmed@example.com"].subject.startswith("Confirm your subscription")
    assert by_address["https://hooks.example/checkout"].data["statuspage"]["incident"]["name"] == (
        "Checkout errors"
    )
    with database.read_session() as session:
        failing = session.query(Subscriber).filter_by(address="https://hooks.example/all").one()
        assert failing.last_error == "the receiver answered 410 Gone"
        [failure] = subscribers.failures(session)
        assert failure.address == "https://hooks.example/all"
        assert session.query(Notification).filter_by(status="sent").count() == 2
