"""HTTP routes for post-incident reviews and action items. Thin: parse, call the service,
shape the answer. Every write commits before its answer is sent."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from tocsin.flows import reviews as review_flows
from tocsin.incidents import service as incident_service
from tocsin.reviews import export, views
from tocsin.reviews import service as review_service
from tocsin.reviews.schemas import (
    ActionItemIn,
    ActionItemList,
    ActionItemOut,
    ActionItemPatch,
    ReviewList,
    ReviewOut,
    ReviewPatch,
)
from tocsin.timesource import now
from tocsin.web.deps import PathId, Reader, ReadSession, Responder, RuntimeDep

router = APIRouter(prefix="/api/v1/incidents", tags=["reviews"])
reviews_router = APIRouter(prefix="/api/v1/reviews", tags=["reviews"])
items_router = APIRouter(prefix="/api/v1/action-items", tags=["reviews"])

ExportFormat = Literal["md", "html", "pdf"]


@router.get("/{incident_id}/review", summary="Read an incident's post-incident review")
def read_review(incident_id: str, session: ReadSession, _principal: Reader) -> ReviewOut:
    review = review_service.get_for_incident(session, incident_id)
    return views.review_out(session, review, now())


@router.patch(
    "/{incident_id}/review",
    summary="Edit the review: its Markdown body, owner, or status (draft, in_review, "
    "reviewed, closed)",
    responses={409: {"description": "An illegal status move (names the allowed ones)"}},
)
def patch_review(
    incident_id: str, body: ReviewPatch, runtime: RuntimeDep, principal: Responder
) -> ReviewOut:
    with runtime.database.write_session() as session:
        if body.body is not None or body.owner is not None:
            review_service.edit(
                session,
                incident_id=incident_id,
                actor=principal.name,
                body=body.body,
                owner=body.owner,
                version=body.version,
            )
        if body.status is not None:
            review_service.set_status(
                session, incident_id=incident_id, status=body.status, actor=principal.name
            )
        review = review_service.get_for_incident(session, incident_id)
        session.flush()
        return views.review_out(session, review, now())


@router.get(
    "/{incident_id}/review/export",
    summary="The review as Markdown, HTML or PDF",
    response_class=Response,
    responses={
        200: {
            "content": {media: {} for media in export.FORMATS.values()},
            "description": "The review document",
        }
    },
)
def export_review(
    incident_id: str,
    session: ReadSession,
    _principal: Reader,
    format: ExportFormat = "md",
) -> Response:
    review = review_service.get_for_incident(session, incident_id)
    text = review_flows.exported(session, review)
    title = f"Review {incident_id}"
    content: str | bytes = text
    if format == "html":
        content = export.html(text, title=title)
    elif format == "pdf":
        content = export.pdf(text, title=title)
    name = f"review-{incident_id}.{format}"
    return Response(
        content,
        media_type=export.FORMATS[format],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.post("/{incident_id}/review/action-items", status_code=201, summary="Add an action item")
def add_item(
    incident_id: str, body: ActionItemIn, runtime: RuntimeDep, principal: Responder
) -> ActionItemOut:
    with runtime.database.write_session() as session:
        policy = incident_service.policy_of(
            session, incident_service.get(session, incident_id)
        ).policy
        item = review_service.add_item(
            session,
            incident_id=incident_id,
            policy=policy,
            item=review_service.NewItem(
                title=body.title,
                owner=body.owner,
                item_class=body.item_class,
                due_at=body.due_at,
                tracker_url=body.tracker_url,
            ),
            actor=principal.name,
        )
        return views.item_out(session, item, now())


@reviews_router.get("", summary="List reviews, soonest due first")
def list_reviews(
    session: ReadSession,
    _principal: Reader,
    status: str | None = None,
    overdue: Annotated[bool, Query(description="only reviews past due, not yet held")] = False,
) -> ReviewList:
    at = now()
    rows = review_service.list_reviews(session, status=status, overdue=overdue, at=at)
    items = review_service.items_for_review(session, rows)
    return ReviewList(items=[views.review_out(session, r, at, items[r.id]) for r in rows])


@items_router.get("", summary="List action items, soonest due first")
def list_items(
    session: ReadSession,
    _principal: Reader,
    overdue: Annotated[bool, Query(description="only items past due, not done")] = False,
    status: str | None = None,
    incident_id: str | None = None,
) -> ActionItemList:
    at = now()
    rows = review_service.list_items(
        session, overdue=overdue, status=status, incident_id=incident_id, at=at
    )
    return ActionItemList(items=[views.item_out(session, item, at) for item in rows])


@items_router.get("/{item_id}", summary="Read an action item")
def read_item(item_id: PathId, session: ReadSession, _principal: Reader) -> ActionItemOut:
    return views.item_out(session, review_service.get_item(session, item_id), now())


@items_router.patch(
    "/{item_id}",
    summary="Change an action item: title, owner, due date, tracker link or status "
    "(open, in_progress, done, wont_do)",
    responses={409: {"description": "An illegal status move (names the allowed ones)"}},
)
def patch_item(
    item_id: PathId, body: ActionItemPatch, runtime: RuntimeDep, principal: Responder
) -> ActionItemOut:
    with runtime.database.write_session() as session:
        item = review_service.update_item(
            session,
            item_id=item_id,
            change=review_service.ItemChange(
                title=body.title,
                owner=body.owner,
                status=body.status,
                due_at=body.due_at,
                tracker_url=body.tracker_url,
            ),
            actor=principal.name,
        )
        session.flush()
        return views.item_out(session, item, now())
