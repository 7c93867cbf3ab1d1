"""Compliance: each model's Annex IV gap score, and, for auditors, the signed pack as a zip."""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from governance.bootstrap import Governance
from governance.domain.identity import VerifiedActor
from governance.server.console.csrf import require_csrf
from governance.server.console.render import render
from governance.server.console.web_session import gov_of, now, viewer
from governance.services.compliance.packs import build_pack
from governance.services.compliance.status import status
from governance.services.trust.roles import AUDITOR_ROLE, require_role

router = APIRouter()


def holds(gov: Governance, actor: VerifiedActor, role: str) -> bool:
    """True when the viewer holds `role` in the roster in force."""
    return role in gov.policy.roster.get(actor.name, ())


@router.get("/compliance")
def compliance_page(request: Request, actor: VerifiedActor = Depends(viewer)):
    """The gap score of each model's version in service; auditors get a pack button."""
    gov = gov_of(request)
    return render(
        request,
        "compliance/status.html.j2",
        scores=status(gov),
        auditor=holds(gov, actor, AUDITOR_ROLE),
    )


def _zip_pack(gov: Governance, name: str, version: str, actor: VerifiedActor) -> bytes:
    """Build the pack (the service the CLI's `compliance pack` calls) and zip its files."""
    require_role(gov, actor, AUDITOR_ROLE, f"building the compliance pack of {name}@{version}")
    with tempfile.TemporaryDirectory(prefix="console-pack-") as scratch:
        out = Path(scratch) / f"{name}-{version}"
        built = build_pack(gov, name, version, out, actor=actor.name, now=now())
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(p for p in built.directory.rglob("*") if p.is_file()):
                archive.write(path, f"{out.name}/{path.relative_to(built.directory)}")
        return buffer.getvalue()


@router.post("/compliance/{name}/{version}/pack", dependencies=[Depends(require_csrf)])
async def pack(name: str, version: str, request: Request, actor: VerifiedActor = Depends(viewer)):
    """Build, sign and record the version's Annex IV pack; download it as a zip (auditors)."""
    body = await run_in_threadpool(_zip_pack, gov_of(request), name, version, actor)
    filename = f"{name}-{version}-annex-iv.zip"
    return Response(
        body,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
