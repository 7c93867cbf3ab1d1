"""Monitoring: each version's latest retirement-audit verdict and findings, and its report."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from governance.domain.identity import VerifiedActor
from governance.server.console.render import render
from governance.server.console.web_session import gov_of, viewer
from governance.services.monitoring.retirement_review import drift_report, latest_findings

router = APIRouter()

# The Evidently report is a stored page whose charts are drawn by its own inline scripts (a
# bare `sandbox` leaves it blank). It opens sandboxed in a unique origin: its scripts run but
# reach no console cookie, page or form, open no popup, and load or send nothing (every
# fetch directive is 'none'; its fonts and images are inline data).
REPORT_CSP = (
    "sandbox allow-scripts; default-src 'none'; script-src 'unsafe-inline'; "
    "style-src 'unsafe-inline'; img-src data: blob:; font-src data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


@router.get("/monitoring")
def monitoring_page(request: Request, model: str = "", actor: VerifiedActor = Depends(viewer)):
    """The latest verdict per version (of one model with ?model=), with every finding."""
    rows = latest_findings(gov_of(request), model or None)
    return render(request, "monitoring/list.html.j2", rows=rows, model=model)


@router.get("/monitoring/{name}/{version}/report")
def report(name: str, version: str, request: Request, actor: VerifiedActor = Depends(viewer)):
    """The version's latest Evidently drift report, as stored, under a sandboxing CSP."""
    _row, body = drift_report(gov_of(request), name, version)
    return Response(
        body,
        media_type="text/html; charset=utf-8",
        headers={
            "Content-Security-Policy": REPORT_CSP,
            "Cache-Control": "private, no-store",
        },
    )
