"""Domain exceptions. Only the API layer turns them into HTTP answers."""

from __future__ import annotations

from collections.abc import Sequence


class TocsinError(Exception):
    """Base class: a message for people, and optionally the field at fault and what is allowed."""

    code = "error"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        allowed: Sequence[str] | None = None,
        problems: Sequence[tuple[str, str]] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.allowed = list(allowed) if allowed is not None else None
        # Several fields at fault at once: (field, what is wrong with it) each.
        self.problems = list(problems)


class InvalidInput(TocsinError):
    code = "invalid"


class NotFound(TocsinError):
    code = "not_found"


class IllegalTransition(TocsinError):
    code = "illegal_transition"


class Conflict(TocsinError):
    code = "conflict"


class TooLarge(TocsinError):
    """An upload over its size limit (answered 413)."""

    code = "too_large"


class Forbidden(TocsinError):
    code = "forbidden"


class Unavailable(TocsinError):
    """A store or service Tocsin depends on (object storage) cannot be reached or refused
    (answered 503)."""

    code = "unavailable"
