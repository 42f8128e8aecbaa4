"""A review as a file: Markdown (the body plus its action items), HTML and PDF.

Pure: no database. The HTML is a whole page with its own print styles; the PDF is that page
laid out by WeasyPrint. Raw HTML in the Markdown is shown as text, never run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape

from markdown_it import MarkdownIt

from tocsin.incidents.wording import utc_text

FORMATS = {"md": "text/markdown", "html": "text/html", "pdf": "application/pdf"}

STYLE = """
@page { size: A4; margin: 18mm 16mm; @bottom-right { content: counter(page) " / " counter(pages);
  font-size: 8pt; color: #555; } }
body { font-family: "DejaVu Sans", sans-serif; font-size: 10pt; line-height: 1.4; color: #111; }
h1 { font-size: 16pt; border-bottom: 2px solid #333; padding-bottom: 4px; }
h2 { font-size: 12.5pt; margin-top: 18px; border-bottom: 1px solid #bbb; }
table { border-collapse: collapse; width: 100%; font-size: 8.5pt; margin: 6px 0; }
th, td { border: 1px solid #999; padding: 3px 5px; text-align: left; vertical-align: top; }
th { background: #e8e8e8; }
blockquote { border-left: 4px solid #c60; margin-left: 0; padding-left: 10px; color: #333; }
.meta { color: #444; font-size: 9pt; }
"""


@dataclass(frozen=True)
class ItemLine:
    id: int
    title: str
    owner: str | None
    item_class: str | None
    due_at: datetime
    status: str
    tracker_url: str | None


def markdown(body: str, items: Sequence[ItemLine], *, status: str, owner: str | None) -> str:
    """The body, then the review's standing and its action items as a table."""
    lines = [
        body.rstrip("\n"),
        "",
        "## Action item list",
        "",
        f"Review status: {status}; owner: {owner or 'unassigned'}.",
        "",
    ]
    if not items:
        lines.append("No action items yet.")
    else:
        lines += ["| # | Action | Owner | Class | Due (UTC) | Status | Tracker |"]
        lines.append("|---|---|---|---|---|---|---|")
        lines += [_item_row(item) for item in items]
    return "\n".join(lines) + "\n"


def _item_row(item: ItemLine) -> str:
    cells = [
        str(item.id),
        item.title,
        item.owner or "unassigned",
        item.item_class or "—",
        utc_text(item.due_at),
        item.status,
        item.tracker_url or "—",
    ]
    return "| " + " | ".join(" ".join(c.split()).replace("|", "\\|") for c in cells) + " |"


def body_html(text: str) -> str:
    """Markdown to an HTML fragment (tables on, raw HTML escaped)."""
    renderer = MarkdownIt("commonmark", {"html": False}).enable("table")
    rendered: str = renderer.render(text)
    return rendered


def html(text: str, *, title: str) -> str:
    """A standalone HTML page of the review."""
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head>"
        f"<body>{body_html(text)}</body></html>\n"
    )


def pdf(text: str, *, title: str) -> bytes:
    """The HTML page laid out as a PDF. WeasyPrint is imported here: it loads pango."""
    from weasyprint import HTML

    document: bytes = HTML(string=html(text, title=title)).write_pdf()
    return document
