"""Readable tables by default, exact JSON with --json."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from tocsin.incidents.wording import ago_text, until_text
from tocsin.timesource import now

# soft_wrap: never fold a line of text, so URLs, keys and tokens copy whole (tables still fit).
console = Console(soft_wrap=True)


def emit_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=True, default=str))


# Columns whose values are never cut or folded: ids are copied into the next command.
WHOLE_COLUMNS = frozenset({"id", "#", "incident", "key", "handle", "username", "drill"})


def table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A table that fits the terminal by folding long text onto more lines; ids stay whole
    on one line, and nothing is cut short with an ellipsis."""
    cells = [["" if v is None else str(v) for v in row] for row in rows]
    view = Table(title=title, show_lines=False, header_style="bold")
    for index, column in enumerate(columns):
        if column in WHOLE_COLUMNS:
            widest = max([len(column), *(len(row[index]) for row in cells)])
            view.add_column(column, no_wrap=True, min_width=widest)
        else:
            view.add_column(column, overflow="fold")
    for row in cells:
        view.add_row(*row)
    console.print(view)


def _parse(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def short_time(value: str | None) -> str:
    """'2026-11-22T09:12:00.123456Z' -> '2026-11-22 09:12:00Z (3 min ago)' for tables: the
    absolute time, and how far it is from now ('in 4 min' for one still to come)."""
    if not value:
        return "-"
    absolute = value.replace("T", " ")[:19] + "Z"
    moment = _parse(value)
    if moment is None:
        return absolute
    at = now()
    relative = ago_text(moment, at) if moment <= at else until_text(moment, at)
    return f"{absolute} ({relative})"


def due_time(value: str | None, state: str) -> str:
    """A clock's due time: '... (due in 4 min)' or '(overdue by 2 min)' while it runs; once
    met or breached, the time with how long ago it was."""
    if not value or state != "pending":
        return short_time(value)
    moment = _parse(value)
    if moment is None:
        return short_time(value)
    absolute = value.replace("T", " ")[:19] + "Z"
    wording = until_text(moment, now())
    return f"{absolute} ({'due ' + wording if wording.startswith('in') else wording})"


def command_group(**options: Any) -> typer.Typer:
    """Every `tocsin` command group: help in Markdown, so a docstring's paragraphs reflow to
    the terminal's width instead of keeping the source's line breaks (a blank line starts a
    new paragraph; `code` keeps text such as `channel:<name>` as written)."""
    return typer.Typer(rich_markup_mode="markdown", **options)
