"""WCAG AA contrast, measured in the browser: every piece of text on every console page, in
the colour Chromium actually paints it, against the background it actually sits on.

Normal text needs 4.5:1 and large text (24 px, or 18.66 px bold) 3:1 (WCAG 2.1, 1.4.3).
The pages are filled first (an incident of each severity with its clocks and ladder, a firing
alert, the on-call file), so the colours of severities, clock states and outcomes are seen.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.e2e.conftest import Server
from tests.e2e.console_helpers import CHROMIUM, CHROMIUM_ARGS, console_page

pytestmark = pytest.mark.e2e


@pytest.fixture
def server(shared_server: Server) -> Server:
    """These tests need nothing of their own: the session's shared server, reset."""
    return shared_server


FIXTURES = Path(__file__).parent.parent / "fixtures"

# Each text node's painted colour and its nearest opaque background, and the ratio between
# them by WCAG's relative luminance.
MEASURE = """
() => {
  const rgba = (text) => (text.match(/[\\d.]+/g) || []).map(Number);
  const channel = (c) => {
    c /= 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  const luminance = ([r, g, b]) => 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  const background = (el) => {
    for (let node = el; node; node = node.parentElement) {
      const [r, g, b, a = 1] = rgba(getComputedStyle(node).backgroundColor);
      if (a >= 0.99) return [r, g, b];
    }
    return [255, 255, 255];
  };
  const found = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let text = walker.nextNode(); text; text = walker.nextNode()) {
    const el = text.parentElement;
    if (!el || !text.textContent.trim()) continue;
    const style = getComputedStyle(el);
    const box = el.getBoundingClientRect();
    if (style.visibility === "hidden" || style.display === "none" || box.width === 0) continue;
    if (el.closest("[aria-hidden=true], .visually-hidden, .sr-only")) continue;
    const [r, g, b, a = 1] = rgba(style.color);
    const back = background(el);
    const fore = [r, g, b].map((c, i) => c * a + back[i] * (1 - a));
    const [hi, lo] = [luminance(fore), luminance(back)].sort((x, y) => y - x);
    const size = parseFloat(style.fontSize);
    const bold = parseInt(style.fontWeight, 10) >= 700;
    const large = size >= 24 || (bold && size >= 18.66);
    found.push({
      text: text.textContent.trim().slice(0, 40),
      ratio: (hi + 0.05) / (lo + 0.05),
      needed: large ? 3 : 4.5,
      color: style.color,
      background: `rgb(${back.join(", ")})`,
    });
  }
  return found;
}
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def _api(server: Server, method: str, path: str, body: object = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {server.token}"}
    return httpx.request(method, server.url + path, json=body, headers=headers, timeout=10)


def _fill(server: Server) -> str:
    text = (FIXTURES / "oncall.yaml").read_text()
    assert _api(server, "POST", "/api/v1/oncall/apply", {"text": text}).status_code == 200
    made = _api(server, "POST", "/api/v1/integrations", {"name": "prom", "kind": "alertmanager"})
    alert = {
        "version": "4",
        "status": "firing",
        "receiver": "tocsin",
        "groupKey": "contrast",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "DiskFull", "severity": "warning"},
                "annotations": {"summary": "Disk full on db-1"},
                "startsAt": "2026-12-01T10:00:00Z",
            }
        ],
    }
    assert httpx.post(made.json()["urls"]["webhook"], json=alert, timeout=10).status_code == 200
    first = ""
    for severity in ("P0", "P1", "P2", "P3"):
        body = {"title": f"Checkout {severity}", "severity": severity, "services": ["checkout"]}
        created = _api(server, "POST", "/api/v1/incidents", body)
        assert created.status_code == 201, created.text
        first = first or created.json()["id"]
    return first


def _too_faint(found: list[dict[str, Any]]) -> list[str]:
    return sorted(
        {
            f"{f['text']!r}: {f['ratio']:.2f} < {f['needed']} ({f['color']} on {f['background']})"
            for f in found
            if f["ratio"] < f["needed"]
        }
    )


def test_every_console_page_meets_wcag_aa_contrast(browser: Browser, server: Server) -> None:
    incident = _fill(server)
    page = console_page(browser, server)
    paths = [
        "/console/dashboard",
        "/console",
        f"/console/incidents/{incident}",
        "/console/oncall",
        "/console/alerts",
        "/console/integrations",
        "/console/policy",
        "/console/status",
        "/console/channels",
        "/console/drills",
        "/console/metrics",
        "/console/users",
    ]
    faint: dict[str, list[str]] = {}
    measured = 0
    for path in paths:
        page.goto(server.url + path)
        found = page.evaluate(MEASURE)
        measured += len(found)
        if problems := _too_faint(found):
            faint[path] = problems
    assert measured > 200, "the pages were measured, text and all"
    assert faint == {}
