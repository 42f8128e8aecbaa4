"""FastAPI dependencies: the runtime, database sessions and the calling principal."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Query, Request
from sqlalchemy.orm import Session

from tocsin.auth import service as auth_service
from tocsin.auth.service import Principal
from tocsin.auth.sessions import LoginLimiter
from tocsin.comms.messages import Sending
from tocsin.config import Settings
from tocsin.db import Database
from tocsin.flows import communications
from tocsin.policy.loader import LoadedPolicy


@dataclass
class Runtime:
    """What one Tocsin process holds: its settings, database and the policy in force."""

    settings: Settings
    database: Database
    policy: LoadedPolicy
    # Failed console sign-ins, per username and address (see LoginLimiter).
    login_limiter: LoginLimiter = field(default_factory=LoginLimiter)

    @property
    def sending(self) -> Sending:
        """How messages from this process are sent (links, admins, the on-call file)."""
        return communications.sending(self.settings)


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


# Writes open `runtime.database.write_session()` inside the endpoint, so the commit has
# happened before the endpoint returns and no 2xx can precede it.


def read_session(runtime: RuntimeDep) -> Iterator[Session]:
    with runtime.database.read_session() as session:
        yield session


ReadSession = Annotated[Session, Depends(read_session)]

_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def current_principal(request: Request, runtime: RuntimeDep) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(
            401, "missing bearer token: send Authorization: Bearer <token>", _CHALLENGE
        )
    with runtime.database.read_session() as session:
        principal = auth_service.authenticate(session, token.strip())
    if principal is None:
        raise HTTPException(401, "invalid or revoked token", _CHALLENGE)
    return principal


def require(permission: str) -> object:
    def check(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if not principal.can(permission):
            raise HTTPException(
                403,
                f"a {principal.role} token cannot {permission}; ask an admin for a role that can",
            )
        return principal

    return Depends(check)


# Row ids are 32-bit integers on PostgreSQL: a bigger one is refused here, naming the field,
# rather than by the driver as a 500.
MAX_ID = 2**31 - 1
PathId = Annotated[int, Path(ge=1, le=MAX_ID, description="A row id (1 to 2^31-1).")]
QueryId = Annotated[int | None, Query(ge=1, le=MAX_ID, description="A row id (1 to 2^31-1).")]

Reader = Annotated[Principal, require("read")]
Responder = Annotated[Principal, require("respond")]
Admin = Annotated[Principal, require("admin")]
