"""Who is using the console: signing in and out, and whether a POST may change anything.

- People sign in with their username and password (API tokens still work, for admins
  bootstrapping). The cookie holds a random session id; the session is a row in the
  database (see tocsin.auth.sessions), so signing out, disabling the user or changing the
  password refuses the cookie at once, from any node.
- The cookie is HttpOnly and SameSite=Lax, and Secure whenever TOCSIN_PUBLIC_URL is https.
- Every console POST must come from this origin (Origin, else Referer, matches Host) and
  carry the session's CSRF token, which `_page` writes into every form it renders.
"""

from __future__ import annotations

import hmac
from typing import Annotated
from urllib.parse import parse_qs, quote, urlsplit

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response

from tocsin.auth import people, sessions
from tocsin.auth import service as auth_service
from tocsin.auth.service import Principal
from tocsin.web.console.flash import COOKIE_PATH
from tocsin.web.console.pages import CSRF_FIELD, FormDep, _page, _refused, here
from tocsin.web.deps import Runtime, RuntimeDep

SESSION_COOKIE = "tocsin_session"
LOGIN_ERROR = "Username or password not recognised, or too many attempts: wait and try again."

router = APIRouter()


def signed_in(request: Request, runtime: RuntimeDep) -> Principal | None:
    cookie = request.cookies.get(SESSION_COOKIE, "").strip()
    if not cookie:
        return None
    with runtime.database.read_session() as session:
        found = sessions.resolve(session, cookie)
    if found is None:
        return None
    principal, stale = found
    if stale and principal.session_id is not None:
        with runtime.database.write_session() as session:
            sessions.touch(session, principal.session_id)
    return principal


SignedIn = Annotated[Principal | None, Depends(signed_in)]


async def _posted_csrf(request: Request) -> str:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        try:  # the evidence form: the same limits its handler reads it with (the form is cached)
            form = await request.form(max_files=1, max_fields=10)
        except Exception:  # a broken body carries no token; the handler says what is wrong
            return ""
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else ""
    body = (await request.body()).decode("utf-8", errors="replace")
    return (parse_qs(body).get(CSRF_FIELD) or [""])[0]


async def csrf_guard(request: Request, principal: SignedIn) -> None:
    """For every console POST: note whether it carries this session's CSRF token, for
    `_authorise_post` to refuse it if not."""
    request.state.csrf_ok = False
    if request.method != "POST" or principal is None or not principal.csrf:
        return
    sent = await _posted_csrf(request)
    request.state.csrf_ok = bool(sent) and hmac.compare_digest(sent, principal.csrf)


def _to_login(request: Request) -> RedirectResponse:
    next_url = quote(here(request), safe="")
    return RedirectResponse(f"/console/login?next={next_url}", status_code=303)


def _safe_next(target: str) -> str:
    """Only a console path may follow sign-in, so the login form cannot redirect elsewhere."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/console"):
        return "/console"
    if parts.path.startswith(("/console/login", "/console/logout")):
        return "/console"
    return target if not target.startswith("//") else "/console"


DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(url: str) -> tuple[str, str, int] | None:
    """RFC 6454's (scheme, host, port) of a URL, the port filled in from the scheme."""
    try:
        parts = urlsplit(url)
        port = parts.port or DEFAULT_PORTS.get(parts.scheme.lower())
    except ValueError:  # a port that is not a number
        return None
    if not parts.hostname or port is None:
        return None
    return parts.scheme.lower(), parts.hostname.lower(), port


def same_origin(request: Request) -> bool:
    """The POST came from a page of this site: its Origin (or Referer) has our scheme, host
    and port. "Ours" is how this request reached us, or TOCSIN_PUBLIC_URL (behind a proxy
    that ends TLS, the browser says https while the request arrives as http)."""
    source = request.headers.get("origin") or request.headers.get("referer")
    if not source or source == "null":
        return False
    sender = origin_of(source)
    reached = origin_of(f"{request.url.scheme}://{request.headers.get('host', '')}")
    public = origin_of(request.app.state.runtime.settings.public_url)
    return sender is not None and sender in (reached, public)


def _authorise_post(
    request: Request, principal: Principal | None, *, permission: str = "respond"
) -> Principal | Response:
    """Who may make this console POST, or the answer that refuses it."""
    if not same_origin(request):
        return _refused(
            request, principal, "This form was not sent from a Tocsin page, so it was refused."
        )
    if principal is None:
        return _to_login(request)
    if not getattr(request.state, "csrf_ok", False):
        return _refused(
            request,
            principal,
            "This form's security token is missing or belongs to another session, so it was "
            "refused. Reload the page and try again.",
        )
    if not principal.can(permission):
        needed = "an admin" if permission == "admin" else "a responder or admin"
        return _refused(
            request,
            principal,
            f"A {principal.role} can read incidents but this needs {needed}; "
            "ask an admin to change your role.",
        )
    return principal


# -- sign in and out ----------------------------------------------------------------------------


def _login_form(
    request: Request,
    next_url: str,
    *,
    error: str | None,
    username: str = "",
    show_token: bool = False,
    status: int = 200,
) -> Response:
    return _page(
        request,
        "login.html",
        principal=None,
        status=status,
        title="Sign in",
        next_url=next_url,
        error=error,
        username=username,
        show_token=show_token,
    )


def secure_cookies(runtime: Runtime, request: Request) -> bool:
    return runtime.settings.public_url.startswith("https://") or request.url.scheme == "https"


def _remember(runtime: Runtime, request: Request, response: Response, cookie: str) -> Response:
    """Keep the session id in the browser, for console pages only (see COOKIE_PATH)."""
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=int(sessions.ABSOLUTE.total_seconds()),
        path=COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(runtime, request),
    )
    return response


@router.get("/login")
def login_page(
    request: Request,
    principal: SignedIn,
    next_url: Annotated[str, Query(alias="next")] = "/console",
    token: Annotated[bool, Query(description="Show the API token form instead.")] = False,
) -> Response:
    if principal is not None:
        return RedirectResponse(_safe_next(next_url), status_code=303)
    return _login_form(request, _safe_next(next_url), error=None, show_token=token)


def _client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.post("/login")
def login(request: Request, runtime: RuntimeDep, form: FormDep) -> Response:
    if not same_origin(request):
        return _refused(request, None, "This form was not sent from a Tocsin page.")
    next_url = _safe_next(form.get("next") or "/console")
    if "token" in form.fields:
        return _login_with_token(request, runtime, form.get("token").strip(), next_url)
    username, password = form.get("username").strip().lower(), form.get("password")
    address, limiter = _client_address(request), runtime.login_limiter
    if not username or not password:
        missing = "username" if not username else "password"
        return _login_form(
            request, next_url, error=f"{missing}: is required", username=username, status=401
        )
    opened = None
    if not limiter.blocked(username, address):
        with runtime.database.write_session() as session:
            user = people.verify_password(session, username, password)
            if user is not None:
                opened = sessions.open_session(session, user).cookie
    if opened is None:
        limiter.failed(username, address)
        return _login_form(request, next_url, error=LOGIN_ERROR, username=username, status=401)
    limiter.succeeded(username)
    return _remember(runtime, request, RedirectResponse(next_url, status_code=303), opened)


def _login_with_token(request: Request, runtime: Runtime, token: str, next_url: str) -> Response:
    """Sign in with an API token (how an admin gets in before any person exists). The session
    takes the token's role and ends when the token is revoked."""
    address, limiter = _client_address(request), runtime.login_limiter
    opened = None
    if token and not limiter.blocked("", address):
        with runtime.database.write_session() as session:
            row = auth_service.find_live_token(session, token)
            if row is not None and not row.user.disabled:
                opened = sessions.open_session(session, row.user, token=row).cookie
    if opened is None:
        limiter.failed("", address)
        error = "token: paste an API token" if not token else "token: not valid, or revoked"
        return _login_form(request, next_url, error=error, show_token=True, status=401)
    return _remember(runtime, request, RedirectResponse(next_url, status_code=303), opened)


@router.post("/logout")
def logout(request: Request, runtime: RuntimeDep) -> Response:
    """Sign out: the session row ends, so the cookie is refused even if a copy was kept.
    Only the Origin is checked: signing out is never harmful, and a page kept open past the
    session's end must still be able to sign out."""
    if not same_origin(request):
        return _refused(request, None, "This form was not sent from a Tocsin page.")
    cookie = request.cookies.get(SESSION_COOKIE, "").strip()
    if cookie:
        with runtime.database.write_session() as session:
            sessions.end(session, cookie)
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(
        SESSION_COOKIE,
        path=COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(runtime, request),
    )
    return response
