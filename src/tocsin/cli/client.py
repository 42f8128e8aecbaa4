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


def _normal(url: str) -> str:
    return url.strip().rstrip("/")


def read_logins() -> dict[str, Any]:
    """The saved logins: {"current": url, "servers": {url: {"token": ...}}}. A file from
    before logins were keyed by server (one "url" and "token") reads as that one server."""
    path = config_path()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {"current": None, "servers": {}}
    except (OSError, ValueError) as exc:
        fail(f"cannot read the saved CLI login {path}: {exc}; fix or remove it")
    if not isinstance(data, dict):
        fail(f"the saved CLI login {path} is not a JSON object; fix or remove it")
    if "servers" not in data and "url" in data:  # the one-server form
        url = _normal(str(data["url"]))
        return {"current": url, "servers": {url: {"token": data.get("token")}}}
    servers = data.get("servers") if isinstance(data.get("servers"), dict) else {}
    return {"current": data.get("current"), "servers": servers}


def saved_token(url: str) -> str | None:
    entry = read_logins()["servers"].get(_normal(url))
    token = entry.get("token") if isinstance(entry, dict) else None
    return token if isinstance(token, str) and token else None


def save_login(url: str, token: str) -> Path:
    """Save `token` for the server at `url` (other servers' logins stay) and make it the one
    the CLI talks to unless TOCSIN_URL says otherwise."""
    logins = read_logins()
    url = _normal(url)
    logins["servers"][url] = {"token": token}
    logins["current"] = url
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(logins, indent=2, sort_keys=True) + "\n")
    path.chmod(0o600)  # the tokens are secrets
    return path


@dataclass
class ApiClient:
    url: str
    token: str

    @classmethod
    def from_environment(cls) -> ApiClient:
        current = read_logins()["current"]
        url = _normal(os.environ.get("TOCSIN_URL") or current or "http://127.0.0.1:8080")
        token = os.environ.get("TOCSIN_TOKEN") or saved_token(url)
        if not token:
            fail(
                f"no API token for {url}: set TOCSIN_TOKEN, or run "
                "`tocsin login --url URL --token TOKEN` (make run prints an admin token)"
            )
        return cls(url=url, token=token)

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
