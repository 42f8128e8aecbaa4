"""The users page, for admins: the people who sign in, creating them, disabling and
enabling them, and setting a new password (which ends their sessions)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from tocsin.auth import people, sessions
from tocsin.auth.service import ROLES
from tocsin.errors import TocsinError
from tocsin.web.console.flash import Flash, with_flash
from tocsin.web.console.pages import FormDep, _page, _refused, problems_of, problems_text
from tocsin.web.console.session import SignedIn, _authorise_post, _to_login
from tocsin.web.deps import RuntimeDep

router = APIRouter()


@router.get("/users")
def users_page(request: Request, runtime: RuntimeDep, principal: SignedIn) -> Response:
    if principal is None:
        return _to_login(request)
    if not principal.can("admin"):
        return _refused(request, principal, "Only an admin can see and manage users.")
    with runtime.database.read_session() as session:
        rows = [
            {
                "username": user.name,
                "display_name": user.shown_name,
                "role": user.role,
                "disabled": user.disabled,
                "sessions": sessions.live_sessions(session, user),
            }
            for user in people.list_users(session)
        ]
    return _page(request, "users.html", principal=principal, title="Users", users=rows, roles=ROLES)


def _back(flash: Flash) -> Response:
    return with_flash(RedirectResponse("/console/users", status_code=303), flash)


@router.post("/users")
def create_user(
    request: Request, runtime: RuntimeDep, principal: SignedIn, form: FormDep
) -> Response:
    who = _authorise_post(request, principal, permission="admin")
    if isinstance(who, Response):
        return who
    try:
        with runtime.database.write_session() as session:
            user = people.create_user(
                session,
                username=form.get("username"),
                role=form.get("role"),
                password=form.get("password"),
                display_name=form.optional("display_name"),
            )
            name = user.name
    except TocsinError as exc:
        return _back(Flash("error", f"Create user failed — {problems_text(problems_of(exc))}"))
    return _back(Flash("ok", f"User {name} created; they can sign in now."))


@router.post("/users/{username}/{action}")
def user_action(
    username: str,
    action: str,
    request: Request,
    runtime: RuntimeDep,
    principal: SignedIn,
    form: FormDep,
) -> Response:
    who = _authorise_post(request, principal, permission="admin")
    if isinstance(who, Response):
        return who
    try:
        with runtime.database.write_session() as session:
            if action in ("disable", "enable"):
                if action == "disable" and username == who.name:
                    return _back(Flash("error", "You cannot disable yourself."))
                people.set_disabled(session, username=username, disabled=action == "disable")
                text = f"User {username} {action}d" + (
                    "; their sessions have ended." if action == "disable" else "."
                )
            elif action == "password":
                people.set_password(session, username=username, password=form.get("password"))
                text = f"Password for {username} changed; their sessions have ended."
            else:
                return _back(Flash("error", f"Unknown action {action!r}."))
    except TocsinError as exc:
        return _back(Flash("error", f"{username}: {problems_text(problems_of(exc))}"))
    return _back(Flash("ok", text))
