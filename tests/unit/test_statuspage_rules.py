"""The status page's pure rules: statuses combine to the worst, uptime counts as
Statuspage counts, days are the page's time zone's. No database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tocsin.errors import InvalidInput
from tocsin.statuspage.statuses import COMPONENT_STATUSES, check, description, impact_of, indicator
from tocsin.statuspage.uptime import Span, uptime

AT = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def test_the_worst_status_decides_the_impact_and_the_indicator() -> None:
    assert impact_of(["operational", "partial_outage", "degraded_performance"]) == "major"
    assert impact_of(["under_maintenance"]) == "none"
    assert indicator(["degraded_performance"], ["critical"]) == "critical"
    assert indicator([], []) == "none"
    assert description("none") == "All Systems Operational"
    assert description("none", maintenance_active=True) == "Service Under Maintenance"
    assert description("critical") == "Major System Outage"


def test_an_unknown_status_is_refused_naming_the_field_and_what_is_allowed() -> None:
    with pytest.raises(InvalidInput) as refused:
        check("down", COMPONENT_STATUSES, "components.api")
    assert refused.value.field == "components.api"
    assert refused.value.allowed == list(COMPONENT_STATUSES)


def test_a_major_outage_counts_fully_a_partial_one_30_percent_and_degraded_not_at_all() -> None:
    spans = [
        Span("api", AT - timedelta(hours=2), AT - timedelta(hours=1), "major_outage"),
        Span("api", AT - timedelta(hours=6), AT - timedelta(hours=4), "partial_outage"),
        Span("api", AT - timedelta(days=3), AT - timedelta(days=2), "degraded_performance"),
    ]
    found = uptime(spans, component="api", at=AT, zone="UTC")
    today = found.days[-1]
    assert (today.status, today.down_minutes) == ("major_outage", pytest.approx(60 + 120 * 0.3))
    assert [d.status for d in found.days[-4:-2]] == ["degraded_performance", "degraded_performance"]
    assert found.incident_days == 3
    counted = 89 * 24 * 60 + 12 * 60
    assert found.percent == pytest.approx(100 * (1 - 96 / counted))


def test_overlapping_spans_count_each_moment_once_at_its_worst() -> None:
    spans = [
        Span("api", AT - timedelta(hours=2), AT, "partial_outage"),
        Span("api", AT - timedelta(hours=1), None, "major_outage"),  # still going at AT
    ]
    assert uptime(spans, component="api", at=AT, zone="UTC").days[-1].down_minutes == (
        pytest.approx(60 * 0.3 + 60)
    )


def test_days_are_the_page_time_zone_and_days_before_the_component_have_no_data() -> None:
    late_evening_utc = Span(
        "api", AT + timedelta(hours=11), AT + timedelta(hours=11, minutes=30), "major_outage"
    )
    found = uptime(
        [late_evening_utc],
        component="api",
        at=AT + timedelta(hours=12),
        zone="Pacific/Auckland",  # UTC+13: 23:00 UTC on the 20th is the 21st there
        since=AT - timedelta(days=10),
    )
    assert found.days[-1].day.isoformat() == "2026-11-21"
    assert found.days[-1].status == "major_outage"
    assert sum(1 for d in found.days if d.status == "no_data") == 90 - 11
