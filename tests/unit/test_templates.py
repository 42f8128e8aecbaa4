"""Message templates: checked when the policy is written, rendered in a sandbox when sent."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tocsin.comms.templates import NOT_GIVEN, context, render
from tocsin.incidents.models import Incident
from tocsin.policy.loader import PolicyError, bundled_policy_names, load_policy, load_policy_text
from tocsin.policy.templates import problems

DECLARED = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def incident(**fields: object) -> Incident:
    values: dict[str, object] = {
        "id": "INC-2026-11-20-01",
        "title": "Checkout errors",
        "summary": "5% of checkouts fail",
        "severity": "P1",
        "type": None,
        "status": "investigating",
        "services": ["checkout"],
        "flags": {},
        "roles": {"commander": "dana"},
        "detected_at": DECLARED,
        "declared_at": DECLARED,
        "impact_started_at": None,
        "acknowledged_at": None,
        "resolved_at": None,
        "mitigated_at": None,
    }
    values.update(fields)
    return Incident(**values)


def test_a_typo_in_a_variable_is_named_with_what_is_allowed() -> None:
    (problem,) = problems("Severity: {{ incident.severty }}")
    assert problem.startswith("unknown variable incident.severty; incident has: id, title")


def test_an_unknown_top_level_variable_is_refused() -> None:
    (problem,) = problems("Scope: {{ scope }}")
    assert "unknown variable 'scope'" in problem and "fields" in problem


def test_free_form_fields_loops_and_filters_are_allowed() -> None:
    text = "{% for s in incident.services.split(',') %}{{ s | upper }}{% endfor %} {{ fields.eta }}"
    assert problems(text) == []


def test_a_syntax_error_names_its_line() -> None:
    (problem,) = problems("line one\n{{ incident.id ")
    assert problem.startswith("template syntax error on line 2")


def test_policy_check_fails_on_an_unknown_variable() -> None:
    text = load_policy("harborlist").text.replace("{{ fields.eta }}", "{{ incident.eta }}", 1)
    with pytest.raises(PolicyError) as caught:
        load_policy_text(text, source="harborlist")
    issue = caught.value.issues[0]
    assert issue.field.startswith("templates[0].body")
    assert "unknown variable incident.eta" in issue.message


@pytest.mark.parametrize("name", bundled_policy_names())
def test_every_bundled_template_renders_from_an_incident(name: str) -> None:
    policy = load_policy(name).policy
    severity = policy.severities[0].id
    values = context(incident(severity=severity), policy, base_url="http://tocsin.test")
    for template in policy.templates:
        rendered = render(policy, template.id, "notice", values)
        assert rendered.body.strip(), template.id
        assert "{{" not in rendered.body and "{{" not in rendered.subject, template.id


def test_a_value_nobody_gave_reads_as_not_given_and_falls_back() -> None:
    policy = load_policy("harborlist").policy
    values = context(incident(), policy, base_url="http://tocsin.test")
    rendered = render(policy, "initial", "notice", values)
    assert f"ETA: {NOT_GIVEN}" in rendered.body
    assert "Impact: 5% of checkouts fail" in rendered.body, "no impact given: the summary"
    assert rendered.subject == "INCIDENT ALERT - P1"


def test_the_sandbox_keeps_a_template_from_reaching_python() -> None:
    policy = load_policy("default").policy
    values = context(incident(), policy, base_url="http://tocsin.test")
    escape = "{{ ''.__class__.__mro__ }}{{ incident.__class__ }}"
    template = policy.templates[0].model_copy(update={"body": escape})
    sandboxed = policy.model_copy(update={"templates": [template]})
    rendered = render(sandboxed, template.id, "notice", values)
    assert "class" not in rendered.body and "object" not in rendered.body
    assert rendered.body.strip() == NOT_GIVEN * 2


def test_a_drill_says_so_in_every_built_in_message() -> None:
    policy = load_policy("proofkit").policy
    values = context(incident(flags={"drill": True}), policy, base_url="http://tocsin.test")
    assert render(policy, None, "notice", values).body.startswith("DRILL")
