"""`python -m bench crash`: what a `kill -9` of the engine costs in pages, lost or repeated.

Each run declares 200 incidents at once, each escalating at once to one person's webhook, and
starts a real `tocsin engine`. When the receiver has taken a random number of pages (between
a fifth and four fifths of them) it kills the engine with SIGKILL from inside the request,
before answering: at that instant that page, and any other in flight, has arrived but is not
recorded as sent. A second engine is then started, with a short lease, and runs until every
page is settled. The receiver counts each idempotency key:

- **lost**: a page due that never arrived (the guarantee: always 0);
- **repeated**: deliveries beyond the first of one key; only a send in flight at the crash may
  be repeated, always with the same key, so a receiver deduplicating on it sees none.

The receiver answers each page after `ANSWER_DELAY_S`, as a real webhook endpoint takes a
moment, which is what leaves sends in flight to be killed.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from rich.table import Table
from sqlalchemy import func, select

from bench.common import TOCSIN, console, stop_process, throwaway_database, tocsin_env
from tocsin import migrate
from tocsin.db import Database
from tocsin.flows import incidents as flows
from tocsin.incidents.service import Declaration
from tocsin.notify.models import Notification
from tocsin.oncall import service as oncall
from tocsin.oncall.config import OnCallConfig
from tocsin.policy.loader import load_policy

PAGES = 200
RUNS = 5
ANSWER_DELAY_S = 0.02
LEASE_S = "2"
PEOPLE = ("ana", "ben", "cai", "dee")
STEP = "page:1:1"
POLICY = """\
name: crash-bench
title: One paging severity; nothing else falls due during the run
severities:
  - id: P1
    name: High
    pages: true
    respond_within: 1h
"""


@dataclass
class Receiver:
    """Counts pages by idempotency key; kills the engine inside the request numbered `kill_at`."""

    kill_at: int
    victim: subprocess.Popen[bytes] | None = None
    keys: Counter[str] = field(default_factory=Counter)
    received: int = 0
    killed_with_in_flight: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> tuple[ThreadingHTTPServer, str]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                key = self.headers.get("Idempotency-Key") or json.loads(body)["idempotency_key"]
                receiver.arrived(key)
                time.sleep(ANSWER_DELAY_S)
                try:
                    self.send_response(200)
                    self.end_headers()
                except OSError:
                    pass  # the sender was killed while this page was in flight

            def log_message(self, *_: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server, f"http://127.0.0.1:{server.server_address[1]}"

    def arrived(self, key: str) -> None:
        with self._lock:
            self.keys[key] += 1
            self.received += 1
            if self.received == self.kill_at and self.victim is not None:
                self.victim.send_signal(signal.SIGKILL)


def _set_up(database_url: str, hook: str, policy_file: Path) -> set[str]:
    migrate.upgrade(database_url)
    database = Database(database_url)
    config = OnCallConfig.model_validate(
        {
            "people": [
                {
                    "handle": h,
                    "name": h.title(),
                    "contact_methods": [{"name": "hook", "kind": "webhook", "address": hook}],
                }
                for h in PEOPLE
            ],
            "escalation_policies": [
                {
                    "handle": f"page-{h}",
                    "name": f"Page {h}",
                    "default": h == PEOPLE[0],
                    "steps": [{"after": "0m", "targets": [f"person:{h}"]}],
                }
                for h in PEOPLE
            ],
            "services": [
                {"handle": f"svc-{h}", "name": h, "escalation_policy": f"page-{h}"} for h in PEOPLE
            ],
        }
    )
    loaded = load_policy(str(policy_file))
    expected = set()
    with database.write_session() as session:
        oncall.apply(session, config)
    with database.write_session() as session:  # all due at once, committed together
        for number in range(PAGES):
            handle = PEOPLE[number % len(PEOPLE)]
            declaration = Declaration(
                title=f"Crash {number}", severity="P1", services=[f"svc-{handle}"]
            )
            incident = flows.declare(session, loaded=loaded, declaration=declaration, actor="b")
            expected.add(f"{incident.id}/{STEP}/{handle}/0")
    database.dispose()
    return expected


def _engine(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [str(TOCSIN), "engine"], env=env, stdout=out, stderr=subprocess.STDOUT
        )


def _settled(database_url: str) -> dict[str, int]:
    database = Database(database_url)
    try:
        with database.read_session() as session:
            rows = session.execute(
                select(Notification.status, func.count()).group_by(Notification.status)
            )
            return {status: count for status, count in rows}
    finally:
        database.dispose()


def one_run(backend: str, kill_at: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="tocsin-crash-") as folder:
        work = Path(folder)
        policy_file = work / "policy.yaml"
        policy_file.write_text(POLICY)
        receiver = Receiver(kill_at=kill_at)
        http, url = receiver.start()
        try:
            with throwaway_database(backend) as database_url:
                expected = _set_up(database_url, url, policy_file)
                env = {
                    **tocsin_env(database_url, work),
                    "TOCSIN_POLICY": str(policy_file),
                    "TOCSIN_ENGINE_INTERVAL": "0.2",
                    "TOCSIN_OUTBOX_LEASE": LEASE_S,
                    "TOCSIN_WEBHOOK_TIMEOUT": "30",
                }
                os.environ.setdefault("TOCSIN_SECRET_KEY", env["TOCSIN_SECRET_KEY"])
                log = work / "engine.log"
                receiver.victim = _engine(env, log)
                receiver.victim.wait(timeout=300)
                killed = receiver.victim.returncode == -signal.SIGKILL
                in_flight = _settled(database_url).get("sending", 0)
                second = _engine(env, log)
                deadline = time.monotonic() + 300
                while _settled(database_url).get("sent", 0) < PAGES:
                    if time.monotonic() > deadline or second.poll() is not None:
                        break
                    time.sleep(0.1)
                stop_process(second, signal_first=signal.SIGTERM)
                statuses = _settled(database_url)
        finally:
            http.shutdown()
    keys = receiver.keys
    return {
        "backend": backend,
        "killed_at_page": kill_at,
        "killed": killed,
        "leased_at_crash": in_flight,
        "pages_due": PAGES,
        "distinct_received": len(set(keys) & expected),
        "lost": len(expected - set(keys)),
        "repeated": sum(n - 1 for n in keys.values()),
        "received_three_times_or_more": sum(1 for n in keys.values() if n > 2),
        "outbox": statuses,
    }


def table(rows: list[dict[str, Any]]) -> Table:
    out = Table(title=f"kill -9 of the engine mid-send, {PAGES} pages a run")
    for heading in ("database", "run", "killed at page", "leased at crash", "lost", "repeated"):
        out.add_column(heading, justify="right")
    for number, row in enumerate(rows, 1):
        out.add_row(
            row["backend"],
            str(number),
            str(row["killed_at_page"]),
            str(row["leased_at_crash"]),
            str(row["lost"]),
            str(row["repeated"]),
        )
    return out


def run(backends: tuple[str, ...], *, quick: bool) -> dict[str, Any]:
    rows = []
    chooser = random.Random(20261203)  # the same kill points on every machine
    for backend in backends:
        for _ in range(2 if quick else RUNS):
            rows.append(one_run(backend, chooser.randint(PAGES // 5, 4 * PAGES // 5)))
    console.print(table(rows))
    return {"runs": rows, "pages_per_run": PAGES, "answer_delay_s": ANSWER_DELAY_S}
