"""The approvals inbox: what waits for the viewer, and what they asked for."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from governance.domain.identity import VerifiedActor
from governance.server.console.render import render
from governance.server.console.web_session import viewer

router = APIRouter(include_in_schema=False)


@router.get("/inbox")
def inbox(request: Request, actor: VerifiedActor = Depends(viewer)) -> HTMLResponse:
    """The inbox page."""
    return render(request, "inbox.html.j2", waiting=[], mine=[])
