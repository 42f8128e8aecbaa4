"""Readable tables by default, exact JSON with --json."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

# soft_wrap: never fold a line of text, so URLs, keys and tokens copy whole (tables still fit).
console = Console(soft_wrap=True)


def emit_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=True, default=str))


def table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    view = Table(title=title, show_lines=False, header_style="bold")
    for column in columns:
        view.add_column(column)
    for row in rows:
        view.add_row(*["" if v is None else str(v) for v in row])
    console.print(view)


def short_time(value: str | None) -> str:
    """'2026-11-22T09:12:00.123456Z' -> '2026-11-22 09:12:00Z' for tables."""
    if not value:
        return "-"
    return value.replace("T", " ")[:19] + "Z"
