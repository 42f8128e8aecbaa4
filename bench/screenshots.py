"""`python -m bench.screenshots`: pictures of the console for docs/screenshots/.

Starts a real `tocsin serve` (default policy, with its engine) on a throwaway SQLite database,
fills it as a small team's night would (the on-call file of tests/fixtures, an Alertmanager
integration with firing alerts, a P1 being paged with its checklist begun, a P2 and a P3),
then drives Debian's Chromium (/usr/bin/chromium, never a downloaded browser) over the
dashboard, the incident room, on-call and alerts, at desktop (1280 px) and phone (375 px)
width, saving one PNG each.
"""

from __future__ import annotations

import signal
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

from bench.common import (
    REPO,
    TOCSIN,
    console_session,
    create_token,
    free_port,
    stop_process,
    tocsin_env,
)
from bench.common import wait_healthy as _wait_healthy

OUT = REPO / "docs" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
WIDTHS = {"desktop": (1280, 900), "phone": (375, 812)}


def _serve(workdir: Path) -> tuple[str, str, subprocess.Popen[bytes]]:
    env = tocsin_env(f"sqlite:///{workdir}/tocsin.db", workdir) | {
        "TOCSIN_POLICY": "default",
        "TOCSIN_ENGINE_INTERVAL": "0.5",
    }
    token = create_token(env, role="admin", name="night-shift")
    port = free_port()
    log = workdir / "serve.log"
    args = [str(TOCSIN), "serve", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    _wait_healthy(base, process, log)
    return base, token, process


def _alerts() -> dict[str, object]:
    rows = [
        ("DiskFull", "checkout", "Disk 95% full on db-1", "critical"),
        ("HighLatency", "checkout", "p99 latency 2.4 s on /pay", "warning"),
        ("ErrorRate", "search", "5xx rate 7% on search-api", "critical"),
    ]
    return {
        "version": "4",
        "status": "firing",
        "receiver": "tocsin",
        "groupKey": "screens",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": name, "service": service, "severity": severity},
                "annotations": {"summary": summary, "runbook_url": "https://runbooks.example/x"},
                "startsAt": "2026-12-03T02:58:00Z",
                "fingerprint": name,
            }
            for name, service, summary, severity in rows
        ],
    }


def _seed(base: str, token: str) -> str:
    api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    oncall = (REPO / "tests" / "fixtures" / "oncall.yaml").read_text()
    api.post("/api/v1/oncall/apply", json={"text": oncall}).raise_for_status()
    made = api.post("/api/v1/integrations", json={"name": "prometheus", "kind": "alertmanager"})
    made.raise_for_status()
    httpx.post(made.json()["urls"]["webhook"], json=_alerts(), timeout=30).raise_for_status()
    p1 = api.post(
        "/api/v1/incidents",
        json={
            "title": "Checkout 5xx after deploy 4411",
            "severity": "P1",
            "services": ["checkout"],
            "summary": "Payments failing for about 30% of carts since 02:58 UTC.",
        },
    )
    p1.raise_for_status()
    incident = str(p1.json()["id"])
    api.post(f"/api/v1/incidents/{incident}/notes", json={"text": "Rolling back 4411 now"})
    for title, severity in (("Search results slow", "P2"), ("Typo on the pricing page", "P3")):
        api.post("/api/v1/incidents", json={"title": title, "severity": severity})
    time.sleep(3)  # the engine pages the on-call engineer and tries to deliver
    return incident


def _tick(page: object, base: str, incident: str, csrf: str) -> None:
    for n in (1, 2):
        page.request.post(  # type: ignore[attr-defined]
            f"{base}/console/incidents/{incident}/checklist",
            form={
                "item": f"detection/{n}",
                "phase": "detection",
                "done": "yes",
                "csrf_token": csrf,
            },
            headers={"Origin": base},
        )


def _shoot(base: str, token: str, incident: str) -> list[Path]:
    pages = {
        "dashboard": "/console/dashboard",
        "incident-room": f"/console/incidents/{incident}",
        "oncall": "/console/oncall",
        "alerts": "/console/alerts",
    }
    OUT.mkdir(parents=True, exist_ok=True)
    saved = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox"]
        )
        for width_name, (width, height) in WIDTHS.items():
            context = browser.new_context(viewport={"width": width, "height": height})
            cookies, csrf = console_session(base, token)
            context.add_cookies(
                [{"name": k, "value": v, "url": f"{base}/console"} for k, v in cookies.items()]
            )
            page = context.new_page()
            if width_name == "desktop":
                _tick(page, base, incident, csrf)
            for name, path in pages.items():
                page.goto(base + path)
                page.wait_for_timeout(300)
                target = OUT / f"{name}-{width_name}.png"
                page.screenshot(path=str(target), full_page=width_name == "desktop")
                saved.append(target)
            context.close()
        browser.close()
    return saved


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="tocsin-screens-") as directory:
        base, token, process = _serve(Path(directory))
        try:
            incident = _seed(base, token)
            for path in _shoot(base, token, incident):
                print(path.relative_to(REPO))
        finally:
            stop_process(process, signal_first=signal.SIGINT)


if __name__ == "__main__":
    main()
