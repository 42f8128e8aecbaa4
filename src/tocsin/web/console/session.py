"""Who is using the console: signing in and out, and whether a POST may change anything.

- Sign-in is the API token, kept in an HttpOnly, SameSite=Strict cookie.
- Every console POST must also come from this origin (Origin, else Referer, matches Host).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response

from tocsin.auth import service as auth_service
from tocsin.auth.service import Principal
from tocsin.web.console.flash import COOKIE_PATH
from tocsin.web.console.pages import FormDep, _page, _refused, here
from tocsin.web.deps import RuntimeDep

TOKEN_COOKIE = "tocsin_token"
TOKEN_MAX_AGE = 30 * 24 * 3600  # a responder should not have to find the token again at 3 a.m.

router = APIRouter()


def signed_in(request: Request, runtime: RuntimeDep) -> Principal | None:
    token = request.cookies.get(TOKEN_COOKIE, "").strip()
    if not token:
        return None
    with runtime.database.read_session() as session:
        return auth_service.authenticate(session, token)


SignedIn = Annotated[Principal | None, Depends(signed_in)]


def _to_login(request: Request) -> RedirectResponse:
    next_url = quote(here(request), safe="")
    return RedirectResponse(f"/console/login?next={next_url}", status_code=303)


def _safe_next(target: str) -> str:
    """Only a console path may follow sign-in, so the login form cannot redirect elsewhere."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/console"):
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


def _authorise_post(request: Request, principal: Principal | None) -> Principal | Response:
    """Who may make this console POST, or the answer that refuses it."""
    if not same_origin(request):
        return _refused(
            request, principal, "This form was not sent from a Tocsin page, so it was refused."
        )
    if principal is None:
        return _to_login(request)
    if not principal.can("respond"):
        return _refused(
            request,
            principal,
            f"A {principal.role} token can read incidents but not change them; "
            "ask an admin for a responder token.",
        )
    return principal


# -- sign in and out ----------------------------------------------------------------------------


def _login_form(
    request: Request, next_url: str, *, error: str | None, reopen: bool, status: int = 200
) -> Response:
    return _page(
        request,
        "login.html",
        principal=None,
        status=status,
        title="Sign in",
        next_url=next_url,
        error=error,
        reopen=reopen,
    )


def _remember(request: Request, response: Response, token: str) -> Response:
    """Keep the token in the browser, for console pages only (see COOKIE_PATH)."""
    response.set_cookie(
        TOKEN_COOKIE,
        token,
        max_age=TOKEN_MAX_AGE,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.get("/login")
def login_page(
    request: Request,
    principal: SignedIn,
    next_url: Annotated[str, Query(alias="next")] = "/console",
) -> Response:
    if principal is not None:
        return RedirectResponse(_safe_next(next_url), status_code=303)
    # A SameSite=Strict cookie is not sent on a link followed from another site (a page in
    # chat or email); the login page then reopens the link from this site, cookie and all.
    reopen = request.headers.get("sec-fetch-site") == "cross-site"
    return _login_form(request, _safe_next(next_url), error=None, reopen=reopen)


@router.post("/login")
def login(request: Request, runtime: RuntimeDep, form: FormDep) -> Response:
    if not same_origin(request):
        return _refused(request, None, "This form was not sent from a Tocsin page.")
    token, next_url = form.get("token").strip(), _safe_next(form.get("next") or "/console")
    with runtime.database.read_session() as session:
        principal = auth_service.authenticate(session, token) if token else None
    if principal is None:
        error = "token: paste an API token" if not token else "token: not valid, or revoked"
        return _login_form(request, next_url, error=error, reopen=False, status=401)
    return _remember(request, RedirectResponse(next_url, status_code=303), token)


@router.post("/logout")
def logout(request: Request) -> Response:
    if not same_origin(request):
        return _refused(request, None, "This form was not sent from a Tocsin page.")
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(TOKEN_COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict")
    return response
