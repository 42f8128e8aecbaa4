"""Follow-through read from the clocks the real reviews and action items keep: a proofkit P0
run start to finish, its review held on time, one action item done and one won't-do."""

from __future__ import annotations

from tests.service.test_communications import FRIDAY_10, Room
from tests.service.test_reviews import PROOFKIT, add_item, move_review, p0_run, room, update
from tocsin.metrics import periods
from tocsin.metrics.service import Filters, compute

__all__ = ["room"]  # the fixture, imported for use here


def _figures(room: Room):  # type: ignore[no-untyped-def]
    quarter = periods.parse(f"{FRIDAY_10.year}-Q{(FRIDAY_10.month - 1) // 3 + 1}")
    with room.database.read_session() as session:
        return compute(
            session,
            period=quarter,
            filters=Filters(),
            severity_order=PROOFKIT.policy.severity_ids(),
            top=5,
        )


def test_a_real_review_and_action_items_make_the_follow_through(room: Room) -> None:
    incident_id = p0_run(room)
    done = add_item(room, incident_id, item_class="short_term")
    dropped = add_item(room, incident_id, item_class="long_term", title="Rewrite checkout")
    open_item = add_item(room, incident_id, item_class="immediate", title="Page the DBA")
    update(room, done.id, status="done")
    update(room, dropped.id, status="wont_do")
    before = _figures(room).follow_through
    assert before.review_on_time_rate is None  # the review is not due yet, nor held
    assert before.reviews.pending == 1
    move_review(room, incident_id, "in_review")
    move_review(room, incident_id, "reviewed")
    figures = _figures(room)
    follow = figures.follow_through
    assert follow.review_on_time_rate == 1.0
    assert (follow.action_items.met, follow.action_items.pending) == (1, 1)  # won't-do left out
    assert follow.action_item_closure_rate == 0.5
    assert open_item.id != done.id
    row = figures.top_incidents[0]
    assert row.id == incident_id
    assert (row.mtta_seconds, row.mttr_seconds) == (240, 3600)
    assert figures.clocks_met_ratio["acknowledge"] == 1.0
