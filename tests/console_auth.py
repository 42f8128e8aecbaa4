"""Signing in to the console from a test's HTTP client (TestClient or httpx), as a browser
would: the login form, then the CSRF token that every form of the signed-in pages carries."""

from __future__ import annotations

import re
from typing import Protocol

CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


class _Response(Protocol):
    status_code: int
    text: str


class _Client(Protocol):
    def get(self, url: str, **kwargs: object) -> _Response: ...  # pragma: no cover
    def post(self, url: str, **kwargs: object) -> _Response: ...  # pragma: no cover


def csrf_from(html: str) -> str:
    match = CSRF_INPUT.search(html)
    assert match, "the page has no form carrying a CSRF token"
    return match.group(1)


def sign_in_client(
    client: _Client,
    *,
    token: str | None = None,
    username: str | None = None,
    password: str | None = None,
    origin: str = "http://testserver",
) -> str:
    """Sign `client` in (with an API token, or a username and password) and return the
    session's CSRF token for the forms it posts."""
    data = {"token": token} if token is not None else {"username": username, "password": password}
    signed = client.post(
        "/console/login",
        data={**data, "next": "/console"},
        headers={"Origin": origin},
        follow_redirects=False,
    )
    assert signed.status_code == 303, signed.text
    # Every signed-in page has at least one POST form: Sign out, in the header.
    return csrf_from(client.get("/console/policy").text)
