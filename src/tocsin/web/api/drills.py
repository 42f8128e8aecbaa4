"""HTTP routes for drills: the programme (what is due, what is overdue), holding a drill and
ending it. Thin: parse, call the flow, shape the answer."""

from __future__ import annotations

from fastapi import APIRouter

from tocsin.flows import drills as drill_flows
from tocsin.reviews import drills
from tocsin.reviews.drill_schemas import (
    DrillEndIn,
    DrillOut,
    DrillsOut,
    DrillStartIn,
    DueOut,
    RunbookReviewIn,
)
from tocsin.web.deps import PathId, Reader, ReadSession, Responder, RuntimeDep

router = APIRouter(prefix="/api/v1/drills", tags=["drills"])


@router.get("", summary="The drill programme: what was held, what is due, what is overdue")
def list_drills(session: ReadSession, runtime: RuntimeDep, _principal: Reader) -> DrillsOut:
    policy = runtime.policy.policy
    return DrillsOut(
        programme=[DueOut.of(d) for d in drills.programme(session, policy)],
        held=[DrillOut.of(d) for d in drills.held(session)],
    )


@router.post("", status_code=201, summary="Start a drill: declare a drill incident")
def start_drill(body: DrillStartIn, runtime: RuntimeDep, principal: Responder) -> DrillOut:
    with runtime.database.write_session() as session:
        started = drill_flows.start(
            session,
            loaded=runtime.policy,
            scenario=body.scenario,
            title=body.title,
            severity=body.severity,
            services=body.services,
            drill=body.drill,
            actor=principal.name,
            sending=runtime.sending,
        )
        return DrillOut.of(started.drill)


@router.get("/{drill_id}", summary="Read one drill")
def read_drill(drill_id: PathId, session: ReadSession, _principal: Reader) -> DrillOut:
    return DrillOut.of(drills.get(session, drill_id))


@router.post("/{drill_id}/end", summary="End a drill with its outcome and lessons")
def end_drill(
    drill_id: PathId, body: DrillEndIn, runtime: RuntimeDep, principal: Responder
) -> DrillOut:
    with runtime.database.write_session() as session:
        row = drill_flows.end(
            session,
            loaded=runtime.policy,
            drill_id=drill_id,
            outcome=body.outcome,
            lessons=body.lessons,
            actor=principal.name,
        )
        return DrillOut.of(row)


@router.post("/runbook-review", status_code=201, summary="Record that the runbook was reviewed")
def runbook_reviewed(
    body: RunbookReviewIn, runtime: RuntimeDep, principal: Responder
) -> DueOut | None:
    with runtime.database.write_session() as session:
        drills.runbook_reviewed(
            session, policy=runtime.policy.policy, actor=principal.name, note=body.note
        )
        found = [
            d
            for d in drills.programme(session, runtime.policy.policy)
            if d.kind == "runbook_review"
        ]
        return DueOut.of(found[0]) if found else None
