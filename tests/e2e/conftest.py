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
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.certificates import Certificate
from tocsin.db import Database

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

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "tocsin"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )


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
