"""A bad policy is refused with the file, line and field at fault and what is allowed."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest

from tocsin.policy.loader import (
    PolicyError,
    PolicyIssue,
    load_policy,
    load_policy_text,
)
from tocsin.policy.schema import Policy, UnknownSeverity

GOOD = """\
name: acme
title: Acme runbook
severities:
  - id: P0
    name: Critical
    respond_within: 15m
    escalation:
      - {after: 30m, when: unresolved, notify: [commander]}
  - id: P1
    name: High
    respond_within: 1h
roles:
  - {id: commander, name: Incident Commander}
"""


def issues(text: str) -> list[PolicyIssue]:
    with pytest.raises(PolicyError) as caught:
        load_policy_text(text, source="acme.yaml")
    return caught.value.issues


def only_issue(text: str) -> PolicyIssue:
    (issue,) = issues(text)
    return issue


def test_a_good_policy_loads() -> None:
    policy = load_policy_text(GOOD, source="acme.yaml").policy
    assert policy.severity_ids() == ["P0", "P1"]
    assert str(policy.severity("P0").respond_within) == "15m"


def test_a_typo_in_a_key_names_line_field_and_suggests_the_key() -> None:
    issue = only_issue(GOOD.replace("    respond_within: 1h", "    respond_withn: 1h"))
    assert (issue.file, issue.line, issue.field) == ("acme.yaml", 11, "severities[1].respond_withn")
    assert "did you mean 'respond_within'?" in issue.message
    assert str(issue).startswith("acme.yaml:11: severities[1].respond_withn: unknown key")


def test_a_bad_duration_names_line_field_and_the_forms_allowed() -> None:
    issue = only_issue(GOOD.replace("respond_within: 15m", "respond_within: 15 minutes please"))
    assert (issue.line, issue.field) == (6, "severities[0].respond_within")
    assert "is not a duration" in issue.message
    assert "4bh (business hours)" in issue.message


def test_a_bare_number_is_not_a_duration() -> None:
    issue = only_issue(GOOD.replace("respond_within: 1h", "respond_within: 15"))
    assert (issue.line, issue.field) == (11, "severities[1].respond_within")
    assert "bare number" in issue.message


def test_an_unknown_escalation_target_is_named_with_the_allowed_ones() -> None:
    issue = only_issue(GOOD.replace("notify: [commander]", "notify: [commander, cto]"))
    assert (issue.line, issue.field) == (8, "severities[0].escalation[0].notify[1]")
    assert issue.message == "unknown target (role or audience) 'cto'; allowed: commander"


def test_an_unknown_severity_reference_lists_the_severities() -> None:
    issue = only_issue(GOOD + "post_incident:\n  required_for: [P0, P9]\n")
    assert (issue.line, issue.field) == (15, "post_incident.required_for[1]")
    assert issue.message == "unknown severity 'P9'; allowed: P0, P1"


def test_an_alert_rule_notifies_audiences_only_naming_the_allowed_ones() -> None:
    text = GOOD + (
        "audiences:\n"
        "  - {id: ops_chat, name: Ops chat, members: ['channel:ops']}\n"
        "routing:\n"
        "  rules:\n"
        "    - {match: {source_severity: warning}, action: notify, notify: [ops_chat, commander]}\n"
    )
    issue = only_issue(text)
    assert issue.field == "routing.rules[0].notify[1]"
    assert issue.message == "unknown audience 'commander'; allowed: ops_chat"


def test_an_unknown_severity_in_a_regulatory_trigger() -> None:
    text = GOOD + (
        "regulatory:\n"
        "  - id: gdpr\n"
        "    name: GDPR\n"
        "    within: 72h\n"
        "    trigger: {severities: [SEV1]}\n"
    )
    issue = only_issue(text)
    assert (issue.line, issue.field) == (18, "regulatory[0].trigger.severities[0]")


def test_a_duplicate_severity_id_points_at_the_second_one() -> None:
    issue = only_issue(GOOD.replace("id: P1", "id: P0"))
    assert (issue.line, issue.field, issue.message) == (9, "severities[1].id", "duplicate id 'P0'")


def test_a_yaml_syntax_error_gives_line_and_the_key_it_was_in() -> None:
    issue = only_issue(GOOD.replace("    name: High", "    name: High: oops"))
    assert (issue.file, issue.line, issue.field) == ("acme.yaml", 10, "severities[1].name")
    assert issue.message.startswith("YAML syntax error: mapping values are not allowed here")


def test_a_duplicate_yaml_key_is_refused_rather_than_silently_dropped() -> None:
    issue = only_issue(GOOD + "title: Another title\n")
    assert (issue.line, issue.field) == (14, "title")
    assert "duplicate key" in issue.message


def test_escalation_steps_must_be_in_firing_order() -> None:
    steps = "      - {after: 1h, when: unresolved}\n      - {after: 15m"
    issue = only_issue(GOOD.replace("      - {after: 30m", steps))
    assert (issue.line, issue.field) == (9, "severities[0].escalation[1].after")
    assert "list escalation steps in the order they fire" in issue.message


def test_unacknowledged_and_unresolved_steps_are_ordered_separately() -> None:
    steps = (
        "      - {after: 5m, when: unacknowledged, notify: [commander]}\n"
        "      - {after: 30m, when: unresolved, notify: [commander]}\n"
        "      - {after: 10m, when: unacknowledged, notify: [commander]}\n"
    )
    text = GOOD.replace("      - {after: 30m, when: unresolved, notify: [commander]}\n", steps)
    policy = load_policy_text(text, source="acme").policy
    assert [str(step.after) for step in policy.severity("P0").escalation] == ["5m", "30m", "10m"]


def test_every_problem_is_reported_at_once_in_file_order() -> None:
    text = GOOD.replace("respond_within: 15m", "respond_within: soon") + (
        "timezone: Mars/Olympus\nbusiness_hours: {start: '17:00', end: '09:00'}\n"
    )
    found = issues(text)
    assert [(issue.line, issue.field) for issue in found] == [
        (6, "severities[0].respond_within"),
        (14, "timezone"),
        (15, "business_hours.end"),
    ]
    with pytest.raises(PolicyError) as caught:
        load_policy_text(text, source="acme.yaml")
    assert str(caught.value).splitlines() == [str(issue) for issue in found]


def test_at_least_one_severity_is_required() -> None:
    issue = only_issue("name: acme\ntitle: Acme\n")
    assert (issue.line, issue.field, issue.message) == (1, "severities", "is required")


def test_an_empty_file_is_not_a_policy() -> None:
    assert "got empty" in only_issue("").message


def test_yaml_1_1_surprises_do_not_apply() -> None:
    text = GOOD + "business_hours: {start: 08:30, end: 17:00}\nholidays: {country: NO}\n"
    policy = load_policy_text(text, source="acme").policy
    assert policy.business_hours.end == time(17)
    assert policy.holidays.country == "NO"


def test_an_unknown_holiday_country_is_refused() -> None:
    issue = only_issue(GOOD + "holidays: {country: XX}\n")
    assert (issue.line, issue.field) == (14, "holidays")


def test_a_target_id_cannot_be_both_a_role_and_an_audience() -> None:
    issue = only_issue(GOOD + "audiences:\n  - {id: commander, name: IC}\n")
    assert (issue.line, issue.field) == (15, "audiences[0].id")


def test_unknown_bundled_name_lists_the_bundled_policies() -> None:
    with pytest.raises(PolicyError) as caught:
        load_policy("proofkt")
    assert "bundled policies: default, harborlist, maxai, proofkit, rastup" in str(caught.value)


def test_a_policy_file_is_named_by_its_path_in_errors(tmp_path: Path) -> None:
    path = tmp_path / "ours.yaml"
    path.write_text(GOOD.replace("id: P1", "id: P0"))
    with pytest.raises(PolicyError) as caught:
        load_policy(str(path))
    assert str(caught.value) == f"{path}:9: severities[1].id: duplicate id 'P0'"


def test_a_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy(str(tmp_path / "missing.yaml"))


def test_loading_a_file_records_source_and_hash(tmp_path: Path) -> None:
    path = tmp_path / "ours.yaml"
    path.write_text(GOOD)
    loaded = load_policy(str(path))
    assert loaded.source == str(path)
    assert loaded.text == GOOD
    assert loaded.hash == load_policy_text(GOOD, source="x").hash


def test_unknown_severity_lists_allowed_ids_most_severe_first() -> None:
    policy = load_policy("rastup").policy
    with pytest.raises(UnknownSeverity) as caught:
        policy.severity("P0")
    assert caught.value.allowed == ["SEV4", "SEV3", "SEV2", "SEV1", "SEV0"]
    assert str(caught.value) == (
        "unknown severity 'P0'; allowed (most severe first): SEV4, SEV3, SEV2, SEV1, SEV0"
    )
    assert isinstance(caught.value, KeyError)


@pytest.mark.parametrize("name", ["default", "harborlist", "maxai", "proofkit", "rastup"])
def test_a_policy_survives_a_json_round_trip(name: str) -> None:
    policy = load_policy(name).policy
    again = Policy.model_validate(policy.model_dump(mode="json", by_alias=True))
    assert again == policy
    policy.calendar()  # the cached calendar is not part of the policy's value
    assert again == policy


def test_business_hours_dump_as_written() -> None:
    dumped = load_policy("proofkit").policy.model_dump(mode="json")
    assert dumped["business_hours"] == {
        "start": "09:00",
        "end": "17:00",
        "days": ["mon", "tue", "wed", "thu", "fri"],
    }
    assert dumped["severities"][1]["respond_within"] == "30m"


def test_a_drill_owner_must_be_a_role_audience_person_or_team_and_is_named_if_not() -> None:
    drills = (
        "drills:\n"
        "  - {id: tabletop, kind: tabletop, cadence: quarterly, owner: commander}\n"
        "  - {id: sim, kind: simulation, cadence: annually, owner: 'team:sre'}\n"
        "  - {id: dry, kind: dry_run, cadence: monthly, owner: nobody_known}\n"
    )
    issue = only_issue(GOOD + drills)
    assert issue.field == "drills[2].owner"
    assert issue.message.startswith("unknown owner 'nobody_known'; allowed: a role or audience")
    assert "commander" in issue.message and "team:<handle>" in issue.message
    loaded = load_policy_text(GOOD + drills.replace("nobody_known", "'person:alice'"), source="a")
    assert [d.owner for d in loaded.policy.drills] == ["commander", "team:sre", "person:alice"]


def test_a_drill_owner_that_is_not_an_id_is_refused() -> None:
    text = GOOD + "drills:\n  - {id: t, kind: tabletop, cadence: weekly, owner: 'two words'}\n"
    assert only_issue(text).field == "drills[0].owner"
