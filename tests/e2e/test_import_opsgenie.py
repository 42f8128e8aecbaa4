"""After an import, a real Opsgenie client, unmodified but for its host, opens an alert in a
real `tocsin serve` with the key it used before."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import opsgenie_sdk
import pytest

from tests.e2e.conftest import BIN, start_server
from tests.importers.opsgenie_standin import API_KEY, Opsgenie
from tests.importers.standin import serving
from tocsin.db import Database

PAYMENTS_KEY = "2f0b9a3e-6d1c-4e8a-9b7f-3c5d8e1a2b4c"  # the Opsgenie API integration's key


def _import(database: Database, url: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [
            str(BIN / "tocsin"),
            "import",
            "opsgenie",
            "--api-key",
            API_KEY,
            "--base-url",
            url,
            "--apply",
        ],
        env={**env, "TOCSIN_DATABASE_URL": database.url},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.e2e
def test_the_opsgenie_sdk_opens_an_alert_with_the_imported_key(
    database: Database, tmp_path: Path
) -> None:
    server = start_server(database.url, tmp_path)
    try:
        with serving(Opsgenie()) as standin:
            assert "created integration Payments API" in _import(database, standin.url, server.env)
        configuration = opsgenie_sdk.Configuration()
        configuration.host = server.url
        configuration.api_key["Authorization"] = PAYMENTS_KEY
        configuration.retry_enabled = False
        alerts = opsgenie_sdk.AlertApi(opsgenie_sdk.ApiClient(configuration))
        payload = opsgenie_sdk.CreateAlertPayload(
            message="Card payments failing", alias="cards-down", priority="P1", entity="cards"
        )
        answer = alerts.create_alert(create_alert_payload=payload)
        assert answer.request_id
        listed = httpx.get(
            f"{server.url}/api/v1/alerts",
            headers={"Authorization": f"Bearer {server.token}"},
            timeout=10,
        ).json()["items"]
        assert [(a["summary"], a["service"], a["dedup_key"]) for a in listed] == [
            ("Card payments failing", "payments", "cards-down")
        ]
    finally:
        server.process.terminate()
        server.process.wait(timeout=10)
