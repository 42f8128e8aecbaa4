"""Importing a realistic Grafana OnCall organisation from a stand-in of its API (both databases)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from tests.importers.grafana_oncall_standin import TOKEN, GrafanaOnCall
from tests.importers.standin import StandIn, serving
from tocsin.alerts import integrations
from tocsin.db import Database
from tocsin.importers import grafana_oncall, plan, verify
from tocsin.oncall.export import current_config
from tocsin.oncall.models import EscalationPolicy

NOW = datetime(2026, 10, 22, tzinfo=UTC)
PAYMENTS_TOKEN = "n7Qx2LkP9vRt4WmZ8bYc3HdFs"  # in its Grafana Alerting integration's URL
PLATFORM_TOKEN = "Jf4Tq8Rm2Xw6Pz9Lb3Nk7Vh5C"  # in its Alertmanager integration's URL


@pytest.fixture
def standin() -> Iterator[StandIn]:
    with serving(GrafanaOnCall()) as running:
        yield running


def run(database: Database, standin: StandIn, *, apply: bool) -> plan.Outcome:
    with database.read_session() as session:
        current = current_config(session)
    api = grafana_oncall.api(TOKEN, base_url=standin.url)
    try:
        imported = grafana_oncall.mapped(grafana_oncall.fetch(api), current, NOW)
    finally:
        api.close()
    return plan.run(database, imported, apply=apply)


def parity(database: Database, standin: StandIn) -> verify.Parity:
    api = grafana_oncall.api(TOKEN, base_url=standin.url)
    try:
        with database.read_session() as session:
            return verify.compare(
                session,
                "grafana-oncall",
                lambda ident, a, b: grafana_oncall.on_call(api, ident, a, b),
                NOW,
            )
    finally:
        api.close()


def test_plan_apply_rerun_and_parity(database: Database, standin: StandIn) -> None:
    planned = run(database, standin, apply=False)
    left = "\n".join(str(item) for item in planned.left_out)
    assert "person bob: notification rule notify_by_sms" in left
    assert "schedule Legacy rota: its shifts come from an external iCal calendar" in left
    assert "integration Deploy webhook (webhook)" in left
    assert "integration Payments Grafana Alerting: route" in left
    assert "notify_person_next_each_time at 90s" in left
    first = run(database, standin, apply=True)
    assert len([c for c in first.changes if c.startswith("created person")]) == 12
    assert len([c for c in first.changes if c.startswith("created integration")]) == 3
    assert run(database, standin, apply=True).changes == []
    with database.read_session() as session:
        payments = integrations.by_key(session, PAYMENTS_TOKEN)
        platform = integrations.by_key(session, PLATFORM_TOKEN)
        assert payments is not None and (payments.kind, payments.service) == (
            "grafana",
            "payments-grafana-alerting",
        )
        assert platform is not None and platform.kind == "alertmanager"
    checked = parity(database, standin)
    assert checked.schedules == ["mobile", "payments-primary", "platform", "platform-evenings"]
    assert checked.differences == []


def test_escalation_waits_add_up_exactly(database: Database, standin: StandIn) -> None:
    run(database, standin, apply=True)
    with database.read_session() as session:
        policies = {p.handle: p for p in session.scalars(select(EscalationPolicy))}
    payments = policies["payments"]
    assert [(s["after_s"], s["targets"]) for s in payments.steps] == [
        (0, ["schedule:payments-primary"]),
        (240, ["person:dan"]),
        (780, ["team:payments"]),
    ]
    assert (payments.repeat, payments.repeat_after_s) == (5, 300)
    assert [s["after_s"] for s in policies["mobile"].steps] == [0, 1890]
    assert policies["platform"].steps[0]["targets"] == [
        "schedule:platform",
        "schedule:platform-evenings",
    ]


def test_rotations_become_layers_by_level(database: Database, standin: StandIn) -> None:
    run(database, standin, apply=True)
    with database.read_session() as session:
        config = current_config(session)
    schedules = {s.handle: s for s in config.schedules}
    platform = schedules["platform"]
    assert platform.timezone == "UTC"  # web rotations hand over at fixed UTC times
    assert [layer.name for layer in platform.layers] == ["platform-daily", "business-hours"]
    daily, business = platform.layers
    assert daily.rotation.participants == ["grace", "heidi", "erin", "frank"]
    assert [(r.days, r.start.isoformat(), r.end.isoformat()) for r in business.restrictions] == [
        ([0, 1, 2, 3, 4], "07:00:00", "15:00:00")
    ]
    assert [o.person for o in platform.overrides] == ["erin"]
    assert schedules["mobile"].timezone == "America/New_York"
    alice = next(p for p in config.people if p.handle == "alice")
    assert [(r.method, r.after) for r in alice.notification_rules] == [
        ("slack", "0m"),
        ("email", "1m"),
    ]


def test_paging_and_rate_limits(database: Database, standin: StandIn) -> None:
    run(database, standin, apply=False)
    pages = [r.param("page", "1") for r in standin.seen if r.path == "/api/v1/users/"]
    assert pages == ["1", "2", "3"]
    assert len([r for r in standin.seen if r.path == "/api/v1/teams/"]) == 2


def with_continuous_rotation_in_new_york() -> GrafanaOnCall:
    """The organisation plus a calendar schedule whose weekly turns span the DST change."""
    oncall = GrafanaOnCall()
    users = {u["username"]: u["id"] for u in oncall.org["users"]}
    oncall.org["schedules"].append(
        {
            "id": "SPAYSCND7H3M1",
            "team_id": "TPAY7Q2K9M4XW",
            "name": "Payments secondary",
            "type": "calendar",
            "time_zone": "America/New_York",
            "slack": {"channel_id": None, "user_group_id": None},
            "on_call_now": [],
            "shifts": ["OPAYSCND2W8K4"],
            "ical_url_overrides": None,
            "enable_web_overrides": False,
        }
    )
    oncall.org["on_call_shifts"].append(
        {
            "id": "OPAYSCND2W8K4",
            "team_id": "TPAY7Q2K9M4XW",
            "schedule": "SPAYSCND7H3M1",
            "name": "Secondary weekly",
            "type": "rolling_users",
            "time_zone": None,
            "level": 0,
            "start": "2026-10-05T09:00:00",
            "duration": 604800,
            "rotation_start": "2026-10-05T09:00:00",
            "frequency": "weekly",
            "interval": 1,
            "until": None,
            "week_start": "MO",
            "by_day": None,
            "by_month": None,
            "by_monthday": None,
            "rolling_users": [[users["dan"]], [users["carol"]]],
            "start_rotation_from_user_index": 0,
        }
    )
    return oncall


def test_exact_turns_across_dst_are_predicted_and_verified(database: Database) -> None:
    """OnCall's turns last exactly 168 hours, so on 2026-11-02 (New York back to EST) the turn
    ends at 08:00 and nobody is on call until the next starts at 09:00. Tocsin hands over at
    09:00 on the wall clock: the plan says so, and verify finds exactly that hour."""
    with serving(with_continuous_rotation_in_new_york()) as standin:
        planned = run(database, standin, apply=True)
        notes = [str(n) for n in planned.left_out if "at the DST change" in str(n)]
        assert notes == [
            "schedule payments-secondary: rotation 'Secondary weekly' at the DST change of "
            "2026-11-02: OnCall makes every turn exactly 168 hours long, so the turn that spans "
            "the change ends at 08:00, not at 09:00 (America/New_York): nobody is on call in it "
            "from 2026-11-02 13:00Z to 14:00Z in OnCall; Tocsin hands over on the wall clock. "
            "Instead: nothing to do; `tocsin import verify` lists those hours as differences"
        ]
        found = parity(database, standin)
    assert [str(d) for d in found.differences] == [
        "payments-secondary at 2026-11-02 13:00Z: source nobody, Tocsin carol"
    ]


def test_a_service_account_token_imports_all_but_the_personal_rules(database: Database) -> None:
    with serving(GrafanaOnCall(user_token=False)) as standin:
        planned = run(database, standin, apply=True)
    left = "\n".join(str(item) for item in planned.left_out)
    assert "personal notification rules: this token may not read them" in left
    assert "403" in left
    with database.read_session() as session:
        alice = next(p for p in current_config(session).people if p.handle == "alice")
    # Every contact method at once, as Tocsin does for a person without rules.
    assert [(r.method, r.after) for r in alice.notification_rules] == [
        ("email", "0m"),
        ("slack", "0m"),
    ]
