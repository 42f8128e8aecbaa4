"""A review end to end: a real server, the real CLI and the console over real sockets.

The P0 resolves, its review opens; the CLI shows it, adds an action item, moves it and
exports it as a PDF; the console page shows it, saves an edit and refuses a cross-site POST.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.console_auth import sign_in_client
from tests.e2e.conftest import Server


@pytest.fixture
def server(shared_server: Server) -> Server:
    """These tests need nothing of their own: the session's shared server, reset."""
    return shared_server


def declare_and_resolve(server: Server) -> str:
    declared = server.cli(
        "incident", "declare", "--title", "Checkout down", "--severity", "P0", "--json"
    )
    assert declared.returncode == 0, declared.stderr
    incident_id = str(json.loads(declared.stdout)["id"])
    for step in (
        ("incident", "role", incident_id, "commander", "dana"),
        ("incident", "resolve", incident_id, "-m", "Rolled back"),
    ):
        result = server.cli(*step)
        assert result.returncode == 0, f"{step}: {result.stderr}"
    return incident_id


def test_the_cli_works_a_review_and_its_action_items(server: Server, tmp_path: Path) -> None:
    incident_id = declare_and_resolve(server)
    review = json.loads(server.cli("review", "show", incident_id, "--json").stdout)
    assert (review["status"], review["owner"]) == ("draft", "dana")
    assert "## Key milestones" in review["body"]

    added = server.cli(
        "actions", "add", incident_id, "--title", "Canary deploys", "--class", "immediate",
        "--owner", "erin", "--json",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    item = json.loads(added.stdout)
    listed = json.loads(server.cli("actions", "--json").stdout)["items"]
    assert [i["id"] for i in listed] == [item["id"]]
    assert json.loads(server.cli("actions", "--overdue", "--json").stdout)["items"] == []

    refused = server.cli("review", "status", incident_id, "closed")
    assert refused.returncode == 1
    assert "from draft: in_review" in refused.stderr
    assert server.cli("review", "status", incident_id, "in_review").returncode == 0

    body = tmp_path / "review.md"
    body.write_text("# Review\n\nRoot cause: deploy 4411.\n")
    assert server.cli("review", "edit", incident_id, "--file", str(body)).returncode == 0
    markdown = server.cli("review", "export", incident_id).stdout
    assert "Root cause: deploy 4411." in markdown and "Canary deploys" in markdown

    pdf = tmp_path / "review.pdf"
    exported = server.cli("review", "export", incident_id, "-f", "pdf", "-o", str(pdf))
    assert exported.returncode == 0, exported.stderr
    assert pdf.read_bytes().startswith(b"%PDF-")

    closed = server.cli("actions", "close", str(item["id"]))
    assert "is done" in closed.stdout
    reviews = json.loads(server.cli("review", "list", "--json").stdout)["items"]
    assert reviews[0]["action_items"][0]["status"] == "done"


def test_the_console_page_edits_the_review(server: Server) -> None:
    incident_id = declare_and_resolve(server)
    page_url = f"{server.url}/console/incidents/{incident_id}/review"
    with httpx.Client(base_url=server.url) as browser:
        csrf = sign_in_client(browser, token=server.token, origin=server.url)
        page = browser.get(page_url)
        assert page.status_code == 200
        assert "<h2>Key milestones</h2>" in page.text  # the Markdown, rendered
        assert 'name="version" value="1"' in page.text
        incident_page = browser.get(f"{server.url}/console/incidents/{incident_id}")
        assert f"/console/incidents/{incident_id}/review" in incident_page.text

        form = {
            "version": "1",
            "owner": "erin",
            "body": "# Ours\n\n<script>x()</script>\n",
            "csrf_token": csrf,
        }
        saved = browser.post(f"{page_url}/edit", data=form, headers={"Origin": server.url})
        assert saved.status_code == 303
        page = browser.get(page_url)
        assert "owner: erin" in page.text
        assert "<script>x()</script>" not in page.text  # raw HTML is shown as text, never run
        assert "&lt;script&gt;x()&lt;/script&gt;" in page.text

        stale = browser.post(f"{page_url}/edit", data=form, headers={"Origin": server.url})
        assert stale.status_code == 303
        assert "changed since you read it" in browser.get(page_url).text

        cross = browser.post(
            f"{page_url}/status",
            data={"status": "in_review", "csrf_token": csrf},
            headers={"Origin": "https://evil.example"},
        )
        assert cross.status_code == 403
        moved = browser.post(
            f"{page_url}/status",
            data={"status": "in_review", "csrf_token": csrf},
            headers={"Origin": server.url},
        )
        assert moved.status_code == 303
        assert 'data-status="in_review"' in browser.get(page_url).text
        pdf = browser.get(f"{page_url}/export", params={"format": "pdf"})
        assert pdf.headers["content-type"] == "application/pdf"
