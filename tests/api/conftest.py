"""An in-process API client with a token per role."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from tocsin.auth import service as auth_service
from tocsin.config import Settings
from tocsin.db import Database
from tocsin.policy.loader import LoadedPolicy
from tocsin.web.app import create_app
from tocsin.web.deps import Runtime


@dataclass
class Api:
    client: TestClient
    tokens: dict[str, str]

    def headers(self, role: str = "responder") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def post(self, path: str, json: object = None, role: str = "responder"):  # type: ignore[no-untyped-def]
        return self.client.post(path, json=json, headers=self.headers(role))

    def get(self, path: str, role: str = "viewer", **kwargs: object):  # type: ignore[no-untyped-def]
        return self.client.get(path, headers=self.headers(role), **kwargs)  # type: ignore[arg-type]

    def declare(self, **fields: object) -> dict[str, object]:
        body = {"title": "Checkout is down", "severity": "P1", **fields}
        response = self.post("/api/v1/incidents", body)
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]


def make_api(database: Database, loaded: LoadedPolicy) -> Iterator[Api]:
    runtime = Runtime(
        settings=Settings(database_url=database.url), database=database, policy=loaded
    )
    with database.write_session() as session:
        tokens = {
            role: auth_service.create_token(session, name=f"{role}-user", role=role)
            for role in auth_service.ROLES
        }
    with TestClient(create_app(runtime)) as client:
        yield Api(client=client, tokens=tokens)


@pytest.fixture
def api(database: Database, default_policy: LoadedPolicy) -> Iterator[Api]:
    yield from make_api(database, default_policy)
