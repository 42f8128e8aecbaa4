"""The routes and the table of kinds agree: every URL a sender is given is served."""

from __future__ import annotations

from tests.api.conftest import Api
from tocsin.alerts.kinds import KINDS


def test_every_url_in_the_table_of_kinds_takes_a_post(api: Api) -> None:
    paths = api.client.get("/openapi.json").json()["paths"]
    given = [path for kind in KINDS.values() for path in kind.urls.values() if path]
    assert [path for path in given if "post" not in paths.get(path, {})] == []


def test_an_integration_of_each_kind_gets_the_urls_of_its_row(api: Api) -> None:
    for name, kind in KINDS.items():
        body = {"name": f"{name} prod", "kind": name, "heartbeat_interval_s": 60}
        created = api.post("/api/v1/integrations", body, role="admin").json()
        assert created["urls"] == kind.urls_for(created["key"], "http://testserver")
