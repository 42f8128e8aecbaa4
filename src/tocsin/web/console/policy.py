"""The policy page: the loaded policy read as the team's runbook."""

from __future__ import annotations

from functools import lru_cache

from fastapi import APIRouter, Request
from fastapi.responses import Response
from markupsafe import Markup

from tocsin.policy.render import render_markdown
from tocsin.web.console.pages import _page
from tocsin.web.console.session import SignedIn, _to_login
from tocsin.web.deps import RuntimeDep

router = APIRouter()


@lru_cache(maxsize=8)
def runbook_html(markdown_text: str) -> Markup | None:
    """The runbook as HTML (raw HTML in the text is escaped), or None to show it as text."""
    try:
        from markdown_it import MarkdownIt  # installed with rich, a dependency
    except ImportError:
        return None
    renderer = MarkdownIt("commonmark", {"html": False}).enable("table")
    return Markup(renderer.render(markdown_text))


@router.get("/policy")
def policy_page(request: Request, runtime: RuntimeDep, principal: SignedIn) -> Response:
    if principal is None:
        return _to_login(request)
    text = render_markdown(runtime.policy)
    return _page(
        request,
        "policy.html",
        principal=principal,
        title=f"Policy · {runtime.policy.policy.title}",
        loaded=runtime.policy,
        markdown_text=text,
        runbook=runbook_html(text),
    )
