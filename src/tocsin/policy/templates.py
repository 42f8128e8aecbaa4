"""Message templates: the variables a policy's templates may use, checking them, and the
built-in texts used where a policy names no template of its own.

Templates are Jinja2 (`{{ incident.id }}`, `{% if fields.eta %}`), rendered in a sandbox by
tocsin.comms.templates. This module is pure: it parses templates to check them, it renders
nothing. `tocsin policy check` fails on a variable that is not in `VARIABLES`, so a typo such
as `{{ incident.severty }}` is caught when the policy is written, not at 3 a.m.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from jinja2 import TemplateSyntaxError, nodes
from jinja2.sandbox import SandboxedEnvironment


@dataclass(frozen=True)
class Variable:
    description: str
    attributes: dict[str, str] | None = None  # None: anything goes (free-form fields)


INCIDENT_ATTRIBUTES = {
    "id": "the incident's id, e.g. INC-2026-11-22-01",
    "title": "its title",
    "summary": "its summary",
    "severity": "its severity id, e.g. P0",
    "severity_name": "the policy's name for the severity, e.g. Critical",
    "status": "investigating, identified, monitoring, resolved or closed",
    "type": "its type id, or empty",
    "type_name": "the policy's name for its type, or empty",
    "services": "the affected services, comma-separated",
    "service": "the first affected service (or 'our service')",
    "flags": "the flags set, comma-separated",
    "roles": "who holds each role, e.g. 'commander: dana, scribe: lee'",
    "commander": "who holds the commander role, or empty",
    "declared_at": "when it was declared (UTC, 2026-11-22 09:12)",
    "detected_at": "when it was detected (UTC)",
    "impact_started_at": "when the impact began (UTC), or empty",
    "started_at": "when the impact began, else when it was detected (UTC)",
    "acknowledged_at": "when it was acknowledged (UTC), or empty",
    "mitigated_at": "when it was mitigated (UTC), or empty",
    "resolved_at": "when it was resolved (UTC), or empty",
    "duration": "how long it has lasted (or lasted), e.g. '1 h 12 min'",
    "url": "its page in the console",
}
UPDATE_ATTRIBUTES = {
    "number": "this update's number (1 for the first update)",
    "message": "the update's text, as the communications lead wrote it",
    "timestamp": "when it was published (UTC)",
    "status": "the incident's status when it was published",
    "next_update_at": "when the next update is due (UTC), or empty",
    "next_update_minutes": "minutes until the next update is due, or empty",
}
STAGE_ATTRIBUTES = {"id": "the communication stage's id", "name": "its name"}
CLOCK_ATTRIBUTES = {
    "kind": "the clock's kind (acknowledge, update, resolve, comms, review, regulatory:gdpr ...)",
    "key": "the clock's key",
    "label": "what it asks, e.g. 'Acknowledge within 15 minutes'",
    "due_at": "when it is due (UTC)",
    "minutes_left": "minutes until it is due (0 once due)",
    "state": "pending, met, breached, fired or failed",
}
POLICY_ATTRIBUTES = {"name": "the policy's name", "title": "the policy's title"}

VARIABLES: dict[str, Variable] = {
    "incident": Variable("the incident", INCIDENT_ATTRIBUTES),
    "update": Variable("the update being published (update templates)", UPDATE_ATTRIBUTES),
    "fields": Variable(
        "free-form values given when sending (impact, eta, scope, resolution, root_cause, "
        "prevention, next_steps, ...): `--field impact='EU checkout down'`",
    ),
    "stage": Variable("the communication stage being sent", STAGE_ATTRIBUTES),
    "clock": Variable("the clock a reminder or breach notice is about", CLOCK_ATTRIBUTES),
    "policy": Variable("the policy in force", POLICY_ATTRIBUTES),
    "service": Variable("the first affected service (or 'our service')"),
    "next_update_minutes": Variable("minutes until the next update is due, or empty"),
    "next_update_at": Variable("when the next update is due (UTC), or empty"),
    "updates_channel": Variable("where updates are posted (the policy's incident channel)"),
    "bridge": Variable("the conference bridge link, or empty"),
    "status_page": Variable("the public status page's address, or empty"),
    "drill": Variable("true when the incident is a drill"),
    "now": Variable("the time of sending (UTC)"),
}

# The loop variable and Jinja's own names are fine; everything else must be documented.
_ALLOWED_EXTRA = frozenset({"loop", "range", "true", "false", "none"})
_PARSER = SandboxedEnvironment(autoescape=False)


def problems(text: str) -> list[str]:
    """What is wrong with a template: a syntax error, or a variable it may not use."""
    try:
        tree = _PARSER.parse(text)
    except TemplateSyntaxError as exc:
        return [f"template syntax error on line {exc.lineno}: {exc.message}"]
    return list(dict.fromkeys(_unknown(tree)))


def _unknown(tree: nodes.Template) -> Iterator[str]:
    assigned = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    for node in tree.find_all(nodes.Name):
        name = node.name
        if node.ctx != "load" or name in assigned or name in _ALLOWED_EXTRA:
            continue
        if name not in VARIABLES:
            yield f"unknown variable {name!r}; allowed: {', '.join(VARIABLES)}"
    for attribute in tree.find_all(nodes.Getattr):
        yield from _unknown_attribute(attribute)


def _unknown_attribute(node: nodes.Getattr) -> Iterator[str]:
    if not isinstance(node.node, nodes.Name):
        return
    variable = VARIABLES.get(node.node.name)
    if variable is None or variable.attributes is None:
        return
    if node.attr not in variable.attributes:
        allowed = ", ".join(variable.attributes)
        yield f"unknown variable {node.node.name}.{node.attr}; {node.node.name} has: {allowed}"


def variables_used(text: str) -> list[str]:
    """`incident.id`-style names used, in first-seen order (for the rendered runbook)."""
    try:
        tree = _PARSER.parse(text)
    except TemplateSyntaxError:
        return []
    found: list[str] = []
    attributed: set[int] = set()
    for attribute in tree.find_all(nodes.Getattr):
        if isinstance(attribute.node, nodes.Name):
            found.append(f"{attribute.node.name}.{attribute.attr}")
            attributed.add(id(attribute.node))
    for name in tree.find_all(nodes.Name):
        if name.ctx == "load" and id(name) not in attributed and name.name not in _ALLOWED_EXTRA:
            found.append(name.name)
    return list(dict.fromkeys(found))


# -- built-in texts, used where the policy names no template --------------------------------


@dataclass(frozen=True)
class Builtin:
    subject: str
    body: str


NOTICE = Builtin(
    subject="[{{ incident.severity }}] {{ incident.id }}: {{ incident.title }}",
    body=(
        "{% if drill %}DRILL - this is an exercise.\n\n{% endif %}"
        "{{ incident.severity }} ({{ incident.severity_name }}) incident {{ incident.id }}: "
        "{{ incident.title }}\n"
        "{% if incident.summary %}\n{{ incident.summary }}\n{% endif %}"
        "\nStatus: {{ incident.status }}\n"
        "{% if incident.services %}Services: {{ incident.services }}\n{% endif %}"
        "{% if incident.commander %}Commander: {{ incident.commander }}\n{% endif %}"
        "Declared: {{ incident.declared_at }} UTC\n"
        "{% if bridge %}Bridge: {{ bridge }}\n{% endif %}"
        "Details: {{ incident.url }}\n"
    ),
)
UPDATE = Builtin(
    subject="[{{ incident.severity }}] {{ incident.id }} update: {{ incident.title }}",
    body=(
        "{% if drill %}DRILL - this is an exercise.\n\n{% endif %}"
        "Update #{{ update.number }} on {{ incident.id }} ({{ incident.status }}):\n\n"
        "{{ update.message }}\n\n"
        "{% if update.next_update_at %}Next update by {{ update.next_update_at }} UTC.\n"
        "{% endif %}"
        "{% if bridge %}Bridge: {{ bridge }}\n{% endif %}"
        "Details: {{ incident.url }}\n"
    ),
)
REMINDER = Builtin(
    subject="Due in {{ clock.minutes_left }} min: {{ clock.label }} ({{ incident.id }})",
    body=(
        "{% if drill %}DRILL - this is an exercise.\n\n{% endif %}"
        "{{ clock.label }} for {{ incident.id }} ({{ incident.severity }}: {{ incident.title }})"
        " is due at {{ clock.due_at }} UTC, in {{ clock.minutes_left }} minutes.\n\n"
        "Details: {{ incident.url }}\n"
    ),
)
BREACH = Builtin(
    subject="Missed: {{ clock.label }} ({{ incident.id }})",
    body=(
        "{% if drill %}DRILL - this is an exercise.\n\n{% endif %}"
        "{{ clock.label }} for {{ incident.id }} ({{ incident.severity }}: {{ incident.title }})"
        " was due at {{ clock.due_at }} UTC and has not been done.\n\n"
        "Details: {{ incident.url }}\n"
    ),
)
STARTED = Builtin(
    subject="Started: {{ clock.label }} ({{ incident.id }})",
    body=(
        "{% if drill %}DRILL - this is an exercise.\n\n{% endif %}"
        "{{ incident.id }} ({{ incident.severity }}: {{ incident.title }}) now owes: "
        "{{ clock.label }}, due {{ clock.due_at }} UTC.\n\n"
        "Mark it done with `tocsin incident complete {{ incident.id }} {{ clock.key }}` once "
        "the notice is filed.\n\nDetails: {{ incident.url }}\n"
    ),
)
PROMPT = Builtin(
    subject="Send now: {{ stage.name }} ({{ incident.id }})",
    body=(
        "{% if drill %}DRILL - this is an exercise.\n\n{% endif %}"
        'The communication stage "{{ stage.name }}" of {{ incident.id }} '
        "({{ incident.severity }}: {{ incident.title }}) is yours to send"
        "{% if clock.due_at %}, by {{ clock.due_at }} UTC{% endif %}.\n\n"
        "Send it with `tocsin incident comms {{ incident.id }} --send {{ stage.id }}` or from "
        "the incident's page: {{ incident.url }}\n"
    ),
)
UNREACHED = Builtin(
    subject="Reached nobody: {{ fields.about }}",
    body=(
        "{% if drill %}DRILL - this is an exercise.\n\n{% endif %}"
        "Tocsin could not reach anyone for {{ incident.id }} ({{ incident.severity }}: "
        "{{ incident.title }}):\n\n{{ fields.problem }}\n\nDetails: {{ incident.url }}\n"
    ),
)
JOINED = Builtin(
    subject=(
        "{{ fields.count }} new alert{% if fields.count != 1 %}s{% endif %} joined "
        "{{ incident.id }}: {{ incident.title }}"
    ),
    body=(
        "{% if drill %}DRILL - this is an exercise.\n\n{% endif %}"
        "{{ fields.count }} new alert{% if fields.count != 1 %}s{% endif %} joined "
        "{{ incident.id }} ({{ incident.severity }}: {{ incident.title }}) after "
        "{{ fields.acknowledged_by }} acknowledged it:\n\n{{ fields.alerts }}\n\n"
        "Status: {{ incident.status }}\n"
        "Details: {{ incident.url }}\n"
    ),
)
WATCH_ALERTED = Builtin(
    subject="New alerts during the watch: {{ clock.label }} ({{ incident.id }})",
    body=(
        "{% if drill %}DRILL - this is an exercise.\n\n{% endif %}"
        "{{ clock.label }} for {{ incident.id }} ({{ incident.severity }}: {{ incident.title }})"
        " ended at {{ clock.due_at }} UTC, and the incident's services raised new alerts after"
        " the release. Look at them before calling the incident contained.\n\n"
        "Details: {{ incident.url }}\n"
    ),
)
BUILTINS = {
    "notice": NOTICE,
    "update": UPDATE,
    "reminder": REMINDER,
    "breach": BREACH,
    "started": STARTED,
    "prompt": PROMPT,
    "unreached": UNREACHED,
    "joined": JOINED,
    "watch_alerted": WATCH_ALERTED,
}
