"""Route an alert by the policy's rules (pure: no database)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from tocsin.alerts.normalized import IncomingAlert
from tocsin.policy.routing import Routing, RoutingRule
from tocsin.policy.schema import Policy

# How senders spell severity, mapped onto PagerDuty's four.
SEVERITY_WORDS = {
    "critical": "critical",
    "crit": "critical",
    "page": "critical",
    "fatal": "critical",
    "emergency": "critical",
    "disaster": "critical",
    "p1": "critical",
    "error": "error",
    "high": "error",
    "major": "error",
    "p2": "error",
    "warning": "warning",
    "warn": "warning",
    "minor": "warning",
    "medium": "warning",
    "average": "warning",
    "p3": "warning",
    "info": "info",
    "informational": "info",
    "low": "info",
    "none": "info",
    "ok": "info",
    "p4": "info",
    "p5": "info",
}


def source_severity(word: str | None) -> str | None:
    return SEVERITY_WORDS.get(word.strip().lower()) if word else None


@dataclass(frozen=True)
class Route:
    """What the first matching rule decided. `group_by` is the rule's own (it overrides the
    sender's grouping); `default_group_by` is the routing's, for kinds that group by labels
    when the sender gives no group."""

    action: str
    severity: str
    service: str | None
    rule: str
    group_by: tuple[str, ...]
    default_group_by: tuple[str, ...] = ()
    notify: tuple[str, ...] = ()  # audiences told about each new alert (the rule's `notify`)


def _default_rules(policy: Policy) -> list[RoutingRule]:
    """critical pages at the top of the ladder, error one below, warning notifies, info tickets."""
    ladder = policy.severity_ids()

    def rung(index: int) -> str:
        return ladder[min(index, len(ladder) - 1)]

    return [
        RoutingRule(
            name="default: critical pages",
            match={"source_severity": "critical"},
            severity=rung(0),
            action="page",
        ),
        RoutingRule(
            name="default: error pages",
            match={"source_severity": "error"},
            severity=rung(1),
            action="page",
        ),
        RoutingRule(
            name="default: warning notifies",
            match={"source_severity": "warning"},
            severity=rung(2),
            action="notify",
        ),
        RoutingRule(
            name="default: info makes a ticket",
            match={"source_severity": "info"},
            severity=rung(len(ladder) - 1),
            action="ticket",
        ),
        RoutingRule(name="default: unknown severity notifies", severity=rung(2), action="notify"),
    ]


def _value_of(key: str, alert: IncomingAlert, context: Mapping[str, str | None]) -> str | None:
    if key == "source_severity":
        return alert.source_severity
    if key == "service":
        return alert.service or context.get("service")
    if key in context:
        return context[key]
    return alert.labels.get(key)


def _matches(rule: RoutingRule, alert: IncomingAlert, context: Mapping[str, str | None]) -> bool:
    for key, wanted in rule.match.items():
        value = _value_of(key, alert, context)
        allowed = wanted if isinstance(wanted, list) else [wanted]
        if value not in allowed:
            return False
    return True


def rules_of(policy: Policy, routing: Routing) -> list[RoutingRule]:
    """The policy's rules, then (unless turned off) Tocsin's defaults. Built once per policy:
    routing is on the ingest hot path."""
    key = id(policy)
    cached = _RULES.get(key)
    if cached is None or cached[0] is not policy:
        extra = _default_rules(policy) if routing.default_rules else []
        cached = (policy, [*routing.rules, *extra])
        _RULES[key] = cached
    return cached[1]


_RULES: dict[int, tuple[Policy, list[RoutingRule]]] = {}


def route(
    policy: Policy, routing: Routing, alert: IncomingAlert, context: Mapping[str, str | None]
) -> Route:
    """The first matching rule decides. `context` holds integration, integration_kind and the
    integration's default service."""
    for index, rule in enumerate(rules_of(policy, routing)):
        if _matches(rule, alert, context):
            return Route(
                action=rule.action,
                severity=rule.severity or policy.severity_ids()[-1],
                service=rule.service or alert.service or context.get("service"),
                rule=rule.name or f"rules[{index}]",
                group_by=tuple(rule.group_by or ()),
                default_group_by=tuple(routing.group_by),
                notify=tuple(rule.notify),
            )
    # Only reachable with default_rules off and no rule matching: keep it, bother nobody.
    return Route("ticket", policy.severity_ids()[-1], alert.service, "unmatched", ())


class Router:
    """`route()` for one delivery, remembering decisions: a rule only looks at a few fields,
    so a storm of alerts that differ in, say, `instance` is routed once, not once per alert."""

    def __init__(self, policy: Policy, context: Mapping[str, str | None]) -> None:
        self.policy, self.context = policy, context
        self.routing = policy.routing
        rules = rules_of(policy, self.routing)
        self._fields = tuple(sorted({key for rule in rules for key in rule.match}))
        self._decided: dict[tuple[str | None, ...], Route] = {}

    def route(self, alert: IncomingAlert) -> Route:
        # The service feeds the decision even when no rule matches on it (Route.service).
        key = (alert.service, *(_value_of(f, alert, self.context) for f in self._fields))
        decided = self._decided.get(key)
        if decided is None:
            decided = self._decided[key] = route(self.policy, self.routing, alert, self.context)
        return decided


GROUP_KEY_LIMIT = 500  # the group_key columns' length


def group_key(alert: IncomingAlert, route_: Route, integration_id: int, *, by_labels: bool) -> str:
    """The alert's group, always within its integration (two integrations never share one):

    1. a routing rule's own `group_by`: the values of those labels (and the service);
    2. else the sender's group (Alertmanager's and Grafana's groupKey, PagerDuty's
       `payload.group`, Opsgenie's entity, the generic `group_key`);
    3. else, for kinds that group by labels (`by_labels`: Alertmanager, Grafana, generic), the
       routing's `group_by` labels;
    4. else the alert alone (PagerDuty: one alert per dedup key).

    Labels the alert does not carry never make a group: an alert with none of them falls
    through to the next step rather than joining every other alert without them."""
    scope = f"{integration_id}:"
    by_rule = _label_group(alert, route_, route_.group_by)
    if by_rule is not None:
        return _bounded(scope + by_rule)
    if alert.group_key:
        return _bounded(f"{scope}group:{alert.group_key}")
    if by_labels:
        by_routing = _label_group(alert, route_, route_.default_group_by)
        if by_routing is not None:
            return _bounded(scope + by_routing)
    return _bounded(f"{scope}alert:{alert.dedup_key}")


def _label_group(alert: IncomingAlert, route_: Route, labels: tuple[str, ...]) -> str | None:
    present = [k for k in labels if alert.labels.get(k)]
    if not present:
        return None
    values = ",".join(f"{k}={alert.labels[k]}" for k in present)
    return f"labels:{route_.service or '-'}:{values}"


def _bounded(key: str) -> str:
    """Keys fit the column: a long one keeps its start and ends in a digest of the whole."""
    if len(key) <= GROUP_KEY_LIMIT:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()
    return f"{key[: GROUP_KEY_LIMIT - len(digest) - 1]}~{digest}"
