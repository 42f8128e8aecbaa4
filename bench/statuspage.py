"""The public status page under wrk: `/status` and `/api/v2/summary.json` on loopback.

For each database:
1. Start a real `tocsin serve --no-engine` (proofkit policy) on a throwaway database.
2. Over the admin API: 20 components in 4 groups, and 5 incidents published on the page
   with 3 updates each (the issue's 20 components and 5 active incidents).
3. For each path, a warm-up, then `wrk -t2 -c32 -d10s --latency` (wrk shares the 2 cores with
   the server). On PostgreSQL, the database's committed transactions (pg_stat_database) are
   read before and after: the queries the page cost while nothing changed.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from rich.table import Table
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from bench.common import (
    TOCSIN,
    console,
    create_token,
    free_port,
    stop_process,
    throwaway_database,
    tocsin_env,
    wait_healthy,
)

PATHS = ("/status", "/api/v2/summary.json")
GROUPS = ("Shop", "Platform", "Data", "Accounts")


def _serve(url: str, workdir: Path) -> tuple[str, str, subprocess.Popen[bytes]]:
    env = tocsin_env(url, workdir)
    token = create_token(env, role="admin", name="bench")
    port = free_port()
    log = workdir / "serve.log"
    args = [str(TOCSIN), "serve", "--host", "127.0.0.1", "--port", str(port), "--no-engine"]
    with log.open("wb") as out:
        process = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    wait_healthy(base, process, log)
    return base, token, process


def _seed(base: str, token: str) -> None:
    client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    for n in range(20):
        body = {
            "slug": f"c{n}",
            "name": f"Component {n}",
            "group": GROUPS[n % 4],
            "services": [f"s{n}"],
        }
        client.post("/api/v1/status/components", json=body).raise_for_status()
    for n in range(5):
        declared = client.post(
            "/api/v1/incidents",
            json={"title": f"internal {n}", "severity": "P1", "services": [f"s{n}", f"s{n + 5}"]},
        )
        declared.raise_for_status()
        path = f"/api/v1/incidents/{declared.json()['id']}/status-page"
        for status in ("investigating", "identified", "monitoring"):
            body = {"title": f"Incident {n}", "status": status, "message": f"{status} {n} " * 10}
            client.post(path, json=body).raise_for_status()


def _transactions(url: str) -> int | None:
    if not url.startswith("postgresql"):
        return None
    name = url.rsplit("/", 1)[1]
    engine = create_engine(url, poolclass=NullPool)
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_stat_clear_snapshot()"))
        value = conn.scalar(
            text("SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = :n"),
            {"n": name},
        )
    engine.dispose()
    return int(value or 0)


def _wrk(url: str, seconds: int) -> dict[str, Any]:
    done = subprocess.run(
        ["wrk", "-t2", "-c32", f"-d{seconds}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
    )
    out = done.stdout
    found: dict[str, Any] = {
        "requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])
    }  # type: ignore[index]
    found["requests"] = int(re.search(r"(\d+) requests in", out)[1])  # type: ignore[index]
    for q in ("50", "90", "99"):
        match = re.search(rf"\s{q}%\s+([\d.]+)(us|ms|s)", out)
        if match:
            scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[match[2]]
            found[f"p{q}_ms"] = round(float(match[1]) * scale, 2)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    found["non_2xx"] = int(errors[1]) if errors else 0
    return found


def _one(backend: str, seconds: int) -> list[dict[str, Any]]:
    rows = []
    with throwaway_database(backend) as url, tempfile.TemporaryDirectory() as work:
        base, token, process = _serve(url, Path(work))
        try:
            _seed(base, token)
            for path in PATHS:
                _wrk(base + path, 2)  # warm-up, not counted
                before = _transactions(url)
                result = _wrk(base + path, seconds)
                after = _transactions(url)
                result.update(backend=backend, path=path, seconds=seconds)
                result["db_transactions"] = None if before is None else after - before  # type: ignore[operator]
                rows.append(result)
        finally:
            stop_process(process, signal_first=signal.SIGINT)
    return rows


def run(backends: tuple[str, ...], *, quick: bool = False) -> dict[str, Any]:
    if shutil.which("wrk") is None:
        raise SystemExit("bench statuspage needs wrk: apt-get install wrk")
    seconds = 5 if quick else 10
    rows = [row for backend in backends for row in _one(backend, seconds)]
    table = Table(title="Status page under wrk (-t2 -c32), 20 components, 5 active incidents")
    for column in ("database", "path", "req/s", "p50 ms", "p99 ms", "non-2xx", "db txns"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["backend"],
            row["path"],
            f"{row['requests_per_s']:,.0f}",
            str(row.get("p50_ms")),
            str(row.get("p99_ms")),
            str(row["non_2xx"]),
            "n/a" if row["db_transactions"] is None else str(row["db_transactions"]),
        )
    console.print(table)
    time.sleep(0)
    return {"rows": rows}
