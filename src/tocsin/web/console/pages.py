"""What every console page shares: the templates and their filters, rendering a page or a
refusal, and reading a form into the values the domain checks (and its errors back into words).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import escape
from pydantic import ValidationError

from tocsin import __version__
from tocsin.auth.service import Principal
from tocsin.errors import InvalidInput, TocsinError
from tocsin.incidents.wording import (
    ago_text,
    clock_phase,
    countdown_text,
    iso_text,
    summarise,
    until_text,
    utc_text,
)
from tocsin.policy.clock_kinds import fires
from tocsin.timesource import now, time_error_text
from tocsin.web.console.flash import forget_flash, read_flash

# Pages load only their own script and style, cannot be framed, and post only to this site.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}

# -- templates ----------------------------------------------------------------------------------

TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent.parent / "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
TEMPLATES.filters.update(
    utc=utc_text,
    iso=iso_text,
    until=until_text,
    countdown=countdown_text,
    ago=ago_text,
    phase=clock_phase,
)
TEMPLATES.tests.update(firing=fires)  # {% if clock.kind is firing %}: a step, never overdue
TEMPLATES.globals.update(summarise=summarise, version=__version__)


def here(request: Request) -> str:
    """This request's path and query: where to come back to."""
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


# Every POST form a page renders carries the session's CSRF token in this field, so no
# template has to remember it (console POSTs are refused without it: see session.py).
CSRF_FIELD = "csrf_token"
_POST_FORM = re.compile(r"<form\b[^>]*\bmethod=\"post\"[^>]*>", re.IGNORECASE)


def with_csrf(html: str, token: str) -> str:
    """`html` with the CSRF token as the first field of every POST form."""
    field = f'<input type="hidden" name="{CSRF_FIELD}" value="{escape(token)}">'
    return _POST_FORM.sub(lambda match: match.group(0) + field, html)


def _page(
    request: Request,
    template: str,
    *,
    principal: Principal | None,
    status: int = 200,
    live: bool | str = False,
    **context: Any,
) -> HTMLResponse:
    """Render a page. `live` pages re-fetch themselves when the server says something they
    show has changed (see console.js and live.py): `live` is the topic they follow, or True
    for any change (`dashboard`)."""
    flash = read_flash(request)
    html = TEMPLATES.get_template(template).render(
        request_path=request.url.path,
        principal=principal,
        can_respond=principal is not None and principal.can("respond"),
        flash=flash,
        now=now(),
        refresh_url=here(request) if live else None,
        live_topic=(live if isinstance(live, str) else "dashboard") if live else None,
        **context,
    )
    if principal is not None and principal.csrf:
        html = with_csrf(html, principal.csrf)
    response = HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)
    if flash is not None:
        forget_flash(response)
    return response


def _refused(request: Request, principal: Principal | None, message: str) -> HTMLResponse:
    return _page(
        request, "error.html", principal=principal, status=403, title="Not allowed", message=message
    )


def _missing(request: Request, principal: Principal, message: str) -> HTMLResponse:
    return _page(
        request, "error.html", principal=principal, status=404, title="Not found", message=message
    )


# -- forms --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Form:
    """An urlencoded form body (python-multipart is not a dependency; console forms need none)."""

    fields: Mapping[str, list[str]] = field(default_factory=dict)

    def get(self, name: str) -> str:
        values = self.fields.get(name)
        return values[0] if values else ""

    def optional(self, name: str) -> str | None:
        return self.get(name).strip() or None


async def read_form(request: Request) -> Form:
    body = (await request.body()).decode("utf-8", errors="replace")
    fields = parse_qs(body, keep_blank_values=True)
    fields.pop(CSRF_FIELD, None)  # checked before the handler runs (session.csrf_guard)
    return Form(fields)


FormDep = Annotated[Form, Depends(read_form)]


def _field_message(error: Mapping[str, Any]) -> str:
    too_short = error["type"] == "string_too_short" and error.get("ctx", {}).get("min_length") == 1
    if error["type"] == "missing" or too_short:
        return "is required"
    return time_error_text(str(error["type"]), error.get("input")) or str(error["msg"])


def problems_of(exc: ValidationError | TocsinError) -> dict[str, str]:
    """Field name → what is wrong with it."""
    if isinstance(exc, TocsinError):
        return {exc.field or "form": exc.message}
    return {
        ".".join(str(p) for p in e["loc"]) or "form": _field_message(dict(e)) for e in exc.errors()
    }


def problems_text(problems: Mapping[str, str]) -> str:
    return "; ".join(f"{name}: {message}" for name, message in problems.items())


def zone_named(name: str, field: str = "tz") -> ZoneInfo:
    """An IANA time zone by name, for reading and showing times in the viewer's zone."""
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            f"{name!r} is not a time zone; use an IANA name such as UTC, Europe/London "
            "or Australia/Sydney",
            field=field,
        ) from None


def parse_instant(value: str | None, name: str, zone: tzinfo = UTC) -> datetime | None:
    """An ISO time from a form; without an offset it is read in `zone` (the form names it).

    A wall time that a DST change skips or repeats is taken with `fold=0` (the earlier
    reading), as zoneinfo does.
    """
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            f"{value!r} is not a time; use YYYY-MM-DDTHH:MM ({zone})", field=name
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return parsed.astimezone(UTC)


def split_services(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]
