"""Cadence arithmetic for drills and runbook reviews, and each seed's drill programme as its
bundled policy encodes it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tocsin.policy.cadence import add_months, next_due, parse_schedule
from tocsin.policy.loader import PolicyError, load_policy, load_policy_text
from tocsin.policy.render import render_markdown

NOV_23 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("cadence", "due"),
    [
        ("weekly", datetime(2026, 11, 30, 10, 0, tzinfo=UTC)),
        ("monthly", datetime(2026, 12, 23, 10, 0, tzinfo=UTC)),
        ("quarterly", datetime(2027, 2, 23, 10, 0, tzinfo=UTC)),
        ("biannually", datetime(2027, 5, 23, 10, 0, tzinfo=UTC)),
        ("annually", datetime(2027, 11, 23, 10, 0, tzinfo=UTC)),
    ],
)
def test_each_cadence_counts_calendar_months(cadence: str, due: datetime) -> None:
    assert next_due(NOV_23, cadence) == due  # type: ignore[arg-type]


def test_a_month_end_is_kept_within_a_shorter_month() -> None:
    assert add_months(datetime(2026, 1, 31, tzinfo=UTC), 1) == datetime(2026, 2, 28, tzinfo=UTC)
    assert add_months(datetime(2027, 11, 30, tzinfo=UTC), 3) == datetime(2028, 2, 29, tzinfo=UTC)
    assert add_months(datetime(2026, 8, 31, tzinfo=UTC), 6) == datetime(2027, 2, 28, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "cadence"),
    [
        ("Quarterly", "quarterly"),
        ("Bi-annually", "biannually"),
        ("semi-annual", "biannually"),
        ("Annually, by the security lead", "annually"),
        ("every 6 months", "biannually"),
        ("Every 12 months", "annually"),
        ("monthly", "monthly"),
        ("when something changes", None),
        ("", None),
        (None, None),
    ],
)
def test_a_runbooks_review_schedule_is_read_in_words(text: str | None, cadence: str) -> None:
    assert parse_schedule(text) == cadence


def _programme(name: str) -> set[tuple[str, str | None, str]]:
    return {(d.kind, d.severity, d.cadence) for d in load_policy(name).policy.drills}


def test_proofkit_quarterly_p0_tabletop_biannual_simulation_annual_runbook_review() -> None:
    assert _programme("proofkit") == {
        ("tabletop", "P0", "quarterly"),
        ("simulation", None, "biannually"),
        ("review", None, "annually"),
    }


def test_harborlist_quarterly_simulations() -> None:
    assert _programme("harborlist") == {("simulation", None, "quarterly")}


def test_rastup_quarterly_sev2_tabletop_and_annual_sev3_drill() -> None:
    assert _programme("rastup") == {
        ("tabletop", "SEV2", "quarterly"),
        ("simulation", "SEV3", "annually"),
    }


def test_maxai_monthly_p0_quarterly_p1_p2_dry_runs_and_annual_tabletop() -> None:
    assert {
        ("dry_run", "P0", "monthly"),
        ("dry_run", "P1", "quarterly"),
        ("dry_run", "P2", "quarterly"),
        ("tabletop", None, "annually"),
    } <= _programme("maxai")


def test_a_drill_audience_must_be_one_of_the_policys_audiences() -> None:
    text = load_policy("proofkit").text.replace(
        "drills:\n  - {id: p0-tabletop,", "drills:\n  - {id: p0-tabletop, audience: drill_crew,", 1
    )
    with pytest.raises(PolicyError) as refused:
        load_policy_text(text, source="proofkit-typo")
    assert "drills[0].audience:" in str(refused.value)
    assert "unknown audience 'drill_crew'" in str(refused.value)
    programme_wide = load_policy("proofkit").text.replace(
        "drills:\n", "drill_audience: nobody\ndrills:\n", 1
    )
    with pytest.raises(PolicyError) as wide:
        load_policy_text(programme_wide, source="proofkit-typo")
    assert "drill_audience" in str(wide.value) and "allowed: tom_sartor" in str(wide.value)


def test_the_rendered_runbook_names_the_drill_audience() -> None:
    text = load_policy("proofkit").text.replace(
        "drills:\n  - {id: p0-tabletop,", "drills:\n  - {id: p0-tabletop, audience: tech,", 1
    )
    rendered = render_markdown(load_policy_text(text, source="proofkit-drill-audience"))
    assert "- p0-tabletop: Technical Lead" in rendered
    assert "drill audience" not in render_markdown(load_policy("proofkit"))
