"""A policy renders as the runbook a team would publish; `explain` lists its clocks."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from tocsin.policy.loader import bundled_policy_names, load_policy, load_policy_text
from tocsin.policy.render import UNSET, explain_rows, render_markdown

DECLARED = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def rendered(name: str) -> str:
    return render_markdown(load_policy(name))


def section(markdown: str, heading: str) -> str:
    """The text under a `## heading`, up to the next `## `."""
    start = markdown.index(f"\n## {heading}\n")
    end = markdown.find("\n## ", start + 1)
    return markdown[start : end if end != -1 else None]


def test_proofkit_reads_like_its_runbook() -> None:
    markdown = rendered("proofkit")
    assert markdown.startswith("# ProofKit Incident Response Runbook\n")
    headings = re.findall(r"^## (.+)$", markdown, flags=re.MULTILINE)
    for heading in (
        "Severity ladder",
        "Escalation matrix",
        "Communication tree",
        "Roles and duties",
        "Contacts",
        "Response phases",
        "Communication templates",
        "Post-incident review",
        "Regulatory and legal deadlines",
        "Drills and exercises",
        "Completions",
    ):
        assert heading in headings


def test_proofkit_header_carries_the_policy_hash() -> None:
    loaded = load_policy("proofkit")
    assert f"- SHA-256: `{loaded.hash}`" in render_markdown(loaded)


def test_proofkit_severity_table_in_words_most_severe_first() -> None:
    ladder = section(rendered("proofkit"), "Severity ladder")
    rows = [line for line in ladder.splitlines() if line.startswith("| P")]
    assert rows == [
        f"| P0 | Critical (Immediate Response) | within 15 minutes | within 1 hour "
        f"| {UNSET} | yes |",
        f"| P1 | High (Urgent Response) | within 30 minutes | within 4 hours | {UNSET} | yes |",
        f"| P2 | Medium (Standard Response) | within 2 hours | within 24 hours | {UNSET} | no |",
        f"| P3 | Low (Standard Business Hours) | within 4 business hours | within 72 hours "
        f"| {UNSET} | no |",
    ]


def test_proofkit_lists_its_contacts_emails() -> None:
    contacts = section(rendered("proofkit"), "Contacts")
    for email in (
        "tom@proofkit.com",
        "tech@proofkit.com",
        "security@proofkit.com",
        "cs@proofkit.com",
        "leadership@proofkit.com",
        "legal@proofkit.com",
    ):
        assert email in contacts


def test_unknown_names_and_numbers_show_the_not_set_marker() -> None:
    markdown = rendered("proofkit")
    contacts = section(markdown, "Contacts")
    tom = next(line for line in contacts.splitlines() if "tom@proofkit.com" in line)
    assert f"| tom@proofkit.com | {UNSET} |" in tom  # "+1-XXX-XXX-XXXX"
    tech = next(line for line in contacts.splitlines() if "tech@proofkit.com" in line)
    assert tech.startswith(f"| Technical Lead | {UNSET} | tech@proofkit.com |")  # "[Name]"
    customer_success = next(line for line in contacts.splitlines() if "cs@proofkit.com" in line)
    assert UNSET not in customer_success  # the runbook gives no phone there at all
    roles = section(markdown, "Roles and duties")
    assert f"### Technical Lead\n\n- Id: `technical_lead`\n- Primary: {UNSET}" in roles


def test_proofkit_communication_tree_and_regulatory_deadlines() -> None:
    markdown = rendered("proofkit")
    tree = section(markdown, "Communication tree")
    assert "| Extended Team Notification | 15-30 minutes | within 30 minutes |" in tree
    assert "Security Officer (if security-related)" in tree
    regulatory = section(markdown, "Regulatory and legal deadlines")
    assert "| FDA (if applicable) | within 24 hours | from awareness | flag `device_related` |" in (
        regulatory
    )
    assert "| GDPR | within 72 hours |" in regulatory


def test_templates_keep_their_wording_and_list_placeholders() -> None:
    templates = section(rendered("maxai"), "Communication templates")
    assert "🚨 INCIDENT UPDATE #{{ update.number }} - {{ update.timestamp }}" in templates
    assert "`incident.severity`" in templates


def test_rastup_ladder_runs_sev4_to_sev0_and_n_a_is_not_unset() -> None:
    ladder = section(rendered("rastup"), "Severity ladder")
    ids = re.findall(r"^\| (SEV\d) \|", ladder, flags=re.MULTILINE)
    assert ids == ["SEV4", "SEV3", "SEV2", "SEV1", "SEV0"]
    sev0 = next(line for line in ladder.splitlines() if line.startswith("| SEV0"))
    assert sev0 == f"| SEV0 | Informational | {UNSET} | n/a | {UNSET} | no |"
    assert (
        "| SEV3 | Critical | " in ladder and "| within 1 hour | every 30 minutes | yes |" in ladder
    )


def test_rastup_shows_its_containment_flag() -> None:
    flags = section(rendered("rastup"), "Containment flags")
    assert "`global-readonly`" in flags
    assert "Monitor after release for 30 minutes" in flags


def test_default_lists_what_it_completed() -> None:
    loaded = load_policy("default")
    completions = section(render_markdown(loaded), "Completions")
    for item in loaded.policy.completions:
        assert f"- {item}" in completions


def test_a_seed_policy_lists_what_it_completed() -> None:
    completions = section(rendered("harborlist"), "Completions")
    assert "Values this policy fills in beyond the source runbook" in completions
    assert "Status Update template" in completions


@pytest.mark.parametrize("name", bundled_policy_names())
def test_every_bundled_policy_renders_its_severities_and_emails(name: str) -> None:
    loaded = load_policy(name)
    markdown = render_markdown(loaded)
    for severity in loaded.policy.severities:
        assert f"### {severity.id} — {severity.name}" in markdown
    for audience in loaded.policy.audiences:
        if audience.email:
            assert audience.email in markdown


def test_explain_lists_the_clocks_and_the_review_as_if_resolved_on_time() -> None:
    rows = explain_rows(load_policy("proofkit").policy, "P1", DECLARED)
    assert [(row.key, f"{row.due_at:%d %H:%M}") for row in rows] == [
        ("comms_open:P1:immediate", "20 10:00"),
        ("acknowledge", "20 10:30"),
        ("comms:P1:immediate", "20 10:30"),
        ("comms_open:P1:extended", "20 10:30"),
        ("comms:P1:extended", "20 11:00"),
        ("resolve", "20 14:00"),
        ("review", "22 14:00"),
    ]
    assert rows[-1].label == (
        "Hold the post-incident review within 48 hours of resolution "
        "(if resolved at the resolve deadline, 2026-11-20 14:00 UTC)"
    )


def test_explain_without_a_resolve_target_counts_the_review_from_declaration() -> None:
    rows = explain_rows(load_policy("rastup").policy, "SEV0", DECLARED)
    review = rows[-1]
    assert review.key == "review"
    assert review.due_at == datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    assert "(if resolved at declaration, 2026-11-20 10:00 UTC)" in review.label


def test_a_drills_owner_is_rendered_by_name() -> None:
    text = load_policy("proofkit").text.replace(
        "scope: Tabletop exercises for P0 scenarios}",
        "scope: Tabletop exercises for P0 scenarios, owner: commander}",
    )
    loaded = load_policy_text(text, source="proofkit-owned")
    drills = section(render_markdown(loaded), "Drills and exercises")
    assert "| Owner |" in drills
    [row] = [line for line in drills.splitlines() if "P0 scenarios" in line]
    assert loaded.policy.target_name("commander") in row
