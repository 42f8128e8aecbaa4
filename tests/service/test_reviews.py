"""Post-incident reviews and action items, start to finish with time moved (SQLite and
PostgreSQL): the review opens on resolution with the policy's due date, its draft holds the
real milestones, its owner is reminded before and after, and action items are chased."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.service.test_communications import FRIDAY_10, Room, room_at
from tocsin.db import Database
from tocsin.errors import Conflict, IllegalTransition, InvalidInput
from tocsin.flows import incidents as flows
from tocsin.policy.loader import load_policy
from tocsin.reviews import service as reviews
from tocsin.reviews.models import ActionItem, Review

ALICE = "http://127.0.0.1:9/alice"  # alice's first notification rule (push)
CAROL = "carol@example.com"
PROOFKIT = load_policy("proofkit")


@pytest.fixture
def room(database: Database) -> Iterator[Room]:
    yield from room_at(database, FRIDAY_10)


def review_of(room: Room, incident_id: str) -> Review:
    with room.database.read_session() as session:
        review = reviews.get_for_incident(session, incident_id)
        session.expunge(review)
        return review


def clock_state(room: Room, subject: str, subject_id: int) -> tuple[str, datetime] | None:
    with room.database.read_session() as session:
        clock = reviews.clock_of(session, subject, subject_id)
        return None if clock is None else (clock.state, clock.due_at)


def p0_run(room: Room) -> str:
    """A proofkit P0: declared at 10:00, acknowledged 10:04 by bob, alice commands,
    mitigated 10:40, resolved 11:00."""
    room.apply_oncall()
    incident_id = room.declare(
        PROOFKIT, "P0", services=["checkout"], flags={"customer_facing": True}
    )
    room.assign(incident_id, "commander", "alice")
    room.clock.shift(timedelta(minutes=4))
    with room.database.write_session() as session:
        flows.acknowledge(session, incident_id=incident_id, actor="bob")
    room.clock.shift(timedelta(minutes=36))
    status(room, incident_id, "monitoring")
    room.clock.shift(timedelta(minutes=20))
    status(room, incident_id, "resolved")
    room.run()
    return incident_id


def status(room: Room, incident_id: str, to: str) -> None:
    with room.database.write_session() as session:
        flows.change_status(
            session, incident_id=incident_id, status=to, message=f"now {to}", actor="alice"
        )


def move_review(room: Room, incident_id: str, to: str) -> None:
    with room.database.write_session() as session:
        reviews.set_status(session, incident_id=incident_id, status=to, actor="alice")


def test_a_proofkit_p0_opens_its_review_due_48_hours_after_resolution(room: Room) -> None:
    incident_id = p0_run(room)
    review = review_of(room, incident_id)
    resolved = FRIDAY_10 + timedelta(hours=1)
    assert (review.status, review.kind, review.owner) == ("draft", "full", "alice")
    assert review.due_at == resolved + timedelta(hours=48)
    assert clock_state(room, "review", review.id) == ("pending", resolved + timedelta(hours=48))
    assert room.clocks_of(incident_id)["review"] == "pending"  # on the incident's record too
    assert room.events(incident_id, "review_opened")[0]["owner"] == "alice"


def test_the_draft_holds_the_real_milestones_and_the_record(room: Room) -> None:
    incident_id = p0_run(room)
    body = review_of(room, incident_id).body
    assert "| Declared | 2026-11-20 10:00:00 UTC | +0 s |" in body
    assert "| Acknowledged | 2026-11-20 10:04:00 UTC | +4 min |" in body
    assert "| Mitigated | 2026-11-20 10:40:00 UTC | +40 min |" in body
    assert "| Resolved | 2026-11-20 11:00:00 UTC | +1 h |" in body
    assert "- Services: checkout" in body
    assert "- Customer-facing: yes" in body
    assert "- Incident Commander: alice" in body
    assert "- Acknowledged by: bob" in body
    assert "| role assigned | ic | commander: alice |" in body  # the shared event wording
    assert "## Communications sent" in body and "No messages were sent." not in body
    # proofkit's template: its own sections, then the standard ones it does not name
    for heading in ("## Root Cause", "## Response Evaluation", "## Preventive Measures"):
        assert heading in body
    for heading in ("## 5 Whys", "## What went well", "## What could be improved"):
        assert heading in body
    assert "## Lessons learned" in body
    assert "## Root cause and contributing factors" not in body  # proofkit's "Root Cause" is it


def test_the_owner_is_reminded_before_and_told_when_overdue_with_the_commander(
    room: Room,
) -> None:
    incident_id = p0_run(room)
    review = review_of(room, incident_id)
    with room.database.write_session() as session:
        reviews.edit(session, incident_id=incident_id, actor="alice", owner="carol")
    assert review.due_at is not None
    room.clock.move_to(review.due_at - timedelta(hours=3, minutes=59))
    room.run()
    assert any(
        s.startswith("Due in") and "post-incident review" in s for s in room.inbox.subjects(CAROL)
    )
    assert not any(s.startswith("Missed") for s in room.inbox.subjects(CAROL))
    room.clock.move_to(review.due_at + timedelta(minutes=1))
    room.run()
    assert any(
        s.startswith("Missed: Hold the post-incident review") for s in room.inbox.subjects(CAROL)
    )
    assert any(
        s.startswith("Missed: Hold the post-incident review") for s in room.inbox.subjects(ALICE)
    )
    assert clock_state(room, "review", review.id) == ("breached", review.due_at)
    with room.database.read_session() as session:
        overdue = reviews.list_reviews(session, overdue=True, at=review.due_at + timedelta(hours=1))
        assert [r.incident_id for r in overdue] == [incident_id]


def test_rastup_review_is_due_five_business_days_after_resolution(database: Database) -> None:
    friday_15 = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
    for room in room_at(database, friday_15):
        incident_id = room.declare(load_policy("rastup"), "SEV3")
        status(room, incident_id, "resolved")
        # Friday 15:00 + 5 business days skips the weekend: Friday 27 November, 15:00.
        assert review_of(room, incident_id).due_at == datetime(2026, 11, 27, 15, 0, tzinfo=UTC)
        assert "## Root cause analysis (5-Whys or Fishbone)" in review_of(room, incident_id).body
        assert "## Detection improvement plan" in review_of(room, incident_id).body


def test_a_severity_that_needs_no_review_opens_none(room: Room) -> None:
    incident_id = room.declare(PROOFKIT, "P3")
    status(room, incident_id, "resolved")
    with room.database.read_session() as session:
        assert reviews.for_incident(session, incident_id) is None


def test_a_drill_gets_a_short_review_whatever_its_severity(room: Room) -> None:
    incident_id = room.declare(PROOFKIT, "P3", flags={"drill": True})
    status(room, incident_id, "resolved")
    review = review_of(room, incident_id)
    assert review.kind == "short"
    assert review.due_at == FRIDAY_10 + timedelta(hours=48)
    assert "## Outcome" in review.body and "## Lessons learned" in review.body
    assert "## 5 Whys" not in review.body and "## Timeline" not in review.body


def test_the_review_moves_one_step_at_a_time_and_reviewed_meets_its_clock(room: Room) -> None:
    incident_id = p0_run(room)
    with pytest.raises(IllegalTransition) as refused:
        move_review(room, incident_id, "reviewed")
    assert refused.value.allowed == ["in_review"]
    assert "from draft: in_review" in refused.value.message
    move_review(room, incident_id, "in_review")
    move_review(room, incident_id, "reviewed")
    review = review_of(room, incident_id)
    assert clock_state(room, "review", review.id) == ("met", review.due_at)
    move_review(room, incident_id, "closed")
    with pytest.raises(IllegalTransition):
        move_review(room, incident_id, "draft")
    moves = [(e["from"], e["to"]) for e in room.events(incident_id, "review_status_changed")]
    assert moves == [("draft", "in_review"), ("in_review", "reviewed"), ("reviewed", "closed")]


def test_completing_the_review_clock_marks_the_review_reviewed(room: Room) -> None:
    incident_id = p0_run(room)
    with room.database.write_session() as session:
        flows.complete_clock(
            session, incident_id=incident_id, key="review", note="held Monday", actor="alice"
        )
    assert review_of(room, incident_id).status == "reviewed"
    assert room.clocks_of(incident_id)["review"] == "met"


def test_an_edit_made_since_you_read_it_is_not_overwritten(room: Room) -> None:
    incident_id = p0_run(room)
    with room.database.write_session() as session:
        reviews.edit(session, incident_id=incident_id, actor="alice", body="# v2\n", version=1)
    with pytest.raises(Conflict), room.database.write_session() as session:
        reviews.edit(session, incident_id=incident_id, actor="bob", body="# mine\n", version=1)
    assert review_of(room, incident_id).body == "# v2\n"
    assert room.events(incident_id, "review_edited")[0]["changed"] == ["body"]


def test_reopening_pauses_the_review_and_resolving_again_counts_from_then(room: Room) -> None:
    incident_id = p0_run(room)
    status(room, incident_id, "investigating")
    review = review_of(room, incident_id)
    assert clock_state(room, "review", review.id)[0] == "cancelled"  # type: ignore[index]
    assert review.due_at is None  # it waits for the next resolution
    room.clock.shift(timedelta(hours=2))
    status(room, incident_id, "resolved")
    again = FRIDAY_10 + timedelta(hours=3)
    assert review_of(room, incident_id).due_at == again + timedelta(hours=48)
    assert clock_state(room, "review", review.id) == ("pending", again + timedelta(hours=48))


# -- action items -------------------------------------------------------------------------------


def add_item(room: Room, incident_id: str, **fields: object) -> ActionItem:
    with room.database.write_session() as session:
        item = reviews.add_item(
            session,
            incident_id=incident_id,
            policy=PROOFKIT.policy,
            item=reviews.NewItem(**{"title": "Add a canary", "owner": "carol", **fields}),  # type: ignore[arg-type]
            actor="alice",
        )
        session.flush()
        session.expunge(item)
        return item


def update(room: Room, item_id: int, **fields: object) -> None:
    with room.database.write_session() as session:
        reviews.update_item(
            session,
            item_id=item_id,
            change=reviews.ItemChange(**fields),
            actor="carol",  # type: ignore[arg-type]
        )


def test_an_immediate_action_item_is_due_in_a_week_and_chased_before_and_after(
    room: Room,
) -> None:
    incident_id = p0_run(room)
    item = add_item(room, incident_id, item_class="immediate")
    assert item.due_at == FRIDAY_10 + timedelta(hours=1, weeks=1)
    room.clock.move_to(item.due_at - timedelta(hours=3))
    room.run()
    assert any(s.startswith("Due in") and "Add a canary" in s for s in room.inbox.subjects(CAROL))
    room.clock.move_to(item.due_at + timedelta(minutes=1))
    room.run()
    assert any(s.startswith("Missed: Action item") for s in room.inbox.subjects(CAROL))
    with room.database.read_session() as session:
        late = reviews.list_items(session, overdue=True, at=item.due_at + timedelta(hours=1))
        assert [i.id for i in late] == [item.id]
    update(room, item.id, status="done")
    with room.database.read_session() as session:
        assert reviews.list_items(session, overdue=True, at=item.due_at + timedelta(hours=1)) == []


def test_done_in_time_meets_the_item_clock_and_wont_do_cancels_it(room: Room) -> None:
    incident_id = p0_run(room)
    done = add_item(room, incident_id, item_class="short_term")
    dropped = add_item(room, incident_id, item_class="long_term", title="Rewrite checkout")
    assert done.due_at == FRIDAY_10 + timedelta(hours=1, days=30)
    update(room, done.id, status="in_progress")
    update(room, done.id, status="done")
    update(room, dropped.id, status="wont_do")
    assert clock_state(room, "action_item", done.id) == ("met", done.due_at)
    assert clock_state(room, "action_item", dropped.id)[0] == "cancelled"  # type: ignore[index]
    assert room.clocks_of(incident_id)[f"action_item:{done.id}"] == "met"
    assert [e["changed"] for e in room.events(incident_id, "action_item_updated")] == [
        ["status"],
        ["status"],
        ["status"],
    ]


def test_an_unknown_class_names_the_allowed_ones(room: Room) -> None:
    incident_id = p0_run(room)
    with pytest.raises(InvalidInput) as refused:
        add_item(room, incident_id, item_class="someday")
    assert refused.value.field == "class"
    assert refused.value.allowed == ["immediate", "short_term", "long_term"]


def test_a_finished_item_cannot_move_to_in_progress(room: Room) -> None:
    incident_id = p0_run(room)
    item = add_item(room, incident_id, item_class="immediate")
    update(room, item.id, status="done")
    with pytest.raises(IllegalTransition) as refused:
        update(room, item.id, status="in_progress")
    assert refused.value.allowed == ["open"]
