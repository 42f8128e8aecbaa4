"""What every answer carries so a browser cannot be turned against its user, and what the
access log leaves out so it cannot be turned against Tocsin.

- `SecurityHeaders` adds, to every answer that does not set its own: a Content-Security-Policy
  that loads nothing from elsewhere and forbids framing (the API docs page, which loads Swagger
  UI from its CDN, gets one that allows exactly that), `X-Content-Type-Options: nosniff`,
  `X-Frame-Options: DENY` for older browsers, and `Referrer-Policy: no-referrer`, so the
  secret in an acknowledge link or a calendar URL never travels on in a Referer header.
- `RedactSecrets` is a logging filter for uvicorn's access log: secrets that live in URLs
  (acknowledge-link tokens, integration and heartbeat keys in webhook paths, calendar
  `?token=`, any `key`/`token`/`secret` query value) are replaced with `[redacted]` before
  the line is written.
"""

from __future__ import annotations

import logging
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

STRICT_CSP = "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
# FastAPI's /docs and /redoc pages start Swagger UI / ReDoc with an inline script and load them
# from jsDelivr; nothing else may run there, and they may not be framed either.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "font-src 'self' https://fonts.gstatic.com; img-src 'self' data: https://fastapi.tiangolo.com "
    "https://cdn.redoc.ly; worker-src 'self' blob:; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
DOCS_PATHS = frozenset({"/docs", "/redoc", "/docs/oauth2-redirect"})
_ALWAYS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        csp = (DOCS_CSP if scope["path"] in DOCS_PATHS else STRICT_CSP).encode()

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = _added(list(message.get("headers", [])), csp)
            await send(message)

        await self.app(scope, receive, with_headers)


def _added(headers: list[tuple[bytes, bytes]], csp: bytes) -> list[tuple[bytes, bytes]]:
    """The answer's own headers win (the console sets a same-origin Referrer-Policy)."""
    present = {name.lower() for name, _ in headers}
    wanted = ((b"content-security-policy", csp), *_ALWAYS)
    return headers + [(name, value) for name, value in wanted if name not in present]


# -- the access log -----------------------------------------------------------------------------

REDACTED = "[redacted]"
# Acknowledge-link tokens, and the integration keys that senders put in webhook paths (numeric
# ids in the admin API's own paths are not secret and stay readable).
_PATH_SECRETS = re.compile(r"(/ack/|/heartbeats/|/integrations/(?!\d+(?:[/?\s\"]|$)))[^/?\s\"]+")
_QUERY_SECRETS = re.compile(
    r"([?&](?:token|key|secret|signature|api_key|apikey|access_token)=)[^&\s\"]*", re.IGNORECASE
)


def redact(text: str) -> str:
    return _QUERY_SECRETS.sub(rf"\g<1>{REDACTED}", _PATH_SECRETS.sub(rf"\g<1>{REDACTED}", text))


class RedactSecrets(logging.Filter):
    """uvicorn logs `'%s - "%s %s HTTP/%s" %d'` with the path and query as an argument."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


def redact_access_log() -> None:
    """Install the filter on uvicorn's access logger (idempotent)."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactSecrets) for f in access.filters):
        access.addFilter(RedactSecrets())
