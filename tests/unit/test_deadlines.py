"""Which clocks an incident gets from its policy, and when each is due: worked examples."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tocsin.policy.deadlines import (
    PlannedClock,
    action_item_due,
    plan_incident_clocks,
    plan_regulatory_clocks,
    plan_review_clock,
    plan_update_clock,
)
from tocsin.policy.loader import bundled_policy_names, load_policy, load_policy_text
from tocsin.policy.schema import Policy, UnknownActionItemClass, UnknownSeverity


def utc(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


FRIDAY_10 = utc(20, 10)  # Friday 20 November 2026


def policy(name: str) -> Policy:
    return load_policy(name).policy


def by_key(clocks: list[PlannedClock]) -> dict[str, PlannedClock]:
    return {clock.key: clock for clock in clocks}


CUSTOM = """\
name: custom
title: Custom
timezone: {timezone}
holidays: {{country: {country}}}
flags:
  - {{id: personal_data_breach, name: Personal data breach}}
  - {{id: device_related, name: Device-related}}
incident_types:
  - {{id: security, name: Security}}
severities:
  - id: P0
    name: Critical
  - id: P3
    name: Low
    respond_within: next_business_day
post_incident:
  review_within: 1bd
regulatory:
  - id: gdpr
    name: GDPR
    within: 72h
    trigger: {{flags: [personal_data_breach, device_related]}}
  - id: sec
    name: SEC
    within: 4bd
    trigger: {{types: [security], severities: [P0]}}
"""


def custom(timezone: str = "UTC", country: str = "null") -> Policy:
    text = CUSTOM.format(timezone=timezone, country=country)
    return load_policy_text(text, source="custom").policy


# -- declared ---------------------------------------------------------------------------------


def test_proofkit_p1_declared_at_10_acknowledge_10_30_resolve_14_00() -> None:
    clocks = by_key(plan_incident_clocks(policy("proofkit"), "P1", FRIDAY_10))
    acknowledge, resolve = clocks["acknowledge"], clocks["resolve"]
    assert acknowledge.due_at == utc(20, 10, 30)
    assert acknowledge.label == "Acknowledge within 30 minutes"
    assert (acknowledge.kind, acknowledge.action, acknowledge.stop_on) == (
        "acknowledge",
        "remind",
        "acknowledged",
    )
    assert resolve.due_at == utc(20, 14)
    assert (resolve.label, resolve.stop_on) == ("Resolve within 4 hours", "resolved")


def test_clocks_come_sorted_by_due_time() -> None:
    clocks = plan_incident_clocks(policy("proofkit"), "P0", FRIDAY_10)
    assert [clock.due_at for clock in clocks] == sorted(clock.due_at for clock in clocks)


def test_maxai_p3_declared_friday_16_00_is_acknowledged_by_monday_09_00() -> None:
    clocks = by_key(plan_incident_clocks(policy("maxai"), "P3", utc(20, 16)))
    assert clocks["acknowledge"].due_at == utc(23, 9)
    assert clocks["acknowledge"].label == "Acknowledge by the next business day"


def test_proofkit_p3_counts_4_business_hours_over_the_weekend() -> None:
    clocks = by_key(plan_incident_clocks(policy("proofkit"), "P3", utc(20, 16)))
    assert clocks["acknowledge"].due_at == utc(23, 12)  # 1 h Friday + 3 h Monday
    assert clocks["resolve"].due_at == utc(23, 16)  # 72 calendar hours


def test_proofkit_p2_business_hours_notification_waits_for_monday() -> None:
    clocks = by_key(plan_incident_clocks(policy("proofkit"), "P2", utc(21, 11)))  # Saturday
    stage = clocks["comms_open:P2:business_hours"]
    assert stage.due_at == utc(23, 9)
    assert stage.targets == ("technical_lead", "assigned_engineer", "product_manager")
    assert stage.label.startswith("Business Hours Notification: send")
    # "In business hours" is an act, not a deadline: nothing can breach at once.
    assert "comms:P2:business_hours" not in clocks


def test_proofkit_p2_declared_in_business_hours_sends_at_once() -> None:
    clocks = by_key(plan_incident_clocks(policy("proofkit"), "P2", utc(23, 11)))  # Monday
    assert clocks["comms_open:P2:business_hours"].due_at == utc(23, 11)
    assert "comms:P2:business_hours" not in clocks


def test_communication_stages_notify_their_audience() -> None:
    clocks = by_key(plan_incident_clocks(policy("proofkit"), "P0", FRIDAY_10))
    extended = clocks["comms:P0:extended"]
    assert extended.due_at == utc(20, 10, 30)
    assert (extended.kind, extended.action, extended.stop_on) == ("comms", "notify", "notified")
    assert extended.targets == ("customer_success", "leadership", "legal")
    assert extended.label == (
        "Extended Team Notification: notify Customer Success, Business Leadership, "
        "Legal/Compliance within 30 minutes"
    )


def test_harborlist_escalation_steps_escalate_until_resolved() -> None:
    clocks = [
        c
        for c in plan_incident_clocks(policy("harborlist"), "P0", FRIDAY_10)
        if c.kind == "escalation"
    ]
    assert [c.key for c in clocks] == [
        "escalation:P0:unresolved:1",
        "escalation:P0:unresolved:2",
        "escalation:P0:unresolved:3",
    ]
    assert [c.due_at for c in clocks] == [FRIDAY_10, utc(20, 10, 30), utc(20, 11)]
    assert {(c.action, c.stop_on) for c in clocks} == {("escalate", "resolved")}
    assert clocks[2].label == "Escalate to CTO, CEO if unresolved after 1 hour (Executive (1 hour))"


def test_an_escalation_step_without_targets_reminds_the_responders() -> None:
    (step,) = [
        c for c in plan_incident_clocks(policy("maxai"), "P3", FRIDAY_10) if c.kind == "escalation"
    ]
    assert (step.action, step.targets, step.due_at) == ("remind", (), utc(27, 10))


def test_first_update_is_due_one_cadence_after_declaration() -> None:
    clocks = by_key(plan_incident_clocks(policy("rastup"), "SEV2", FRIDAY_10))
    assert clocks["update"].due_at == utc(20, 11)
    assert clocks["update"].stop_on == "updated"
    assert clocks["update"].label == "Post an update within 1 hour to Customers"


def test_rastup_sev0_gets_no_resolve_or_update_clock() -> None:
    kinds = {c.kind for c in plan_incident_clocks(policy("rastup"), "SEV0", FRIDAY_10)}
    assert kinds == {"comms_open"}, "activation is sent at once; it has no deadline to miss"


def test_rastup_sev4_resolve_asap_is_as_strict_as_sev3_and_never_instant() -> None:
    clocks = by_key(plan_incident_clocks(policy("rastup"), "SEV4", FRIDAY_10))
    sev3 = by_key(plan_incident_clocks(policy("rastup"), "SEV3", FRIDAY_10))
    assert FRIDAY_10 < clocks["resolve"].due_at <= sev3["resolve"].due_at
    assert clocks["resolve"].due_at == utc(20, 11)
    assert clocks["resolve"].label.startswith("Resolve within 1 hour (as soon as possible")


@pytest.mark.parametrize("name", bundled_policy_names())
def test_keys_are_unique_and_times_utc_for_every_bundled_severity(name: str) -> None:
    loaded = policy(name)
    for severity_id in loaded.severity_ids():
        clocks = plan_incident_clocks(loaded, severity_id, FRIDAY_10)
        assert len({clock.key for clock in clocks}) == len(clocks)
        assert all(clock.due_at.tzinfo is UTC for clock in clocks)
        assert all(clock.due_at >= FRIDAY_10 for clock in clocks)


def test_an_unknown_severity_is_refused() -> None:
    with pytest.raises(UnknownSeverity, match="allowed"):
        plan_incident_clocks(policy("proofkit"), "SEV1", FRIDAY_10)


# -- updates ----------------------------------------------------------------------------------


def test_next_update_counts_from_the_last_update() -> None:
    clock = plan_update_clock(policy("rastup"), "SEV3", utc(20, 10, 20))
    assert clock is not None
    assert (clock.key, clock.due_at) == ("update", utc(20, 10, 50))


def test_no_update_clock_without_a_cadence() -> None:
    assert plan_update_clock(policy("rastup"), "SEV0", FRIDAY_10) is None


# -- review -----------------------------------------------------------------------------------


def test_rastup_review_5_business_days_skips_the_weekend() -> None:
    review = plan_review_clock(policy("rastup"), "SEV3", utc(20, 15))  # Friday 15:00
    assert review is not None
    assert review.due_at == utc(27, 15)  # the next Friday, not Wednesday
    assert (review.kind, review.stop_on) == ("review", "reviewed")
    assert review.label == "Hold the post-incident review within 5 business days of resolution"


def test_a_review_after_a_weekend_resolution_counts_from_monday_morning() -> None:
    review = plan_review_clock(policy("rastup"), "SEV1", utc(21, 3))  # Saturday 03:00
    assert review is not None
    assert review.due_at == utc(30, 9)


def test_no_review_clock_when_the_severity_needs_none() -> None:
    assert plan_review_clock(policy("proofkit"), "P3", FRIDAY_10) is None


def test_holidays_are_skipped_when_the_policy_names_a_country() -> None:
    wednesday = utc(25, 15)  # the day before US Thanksgiving
    plain = plan_review_clock(custom(), "P0", wednesday)
    us = plan_review_clock(custom(country="US"), "P0", wednesday)
    assert plain is not None and us is not None
    assert plain.due_at == utc(26, 15)
    assert us.due_at == utc(27, 15)


def test_business_time_follows_the_policy_time_zone() -> None:
    new_york = custom(timezone="America/New_York")
    friday_4pm_in_new_york = utc(20, 21)
    clocks = by_key(plan_incident_clocks(new_york, "P3", friday_4pm_in_new_york))
    assert clocks["acknowledge"].due_at == utc(23, 14)  # Monday 09:00 EST


# -- regulatory -------------------------------------------------------------------------------


def test_gdpr_clock_runs_72_hours_from_awareness() -> None:
    aware = utc(20, 18, 30)
    clocks = plan_regulatory_clocks(
        policy("proofkit"),
        flags={"personal_data_breach": True},
        incident_type=None,
        severity_id="P1",
        aware_at=aware,
    )
    (gdpr,) = clocks
    assert (gdpr.kind, gdpr.key) == ("regulatory:gdpr", "regulatory:gdpr")
    assert gdpr.due_at == utc(23, 18, 30)
    assert (gdpr.action, gdpr.stop_on) == ("notify", "notified")
    assert gdpr.targets == ("data_protection_authority",)


def test_every_regime_whose_flag_is_set_starts_a_clock() -> None:
    clocks = plan_regulatory_clocks(
        policy("proofkit"),
        flags={"personal_data_breach": True, "device_related": 1, "security_related": True},
        incident_type=None,
        severity_id="P0",
        aware_at=FRIDAY_10,
    )
    # SOC 2 documents security incidents but sets no deadline, so it starts no clock.
    assert {c.key: c.due_at for c in clocks} == {
        "regulatory:fda": utc(21, 10),
        "regulatory:gdpr": utc(23, 10),
    }


def test_a_false_flag_starts_nothing() -> None:
    clocks = plan_regulatory_clocks(
        policy("proofkit"),
        flags={"personal_data_breach": False},
        incident_type=None,
        severity_id="P0",
        aware_at=FRIDAY_10,
    )
    assert clocks == []


def test_flags_are_any_of_and_type_and_severity_must_all_hold() -> None:
    loaded = custom()

    def keys(flags: dict[str, object], incident_type: str | None, severity: str) -> list[str]:
        clocks = plan_regulatory_clocks(
            loaded,
            flags=flags,
            incident_type=incident_type,
            severity_id=severity,
            aware_at=FRIDAY_10,
        )
        return [clock.key for clock in clocks]

    assert keys({"device_related": True}, None, "P3") == ["regulatory:gdpr"]
    assert keys({}, "security", "P0") == ["regulatory:sec"]
    assert keys({}, "security", "P3") == []
    assert keys({}, None, "P0") == []


# -- action items -----------------------------------------------------------------------------


def test_action_items_are_due_by_class() -> None:
    assert action_item_due(policy("maxai"), "immediate", FRIDAY_10) == utc(27, 10)
    assert action_item_due(policy("maxai"), "short_term", FRIDAY_10) == utc(20, 10, month=12)


def test_an_unknown_action_item_class_lists_the_classes() -> None:
    with pytest.raises(UnknownActionItemClass) as caught:
        action_item_due(policy("maxai"), "someday", FRIDAY_10)
    assert str(caught.value) == (
        "unknown action item class 'someday'; allowed: immediate, short_term, long_term"
    )


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        plan_incident_clocks(policy("proofkit"), "P0", datetime(2026, 11, 20, 10))
