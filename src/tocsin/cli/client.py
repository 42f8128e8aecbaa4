"""The CLI's connection to a Tocsin server: where it is, which token, and clear failures."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import httpx
import typer


def config_path() -> Path:
    explicit = os.environ.get("TOCSIN_CONFIG")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "tocsin" / "cli.json"


def save_login(url: str, token: str) -> Path:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"url": url.rstrip("/"), "token": token}, indent=2) + "\n")
    path.chmod(0o600)  # the token is a secret
    return path


def _saved() -> dict[str, str]:
    path = config_path()
    if not path.exists():
        return {}
    data: dict[str, str] = json.loads(path.read_text())
    return data


@dataclass
class ApiClient:
    url: str
    token: str

    @classmethod
    def from_environment(cls) -> ApiClient:
        saved = _saved()
        url = os.environ.get("TOCSIN_URL") or saved.get("url") or "http://127.0.0.1:8080"
        token = os.environ.get("TOCSIN_TOKEN") or saved.get("token")
        if not token:
            fail(
                "no API token: set TOCSIN_TOKEN, or run `tocsin login --url URL --token TOKEN` "
                "(make run prints an admin token)"
            )
        return cls(url=url.rstrip("/"), token=token)

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.raw(method, path, **kwargs)
        return response.json() if response.content else None

    def raw(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The answer itself (a download), once it is known not to be an error."""
        headers = {"Authorization": f"Bearer {self.token}"}
        try:
            response = httpx.request(
                method, self.url + path, headers=headers, timeout=300.0, **kwargs
            )
        except httpx.HTTPError as exc:
            fail(f"cannot reach Tocsin at {self.url}: {exc}")
        if response.status_code >= 400:
            fail(_describe_error(response))
        return response


def _describe_error(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}: {response.text[:300]}"
    message = body.get("message") or body.get("detail") or response.text[:300]
    return f"HTTP {response.status_code}: {message}"


def fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)
