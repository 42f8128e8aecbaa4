"""The intake kinds: one module per kind (its wire format parsed into `IncomingAlert`s, pure)
and one table, `KINDS`, that everything listing kinds reads: the kind column's values and
their validation, the URLs `tocsin integration create` prints, the CLI's `--kind` choices and
help, the plain webhook routes, and (by hand, checked by tests) docs/alerts.md and the README.

A new kind is a module here, a row in KINDS and, unless it is a plain webhook, its routes in
`tocsin.web.api`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from tocsin.alerts.kinds import alertmanager, generic, grafana
from tocsin.alerts.normalized import IncomingAlert


class Auth(StrEnum):
    """How a sender presents the integration's key."""

    PATH = "the key in the URL path"
    ROUTING_KEY = "the key as `routing_key` in the event body"
    GENIE_KEY = "the key in the `Authorization: GenieKey <key>` header"

    def credentials(self, key: str) -> dict[str, str]:
        """What the sender needs besides the URLs (a key in the path is in them already)."""
        if self is Auth.ROUTING_KEY:
            return {"routing_key": key}
        if self is Auth.GENIE_KEY:
            return {"authorization": f"GenieKey {key}"}
        return {}


@dataclass(frozen=True)
class Kind:
    name: str
    description: str  # one line, for `tocsin integration create --help` and docs/alerts.md
    auth: Auth
    # Where a sender is pointed, by the name the create response gives each URL: a path below
    # Tocsin's base URL, with {key} where the key is part of it.
    urls: Mapping[str, str]
    # A plain webhook (key in the path, alerts in the body, Tocsin's own answer) names its
    # parser, and web.api.alerts makes its route from this row. Kinds that answer as their
    # original service does (PagerDuty, Opsgenie) or take no body (heartbeat) have routes of
    # their own.
    parse_webhook: Callable[[bytes], list[IncomingAlert]] | None = None
    # The HTTP methods its webhook takes (Grafana's contact point can send PUT).
    webhook_methods: tuple[str, ...] = ("POST",)
    # Without a group from the sender or a routing rule's group_by, do alerts group by the
    # routing's `group_by` labels (Alertmanager, Grafana, generic)? Otherwise each alert is
    # its own group, as in the original service (PagerDuty: one alert per dedup key).
    groups_by_labels: bool = False
    # Senders whose alerts may carry no severity (a label they may leave out) take a default
    # per integration; this is the one an integration of the kind starts with (None: such
    # alerts stay of unknown severity). Kinds that always say (PagerDuty's required severity,
    # Opsgenie's priority, a missed heartbeat) take none.
    takes_default_severity: bool = False
    default_severity: str | None = None

    def urls_for(self, key: str, base: str) -> dict[str, str]:
        """The create response's `urls`: where to point the sender, with which credential."""
        base = base.rstrip("/")
        urls = {name: base + path.format(key=key) for name, path in self.urls.items()}
        return urls | self.auth.credentials(key)


ALERTMANAGER = Kind(
    name="alertmanager",
    # The plain webhooks' descriptions are their routes' OpenAPI summaries too.
    description="Prometheus Alertmanager webhook (payload version 4)",
    auth=Auth.PATH,
    urls={"webhook": "/api/v1/integrations/{key}/alertmanager"},
    parse_webhook=alertmanager.parse_body,
    groups_by_labels=True,
    takes_default_severity=True,
)
PAGERDUTY = Kind(
    name="pagerduty",
    description="PagerDuty Events API v2, also Alertmanager's pagerduty_configs",
    auth=Auth.ROUTING_KEY,
    urls={"events_v2": "/v2/enqueue"},
)
GRAFANA = Kind(
    name="grafana",
    description="Grafana alerting webhook",
    auth=Auth.PATH,
    urls={"webhook": "/api/v1/integrations/{key}/grafana"},
    parse_webhook=grafana.parse_body,
    groups_by_labels=True,
    takes_default_severity=True,
    # Grafana's rules often have no severity label (its own example has none): they notify,
    # as the policy's default rules treat a warning, unless the integration says otherwise.
    default_severity="warning",
    webhook_methods=("POST", "PUT"),
)
OPSGENIE = Kind(
    name="opsgenie",
    description="Opsgenie Alert API v2: create, close and acknowledge alerts",
    auth=Auth.GENIE_KEY,
    # Opsgenie clients take the API's base URL and add /v2/alerts... themselves.
    urls={"api_url": "", "alerts": "/v2/alerts"},
)
GENERIC = Kind(
    name="generic",
    description="Generic JSON alerts",
    auth=Auth.PATH,
    urls={"webhook": "/api/v1/integrations/{key}/generic"},
    parse_webhook=generic.parse_body,
    groups_by_labels=True,
    takes_default_severity=True,
)
HEARTBEAT = Kind(
    name="heartbeat",
    description="A job pings every interval; a missed ping opens a critical alert",
    auth=Auth.PATH,
    urls={"ping": "/api/v1/heartbeats/{key}"},
)

KINDS: dict[str, Kind] = {
    kind.name: kind for kind in (ALERTMANAGER, PAGERDUTY, GRAFANA, OPSGENIE, GENERIC, HEARTBEAT)
}


def in_words() -> str:
    """The kinds' names as a sentence lists them: "alertmanager, ..., generic or heartbeat"."""
    *others, last = KINDS
    return f"{', '.join(others)} or {last}"
