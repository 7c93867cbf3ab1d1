"""Read-only JSON views: resolving model references, listing versions, verifying the trail."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from governance.bootstrap import Governance
from governance.domain.errors import AuditError
from governance.domain.identity import VerifiedActor
from governance.server import auth
from governance.server.commands import require_role
from governance.services.registry import versions
from governance.services.trust import audit

router = APIRouter()


def _authenticated(request: Request) -> tuple[Governance, VerifiedActor]:
    gov = request.app.state.gov
    actor = auth.authenticate(gov, request.headers.get("authorization"), now=datetime.now(UTC))
    request.state.actor = actor
    return gov, actor


@router.get("/v1/models")
def list_versions(
    request: Request,
    stage: str | None = None,
    risk: str | None = None,
    owner: str | None = None,
    name: str | None = None,
) -> dict:
    """Model versions matching the filters, as JSON."""
    gov, _ = _authenticated(request)
    rows = versions.search(gov, stage=stage, risk_level=risk, owner=owner, name=name)
    return {"versions": [row.model_dump(mode="json") for row in rows]}


@router.get("/v1/models/{ref}")
def resolve(ref: str, request: Request) -> dict:
    """One version by NAME, NAME@VERSION, NAME@STAGE or NAME@ALIAS."""
    gov, _ = _authenticated(request)
    return versions.resolve(gov, ref).model_dump(mode="json")


@router.get("/v1/audit/verify")
async def verify_trail(request: Request) -> dict:
    """Verify the chain, the MACs, the server's signed checkpoints and the state tables."""
    gov, actor = await run_in_threadpool(_authenticated, request)
    require_role(gov, actor, ("audit", "verify"))
    return await run_in_threadpool(_verify, gov)


def _verify(gov: Governance) -> dict:
    anchor_dir = gov.settings.resolved_anchor_dir
    try:
        anchors = audit.load_checkpoints([], anchor_dir if anchor_dir.is_dir() else None)
        report = audit.verify(gov, anchors)
    except AuditError as exc:
        return {"intact": False, "error": {"type": type(exc).__name__, "message": str(exc)}}
    return {"intact": True, **report.model_dump(mode="json")}
