"""`GET /api/v1/policy`: the policy in force, parsed, with its hash."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from tocsin.policy import registry
from tocsin.web.deps import Reader, ReadSession, RuntimeDep

router = APIRouter(prefix="/api/v1/policy", tags=["policy"])


@router.get("", summary="The policy in force: parsed, with its hash and source")
def current(runtime: RuntimeDep, _principal: Reader) -> dict[str, Any]:
    loaded = runtime.policy
    return {
        "name": loaded.policy.name,
        "hash": loaded.hash,
        "source": loaded.source,
        "policy": loaded.policy.model_dump(mode="json", by_alias=True),
    }


@router.get("/{policy_hash}", summary="A policy an incident was declared under, by hash")
def by_hash(policy_hash: str, session: ReadSession, _principal: Reader) -> dict[str, Any]:
    loaded = registry.by_hash(session, policy_hash)
    return {
        "name": loaded.policy.name,
        "hash": loaded.hash,
        "source": loaded.source,
        "text": loaded.text,
        "policy": loaded.policy.model_dump(mode="json", by_alias=True),
    }
