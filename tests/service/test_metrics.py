"""Metrics over a generated history whose answers are known, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tocsin.db import Database
from tocsin.incidents.models import Clock, Incident
from tocsin.metrics import periods
from tocsin.metrics.service import Filters, compute
from tocsin.oncall.models import EscalationPolicy, Service

ORDER = ["P0", "P1", "P2", "P3"]
Q4 = periods.parse("2026-Q4")
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def _incident(
    session: object,
    number: int,
    *,
    severity: str = "P1",
    at: datetime = T0,
    ack_after: int | None = 300,
    resolve_after: int | None = 3600,
    impact_before: int | None = 120,
    services: list[str] | None = None,
    type: str = "service_outage",
    drill: bool = False,
) -> str:
    incident_id = f"INC-TEST-{number:04d}"
    session.add(  # type: ignore[attr-defined]
        Incident(
            id=incident_id,
            title=f"Incident {number}",
            severity=severity,
            type=type,
            status="resolved" if resolve_after is not None else "investigating",
            services=services or ["checkout"],
            flags={"drill": True} if drill else {},
            roles={},
            policy_name="default",
            policy_hash="0" * 64,
            declared_by="test",
            impact_started_at=None
            if impact_before is None
            else at - timedelta(seconds=impact_before),
            detected_at=at,
            declared_at=at,
            acknowledged_at=None if ack_after is None else at + timedelta(seconds=ack_after),
            mitigated_at=None
            if resolve_after is None
            else at + timedelta(seconds=resolve_after / 2),
            resolved_at=None if resolve_after is None else at + timedelta(seconds=resolve_after),
            last_event_hash="0" * 64,
        )
    )
    return incident_id


def _clock(session: object, incident_id: str, kind: str, state: str, n: int = 0) -> None:
    session.add(  # type: ignore[attr-defined]
        Clock(
            subject_type="incident",
            subject_id=incident_id,
            incident_id=incident_id,
            kind=kind,
            key=f"{kind}-{state}-{n}",
            action="remind",
            label=kind,
            targets=[],
            state=state,
            starts_at=T0,
            due_at=T0 + timedelta(hours=1),
            next_check_at=T0 + timedelta(hours=1),
        )
    )


def _figures(database: Database, period: periods.Period = Q4, **filters: object):  # type: ignore[no-untyped-def]
    with database.read_session() as session:
        return compute(session, period=period, filters=Filters(**filters), severity_order=ORDER)  # type: ignore[arg-type]


@pytest.fixture
def history(database: Database) -> Database:
    """Four real incidents in Q4 (one outside it, one drill) with known durations."""
    with database.write_session() as session:
        a = _incident(session, 1, severity="P0", ack_after=60, resolve_after=1800, services=["api"])
        b = _incident(
            session, 2, severity="P1", ack_after=120, resolve_after=3600, at=T0 + timedelta(days=7)
        )
        c = _incident(
            session,
            3,
            severity="P1",
            ack_after=600,
            resolve_after=None,
            impact_before=None,
            at=T0 + timedelta(days=14),
            type="security_breach",
        )
        _incident(
            session,
            4,
            severity="P3",
            ack_after=None,
            resolve_after=7200,
            at=T0 + timedelta(days=30),
        )
        _incident(session, 5, severity="P0", at=datetime(2026, 9, 30, tzinfo=UTC))  # Q3
        d = _incident(session, 6, severity="P0", ack_after=9999, resolve_after=99999, drill=True)
        session.flush()
        _clock(session, a, "acknowledge", "met")
        _clock(session, b, "acknowledge", "met")
        _clock(session, c, "acknowledge", "breached")
        _clock(session, a, "update", "met")
        _clock(session, a, "update", "cancelled", 1)
        _clock(session, a, "regulatory:gdpr", "breached")
        _clock(session, a, "review", "met")
        _clock(session, b, "review", "breached")
        _clock(session, a, "action_item", "met", 1)
        _clock(session, a, "action_item", "met", 2)
        _clock(session, a, "action_item", "pending", 3)
        _clock(session, a, "action_item", "cancelled", 4)
        _clock(session, d, "acknowledge", "breached")
    return database


def test_times_are_the_means_of_what_was_recorded(history: Database) -> None:
    m = _figures(history)
    assert m.incidents == 4
    assert m.mtta_seconds == pytest.approx((60 + 120 + 600) / 3)
    assert m.mttr_seconds == pytest.approx((1800 + 3600 + 7200) / 3)
    assert m.mttm_seconds == pytest.approx((900 + 1800 + 3600) / 3)
    assert m.mttd_seconds == pytest.approx(120)
    assert m.times["mtta"].median == pytest.approx(120)
    assert m.times["mttr"].p90 == pytest.approx(3600 + 0.8 * 3600)


def test_severity_distribution_follows_the_policys_order(history: Database) -> None:
    m = _figures(history)
    assert [(s.severity, s.count) for s in m.severity_distribution] == [
        ("P0", 1),
        ("P1", 2),
        ("P2", 0),
        ("P3", 1),
    ]


def test_clocks_met_ratio_by_kind_leaves_out_cancelled(history: Database) -> None:
    m = _figures(history)
    assert m.clocks_met_ratio == {
        "acknowledge": pytest.approx(2 / 3, abs=1e-4),
        "regulatory:gdpr": 0.0,
        "update": 1.0,
    }


def test_follow_through_comes_from_review_and_action_item_clocks(history: Database) -> None:
    follow = _figures(history).follow_through
    assert follow.review_on_time_rate == 0.5
    assert follow.action_item_closure_rate == pytest.approx(2 / 3, abs=1e-4)
    assert (follow.action_items.met, follow.action_items.pending) == (2, 1)


def test_drills_count_only_when_asked_for(history: Database) -> None:
    m = _figures(history, include_drills=True)
    assert m.incidents == 5
    assert m.mtta_seconds == pytest.approx((60 + 120 + 600 + 9999) / 4)
    assert m.clocks["acknowledge"].breached == 2


def test_filters_pick_by_severity_type_and_service(history: Database) -> None:
    assert _figures(history, severities=["P1"]).incidents == 2
    assert _figures(history, types=["security_breach"]).mttr_seconds is None
    only_api = _figures(history, services=["api"])
    assert (only_api.incidents, only_api.mtta_seconds) == (1, 60)


def test_team_filter_goes_through_the_services_it_is_paged_for(history: Database) -> None:
    with history.write_session() as session:
        session.add(
            EscalationPolicy(
                handle="api-ep",
                name="API",
                steps=[{"after_s": 0, "targets": ["team:platform"]}],
                targets={},
            )
        )
        session.add(Service(handle="api", name="API", escalation_policy="api-ep"))
    assert _figures(history, team="platform").incidents == 1
    assert _figures(history, team="nobody").incidents == 0


def test_a_period_with_no_incidents_has_null_figures_not_zero(history: Database) -> None:
    m = _figures(history, periods.parse("2025-W02"))
    assert m.incidents == 0
    assert (m.mttd_seconds, m.mtta_seconds, m.mttm_seconds, m.mttr_seconds) == (None,) * 4
    assert m.clocks_met_ratio == {}
    assert m.follow_through.review_on_time_rate is None
    assert m.follow_through.action_item_closure_rate is None
    assert all(bucket.mtta_seconds is None for bucket in m.series)


def test_series_splits_a_quarter_by_week(history: Database) -> None:
    m = _figures(history)
    assert len(m.series) == 14  # 2026-Q4 touches 14 ISO weeks
    assert sum(bucket.incidents for bucket in m.series) == 4
    week = next(b for b in m.series if b.start <= T0 < b.end)
    assert (week.incidents, week.mtta_seconds) == (1, 60)
