"""The live console: the dashboard's time with 1,000 open alerts and 100 open incidents, and
how fast one change reaches 100 pages listening on server-sent events.

For each database:
1. Start a real `tocsin serve --no-engine` (proofkit policy) on a throwaway database.
2. Over the API: 100 incidents (P1-P3), and 1,000 firing alerts through an Alertmanager
   integration (10 deliveries of 100 alerts, each alert its own dedup key).
3. The dashboard: a warm-up, then 50 sequential GETs of /console/dashboard, timed at the
   client over loopback (an upper bound of the server's time).
4. Live: 100 connections to /console/live?topic=dashboard, each waiting for "ready"; then a
   note is added through the API, and the time from the note's answer to each connection's
   "changed" event is recorded. Five rounds.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from rich.table import Table

from bench.common import (
    TOCSIN,
    console,
    console_session,
    create_token,
    free_port,
    ms,
    stop_process,
    summary,
    throwaway_database,
    tocsin_env,
    wait_healthy,
)

INCIDENTS, ALERTS, BATCH = 100, 1000, 100
DASHBOARD_GETS, LISTENERS, ROUNDS = 50, 100, 5
SEVERITIES = ("P1", "P2", "P3")


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


def _alerts(start: int) -> dict[str, Any]:
    return {
        "version": "4",
        "status": "firing",
        "receiver": "tocsin",
        "groupKey": "bench",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": f"Bench{n}", "service": f"svc{n % 20}"},
                "annotations": {"summary": f"bench alert {n}"},
                "startsAt": "2026-12-01T00:00:00Z",
                "fingerprint": f"bench-{n}",
            }
            for n in range(start, start + BATCH)
        ],
    }


def _seed(client: httpx.Client) -> str:
    first = ""
    for n in range(INCIDENTS):
        body = {"title": f"Incident {n}", "severity": SEVERITIES[n % 3], "services": [f"svc{n}"]}
        declared = client.post("/api/v1/incidents", json=body)
        declared.raise_for_status()
        first = first or declared.json()["id"]
    made = client.post("/api/v1/integrations", json={"name": "bench", "kind": "alertmanager"})
    made.raise_for_status()
    webhook = made.json()["urls"]["webhook"]
    for start in range(0, ALERTS, BATCH):
        httpx.post(webhook, json=_alerts(start), timeout=60).raise_for_status()
    return first


def _dashboard(base: str, token: str) -> list[float]:
    cookies, _csrf = console_session(base, token)
    with httpx.Client(base_url=base, cookies=cookies, timeout=30) as client:
        for _ in range(5):
            client.get("/console/dashboard").raise_for_status()
        times = []
        for _ in range(DASHBOARD_GETS):
            started = time.perf_counter()
            client.get("/console/dashboard").raise_for_status()
            times.append((time.perf_counter() - started) * 1000)
    return times


async def _listen(
    client: httpx.AsyncClient, ready: asyncio.Event, seen: list[float], go: Any
) -> None:
    async with client.stream("GET", "/console/live?topic=dashboard") as stream:
        event = ""
        async for line in stream.aiter_lines():
            if line.startswith("event:"):
                event = line.removeprefix("event:").strip()
            elif line == "" and event == "ready":
                go["ready"] += 1
                if go["ready"] == LISTENERS:
                    ready.set()
            elif line == "" and event == "changed":
                seen.append(time.perf_counter())
                return


async def _round(base: str, token: str, incident: str) -> list[float]:
    limits = httpx.Limits(max_connections=LISTENERS + 10)
    cookies, _csrf = console_session(base, token)
    async with httpx.AsyncClient(
        base_url=base, cookies=cookies, limits=limits, timeout=30
    ) as client:
        ready, seen, go = asyncio.Event(), [], {"ready": 0}
        tasks = [asyncio.create_task(_listen(client, ready, seen, go)) for _ in range(LISTENERS)]
        await asyncio.wait_for(ready.wait(), timeout=60)
        headers = {"Authorization": f"Bearer {token}"}
        note = await client.post(
            f"/api/v1/incidents/{incident}/notes", json={"text": "bench"}, headers=headers
        )
        note.raise_for_status()
        written = time.perf_counter()
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=30)
    return [(at - written) * 1000 for at in seen]


def _one(backend: str) -> dict[str, Any]:
    with throwaway_database(backend) as url, tempfile.TemporaryDirectory() as directory:
        base, token, process = _serve(url, Path(directory))
        try:
            headers = {"Authorization": f"Bearer {token}"}
            with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
                incident = _seed(client)
                firing = client.get("/api/v1/alerts", params={"status": "firing", "limit": 500})
                open_now = client.get("/api/v1/incidents", params={"status": "open"})
            dashboard = _dashboard(base, token)
            latencies: list[float] = []
            for _ in range(ROUNDS):
                latencies += asyncio.run(_round(base, token, incident))
        finally:
            stop_process(process, signal_first=signal.SIGINT)
    return {
        "backend": backend,
        "alerts_seeded": ALERTS,
        "incidents_seeded": INCIDENTS,
        "firing_listed": len(firing.json()["items"]) if firing.is_success else None,
        "open_status": open_now.status_code,
        "dashboard_ms": summary(dashboard),
        "sse_listeners": LISTENERS,
        "sse_rounds": ROUNDS,
        "sse_delivery_ms": summary(latencies),
        "sse_delivered": len(latencies),
    }


def run(backends: tuple[str, ...], *, quick: bool = False) -> dict[str, Any]:
    results = [_one(backend) for backend in backends]
    table = Table(title="console: dashboard (1,000 alerts, 100 incidents) and live delivery")
    for column in ("backend", "dashboard p50", "p95", "max", "SSE to 100: p50", "p95", "max"):
        table.add_column(column)
    for r in results:
        d, s = r["dashboard_ms"], r["sse_delivery_ms"]
        table.add_row(
            r["backend"],
            ms(d["p50"]),
            ms(d["p95"]),
            ms(d["max"]),
            ms(s["p50"]),
            ms(s["p95"]),
            ms(s["max"]),
        )
    console.print(table)
    return {"results": results}
