"""The sources an import can read, each as: connect, load (fetch and map), on-call periods."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from tocsin.importers import grafana_oncall, opsgenie, pagerduty
from tocsin.importers.http import VendorApi
from tocsin.importers.model import Imported, Period, Progress
from tocsin.oncall.config import OnCallConfig


@dataclass(frozen=True)
class Connection:
    credential: str
    region: str | None = None
    base_url: str | None = None
    grafana_url: str | None = None  # Grafana OnCall with a service account token


@dataclass(frozen=True)
class Vendor:
    name: str
    title: str
    connect: Callable[[Connection, Progress], VendorApi]
    load: Callable[[VendorApi, OnCallConfig, datetime], Imported]
    on_call: Callable[[VendorApi, str, datetime, datetime], list[Period]]


def _opsgenie(connection: Connection, progress: Progress) -> VendorApi:
    return opsgenie.api(
        connection.credential,
        region=connection.region or "us",
        base_url=connection.base_url,
        progress=progress,
    )


def _opsgenie_load(client: VendorApi, current: OnCallConfig, now: datetime) -> Imported:
    return opsgenie.mapped(opsgenie.fetch(client), current, now)


def _pagerduty(connection: Connection, progress: Progress) -> VendorApi:
    return pagerduty.api(connection.credential, base_url=connection.base_url, progress=progress)


def _pagerduty_load(client: VendorApi, current: OnCallConfig, now: datetime) -> Imported:
    return pagerduty.mapped(pagerduty.fetch(client, now), current, now)


def _grafana(connection: Connection, progress: Progress) -> VendorApi:
    return grafana_oncall.api(
        connection.credential,
        base_url=connection.base_url,
        grafana_url=connection.grafana_url,
        progress=progress,
    )


def _grafana_load(client: VendorApi, current: OnCallConfig, now: datetime) -> Imported:
    return grafana_oncall.mapped(grafana_oncall.fetch(client), current, now)


VENDORS: dict[str, Vendor] = {
    "opsgenie": Vendor("opsgenie", "Opsgenie", _opsgenie, _opsgenie_load, opsgenie.on_call),
    "pagerduty": Vendor("pagerduty", "PagerDuty", _pagerduty, _pagerduty_load, pagerduty.on_call),
    "grafana-oncall": Vendor(
        "grafana-oncall", "Grafana OnCall", _grafana, _grafana_load, grafana_oncall.on_call
    ),
}
