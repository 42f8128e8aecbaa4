"""The page's history as RSS 2.0 and Atom 1.0 (`/history.rss`, `/history.atom`). Pure.

One entry per public incident or maintenance, newest first; its content lists every update.
Text is escaped twice where it must be: once as HTML inside the entry's content, and by the
XML writer for the feed itself, so a title such as `<script>` stays text in any reader.
"""

from __future__ import annotations

import html
from email.utils import format_datetime
from xml.etree.ElementTree import Element, SubElement, tostring

from tocsin.statuspage.shapes import stamp
from tocsin.statuspage.statuses import words
from tocsin.statuspage.views import Board, IncidentView

ENTRIES = 25
ATOM = "http://www.w3.org/2005/Atom"


def rss(board: Board) -> bytes:
    root = Element("rss", {"version": "2.0", "xmlns:atom": ATOM})
    channel = SubElement(root, "channel")
    _text(channel, "title", f"{board.page.name} status")
    _text(channel, "link", board.page.url)
    _text(channel, "description", f"Incidents and maintenance on {board.page.name}")
    SubElement(
        channel,
        "atom:link",
        {"href": _site(board) + "/history.rss", "rel": "self", "type": "application/rss+xml"},
    )
    _text(channel, "lastBuildDate", format_datetime(board.page.updated_at))
    for item in board.history[:ENTRIES]:
        entry = SubElement(channel, "item")
        _text(entry, "title", item.name)
        _text(entry, "link", _link(board, item))
        _text(entry, "guid", _link(board, item))
        _text(entry, "pubDate", format_datetime(item.created_at))
        _text(entry, "description", content(board, item))
    return _xml(root)


def atom(board: Board) -> bytes:
    root = Element("feed", {"xmlns": ATOM, "xml:lang": "en"})
    _text(root, "id", _site(board) + "/history.atom")
    _text(root, "title", f"{board.page.name} status")
    _text(root, "updated", stamp(board, board.page.updated_at) or "")
    SubElement(root, "link", {"rel": "alternate", "type": "text/html", "href": board.page.url})
    SubElement(root, "link", {"rel": "self", "href": _site(board) + "/history.atom"})
    author = SubElement(root, "author")
    _text(author, "name", board.page.name)
    for item in board.history[:ENTRIES]:
        entry = SubElement(root, "entry")
        _text(entry, "id", _link(board, item))
        _text(entry, "title", item.name, {"type": "text"})
        _text(entry, "published", stamp(board, item.created_at) or "")
        _text(entry, "updated", stamp(board, item.updated_at) or "")
        SubElement(
            entry, "link", {"rel": "alternate", "type": "text/html", "href": _link(board, item)}
        )
        _text(entry, "content", content(board, item), {"type": "html"})
    return _xml(root)


def content(board: Board, item: IncidentView) -> str:
    """The entry's HTML: each update, newest first, as Statuspage's feeds have it."""
    parts = []
    for update in item.updates:
        when = html.escape(stamp(board, update.created_at) or "")
        parts.append(
            f"<p><small>{when}</small><br><strong>{html.escape(words(update.status))}</strong>"
            f" - {html.escape(update.body)}</p>"
        )
    return "".join(parts)


def _link(board: Board, item: IncidentView) -> str:
    return f"{board.page.url}/incidents/{item.code}"


def _site(board: Board) -> str:
    return board.page.url.removesuffix("/status")


def _text(parent: Element, tag: str, text: str, attrs: dict[str, str] | None = None) -> Element:
    element = SubElement(parent, tag, attrs or {})
    element.text = text
    return element


def _xml(root: Element) -> bytes:
    body: bytes = tostring(root, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body
