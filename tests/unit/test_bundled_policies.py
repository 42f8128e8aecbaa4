"""The five bundled policies carry their runbooks' numbers, lists and contacts."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from importlib import resources

import pytest

from tocsin.policy.deadlines import (
    PlannedClock,
    action_item_due,
    plan_incident_clocks,
    plan_regulatory_clocks,
    plan_review_clock,
)
from tocsin.policy.durations import DurationKind, parse_duration
from tocsin.policy.loader import bundled_policy_names, load_policy
from tocsin.policy.schema import Policy

NAMES = ["default", "harborlist", "maxai", "proofkit", "rastup"]
START = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)  # a Friday


def policy(name: str) -> Policy:
    return load_policy(name).policy


def minutes_after(clocks: list[PlannedClock], kind: str, start: datetime = START) -> list[int]:
    return [int((c.due_at - start) / timedelta(minutes=1)) for c in clocks if c.kind == kind]


def duration(text: str) -> object:
    return parse_duration(text)


# -- all of them ------------------------------------------------------------------------------


def test_the_five_policies_are_bundled() -> None:
    assert bundled_policy_names() == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_each_loads_under_its_own_name(name: str) -> None:
    loaded = load_policy(name)
    assert loaded.policy.name == name
    assert loaded.source == name


@pytest.mark.parametrize("name", NAMES)
def test_hash_matches_sha256sum_of_the_file(name: str) -> None:
    data = (resources.files("tocsin.policy") / "bundled" / f"{name}.yaml").read_bytes()
    assert load_policy(name).hash == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("name", NAMES)
def test_the_most_severe_severity_pages(name: str) -> None:
    assert policy(name).severities[0].pages


@pytest.mark.parametrize("name", NAMES)
def test_a_critical_severity_pages(name: str) -> None:
    critical = [s for s in policy(name).severities if s.name == "Critical"]
    assert critical
    assert all(severity.pages for severity in critical)


@pytest.mark.parametrize("name", NAMES)
def test_business_hours_are_nine_to_five_weekdays_in_utc(name: str) -> None:
    loaded = policy(name)
    assert loaded.timezone == "UTC"
    assert (loaded.business_hours.start.hour, loaded.business_hours.end.hour) == (9, 17)
    assert loaded.business_hours.days == ["mon", "tue", "wed", "thu", "fri"]
    assert loaded.holidays.country is None


@pytest.mark.parametrize("name", ["harborlist", "maxai", "proofkit", "rastup"])
def test_seed_policies_mark_what_they_fill_in(name: str) -> None:
    """A seed policy keeps the runbook's values; what running it needs beyond them (when a
    stage is a prompt, which stages are owed after resolution, a template's wording) is
    marked `# completion:` on its line and listed, as the default policy's are."""
    loaded = load_policy(name)
    comments = re.findall(r"^\s*[^#\s].*\s# completion: \S", loaded.text, flags=re.MULTILINE)
    assert len(comments) == len(loaded.policy.completions)


# -- ProofKit (seed 000) ----------------------------------------------------------------------


def test_proofkit_response_and_resolution_targets() -> None:
    proofkit = policy("proofkit")
    targets = {s.id: (str(s.respond_within), str(s.resolve_within)) for s in proofkit.severities}
    assert targets == {
        "P0": ("15m", "1h"),
        "P1": ("30m", "4h"),
        "P2": ("2h", "24h"),
        "P3": ("4bh", "72h"),
    }


def test_proofkit_p1_acknowledge_30_minutes_resolve_4_hours() -> None:
    clocks = plan_incident_clocks(policy("proofkit"), "P1", START)
    assert minutes_after(clocks, "acknowledge") == [30]
    assert minutes_after(clocks, "resolve") == [240]


def test_proofkit_review_48_hours_after_resolution_for_p0_and_p1_only() -> None:
    proofkit = policy("proofkit")
    resolved = START + timedelta(hours=3)
    review = plan_review_clock(proofkit, "P1", resolved)
    assert review is not None
    assert review.due_at == resolved + timedelta(hours=48)
    assert plan_review_clock(proofkit, "P2", resolved) is None
    assert proofkit.post_incident.required_for == ["P0", "P1"]


def test_proofkit_p0_communication_tree_is_15_30_60_minutes() -> None:
    proofkit = policy("proofkit")
    clocks = plan_incident_clocks(proofkit, "P0", START)
    assert minutes_after(clocks, "comms") == [15, 30, 60]
    stages = {stage.stage: stage.audience for stage in proofkit.severity("P0").communication}
    assert stages == {
        "immediate": ["commander", "technical_lead", "security_lead"],
        "extended": ["customer_success", "leadership", "legal"],
        "external": ["customers"],
        "incident-report": ["customers"],  # after resolution, with the post-mortem
    }
    opens = [minutes_after(clocks, "comms_open")]
    assert opens == [[0, 15, 30]], "each stage is sent at the start of its window"


def test_proofkit_p1_stages_bring_in_security_only_if_security_related() -> None:
    immediate, extended, _report = policy("proofkit").severity("P1").communication
    assert (str(immediate.within), str(extended.within)) == ("30m", "60m")
    assert immediate.audience == ["commander", "technical_lead", "on_call_engineer"]
    assert extended.conditions == {"security_lead": "if security-related"}


def test_proofkit_keeps_emails_and_leaves_unknown_names_and_numbers_unset() -> None:
    audiences = {a.id: a for a in policy("proofkit").audiences}
    assert audiences["tom_sartor"].email == "tom@proofkit.com"
    assert audiences["tom_sartor"].phone is None
    assert audiences["tech"].email == "tech@proofkit.com"
    assert audiences["tech"].person is None
    assert audiences["security"].email == "security@proofkit.com"
    emails = {a.email for a in audiences.values() if a.email}
    assert {"cs@proofkit.com", "leadership@proofkit.com", "legal@proofkit.com"} <= emails
    assert audiences["after_hours_pager"].phone is None


def test_proofkit_regulatory_deadlines() -> None:
    proofkit = policy("proofkit")
    regimes = {r.id: r for r in proofkit.regulatory}
    assert str(regimes["fda"].within) == "24h"
    assert regimes["fda"].trigger.flags == ["device_related"]
    assert str(regimes["gdpr"].within) == "72h"
    assert regimes["gdpr"].trigger.flags == ["personal_data_breach"]
    assert regimes["soc2"].within is None
    assert regimes["soc2"].note == "Document all security incidents."


def test_proofkit_phases_drills_and_post_mortem_sections() -> None:
    proofkit = policy("proofkit")
    assert [(p.target, str(p.within)) for p in proofkit.phases] == [
        ("First 15 minutes", "15m"),
        ("15 minutes - 4 hours", "4h"),
        ("varies by severity", "None"),
    ]
    assert [(d.kind, d.cadence) for d in proofkit.drills] == [
        ("tabletop", "quarterly"),
        ("simulation", "biannually"),
        ("review", "annually"),
    ]
    assert proofkit.drills[0].severity == "P0"
    assert len(proofkit.post_incident.required_sections) == 8


# -- HarborList (seed 001) --------------------------------------------------------------------


def test_harborlist_response_times_and_no_resolution_targets() -> None:
    harborlist = policy("harborlist")
    assert [str(s.respond_within) for s in harborlist.severities] == ["15m", "1h", "4h", "24h"]
    assert all(s.resolve_within is None for s in harborlist.severities)
    assert all(s.update_every is None for s in harborlist.severities)


def test_harborlist_p0_escalates_at_0_30_60_minutes() -> None:
    harborlist = policy("harborlist")
    clocks = plan_incident_clocks(harborlist, "P0", START)
    escalations = [c for c in clocks if c.kind == "escalation"]
    assert minutes_after(escalations, "escalation") == [0, 30, 60]
    assert [c.targets for c in escalations] == [
        ("on_call_engineer",),
        ("technical_lead", "commander"),
        ("cto", "ceo"),
    ]


def test_harborlist_escalation_matrix_per_severity() -> None:
    harborlist = policy("harborlist")
    matrix = {s.id: [tuple(step.notify) for step in s.escalation] for s in harborlist.severities}
    assert matrix == {
        "P0": [("on_call_engineer",), ("technical_lead", "commander"), ("cto", "ceo")],
        "P1": [("on_call_engineer",), ("technical_lead",), ("cto",)],
        "P2": [("assigned_engineer",), ("team_lead",), ("technical_lead",)],
        "P3": [("assigned_engineer",), ("team_lead",)],  # executive "-": none
    }


def test_harborlist_types_roles_and_templates() -> None:
    harborlist = policy("harborlist")
    assert harborlist.type_ids() == ["security", "operational", "application"]
    assert harborlist.role_ids()[:4] == [
        "commander",
        "technical_lead",
        "communications_lead",
        "security_lead",
    ]
    assert all(len(role.duties) == 4 for role in harborlist.roles[:4])
    assert [t.id for t in harborlist.templates] == ["initial", "update", "resolved", "postmortem"]
    initial = harborlist.templates[0]
    assert initial.body.startswith("INCIDENT ALERT - {{ incident.severity }}\n")
    assert "Status: Investigating" in initial.body
    assert str(harborlist.post_incident.review_within) == "7d"


# -- rastup (seed 002) ------------------------------------------------------------------------


def test_rastup_lists_sev4_first_and_sev0_last() -> None:
    rastup = policy("rastup")
    assert rastup.severity_ids() == ["SEV4", "SEV3", "SEV2", "SEV1", "SEV0"]
    assert rastup.rank("SEV4") == 0
    assert rastup.rank("SEV0") == 4


def test_rastup_targets_and_cadences() -> None:
    rastup = policy("rastup")
    resolve = {s.id: s.resolve_within for s in rastup.severities}
    assert resolve["SEV4"] is not None and resolve["SEV4"].kind is DurationKind.IMMEDIATE
    assert (resolve["SEV3"], resolve["SEV2"], resolve["SEV1"]) == (
        duration("1h"),
        duration("4h"),
        duration("8h"),
    )
    assert resolve["SEV0"] is None
    updates = {s.id: s.update_every for s in rastup.severities}
    assert updates == {
        "SEV4": None,
        "SEV3": duration("30m"),
        "SEV2": duration("1h"),
        "SEV1": duration("2h"),
        "SEV0": None,
    }
    assert rastup.severity("SEV0").status_page == "optional"


def test_rastup_sev3_clocks_resolve_in_1_hour_and_update_every_30_minutes() -> None:
    clocks = plan_incident_clocks(policy("rastup"), "SEV3", START)
    assert minutes_after(clocks, "resolve") == [60]
    assert minutes_after(clocks, "update") == [30]


def test_rastup_sev0_has_no_resolve_clock() -> None:
    clocks = plan_incident_clocks(policy("rastup"), "SEV0", START)
    assert "resolve" not in {clock.kind for clock in clocks}


def test_rastup_exec_sms_list_for_sev3_and_above_only() -> None:
    rastup = policy("rastup")
    told = {
        s.id: {t for stage in s.communication for t in stage.audience} for s in rastup.severities
    }
    assert {s for s, targets in told.items() if "exec_sms_list" in targets} == {"SEV4", "SEV3"}


def test_rastup_review_within_5_business_days() -> None:
    rastup = policy("rastup")
    assert rastup.post_incident.review_within == duration("5bd")
    assert rastup.post_incident.required_sections[1] == "Root cause analysis (5-Whys or Fishbone)"


def test_rastup_drills_and_global_readonly() -> None:
    rastup = policy("rastup")
    assert [(d.kind, d.severity, d.cadence) for d in rastup.drills] == [
        ("tabletop", "SEV2", "quarterly"),
        ("simulation", "SEV3", "annually"),
    ]
    (readonly,) = rastup.containment_flags
    assert readonly.id == "global-readonly"
    assert readonly.watch == duration("30m")


def test_rastup_regulators_have_no_invented_deadline() -> None:
    assert [(r.id, r.within) for r in policy("rastup").regulatory] == [
        ("gdpr", None),
        ("pci", None),
    ]


# -- maxai (seed 003) -------------------------------------------------------------------------


def test_maxai_response_times_and_cadences() -> None:
    maxai = policy("maxai")
    assert [str(s.respond_within) for s in maxai.severities] == [
        "15m",
        "1h",
        "4h",
        "next_business_day",
    ]
    assert maxai.severity("P3").respond_within == parse_duration("next_business_day")
    assert [str(s.update_every) for s in maxai.severities] == ["30m", "2h", "1d", "1w"]


def test_maxai_p1_escalates_to_senior_leadership_after_2_hours_unresolved() -> None:
    (step,) = policy("maxai").severity("P1").escalation
    assert (step.after, step.when, step.notify) == (
        duration("2h"),
        "unresolved",
        ["senior_management"],
    )
    clocks = plan_incident_clocks(policy("maxai"), "P1", START)
    (escalation,) = [c for c in clocks if c.kind == "escalation"]
    assert escalation.due_at == START + timedelta(hours=2)
    assert escalation.stop_on == "resolved"


def test_maxai_pir_within_3_business_days() -> None:
    maxai = policy("maxai")
    review = plan_review_clock(maxai, "P2", START)  # Friday 10:00
    assert review is not None
    assert review.due_at == datetime(2026, 11, 25, 10, 0, tzinfo=UTC)  # Wednesday
    first = maxai.post_incident.agenda[0]
    assert (first.topic, first.minutes) == ("Incident Summary", 10)


def test_maxai_action_item_windows() -> None:
    maxai = policy("maxai")
    assert action_item_due(maxai, "immediate", START) == START + timedelta(weeks=1)
    assert action_item_due(maxai, "short_term", START) == START + timedelta(days=30)
    assert action_item_due(maxai, "long_term", START) == START + timedelta(weeks=13)


def test_maxai_legal_within_1_hour_of_confirmed_breach() -> None:
    maxai = policy("maxai")
    (legal,) = maxai.regulatory
    assert (legal.within, legal.from_, legal.notify) == (
        duration("1h"),
        "confirmed",
        ["legal_compliance"],
    )
    clocks = plan_regulatory_clocks(
        maxai,
        flags={"confirmed_breach": True},
        incident_type=None,
        severity_id="P0",
        aware_at=START,
    )
    assert [(c.key, c.due_at) for c in clocks] == [("regulatory:legal", START + timedelta(hours=1))]


def test_maxai_names_role_holders() -> None:
    roles = {role.id: role for role in policy("maxai").roles}
    assert roles["commander"].primary == "release_manager.rohan-patel"
    assert roles["technical_lead"].primary == "architect.morgan-lee"
    assert roles["communications_lead"].primary == "team_lead.casey-brooks"
    assert roles["development_team"].members == ["dev.avery-kim", "dev.default"]
    assert roles["qa_team"].members == ["qa.default"]
    assert policy("maxai").escalation_chain == [
        "commander",
        "technical_lead",
        "team_lead",
        "senior_management",
        "executive_team",
    ]


def test_maxai_placeholder_contacts_are_unset() -> None:
    audiences = {a.id: a for a in policy("maxai").audiences}
    assert audiences["platform_owner"].email is None
    assert audiences["emergency_hotline"].phone is None
    assert audiences["security_officer"].email == "security@maxai-platform.com"


# -- default (seed 004, completed) ------------------------------------------------------------


def test_default_p0_ladder_is_0_5_15_30_60_minutes() -> None:
    default = policy("default")
    clocks = plan_incident_clocks(default, "P0", START)
    assert minutes_after(clocks, "escalation") == [0, 5, 15, 30]
    # The initial stakeholder notification (Phase 1, 0-5 minutes), the customer hour, and the
    # customer notification if data is exposed (met at once when it is not).
    assert minutes_after(clocks, "comms") == [5, 60, 60]
    escalations = [c.targets for c in clocks if c.kind == "escalation"]
    assert escalations == [
        ("on_call_engineer",),
        ("engineering_manager",),
        ("vp_engineering",),
        ("executive_team",),
    ]


def test_default_p1_ladder_is_0_30_minutes_2_and_4_hours() -> None:
    clocks = plan_incident_clocks(policy("default"), "P1", START)
    ladder = sorted(minutes_after(clocks, "escalation") + minutes_after(clocks, "comms"))
    # The escalation matrix, and Phase 1's initial stakeholder notification (0-5 minutes).
    assert ladder == [0, 5, 30, 120, 240]


def test_default_response_times_from_the_template() -> None:
    default = policy("default")
    respond = [s.respond_within for s in default.severities]
    assert respond[1:] == [duration("15m"), duration("1h"), duration("next_business_day")]


def test_default_gdpr_72_hours_on_personal_data_breach() -> None:
    default = policy("default")
    aware = START
    clocks = plan_regulatory_clocks(
        default,
        flags={"personal_data_breach": True},
        incident_type=None,
        severity_id="P2",
        aware_at=aware,
    )
    assert [(c.key, c.due_at) for c in clocks] == [("regulatory:gdpr", aware + timedelta(hours=72))]
    no_breach = plan_regulatory_clocks(
        default, flags={}, incident_type=None, severity_id="P2", aware_at=aware
    )
    assert no_breach == []


def test_default_marks_every_completion_in_yaml_and_list() -> None:
    loaded = load_policy("default")
    comments = re.findall(r"^\s*[^#\s].*\s# completion: \S", loaded.text, flags=re.MULTILINE)
    assert len(comments) == len(loaded.policy.completions) > 0
    assert any("gdpr" in item for item in loaded.policy.completions)
    assert str(loaded.policy.severity("P0").resolve_within) == "4h"


def test_default_post_mortem_within_48_hours_blameless() -> None:
    rules = policy("default").post_incident
    assert rules.review_within == duration("48h")
    assert rules.blameless is True
