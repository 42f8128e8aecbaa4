"""What every benchmark needs: throwaway databases, percentiles, the machine, the results file."""

from __future__ import annotations

import json
import math
import os
import platform
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from cryptography.fernet import Fernet
from rich.console import Console
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

# Wide enough for the tables when output goes to a file or a pipe.
console = Console(width=None if sys.stdout.isatty() else 160)

BACKENDS = ("sqlite", "postgresql")
RESULTS_DIR = Path(__file__).parent / "results"
REPO = Path(__file__).resolve().parent.parent
TOCSIN = Path(sys.executable).parent / "tocsin"
PG_ADMIN_URL = os.environ.get(
    "TOCSIN_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


# --- databases -----------------------------------------------------------------------------


def _pg_admin() -> Any:
    return create_engine(PG_ADMIN_URL, poolclass=NullPool, isolation_level="AUTOCOMMIT")


@contextmanager
def _throwaway_postgresql() -> Iterator[str]:
    name = f"tocsin_bench_{uuid.uuid4().hex[:10]}"
    admin = _pg_admin()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def _throwaway_sqlite() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="tocsin-bench-") as directory:
        yield f"sqlite:///{directory}/tocsin.db"


@contextmanager
def throwaway_database(backend: str) -> Iterator[str]:
    """An empty database (no schema yet) that is gone when the block ends."""
    manager = _throwaway_sqlite() if backend == "sqlite" else _throwaway_postgresql()
    with manager as url:
        yield url


# --- processes -----------------------------------------------------------------------------


BENCH_SECRET_KEY = Fernet.generate_key().decode()


# `python -m bench --workers N`: the serving processes of each `tocsin serve` a benchmark
# starts (1, the history's figures, unless asked; serve's own default is one per core).
serve_workers = 1


def serve_args(port: int) -> list[str]:
    """`tocsin serve` on 127.0.0.1:port with `serve_workers` serving processes."""
    return [
        str(TOCSIN),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(serve_workers),
    ]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tocsin_env(database_url: str, workdir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "TOCSIN_DATABASE_URL": database_url,
        "TOCSIN_POLICY": "proofkit",
        "TOCSIN_CONFIG": str(workdir / "cli.json"),
        # One sealing key for the server and engine of a run (PostgreSQL needs it given).
        "TOCSIN_SECRET_KEY": os.environ.get("TOCSIN_SECRET_KEY") or BENCH_SECRET_KEY,
        "TOCSIN_OUTBOUND_ALLOW": "127.0.0.0/8",  # the benchmarks' receivers are local
    }


def create_token(env: dict[str, str], *, role: str, name: str) -> str:
    """`tocsin db upgrade`, then `tocsin token create` (which no longer creates a database);
    the token is the last line."""
    subprocess.run(
        [str(TOCSIN), "db", "upgrade"], env=env, capture_output=True, timeout=120, check=True
    )
    done = subprocess.run(
        [str(TOCSIN), "token", "create", "--role", role, "--name", name],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1]


def stop_process(process: subprocess.Popen[Any], *, signal_first: int) -> None:
    """Ask politely (SIGINT/SIGTERM), then kill after 15 s."""
    if process.poll() is not None:
        return
    process.send_signal(signal_first)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def wait_healthy(url: str, process: subprocess.Popen[Any], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"tocsin serve exited early:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url}/healthz never answered 200:\n{log.read_text()[-3000:]}")


# --- statistics ----------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), linear between closest ranks, like numpy's default."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary(values: Sequence[float]) -> dict[str, float]:
    """count, mean, p50, p95, p99 and max, in the unit the values are in."""
    return {
        "count": len(values),
        "mean": sum(values) / len(values) if values else math.nan,
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "max": max(values) if values else math.nan,
    }


def ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2f}"


# --- the machine and the results file ------------------------------------------------------


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory() -> str:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    return "unknown"


def _os_name() -> str:
    path = Path("/etc/os-release")
    if path.exists():
        for line in path.read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    return platform.system()


def _postgresql_version() -> str:
    try:
        admin = _pg_admin()
        with admin.connect() as conn:
            version = str(conn.execute(text("SHOW server_version")).scalar_one())
        admin.dispose()
        return version
    except Exception as exc:  # the machine block must not stop a SQLite-only run
        return f"unavailable ({exc.__class__.__name__})"


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False)
    return done.stdout.strip()


def _tocsin_source() -> str:
    """Which tocsin is measured: the working tree, or e.g. a clean export on PYTHONPATH."""
    import tocsin

    return str(Path(tocsin.__file__).resolve().parent)


def machine() -> dict[str, Any]:
    return {
        "nproc": os.cpu_count(),
        "cpu": _cpu_model(),
        "memory": _memory(),
        "os": _os_name(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": _postgresql_version(),
        "git_commit": _git("rev-parse", "--short", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "tocsin_source": _tocsin_source(),
        "pythonpath": os.environ.get("PYTHONPATH", ""),
    }


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def write_results(name: str, payload: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS_DIR / f"{stamp}-{name}.json"
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return path


def console_session(base: str, token: str) -> tuple[dict[str, str], str]:
    """Sign in to the console with an API token, as its login form does: the session's
    cookies and its CSRF token, for benches that load console pages."""
    with httpx.Client(base_url=base, timeout=30) as client:
        signed = client.post(
            "/console/login",
            data={"token": token, "next": "/console"},
            headers={"Origin": base},
            follow_redirects=False,
        )
        signed.raise_for_status()
        page = client.get("/console/policy").text
        marker = 'name="csrf_token" value="'
        start = page.index(marker) + len(marker)
        return dict(client.cookies), page[start : page.index('"', start)]
