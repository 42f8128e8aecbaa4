"""The policy's alert routing: ordered rules that map an alert to a service, a severity and
an action (page, notify, ticket or ignore), plus how alerts are grouped into incidents."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer

from tocsin.policy.durations import Duration, DurationKind, parse_duration

RouteAction = Literal["page", "notify", "ticket", "ignore"]
# Fields an alert can be matched on besides its labels.
MATCH_FIELDS = ("source_severity", "integration", "integration_kind", "service")


def _calendar_duration(value: object) -> Duration:
    parsed = parse_duration(value)  # type: ignore[arg-type]
    if parsed is None or parsed.kind is not DurationKind.CALENDAR:
        raise ValueError("give calendar time, e.g. 30m or 2h")
    return parsed


GroupWindow = Annotated[Duration, BeforeValidator(_calendar_duration), PlainSerializer(str)]


def _delay(value: object) -> Duration:
    parsed = parse_duration(value)  # type: ignore[arg-type]
    if parsed is None or parsed.kind not in (DurationKind.CALENDAR, DurationKind.IMMEDIATE):
        raise ValueError("the delay is calendar time, e.g. 30s or 1m (0m: at once)")
    return parsed


Delay = Annotated[Duration, BeforeValidator(_delay), PlainSerializer(str)]


class RoutingRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    match: dict[str, str | list[str]] = Field(
        default_factory=dict,
        description="Label or field -> value (or list of values); all must match. Fields: "
        + ", ".join(MATCH_FIELDS)
        + "; any other key is a label.",
    )
    service: str | None = None
    severity: str | None = Field(default=None, description="A severity id of this policy.")
    action: RouteAction = "page"
    group_by: list[str] | None = Field(
        default=None, description="Labels whose values make the group (overrides routing)."
    )
    notify: list[str] = Field(
        default_factory=list,
        description="Audiences told about each new alert the rule matches: the channel a "
        "`notify` alert goes to, the ticket system a `ticket` alert goes to, or those told as "
        "well as paging (seed 004: high alerts to a Slack channel and email).",
    )


class Routing(BaseModel):
    model_config = ConfigDict(extra="forbid")

    group_window: GroupWindow = Field(default_factory=lambda: _calendar_duration("1h"))
    group_by: list[str] = Field(
        default_factory=lambda: ["alertname"],
        description="Labels that group alerts when the sender gives no group key of its own.",
    )
    joined_notice_after: Delay = Field(
        default_factory=lambda: _delay("1m"),
        description="When alerts join an acknowledged incident, how long to wait for more "
        "before the acknowledger and the commander are told how many joined, in one message.",
    )
    changes_lookback: GroupWindow = Field(
        default_factory=lambda: _calendar_duration("4h"),
        description="How long before an incident's impact began a change event (a deploy) "
        "is still shown on it.",
    )
    rules: list[RoutingRule] = Field(default_factory=list)
    default_rules: bool = Field(
        default=True,
        description="After the policy's rules, apply Tocsin's defaults: critical and error "
        "page, warning notifies, info makes a ticket.",
    )
