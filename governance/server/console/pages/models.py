"""Models: the filtered list, a model's versions, a version's page, two versions compared."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from markupsafe import Markup

from governance.domain.identity import VerifiedActor
from governance.domain.models import LifecycleStage, RiskLevel
from governance.reports.card_sections import card_sections
from governance.reports.compliance_pack import render_timeline
from governance.server.console.render import render
from governance.server.console.web_session import gov_of, viewer
from governance.services.compliance.version_page import compare, version_page
from governance.services.registry import catalogue
from governance.services.rollout.provenance import serving_by_version

router = APIRouter()

# Models per page of the list: a registry of a thousand models stays one quick page.
PAGE_SIZE = 50


def is_htmx(request: Request) -> bool:
    """True for an htmx request that swaps a fragment (not a history restore)."""
    return (
        request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-History-Restore-Request") != "true"
    )


@router.get("/models")
def models_list(
    request: Request,
    stage: str = "",
    risk: str = "",
    owner: str = "",
    page: int = 1,
    actor: VerifiedActor = Depends(viewer),
):
    """Models with their versions, filtered by stage, risk and owner (htmx swaps the table)."""
    gov = gov_of(request)
    page = max(page, 1)
    rows, total = catalogue.models(
        gov, stage=stage, risk=risk, owner=owner, page=page, per_page=PAGE_SIZE
    )
    pages = max(1, -(-total // PAGE_SIZE))
    if page > pages:  # past the last page (the filters narrowed): show the last one
        page = pages
        rows, total = catalogue.models(
            gov, stage=stage, risk=risk, owner=owner, page=page, per_page=PAGE_SIZE
        )
    context = {
        "rows": rows,
        "total": total,
        "page": page,
        "pages": pages,
        "stage": stage,
        "risk": risk,
        "owner": owner,
    }
    if is_htmx(request):
        return render(request, "models/_table.html.j2", **context)
    return render(
        request,
        "models/list.html.j2",
        stages=[s.value for s in LifecycleStage],
        risks=[r.value for r in RiskLevel],
        owners=catalogue.owners(gov),
        **context,
    )


@router.get("/models/{name}")
def model_page(name: str, request: Request, actor: VerifiedActor = Depends(viewer)):
    """A model's versions with their stages, aliases and the endpoints serving each."""
    gov = gov_of(request)
    detail = catalogue.model_detail(gov, name)
    return render(
        request, "models/model.html.j2", detail=detail, serving=serving_by_version(gov, name)
    )


@router.get("/models/{name}/compare")
def compare_page(
    name: str, request: Request, a: str = "", b: str = "", actor: VerifiedActor = Depends(viewer)
):
    """Two versions side by side: metrics and the card diff."""
    comparison = compare(gov_of(request), name, a, b)
    return render(request, "models/compare.html.j2", name=name, c=comparison)


@router.get("/models/{name}/{version}")
def version_view(name: str, version: str, request: Request, actor: VerifiedActor = Depends(viewer)):
    """A version: card, evaluation against production, lineage, approvals and history."""
    page = version_page(gov_of(request), name, version)
    card = page.card
    return render(
        request,
        "models/version.html.j2",
        page=page,
        model=page.records.model,
        version=page.records.version,
        sections=card_sections(card.card) if card else [],
        timeline=Markup(render_timeline(page.marks)),
    )
