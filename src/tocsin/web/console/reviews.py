"""The review page: one incident's post-incident review, edited as Markdown, moved along its
statuses, exported, and its action items added and closed. Forms are same-origin POSTs
(POST/redirect/GET); a domain error comes back as a flash message that names the field."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from tocsin.errors import TocsinError
from tocsin.flows import reviews as review_flows
from tocsin.incidents import service as incident_service
from tocsin.reviews import export, lifecycle, views
from tocsin.reviews import service as review_service
from tocsin.timesource import now
from tocsin.web.console.flash import Flash, with_flash
from tocsin.web.console.pages import (
    Form,
    FormDep,
    _missing,
    _page,
    parse_instant,
    problems_of,
    problems_text,
)
from tocsin.web.console.session import SignedIn, _authorise_post, _to_login
from tocsin.web.deps import PathId, RuntimeDep

router = APIRouter()


@router.get("/incidents/{incident_id}/review")
def review_page(
    incident_id: str, request: Request, runtime: RuntimeDep, principal: SignedIn
) -> Response:
    if principal is None:
        return _to_login(request)
    with runtime.database.read_session() as session:
        try:
            incident = incident_service.get(session, incident_id)
            review = review_service.get_for_incident(session, incident_id)
        except TocsinError as exc:
            return _missing(request, principal, exc.message)
        policy = incident_service.policy_of(session, incident).policy
        out = views.review_out(session, review, now())
        return _page(
            request,
            "review.html",
            principal=principal,
            title=f"Review · {incident_id}",
            incident=incident,
            review=out,
            rendered=export.body_html(out.body),
            classes=lifecycle.classes(policy),
            item_moves=lifecycle.ITEM_MOVES,
        )


def _act(
    request: Request,
    runtime: RuntimeDep,
    principal: SignedIn,
    incident_id: str,
    done: str,
    change: Callable[[Session, str], object],
) -> Response:
    who = _authorise_post(request, principal)
    if isinstance(who, Response):
        return who
    try:
        with runtime.database.write_session() as session:
            change(session, who.name)
        flash = Flash("ok", done)
    except TocsinError as exc:
        what = done.split(":", maxsplit=1)[0]
        flash = Flash("error", f"{what} failed — {problems_text(problems_of(exc))}")
    target = f"/console/incidents/{incident_id}/review"
    return with_flash(RedirectResponse(target, status_code=303), flash)


@router.post("/incidents/{incident_id}/review/edit")
def edit_review(
    incident_id: str, request: Request, runtime: RuntimeDep, principal: SignedIn, form: FormDep
) -> Response:
    version = form.get("version")

    def change(session: Session, actor: str) -> object:
        return review_service.edit(
            session,
            incident_id=incident_id,
            actor=actor,
            body=form.get("body").replace("\r\n", "\n"),
            owner=form.get("owner").strip(),
            version=int(version) if version.isdigit() else None,
        )

    return _act(request, runtime, principal, incident_id, "Review saved", change)


@router.post("/incidents/{incident_id}/review/status")
def move_review(
    incident_id: str, request: Request, runtime: RuntimeDep, principal: SignedIn, form: FormDep
) -> Response:
    status = form.get("status")

    def change(session: Session, actor: str) -> object:
        return review_service.set_status(
            session, incident_id=incident_id, status=status, actor=actor
        )

    return _act(request, runtime, principal, incident_id, f"Review moved: {status}", change)


@router.post("/incidents/{incident_id}/review/items")
def add_item(
    incident_id: str, request: Request, runtime: RuntimeDep, principal: SignedIn, form: FormDep
) -> Response:
    def change(session: Session, actor: str) -> object:
        incident = incident_service.get(session, incident_id)
        policy = incident_service.policy_of(session, incident).policy
        return review_service.add_item(
            session,
            incident_id=incident_id,
            policy=policy,
            item=_new_item(form),
            actor=actor,
        )

    return _act(request, runtime, principal, incident_id, "Action item added", change)


def _new_item(form: Form) -> review_service.NewItem:
    return review_service.NewItem(
        title=form.get("title"),
        owner=form.optional("owner"),
        item_class=form.optional("class"),
        due_at=parse_instant(form.optional("due_at"), "due_at"),
        tracker_url=form.optional("tracker_url"),
    )


@router.post("/incidents/{incident_id}/review/items/{item_id}")
def update_item(
    incident_id: str,
    item_id: PathId,
    request: Request,
    runtime: RuntimeDep,
    principal: SignedIn,
    form: FormDep,
) -> Response:
    status = form.get("status")

    def change(session: Session, actor: str) -> object:
        return review_service.update_item(
            session,
            item_id=item_id,
            change=review_service.ItemChange(status=status),
            actor=actor,
        )

    done = f"Action item #{item_id}: {status}"
    return _act(request, runtime, principal, incident_id, done, change)


@router.get("/incidents/{incident_id}/review/export")
def export_review(
    incident_id: str,
    request: Request,
    runtime: RuntimeDep,
    principal: SignedIn,
    format: str = "md",
) -> Response:
    if principal is None:
        return _to_login(request)
    if format not in export.FORMATS:
        return _missing(request, principal, f"unknown format {format!r}; allowed: md, html, pdf")
    with runtime.database.read_session() as session:
        try:
            review = review_service.get_for_incident(session, incident_id)
        except TocsinError as exc:
            return _missing(request, principal, exc.message)
        text = review_flows.exported(session, review)
    title = f"Review {incident_id}"
    content: str | bytes = text
    if format == "html":
        content = export.html(text, title=title)
    elif format == "pdf":
        content = export.pdf(text, title=title)
    name = f"review-{incident_id}.{format}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    return Response(content, media_type=export.FORMATS[format], headers=headers)
