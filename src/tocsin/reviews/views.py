"""Reviews and action items as the API and the CLI show them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from tocsin.reviews import lifecycle, service
from tocsin.reviews.models import ActionItem, Review
from tocsin.reviews.schemas import ActionItemOut, ReviewOut


def item_out(session: Session, item: ActionItem, at: datetime) -> ActionItemOut:
    clock = service.clock_of(session, service.ITEM_SUBJECT, item.id)
    return ActionItemOut.of(item, overdue=service.item_overdue(item, at), clock=clock)


def review_out(
    session: Session, review: Review, at: datetime, items: list[ActionItem] | None = None
) -> ReviewOut:
    found = service.items_of(session, review.id) if items is None else items
    return ReviewOut.of(
        review,
        overdue=service.is_overdue(review, at),
        allowed=list(lifecycle.REVIEW_MOVES[review.status]),
        clock=service.clock_of(session, service.REVIEW_SUBJECT, review.id),
        items=[item_out(session, item, at) for item in found],
    )
