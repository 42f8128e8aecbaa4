"""The channels page: the named notification channels (settings masked, as everywhere), the
policy's references to channels nobody saved, and a test message for admins to send."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from tocsin.comms.audiences import channel_references
from tocsin.errors import TocsinError
from tocsin.notify import named_channels
from tocsin.web.console.flash import Flash, with_flash
from tocsin.web.console.pages import _page
from tocsin.web.console.session import SignedIn, _authorise_post, _to_login
from tocsin.web.deps import RuntimeDep

router = APIRouter()


@router.get("/channels")
def channels_page(request: Request, runtime: RuntimeDep, principal: SignedIn) -> Response:
    if principal is None:
        return _to_login(request)
    references = channel_references(runtime.policy.policy)
    with runtime.database.read_session() as session:
        rows = [named_channels.shown(session, row) for row in named_channels.all_channels(session)]
    saved = {row.name for row in rows}
    return _page(
        request,
        "channels.html",
        principal=principal,
        title="Notification channels",
        channels=rows,
        references=references,
        missing={name: ids for name, ids in sorted(references.items()) if name not in saved},
        can_admin=principal.can("admin"),
    )


@router.post("/channels/{name}/test")
def send_test(name: str, request: Request, runtime: RuntimeDep, principal: SignedIn) -> Response:
    who = _authorise_post(request, principal, permission="admin")
    if isinstance(who, Response):
        return who
    try:
        with runtime.database.write_session() as session:
            named_channels.queue_test(session, name=name, actor=who.name)
        flash = Flash("ok", f"Test message to {name} queued: its outcome shows below.")
    except TocsinError as exc:
        flash = Flash("error", exc.message)
    return with_flash(RedirectResponse("/console/channels", status_code=303), flash)
