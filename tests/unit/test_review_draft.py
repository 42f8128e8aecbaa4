"""The review draft and the review and action item rules: pure, no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tocsin.errors import IllegalTransition, InvalidInput
from tocsin.incidents.schemas import EventOut
from tocsin.policy.loader import load_policy
from tocsin.reviews import draft, export, lifecycle

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def record(**changes: object) -> draft.Record:
    base: dict[str, object] = {
        "id": "INC-2026-11-20-01",
        "title": "Checkout | EU down",
        "summary": "Half of EU checkouts failed.",
        "severity": "P0",
        "type": None,
        "status": "resolved",
        "services": ["checkout"],
        "flags": {"customer_facing": True, "customers_affected": 1200},
        "roles": {"commander": "alice"},
        "facts": {
            "impact_started": T0 - timedelta(minutes=5),
            "detected": T0 - timedelta(minutes=2),
            "declared": T0,
            "acknowledged": None,
            "mitigated": T0 + timedelta(minutes=40),
            "resolved": T0 + timedelta(hours=1),
        },
        "events": [
            EventOut(
                seq=1,
                kind="note",
                at=T0,
                actor="bob",
                data={"text": "a | b"},
                prev_hash="",
                hash="",
            )
        ],
    }
    return draft.Record(**{**base, **changes})  # type: ignore[arg-type]


def test_the_draft_writes_what_the_record_knows() -> None:
    text = draft.write(record(), load_policy("proofkit").policy)
    assert text.startswith("# Post-incident review: INC-2026-11-20-01 — Checkout \\| EU down\n")
    assert "- Duration: 1 h 5 min" in text
    assert "- Customers affected: 1200" in text
    assert "| Impact began | 2026-11-20 09:55:00 UTC | -5 min |" in text
    assert "| Acknowledged | not recorded | — |" in text
    assert "| 2026-11-20 10:00:00 UTC | note | bob | a \\| b |" in text  # pipes escaped
    assert "No alerts were attached." in text


@pytest.mark.parametrize(
    ("name", "own"),
    [
        ("proofkit", ["Root Cause", "Response Evaluation", "Preventive Measures"]),
        ("rastup", ["Root cause analysis (5-Whys or Fishbone)", "Detection improvement plan"]),
        ("harborlist", ["What Went Well", "What Could Be Improved", "Lessons Learned"]),
        ("maxai", ["Root Cause Analysis", "Response Evaluation"]),
    ],
)
def test_human_sections_follow_the_policys_template(name: str, own: list[str]) -> None:
    titles = [s.title for s in draft.human_sections(load_policy(name).policy, drill=False)]
    assert titles[: len(own)] == own
    lowered = [t.lower() for t in titles]
    assert lowered.count("what went well") == 1 and lowered.count("lessons learned") == 1
    assert sum("root cause" in t.lower() for t in titles) == 1  # never two root-cause sections


def test_rastups_5_whys_section_is_its_own_root_cause_section() -> None:
    sections = draft.human_sections(load_policy("rastup").policy, drill=False)
    five = next(s for s in sections if s.title.startswith("Root cause analysis"))
    assert five.prompts == ["1. Why?", "2. Why?", "3. Why?", "4. Why?", "5. Why?"]
    assert "5 Whys" not in [s.title for s in sections]


def test_a_drill_review_has_only_outcome_and_lessons() -> None:
    text = draft.write(record(flags={"drill": True}), load_policy("proofkit").policy)
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert headings == [
        "## Summary",
        "## Key milestones",
        "## Outcome",
        "## Lessons learned",
        "## Action items",
    ]


def test_review_moves_name_the_allowed_ones() -> None:
    with pytest.raises(IllegalTransition) as refused:
        lifecycle.check_review_move("draft", "closed")
    assert refused.value.allowed == ["in_review"]
    with pytest.raises(InvalidInput):
        lifecycle.check_review_move("draft", "finished")
    lifecycle.check_review_move("reviewed", "in_review")


def test_action_item_classes_fall_back_to_tocsins_when_the_policy_lists_none() -> None:
    proofkit = load_policy("proofkit").policy  # lists no classes
    assert lifecycle.item_due(proofkit, "immediate", T0) == T0 + timedelta(weeks=1)
    assert lifecycle.item_due(proofkit, "long_term", T0) == T0 + timedelta(weeks=13)
    maxai = load_policy("maxai").policy
    assert [c.id for c in lifecycle.classes(maxai)] == ["immediate", "short_term", "long_term"]


def test_raw_html_in_a_review_is_escaped() -> None:
    assert "&lt;script&gt;" in export.body_html("<script>alert(1)</script>")
