"""Managing integrations: create (key shown once), list, rotate the key, delete."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from tocsin.alerts import integrations
from tocsin.alerts.schemas import IntegrationIn, IntegrationOut
from tocsin.web.deps import Admin, PathId, Reader, ReadSession, RuntimeDep

router = APIRouter(prefix="/api/v1/integrations", tags=["integrations"])


def _base(request: Request) -> str:
    return str(request.base_url)


@router.post("", status_code=201, summary="Create an integration; its key is shown only now")
def create(
    body: IntegrationIn, request: Request, runtime: RuntimeDep, principal: Admin
) -> IntegrationOut:
    with runtime.database.write_session() as session:
        integration, key = integrations.create(
            session,
            name=body.name,
            kind=body.kind,
            actor=principal.name,
            service=body.service,
            heartbeat_interval_s=body.heartbeat_interval_s,
            heartbeat_grace_s=body.heartbeat_grace_s,
            default_severity=body.default_severity,
        )
        return IntegrationOut.of(integration, key=key, base=_base(request))


@router.get("", summary="List integrations (keys are never shown again)")
def list_integrations(session: ReadSession, _principal: Reader) -> list[IntegrationOut]:
    return [IntegrationOut.of(i) for i in integrations.list_all(session)]


@router.post("/{integration_id}/rotate-key", summary="Replace the key; the old one stops at once")
def rotate_key(
    integration_id: PathId, request: Request, runtime: RuntimeDep, _principal: Admin
) -> IntegrationOut:
    with runtime.database.write_session() as session:
        integration, key = integrations.rotate_key(session, integration_id=integration_id)
        return IntegrationOut.of(integration, key=key, base=_base(request))


@router.delete("/{integration_id}", status_code=204, summary="Stop accepting this integration")
def delete(integration_id: PathId, runtime: RuntimeDep, _principal: Admin) -> Response:
    with runtime.database.write_session() as session:
        integrations.delete(session, integration_id=integration_id)
    return Response(status_code=204)
