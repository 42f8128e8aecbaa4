"""Start a real `tocsin serve` process and talk to it over sockets."""

from __future__ import annotations

import os
import re
import socket
import ssl
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Connection, Table, delete, select

import tocsin.models  # noqa: F401  (fills Base.metadata, which the reset walks)
from tests.certificates import Certificate
from tests.conftest import create_postgresql_database, drop_postgresql_database
from tocsin.db import Base, Database

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    url: str
    token: str
    env: dict[str, str]
    process: subprocess.Popen[str]
    banner: str
    log: list[str]
    # What a client passes as `verify=` to trust the server: its certificate under TLS.
    verify: ssl.SSLContext | bool = True
    # The first admin `--bootstrap-admin` created, and the password it printed once.
    admin_username: str = "admin"
    admin_password: str = ""

    def cli(
        self, *args: str, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run `tocsin ARGS` in this process against the real server over its socket.

        The command is the same Typer app the executable runs, with the server's environment;
        only the ~2 s of Python start-up per command is saved. `env` adds to that environment.
        """
        return run_cli(*args, env={**self.env, **(env or {})})

    def cli_process(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run the real `tocsin` executable as a subprocess: for the entry point itself."""
        return subprocess.run(
            [str(BIN / "tocsin"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )


def run_cli(*args: str, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """`tocsin ARGS` in-process (Typer's CliRunner) with exactly `env` as the environment, its
    exit status, stdout and stderr as a subprocess would report them. An exception the CLI let
    escape (it turns every one into a one-line error, so this means a bug) shows in stderr.
    """
    from typer.testing import CliRunner

    from tocsin.cli import app

    unset: dict[str, str | None] = {name: None for name in os.environ if name not in env}
    result = CliRunner().invoke(app, list(args), env={**unset, **env}, catch_exceptions=True)
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "".join(traceback.format_exception(result.exception))
    return subprocess.CompletedProcess(["tocsin", *args], result.exit_code, result.stdout, stderr)


def _drain(process: subprocess.Popen[str], log: list[str]) -> None:
    """Keep reading the server's output so a full pipe never stalls it; keep it for failures."""
    assert process.stdout is not None
    for line in process.stdout:
        log.append(line)
        del log[:-200]


def _read_banner(process: subprocess.Popen[str], deadline: float) -> str:
    lines: list[str] = []
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "Tocsin serving on" in line:
            return "".join(lines)
    process.kill()
    raise AssertionError("tocsin serve did not start:\n" + "".join(lines))


def _wait_healthy(url: str, deadline: float, verify: ssl.SSLContext | bool) -> None:
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1, verify=verify).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError(f"{url}/healthz never answered 200")


def start_server(
    database_url: str,
    tmp_path: Path,
    *,
    policy: str = "default",
    engine: bool = True,
    extra_env: Mapping[str, str] | None = None,
    tls: Certificate | None = None,
    workers: int = 1,
) -> Server:
    """`extra_env` adds to (or overrides) the server's environment, e.g. TOCSIN_SMTP_URL.
    With `tls` the server serves HTTPS with that certificate, and the CLI trusts it.
    One serving process unless `workers` says otherwise (serve's default is one per core)."""
    port = free_port()
    env = {
        **os.environ,
        "TOCSIN_DATABASE_URL": database_url,
        "TOCSIN_POLICY": policy,
        "TOCSIN_CONFIG": str(tmp_path / "cli.json"),
        "TOCSIN_ENGINE_INTERVAL": "0.2",
        **({"SSL_CERT_FILE": str(tls.cert)} if tls else {}),
        **(extra_env or {}),
    }
    args = [str(BIN / "tocsin"), "serve", "--port", str(port), "--bootstrap-admin"]
    args += ["--workers", str(workers)]
    if not engine:
        args.append("--no-engine")
    if tls:
        args += ["--tls-cert", str(tls.cert), "--tls-key", str(tls.key)]
    process = subprocess.Popen(
        args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    deadline = time.monotonic() + 60
    banner = _read_banner(process, deadline)
    log: list[str] = []
    threading.Thread(target=_drain, args=(process, log), daemon=True).start()
    match = re.search(r"Admin token:\s+(\S+)", banner)
    assert match, banner
    password = re.search(r"Password:\s+(\S+)", banner)
    url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    verify = tls.trusted() if tls else True
    _wait_healthy(url, deadline, verify)
    return Server(
        url=url,
        token=match.group(1),
        env=env,
        process=process,
        banner=banner,
        log=log,
        verify=verify,
        admin_password=password.group(1) if password else "",
    )


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()


@pytest.fixture
def server(database: Database, tmp_path: Path) -> Iterator[Server]:
    running = start_server(database.url, tmp_path)
    yield running
    stop_server(running)


# -- One server per database, shared by the tests that need nothing of their own ----------------
#
# Starting `tocsin serve` costs seconds of CPU (imports, migrations check, hashing the admin's
# password), and most e2e tests need only a default server. A test that asks for
# `shared_server` instead of `server` gets the session's server for its database, put back
# to the state it had just after it started: every row added since then is deleted. A test
# that changes the server's own setup (its policy, its environment, the admin or its token,
# signing in with `tocsin login`) must use `server` or start_server() instead.


# Policy snapshots are content-addressed and never change, and a server remembers which it
# has stored (it parses each once): deleting one would leave it pointing at nothing.
KEPT_ACROSS_TESTS = {"policy_snapshots"}


@dataclass
class SharedServer:
    """A running server and the primary keys of every row it had just after it started."""

    server: Server
    database: Database
    baseline: dict[str, set[tuple[object, ...]]]

    def reset(self) -> None:
        """Delete every row added since the server started, children first. In a write
        transaction (BEGIN IMMEDIATE on SQLite): a deferred one that read first could not
        take the write lock while the server was writing."""
        with self.database.write_session() as session:
            conn = session.connection()
            for table in reversed(Base.metadata.sorted_tables):
                if table.name in KEPT_ACROSS_TESTS:
                    continue
                key = list(table.primary_key.columns)
                added = _primary_keys(conn, table) - self.baseline[table.name]
                for row in added:
                    match = (column == value for column, value in zip(key, row, strict=True))
                    conn.execute(delete(table).where(*match))


def _primary_keys(conn: Connection, table: Table) -> set[tuple[object, ...]]:
    return {tuple(row) for row in conn.execute(select(*table.primary_key.columns))}


def _snapshot(database: Database) -> dict[str, set[tuple[object, ...]]]:
    with database.engine.connect() as conn:
        return {table.name: _primary_keys(conn, table) for table in Base.metadata.sorted_tables}


class SharedServers:
    """The session's shared servers, started on first use: one per database kind."""

    def __init__(self, urls: Mapping[str, Callable[[], str]], folder: Path) -> None:
        self._urls = urls
        self._folder = folder
        self._running: dict[str, SharedServer] = {}

    def get(self, kind: str) -> SharedServer:
        shared = self._running.get(kind)
        if shared is None:
            folder = self._folder / kind
            folder.mkdir()
            server = start_server(self._urls[kind](), folder)
            database = Database(server.env["TOCSIN_DATABASE_URL"])
            shared = SharedServer(server, database, _snapshot(database))
            self._running[kind] = shared
        if shared.server.process.poll() is not None:
            raise AssertionError(
                f"the shared {kind} server has died:\n" + "".join(shared.server.log)
            )
        return shared

    def stop(self) -> None:
        for kind, shared in self._running.items():
            stop_server(shared.server)
            shared.database.dispose()
            if kind == "postgresql":
                drop_postgresql_database(shared.database.url)


@pytest.fixture(scope="session")
def shared_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedServers]:
    def sqlite() -> str:
        return f"sqlite:///{tmp_path_factory.mktemp('shared-sqlite') / 'tocsin.db'}"

    servers = SharedServers(
        {"sqlite": sqlite, "postgresql": lambda: create_postgresql_database("shared")},
        tmp_path_factory.mktemp("shared-servers"),
    )
    yield servers
    servers.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def shared_server(request: pytest.FixtureRequest, shared_servers: SharedServers) -> Server:
    """A default `tocsin serve` (policy `default`, engine on) shared across the session, as
    fresh as just after it started; see SharedServer. Runs each test on both databases."""
    shared = shared_servers.get(request.param)
    shared.reset()
    return shared.server
